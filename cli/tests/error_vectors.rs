//! Every cause of `tests/vectors/errors.json` against a running `dapr-rs` sidecar (or none): the
//! HTTP status and errorCode its HTTP API answers, and the error core raises from its gRPC answer,
//! with the `ErrorKind` that picks each binding's exception class. (The errorCode table itself is
//! checked in sidecar/tests/vectors.)

mod common;

use common::{SidecarBuilder, component, free_port, http_request};
use dapr_rs_core::{ClientOptions, DaprClient, PublishRequest};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::time::Duration;

fn vectors() -> Json {
    let path = checkout_dir::checkout_dir().join("../tests/vectors/errors.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("errors.json")).expect("valid JSON")
}

/// A resources dir holding the components of one of the vector's sidecar setups.
fn resources(setup: &Json) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for c in setup["components"].as_array().unwrap() {
        let metadata: Vec<(&str, &str)> =
            c["metadata"].as_object().unwrap().iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap())).collect();
        component(dir.path(), c["name"].as_str().unwrap(), c["type"].as_str().unwrap(), &metadata);
    }
    dir
}

fn publish_request(publish: &Json) -> PublishRequest {
    let text = publish.pointer("/data/utf8").and_then(Json::as_str).expect("the causes publish text ({\"utf8\": ...})");
    PublishRequest {
        pubsub_name: publish["pubsub_name"].as_str().unwrap().into(),
        topic: publish["topic"].as_str().unwrap().into(),
        data: text.to_owned().into(),
        data_content_type: publish["content_type"].as_str().unwrap().into(),
        metadata: serde_json::from_value(publish.get("metadata").cloned().unwrap_or_default()).unwrap_or_default(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_cause_gets_the_answer_and_the_error_the_vector_says() {
    let vectors = vectors();
    let app_id = vectors["app_id"].as_str().unwrap();
    let mut sidecars = HashMap::new();
    for (setup_name, setup) in vectors["sidecars"].as_object().unwrap() {
        let dir = resources(setup);
        let mut builder = SidecarBuilder::new(app_id, dir.path());
        for (k, v) in setup["env"].as_object().unwrap() {
            builder = builder.env(k, v.as_str().unwrap());
        }
        sidecars.insert(setup_name.clone(), (builder.start(), dir));
    }
    let nobody = format!("http://127.0.0.1:{}", free_port());

    let cases = vectors["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let cause = &case["cause"];
        let token = cause.get("api_token").and_then(Json::as_str);
        let sidecar = match cause["sidecar"].as_str().unwrap() {
            "none" => None,
            setup => Some(&sidecars.get(setup).unwrap_or_else(|| panic!("{name}: no sidecar setup {setup}")).0),
        };
        let endpoint = sidecar.map_or(nobody.clone(), |s| s.grpc_endpoint());
        let options = ClientOptions::from_lookup(|_| None).with_address(&endpoint).with_api_token(token.map(str::to_owned));
        let client = DaprClient::new(options).unwrap();

        let error = if let Some(publish) = cause.get("publish") {
            if let (Some(sidecar), Some(answer)) = (sidecar, case["sidecar"].as_object()) {
                let req = publish_request(publish);
                let query: Vec<String> = req.metadata.iter().map(|(k, v)| format!("metadata.{k}={v}")).collect();
                let path = format!("/v1.0/publish/{}/{}?{}", req.pubsub_name, req.topic, query.join("&"));
                let mut headers = vec![("Content-Type", req.data_content_type.as_str())];
                headers.extend(token.map(|t| ("dapr-api-token", t)));
                let (status, body) = http_request(sidecar.http_port, "POST", &path, &headers, &req.data);
                assert_eq!(status as u64, answer["http_status"].as_u64().unwrap(), "{name}: HTTP status ({body})");
                let body: Json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name}: HTTP error body {body:?}: {e}"));
                assert_eq!(body["errorCode"], answer["error_code"], "{name}: HTTP errorCode");
            }
            client.publish_event(publish_request(publish)).await.expect_err(name)
        } else if let Some(wait) = cause.get("wait_for_sidecar") {
            client.wait_for_sidecar(Duration::from_millis(wait["timeout_ms"].as_u64().unwrap())).await.expect_err(name)
        } else {
            panic!("{name}: a cause publishes or waits for the sidecar")
        };
        let raised = &case["raised"];
        assert_eq!(error.kind().as_str(), raised["kind"].as_str().unwrap(), "{name}: kind of {error}");
        assert_eq!(error.grpc_code() as i64, raised["grpc_code"].as_i64().unwrap(), "{name}: gRPC code of {error}");
        assert_eq!(error.error_code(), raised["error_code"].as_str(), "{name}: errorCode of {error}");
    }
    for (_, (sidecar, _dir)) in sidecars {
        sidecar.stop();
    }
}

#[path = "../../tests/checkout_dir.rs"]
mod checkout_dir;
