//! Behaviour tests on real SQLite files in temporary directories. Two `SqlitePubSub` instances on
//! one file stand in for two sidecar processes: each has its own connection, store thread and
//! doorbell socket, exactly as separate processes would.
//!
//! The fixtures live here; the tests are grouped by what they check.

mod cleanup;
mod delivery;
mod groups;
mod in_flight;
mod opening;
mod wakeups;

use super::*;
use crate::NotProcessed;
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::time::Instant;
use tempfile::TempDir;
use tokio::sync::mpsc;

const WITHIN: Duration = Duration::from_secs(2);

fn db(dir: &TempDir) -> PathBuf {
    dir.path().join("nested").join("pubsub.db")
}

fn config(dir: &TempDir, app_id: &str, extra: &[(&str, &str)]) -> ComponentConfig {
    let mut metadata: HashMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    metadata.insert("path".into(), db(dir).display().to_string());
    ComponentConfig { name: "pubsub".into(), component_type: "pubsub.sqlite".into(), metadata, app_id: app_id.into() }
}

async fn open(dir: &TempDir, app_id: &str, extra: &[(&str, &str)]) -> SqlitePubSub {
    SqlitePubSub::open(&config(dir, app_id, extra)).await.expect("open")
}

fn message(topic: &str, i: usize) -> BrokerMessage {
    BrokerMessage {
        topic: topic.into(),
        data: format!("{{\"n\":{i}}}").into(),
        metadata: HashMap::from([("n".to_string(), i.to_string())]),
    }
}

fn number(msg: &BrokerMessage) -> usize {
    msg.metadata["n"].parse().unwrap()
}

fn request(topic: &str, group: &str, max_concurrency: usize) -> SubscribeRequest {
    SubscribeRequest { topic: topic.into(), consumer_group: group.into(), max_concurrency, shared_slots: None }
}

enum Behaviour {
    Succeed,
    /// Fails the first `n` calls.
    FailFirst(usize),
    /// Never returns from the first `n` calls.
    HangFirst(usize),
    HangAlways,
    /// Sleeps a little on even numbers, so a concurrent dispatcher would reorder.
    Jitter,
}

/// Reports every call (tagged) on a channel, then behaves as told.
struct Recorder {
    tag: &'static str,
    seen: mpsc::UnboundedSender<(&'static str, BrokerMessage)>,
    behaviour: Behaviour,
    calls: AtomicUsize,
}

#[async_trait]
impl MessageHandler for Recorder {
    async fn handle(&self, msg: BrokerMessage) -> Result<(), NotProcessed> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let even = msg.metadata.get("n").and_then(|n| n.parse::<usize>().ok()).is_some_and(|n| n % 2 == 0);
        let _ = self.seen.send((self.tag, msg));
        match self.behaviour {
            Behaviour::FailFirst(fails) if call < fails => Err(NotProcessed("not yet".into())),
            Behaviour::HangFirst(hangs) if call < hangs => futures::future::pending().await,
            Behaviour::HangAlways => futures::future::pending().await,
            Behaviour::Jitter if even => {
                tokio::time::sleep(Duration::from_millis(2)).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

type Seen = mpsc::UnboundedReceiver<(&'static str, BrokerMessage)>;

fn recorder(tag: &'static str, behaviour: Behaviour) -> (Arc<Recorder>, Seen) {
    let (seen, rx) = mpsc::unbounded_channel();
    (Arc::new(Recorder { tag, seen, behaviour, calls: AtomicUsize::new(0) }), rx)
}

fn shared_recorder(tag: &'static str, seen: &mpsc::UnboundedSender<(&'static str, BrokerMessage)>) -> Arc<Recorder> {
    Arc::new(Recorder { tag, seen: seen.clone(), behaviour: Behaviour::Succeed, calls: AtomicUsize::new(0) })
}

async fn next(seen: &mut Seen) -> (&'static str, BrokerMessage) {
    tokio::time::timeout(WITHIN, seen.recv()).await.expect("a delivery in time").expect("recorder alive")
}

async fn take(seen: &mut Seen, count: usize) -> Vec<(&'static str, BrokerMessage)> {
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        got.push(next(seen).await);
    }
    got
}

/// Asserts nothing more arrives for a while.
async fn quiet(seen: &mut Seen) {
    if let Ok(Some((tag, msg))) = tokio::time::timeout(Duration::from_millis(200), seen.recv()).await {
        panic!("unexpected extra delivery to {tag}: {msg:?}");
    }
}

fn count(path: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(path).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Acks are written after the handler returns; waits until none is outstanding.
async fn until_settled(path: &Path) {
    let deadline = Instant::now() + WITHIN;
    while count(path, "SELECT COUNT(*) FROM pending") > 0 {
        assert!(Instant::now() < deadline, "messages still pending");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
