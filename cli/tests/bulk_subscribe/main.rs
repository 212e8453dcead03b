//! Bulk delivery (`bulkSubscribe`) through a real sidecar: batches reach the app over gRPC
//! (`OnBulkTopicEvent`, or `AppCallbackAlpha/OnBulkTopicEventAlpha1` when that is all the app
//! has) and HTTP (the bulk envelope), and each entry's outcome is applied on its own: RETRY and
//! missing entries are redelivered, DROP goes to the dead-letter topic.

mod alpha1_app;
#[path = "../common/mod.rs"]
mod common;
mod core_app;
mod http_app;

use common::{Sidecar, SidecarBuilder};
use serde_json::{Value as Json, json};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const PUBSUB: &str = "order_pub_sub";

async fn start_sidecar(dir: &tempfile::TempDir, app_port: u16, protocol: &'static str) -> Sidecar {
    SidecarBuilder::new("checkout", dir.path()).app(app_port, protocol).start_subscribed()
}

/// Publishes `items` (text) to `topic` in one HTTP bulk publish.
fn bulk_publish(sc: &Sidecar, topic: &str, items: &[&str]) {
    let entries: Vec<Json> =
        items.iter().enumerate().map(|(i, item)| json!({"entryId": i.to_string(), "event": item, "contentType": "text/plain"})).collect();
    let path = format!("/v1.0/publish/bulk/{PUBSUB}/{topic}");
    let (status, body) = sc.http("POST", &path, &[("content-type", "application/json")], &serde_json::to_vec(&entries).unwrap());
    assert_eq!(status, 204, "{body}");
}

/// Polls `done` until it holds (10 s at most).
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
