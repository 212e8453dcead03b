//! `envelopes.json`: the CloudEvent proto's `cloudevent` writes for a publish (or synthesizes for
//! a rawPayload subscription), attribute by attribute, and the payload a subscriber's event carries.

use crate::support::{assert_data, assert_envelope, bytes_of, cases, load};
use dapr_rs_proto::cloudevent::{self, DeliveredEvent, EnvelopeContext, PublishOptions};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::time::SystemTime;

#[test]
fn every_publish_gets_the_envelope_the_vector_says() {
    let vectors = load("envelopes.json");
    let context = &vectors["context"];
    let shapes = vectors["shapes"].as_object().expect("shapes");
    let pubsub = context["pubsub_name"].as_str().unwrap();
    for case in cases(&vectors, "cases") {
        let name = case["name"].as_str().unwrap();
        let publish = &case["publish"];
        let topic = publish.get("topic").unwrap_or(&context["topic"]).as_str().unwrap();
        let data = bytes_of(&publish["data"]);
        let content_type = publish["content_type"].as_str().unwrap();
        let mut metadata: HashMap<String, String> =
            serde_json::from_value(publish.get("metadata").cloned().unwrap_or_default()).unwrap_or_default();
        let options = PublishOptions::from_metadata(&metadata).expect("valid publish metadata");
        if options.raw_payload {
            // The bindings publish over gRPC, whose raw publishes carry the (here empty) trace in
            // their metadata (publisher.rs).
            metadata.extend([("traceid".to_owned(), String::new()), ("tracestate".to_owned(), String::new())]);
        }

        let ctx = EnvelopeContext {
            source: context["app_id"].as_str().unwrap(),
            pubsub_name: pubsub,
            topic,
            traceparent: "",
            tracestate: "",
            now: SystemTime::now(),
        };
        let stored =
            if options.raw_payload { data } else { cloudevent::envelope(&ctx, &data, content_type, &metadata, options.ttl).unwrap() };
        let raw_subscriber = case.pointer("/subscriber/rawPayload").and_then(Json::as_bool).unwrap_or(false);
        let ce: Map<String, Json> = if raw_subscriber {
            // The broker's metadata is the publish metadata: the sidecar passes it on as it came.
            cloudevent::raw_envelope(pubsub, topic, &stored, &metadata)
        } else {
            serde_json::from_slice(&stored).expect("the envelope is a JSON object")
        };
        assert_envelope(&ce, case["envelope"].as_object().unwrap(), shapes, name);

        let event = cloudevent::to_topic_event_request(&ce, pubsub, topic, "");
        assert_data(&event.data, &case["delivered_data"], &format!("{name}: delivered data"));
        // The sidecar reads the stored bytes (or the synthesised envelope's) once, as a view.
        let delivered = DeliveredEvent::parse(if raw_subscriber { serde_json::to_vec(&ce).unwrap() } else { stored }).unwrap();
        assert_eq!(cloudevent::to_topic_event_request(&delivered, pubsub, topic, ""), event, "{name}: delivered by the sidecar");
    }
}
