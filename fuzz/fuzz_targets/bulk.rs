//! proto's HTTP bulk delivery: the envelope the sidecar POSTs (parsed back as an app SDK reads
//! it, and each entry's CloudEvent taken out of it) and the app's `statuses` reply.
#![no_main]

use dapr_rs_proto::bulk::{BulkEnvelope, BulkReply};
use dapr_rs_proto::outcome::{BulkOutcome, DeliveryOutcome};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(envelope) = serde_json::from_slice::<BulkEnvelope>(body) {
        // What we write, we read back the same.
        let written = serde_json::to_vec(&envelope).expect("an envelope serialises");
        let back: BulkEnvelope = serde_json::from_slice(&written).expect("a written envelope parses");
        assert_eq!(back, envelope);
        for entry in &envelope.entries {
            if let Some(ce) = entry.cloud_event(&envelope.pubsubname, &envelope.topic) {
                let _ = dapr_rs_proto::cloudevent::to_topic_event_ce_request(&ce);
            }
        }
    }
    if let Ok(reply) = serde_json::from_slice::<BulkReply>(body) {
        let back: BulkReply = serde_json::from_slice(&serde_json::to_vec(&reply).unwrap()).unwrap();
        assert_eq!(back, reply);
    }
    // The reply's meaning, for the statuses an app may answer with.
    for status in [200, 204, 404, 500] {
        let outcome = BulkOutcome::from_http_reply(status, body);
        if status == 404 {
            assert_eq!(outcome, BulkOutcome::All(DeliveryOutcome::Drop));
        }
        let _ = outcome.of("1");
        let _ = DeliveryOutcome::from_http_reply(status, body);
    }
});
