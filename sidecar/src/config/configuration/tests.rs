use super::*;
use std::collections::HashMap;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k: &str| map.get(k).cloned().filter(|v| !v.is_empty())
}

fn files(dir: &tempfile::TempDir, texts: &[&str]) -> Vec<PathBuf> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let path = dir.path().join(format!("config{i}.yaml"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

fn load(texts: &[&str], vars: &[(&str, &str)]) -> Result<Configuration, ConfigurationError> {
    let dir = tempfile::tempdir().unwrap();
    Configuration::load(&files(&dir, texts), env(vars))
}

const HEAD: &str = "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: c\n";

#[test]
fn a_full_tracing_section_reads_as_daprd_reads_it() {
    let text = format!(
        "{HEAD}spec:
  tracing:
    samplingRate: \"0.5\"
    stdout: true
    otel:
      endpointAddress: collector:4317
      isSecure: false
      protocol: grpc
      headers: [\"api-key=abc%20d\", {{name: x-team, value: blue}}]
      timeout: 3s
  metric:
    enabled: false
  accessControl: {{defaultAction: deny}}
  unknownThing: [1, 2]
"
    );
    let c = load(&[&text], &[]).unwrap();
    let t = c.tracing.unwrap();
    assert_eq!(t.sampling_rate(), 0.5);
    assert!(t.stdout);
    assert_eq!(
        t.otel,
        OtelSpec {
            endpoint_address: "collector:4317".into(),
            is_secure: false,
            protocol: Some(OtelProtocol::Grpc),
            headers: vec![("api-key".into(), "abc d".into()), ("x-team".into(), "blue".into())],
            timeout: Some(Duration::from_secs(3)),
        }
    );
    assert!(!c.metrics_enabled, "spec.metric is read when spec.metrics is absent");
}

#[test]
fn defaults_without_files_or_sections() {
    let none = load(&[], &[]).unwrap();
    assert_eq!(none, Configuration::default());
    assert!(none.metrics_enabled && none.tracing.is_none());
    let only_metrics = load(&[&format!("{HEAD}spec:\n  metrics:\n    enabled: true\n  metric:\n    enabled: false\n")], &[]).unwrap();
    assert!(only_metrics.metrics_enabled, "spec.metrics wins over spec.metric");
    assert!(only_metrics.tracing.is_none());
    let empty_tracing = load(&[&format!("{HEAD}spec:\n  tracing: {{}}\n")], &[]).unwrap().tracing.unwrap();
    assert_eq!(empty_tracing.sampling_rate(), DEFAULT_SAMPLING_RATE);
    assert!(empty_tracing.otel.is_secure, "isSecure defaults to true");
    assert_eq!(empty_tracing.otel.protocol, None);
}

#[test]
fn sampling_rates_as_daprd_parses_them() {
    let rate = |r: &str| TracingSpec { sampling_rate: r.into(), ..Default::default() }.sampling_rate();
    assert_eq!(rate(""), 1e-4);
    assert_eq!(rate("soon"), 1e-4);
    assert_eq!(rate("NaN"), 1e-4);
    assert_eq!(rate("0"), 0.0);
    assert_eq!(rate("1"), 1.0);
    assert_eq!(rate(" 0.25 "), 0.25);
    assert_eq!(rate("1e-3"), 1e-3);
    let unquoted = load(&[&format!("{HEAD}spec:\n  tracing:\n    samplingRate: 1\n")], &[]).unwrap();
    assert_eq!(unquoted.tracing.unwrap().sampling_rate(), 1.0);
}

#[test]
fn later_files_override_key_by_key() {
    let first = format!(
        "{HEAD}spec:\n  tracing:\n    samplingRate: \"1\"\n    otel:\n      endpointAddress: a:1\n      protocol: http\n      isSecure: false\n  metrics:\n    enabled: false\n"
    );
    let second = format!("{HEAD}spec:\n  tracing:\n    otel:\n      endpointAddress: b:2\n");
    let c = load(&[&first, &second], &[]).unwrap();
    let t = c.tracing.unwrap();
    assert_eq!((t.sampling_rate.as_str(), t.otel.endpoint_address.as_str()), ("1", "b:2"));
    assert_eq!((t.otel.protocol, t.otel.is_secure), (Some(OtelProtocol::Http), false), "kept from the first file");
    assert!(!c.metrics_enabled);
}

#[test]
fn files_are_env_expanded() {
    let text = format!(
        "{HEAD}spec:\n  tracing:\n    samplingRate: \"${{RATE}}\"\n    otel:\n      endpointAddress: $HOST:4317\n      isSecure: ${{SECURE}}\n      protocol: grpc\n"
    );
    let t = load(&[&text], &[("RATE", "0.1"), ("HOST", "otel"), ("SECURE", "false")]).unwrap().tracing.unwrap();
    assert_eq!((t.sampling_rate(), t.otel.endpoint_address.as_str(), t.otel.is_secure), (0.1, "otel:4317", false));
}

#[test]
fn env_expansion_follows_go_os_expand() {
    let vars = env(&[("A", "x"), ("B_2", "y"), ("1", "one")]);
    for (text, want) in [
        ("$A-${B_2}", "x-y"),
        ("${UNSET}.", "."),
        ("cost: 5$", "cost: 5$"),
        ("a $ b", "a $ b"),
        ("$1$", "one$"),
        ("${}z", "z"),
        ("${A", "A"),
        ("$$", ""),
        ("pre${A}post", "prexpost"),
        ("é$A", "éx"),
    ] {
        assert_eq!(expand_env(text, &vars), want, "{text:?}");
    }
}

#[test]
fn bad_files_fail_naming_the_file_and_the_key() {
    let cases = [
        (format!("{HEAD}spec:\n  tracing:\n    otel:\n      protocol: zipkin\n"), "spec.tracing.otel.protocol"),
        (format!("{HEAD}spec:\n  tracing:\n    otel:\n      isSecure: maybe\n"), "spec.tracing.otel.isSecure"),
        (format!("{HEAD}spec:\n  tracing:\n    otel:\n      timeout: soon\n"), "spec.tracing.otel.timeout"),
        (format!("{HEAD}spec:\n  tracing:\n    otel:\n      headers: [novalue]\n"), "spec.tracing.otel.headers"),
        (format!("{HEAD}spec:\n  metrics:\n    enabled: [1]\n"), "spec.metrics.enabled"),
        (format!("{HEAD}spec:\n  tracing:\n    stdout: 3\n"), "spec.tracing.stdout"),
        ("apiVersion: dapr.io/v1alpha1\nkind: Component\nspec: {}\n".to_owned(), "kind is \"Component\", not Configuration"),
        ("apiVersion: v1\nkind: Configuration\n".to_owned(), "apiVersion is \"v1\""),
        ("spec: [\n".to_owned(), "invalid YAML"),
        (String::new(), "kind is \"\", not Configuration"),
    ];
    for (text, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let paths = files(&dir, &[&text]);
        let err = Configuration::load(&paths, env(&[])).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&paths[0].display().to_string()), "{message}");
        assert!(message.contains(expected), "{expected}: {message}");
    }
    let missing = Configuration::load(&[PathBuf::from("/nonexistent/config.yaml")], env(&[])).unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/config.yaml"), "{missing}");
}

#[test]
fn otel_variables_fill_an_empty_endpoint() {
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4317"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "traces:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "a=1, b = 2"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
    ];
    let t = load(&[], &vars).unwrap().tracing.expect("an endpoint variable turns tracing on without --config");
    assert_eq!(t.sampling_rate, "1", "an endpoint from the environment samples everything unless a file says otherwise");
    assert_eq!(
        t.otel,
        OtelSpec {
            endpoint_address: "traces:4318".into(),
            is_secure: false,
            protocol: Some(OtelProtocol::Http),
            headers: vec![("a".into(), "1".into()), ("b".into(), "2".into())],
            timeout: Some(Duration::from_millis(2500)),
        }
    );
    // A scheme says whether TLS is used; without one, TLS unless INSECURE=true (daprd's default).
    let plain = load(&[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317/")]).unwrap().tracing.unwrap();
    assert_eq!(
        (plain.otel.endpoint_address.as_str(), plain.otel.is_secure, plain.otel.protocol),
        ("c:4317", false, Some(OtelProtocol::Grpc))
    );
    let bare = load(&[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317")]).unwrap().tracing.unwrap();
    assert!(bare.otel.is_secure);

    // A file's rate is kept; a file's endpoint is never overridden.
    let rate = format!("{HEAD}spec:\n  tracing:\n    samplingRate: \"0.5\"\n");
    assert_eq!(load(&[&rate], &vars).unwrap().tracing.unwrap().sampling_rate, "0.5");
    let own = format!("{HEAD}spec:\n  tracing:\n    otel:\n      endpointAddress: mine:1\n      protocol: grpc\n");
    let t = load(&[&own], &vars).unwrap().tracing.unwrap();
    assert_eq!((t.otel.endpoint_address.as_str(), t.otel.headers.len(), t.otel.is_secure), ("mine:1", 0, true));

    for (var, value) in [("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"), ("OTEL_EXPORTER_OTLP_HEADERS", "novalue")] {
        let err = load(&[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", "c:1"), (var, value)]).unwrap_err();
        assert!(matches!(&err, ConfigurationError::Env { var: v, .. } if *v == var), "{err}");
    }
}
