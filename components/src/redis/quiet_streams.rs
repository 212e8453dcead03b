//! One blocked read for every quiet stream of a consumer group. A subscription whose stream is
//! drained waits here instead of blocking a connection of its own: one connection blocks in
//! `XREADGROUP GROUP g g COUNT 1 BLOCK readTimeout STREAMS s1 … sN > … >` over all of them and
//! hands each entry to its subscription, which then reads without blocking until its stream is
//! drained again. A thousand quiet subscriptions cost one blocked read per `readTimeout` and one
//! connection, not a thousand of each. A stream that starts waiting while the read is blocked
//! interrupts it (`CLIENT UNBLOCK`), so it never waits for the others' timeout.

use super::connection::is_connection_error;
use super::settings::Settings;
use super::stream_entry::{self, StreamEntry};
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

/// The first pause after a failed read; doubles up to [`MAX_BACKOFF`] while Redis stays away.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long an interrupt is retried while the read it interrupts has not reached Redis yet.
const UNBLOCK_TRIES: u32 = 50;
const UNBLOCK_PAUSE: Duration = Duration::from_millis(2);

/// Per stream, the subscriptions waiting for its next entry.
type Waiters = HashMap<Arc<str>, Vec<oneshot::Sender<Vec<StreamEntry>>>>;

pub(super) struct QuietStreams {
    group: Arc<str>,
    waiting: Mutex<Waiters>,
    /// Rung when a stream starts waiting.
    joined: Notify,
    stop: CancellationToken,
}

impl QuietStreams {
    /// Starts the reader of `group`, blocking on `reader` (a connection of its own), interrupting
    /// it through `shared`, until [`QuietStreams::stop`].
    pub fn start(settings: Arc<Settings>, group: Arc<str>, reader: ConnectionManager, shared: ConnectionManager) -> Arc<Self> {
        let quiet = Arc::new(Self { group, waiting: Mutex::default(), joined: Notify::new(), stop: CancellationToken::new() });
        tokio::spawn(quiet.clone().read_loop(settings, reader, shared));
        quiet
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Waits for `topic`'s next entry for this group, read for this group's consumer (so pending
    /// until acknowledged); `None` once the reader stopped. Dropped while waiting, an entry read
    /// for it meanwhile stays pending and is redelivered after `processingTimeout`.
    pub async fn next(&self, topic: &Arc<str>) -> Option<Vec<StreamEntry>> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().expect("waiters lock").entry(topic.clone()).or_default().push(tx);
        self.joined.notify_one();
        tokio::select! {
            entries = rx => entries.ok(),
            () = self.stop.cancelled() => None,
        }
    }

    /// The streams someone waits for, forgetting waiters that gave up.
    fn waited_for(&self) -> Vec<Arc<str>> {
        let mut waiting = self.waiting.lock().expect("waiters lock");
        waiting.retain(|_, waiters| {
            waiters.retain(|tx| !tx.is_closed());
            !waiters.is_empty()
        });
        waiting.keys().cloned().collect()
    }

    /// Gives `entries` to the first subscription still waiting for `topic`.
    fn hand_over(&self, topic: &str, mut entries: Vec<StreamEntry>) {
        let mut waiting = self.waiting.lock().expect("waiters lock");
        let Some(waiters) = waiting.get_mut(topic) else { return };
        while !waiters.is_empty() {
            match waiters.remove(0).send(entries) {
                Ok(()) => break,
                Err(back) => entries = back,
            }
        }
        if waiters.is_empty() {
            waiting.remove(topic);
        }
    }

    async fn read_loop(self: Arc<Self>, settings: Arc<Settings>, mut reader: ConnectionManager, mut shared: ConnectionManager) {
        let block_ms = settings.read_timeout.as_millis().max(1) as u64;
        let mut failures = 0u32;
        loop {
            let topics = self.waited_for();
            if topics.is_empty() {
                tokio::select! {
                    () = self.stop.cancelled() => return,
                    () = self.joined.notified() => continue,
                }
            }
            // Asked every round: the connection may have been replaced since the last.
            let id = redis::cmd("CLIENT").arg("ID").query_async::<i64>(&mut reader).await.ok();
            let mut read = redis::cmd("XREADGROUP");
            read.arg("GROUP").arg(&*self.group).arg(&*self.group).arg("COUNT").arg(1).arg("BLOCK").arg(block_ms).arg("STREAMS");
            for topic in &topics {
                read.arg(&**topic);
            }
            for _ in &topics {
                read.arg(">");
            }
            let reply = {
                // Never dropped unfinished: entries it may already have read would be stranded.
                let mut reading = std::pin::pin!(read.query_async::<redis::Value>(&mut reader));
                tokio::select! {
                    biased;
                    () = self.stop.cancelled() => return,
                    reply = &mut reading => reply,
                    () = self.joined.notified() => tokio::select! {
                        biased;
                        () = self.stop.cancelled() => return,
                        reply = &mut reading => reply,
                        () = interrupt(&mut shared, id) => tokio::select! {
                            () = self.stop.cancelled() => return,
                            reply = reading => reply,
                        },
                    },
                }
            };
            match reply {
                Ok(reply) => {
                    failures = 0;
                    for (topic, entries) in stream_entry::read_reply_by_stream(reply) {
                        self.hand_over(&topic, entries);
                    }
                }
                Err(err) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(group = %self.group, streams = topics.len(), %err, "pubsub.redis: XREADGROUP failed; retrying until Redis answers");
                    }
                    if err.code() == Some("NOGROUP") {
                        // Redis restarted empty, or a stream was deleted: the groups come back.
                        for topic in &topics {
                            create_group(&mut shared, topic, &self.group).await;
                        }
                    } else if !is_connection_error(&err) {
                        tracing::debug!(group = %self.group, %err, "pubsub.redis: XREADGROUP refused");
                    }
                    let backoff = FIRST_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(8)).min(MAX_BACKOFF);
                    tokio::select! {
                        () = self.stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                }
            }
        }
    }
}

/// Ends the blocked read of client `id` early (`CLIENT UNBLOCK`, as a timeout: it answers what it
/// read so far), retrying briefly while the read has not reached Redis yet. Without an id the
/// read just runs to its timeout.
async fn interrupt(shared: &mut ConnectionManager, id: Option<i64>) {
    let Some(id) = id else { return };
    for _ in 0..UNBLOCK_TRIES {
        let unblocked = redis::cmd("CLIENT").arg("UNBLOCK").arg(id).query_async::<i64>(shared).await;
        if !matches!(unblocked, Ok(0)) {
            return;
        }
        tokio::time::sleep(UNBLOCK_PAUSE).await;
    }
}

/// `XGROUP CREATE <topic> <group> 0 MKSTREAM`, as a subscription creates it.
pub(super) async fn create_group(shared: &mut ConnectionManager, topic: &str, group: &str) {
    let created = redis::cmd("XGROUP").arg("CREATE").arg(topic).arg(group).arg("0").arg("MKSTREAM").query_async::<()>(shared).await;
    if let Err(err) = created
        && err.code() != Some("BUSYGROUP")
    {
        tracing::debug!(%topic, %group, %err, "pubsub.redis: could not recreate the consumer group");
    }
}
