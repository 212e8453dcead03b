//! `--enable-api-logging`: every HTTP and gRPC API call logged with its status, whatever the log level.

use crate::common::{self, free_port, http_request};
use crate::world::World;
use std::time::{Duration, Instant};

#[test]
fn api_logging_logs_every_call_with_its_status() {
    let w = World::new();
    let (http, grpc) = (free_port(), free_port());
    let components = w.path().join("components");
    let (http_arg, grpc_arg) = (http.to_string(), grpc.to_string());
    // One runtime for both runs: the client keeps one channel per endpoint, tied to its runtime.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let run = |extra: &[&str]| {
        let mut args =
            vec!["sidecar", "--app-id", "logged", "--log-level", "warn", "--dapr-http-port", &http_arg, "--dapr-grpc-port", &grpc_arg];
        args.extend(["--metrics-port", "0"]);
        args.extend(["--resources-path", components.to_str().unwrap()]);
        args.extend(extra);
        let mut cmd = w.command(&args);
        // No RUST_LOG: --log-level decides, and API logs show whatever the level.
        cmd.env_remove("RUST_LOG");
        let sidecar = w.spawn(cmd);
        let deadline = Instant::now() + Duration::from_secs(20);
        while common::try_http_request(http, "GET", "/v1.0/healthz/outbound", &[], b"").map(|r| r.0).ok() != Some(204) {
            assert!(Instant::now() < deadline, "the sidecar did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(http_request(http, "POST", "/v1.0/publish/pubsub/orders", &[("content-type", "application/json")], b"{}").0, 204);
        assert_eq!(http_request(http, "POST", "/v1.0/publish/nope/orders", &[], b"{}").0, 404);
        rt.block_on(async {
            let options = dapr_rs_core::ClientOptions::from_lookup(|_| None).with_address(&format!("http://127.0.0.1:{grpc}"));
            let client = dapr_rs_core::DaprClient::new(options).unwrap();
            client.metadata().await.unwrap();
            let bad = dapr_rs_core::PublishRequest { pubsub_name: "nope".into(), topic: "t".into(), ..Default::default() };
            assert!(client.publish_event(bad).await.is_err());
        });
        let (code, output) = sidecar.stop();
        assert_eq!(code, 0, "{output}");
        output
    };
    let logged = run(&["--enable-api-logging"]);
    let line =
        |needle: &str| logged.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no {needle:?} in:\n{logged}")).to_owned();
    let ok = line("POST /v1.0/publish/pubsub/orders");
    assert!(ok.contains("HTTP API Called") && ok.contains("code=204") && ok.contains("duration_ms="), "{ok}");
    assert!(line("POST /v1.0/publish/nope/orders").contains("code=404"));
    let md = line("/dapr.proto.runtime.v1.Dapr/GetMetadata");
    assert!(md.contains("gRPC API Called") && md.contains("code=Ok") && md.contains("app_id=logged"), "{md}");
    let failed = line("/dapr.proto.runtime.v1.Dapr/PublishEvent");
    assert!(!failed.contains("code=Ok"), "{failed}");
    // --log-level warn hides the sidecar's info lines.
    assert!(!logged.contains("dapr-rs sidecar started"), "{logged}");

    let quiet = run(&[]);
    assert!(!quiet.contains("API Called"), "{quiet}");

    // --log-as-json: every line of the log is one JSON object with daprd's fields.
    let json = run(&["--enable-api-logging", "--log-as-json"]);
    let lines: Vec<serde_json::Value> = json
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty(), "no log lines");
    for line in &lines {
        for field in ["time", "level", "msg", "scope", "type", "instance", "ver", "app_id"] {
            assert!(line.get(field).is_some(), "no {field} in {line}");
        }
        assert_eq!(line["type"], "log", "{line}");
    }
    let api = lines.iter().find(|l| l["method"] == "POST /v1.0/publish/pubsub/orders").unwrap_or_else(|| panic!("no API line in:\n{json}"));
    assert_eq!((api["msg"].as_str(), api["code"].as_u64(), api["app_id"].as_str()), (Some("HTTP API Called"), Some(204), Some("logged")));
    assert!(api["duration"].is_number(), "{api}");
}
