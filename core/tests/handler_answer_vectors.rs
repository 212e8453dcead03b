//! Every case of `tests/vectors/handler_answers.json` that a Rust handler can give: a status,
//! an `Err`, a panic, each answered by core's one rule (`answer_of`), as every binding's handlers are.

use dapr_rs_core::{HandlerError, TopicEventStatus, answer_of};
use serde_json::Value as Json;

/// What a Rust handler's call ends with for `answer`, or `None` for an answer Rust has no form of.
fn outcome_of(answer: &Json) -> Option<std::thread::Result<Result<TopicEventStatus, HandlerError>>> {
    if let Some(status) = answer.get("status").and_then(Json::as_str) {
        let status = TopicEventStatus::parse_status_word(status).unwrap_or_else(|| panic!("no status {status}"));
        return Some(Ok(Ok(status)));
    }
    if let Some(message) = answer.get("throws").and_then(Json::as_str) {
        return Some(Ok(Err(message.into())));
    }
    if let Some(message) = answer.get("panics").and_then(Json::as_str) {
        let message = message.to_owned();
        return Some(std::panic::catch_unwind(move || -> Result<TopicEventStatus, HandlerError> { panic!("{message}") }));
    }
    None
}

#[test]
fn every_answer_is_sent_as_the_status_the_vector_says() {
    let path = checkout_dir::checkout_dir().join("../tests/vectors/handler_answers.json");
    let vectors: Json = serde_json::from_str(&std::fs::read_to_string(path).expect("handler_answers.json")).expect("valid JSON");
    let mut ran = 0;
    for case in vectors["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().unwrap();
        let for_rust = case.get("languages").and_then(Json::as_array).is_none_or(|langs| langs.iter().any(|l| l == "rust"));
        if !for_rust {
            continue;
        }
        let outcome = outcome_of(&case["answer"]).unwrap_or_else(|| panic!("{name}: a case for rust needs an answer Rust can give"));
        let expected = case.pointer("/status_by_language/rust/status").unwrap_or(&case["status"]).as_str().unwrap();
        assert_eq!(answer_of("vector-event", outcome).as_http_status_word(), expected, "{name}");
        ran += 1;
    }
    assert!(ran >= 5, "only {ran} cases ran for rust");
}

#[path = "../../tests/checkout_dir.rs"]
mod checkout_dir;
