//! `routing.json`: each rule set compiled as the sidecar compiles a subscription's rules, and each
//! event routed as the sidecar stores it (the caller's CloudEvent, completed by the envelope).

use crate::support::{cases, load};
use dapr_rs_proto::cloudevent::{self, EnvelopeContext};
use dapr_rs_sidecar::routing::Routes;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::time::SystemTime;

#[test]
fn every_event_goes_to_the_path_the_vector_says() {
    let vectors = load("routing.json");
    let pubsub = vectors["pubsub_name"].as_str().unwrap();
    for set in cases(&vectors, "rule_sets") {
        let set_name = set["name"].as_str().unwrap();
        let topic = set["topic"].as_str().unwrap();
        let rules: Vec<(String, String)> =
            cases(set, "rules").iter().map(|r| (r["match"].as_str().unwrap().to_owned(), r["path"].as_str().unwrap().to_owned())).collect();
        let routes = Routes::compile(&rules).unwrap_or_else(|e| panic!("{set_name}: {e}"));
        for case in cases(set, "events") {
            let ctx = EnvelopeContext {
                source: vectors["app_id"].as_str().unwrap(),
                pubsub_name: pubsub,
                topic,
                traceparent: "",
                tracestate: "",
                now: SystemTime::now(),
            };
            let published = serde_json::to_vec(&case["event"]).unwrap();
            let stored = cloudevent::envelope(&ctx, &published, "application/cloudevents+json", &HashMap::new(), None).unwrap();
            let event: Map<String, Json> = serde_json::from_slice(&stored).unwrap();
            let what = format!("{set_name}: event {}", case["event"]["id"]);
            let chosen = routes.select(&event);
            match &case["path"] {
                Json::String(path) => assert_eq!(chosen, Ok(Some(path.as_str())), "{what}"),
                Json::Null => assert_eq!(chosen, Ok(None), "{what}"),
                error if error["error"] == true => assert!(chosen.is_err(), "{what}: expected an error, got {chosen:?}"),
                other => panic!("{what}: a path is a string, null or {{\"error\": true}}: {other}"),
            }
        }
    }
}
