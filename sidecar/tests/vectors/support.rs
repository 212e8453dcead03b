//! Reading the vectors: their files, their data forms, and their shape matchers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value as Json};
use std::sync::Arc;

/// `tests/vectors/<file>`, parsed.
pub fn load(file: &str) -> Json {
    let path = checkout_dir::checkout_dir().join("../tests/vectors").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cases of a vector file: `key` must be a non-empty list, so a vector file read wrongly fails.
pub fn cases<'a>(vectors: &'a Json, key: &str) -> &'a [Json] {
    let cases = vectors[key].as_array().unwrap_or_else(|| panic!("the vectors have no {key:?} list"));
    assert!(!cases.is_empty(), "no {key}");
    cases
}

/// The bytes of a data form: `{"utf8": text}`, `{"base64": bytes}` or `{"json": value}` (as serde_json writes it).
pub fn bytes_of(form: &Json) -> Vec<u8> {
    if let Some(text) = form.get("utf8").and_then(Json::as_str) {
        text.as_bytes().to_vec()
    } else if let Some(b64) = form.get("base64").and_then(Json::as_str) {
        BASE64.decode(b64).expect("base64")
    } else if let Some(json) = form.get("json") {
        serde_json::to_vec(json).unwrap()
    } else {
        panic!("a data form is utf8, base64 or json: {form}")
    }
}

/// `actual` against a data form: `utf8` and `base64` byte for byte, `json` as a value.
pub fn assert_data(actual: &[u8], expected: &Json, what: &str) {
    if let Some(json) = expected.get("json") {
        let parsed: Json = serde_json::from_slice(actual).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {actual:?}"));
        assert_eq!(&parsed, json, "{what}");
    } else {
        assert_eq!(BASE64.encode(actual), BASE64.encode(bytes_of(expected)), "{what} (base64), expected {expected}");
    }
}

/// A CloudEvent against a vector's expected attributes: each value exactly, `{"shape": name}` by
/// that regex of `shapes`, `{"same_as": attribute}` equal to that attribute; no attribute more.
pub fn assert_envelope(actual: &Map<String, Json>, expected: &Map<String, Json>, shapes: &Map<String, Json>, what: &str) {
    let mut actual_keys: Vec<&String> = actual.keys().collect();
    let mut expected_keys: Vec<&String> = expected.keys().collect();
    actual_keys.sort();
    expected_keys.sort();
    assert_eq!(actual_keys, expected_keys, "{what}: attributes of {}", Json::Object(actual.clone()));
    for (key, want) in expected {
        let got = &actual[key];
        match want.as_object() {
            Some(m) if m.contains_key("shape") => {
                let shape = m["shape"].as_str().unwrap();
                let regex = shapes[shape].as_str().unwrap_or_else(|| panic!("no shape {shape}"));
                let text = got.as_str().unwrap_or_else(|| panic!("{what}: {key} is not a string: {got}"));
                assert!(matches(text, regex), "{what}: {key} = {text:?} is no {shape} ({regex})");
            }
            Some(m) if m.contains_key("same_as") => {
                let other = m["same_as"].as_str().unwrap();
                assert_eq!(got, &actual[other], "{what}: {key} must equal {other}");
            }
            _ => assert_eq!(got, want, "{what}: {key}"),
        }
    }
}

/// Whether `text` matches `regex`: the shapes are regexes, and CEL's `matches` (RE2 syntax, as
/// the other languages' engines read these) is the regex engine this crate already has.
fn matches(text: &str, regex: &str) -> bool {
    let program = cel::Program::compile("text.matches(regex)").unwrap();
    let mut context = cel::Context::default();
    context.add_variable_from_value("text", cel::Value::String(Arc::new(text.to_owned())));
    context.add_variable_from_value("regex", cel::Value::String(Arc::new(regex.to_owned())));
    match program.execute(&context) {
        Ok(cel::Value::Bool(b)) => b,
        other => panic!("matching {text:?} against {regex:?}: {other:?}"),
    }
}

#[path = "../../../tests/checkout_dir.rs"]
mod checkout_dir;
