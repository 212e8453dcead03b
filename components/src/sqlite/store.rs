//! The store actor: one OS thread owns the SQLite connection and runs everything queued for it in
//! one transaction (group commit), so a hundred publishes in flight cost one commit, not a hundred.
//! Callers hold a cheap [`Store`] handle and await a oneshot reply that is sent after the commit.

use super::checkpoint::Checkpointer;
use super::doorbell::Ringer;
use super::{queries, schema};
use crate::{BrokerError, BrokerMessage};
use bytes::Bytes;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Commands waiting for the store thread; senders wait (backpressure) when it is this far behind.
const QUEUE_CAPACITY: usize = 8_192;
/// The most commands one transaction runs, so one batch never holds the write lock for long.
const MAX_BATCH: usize = 1_024;
/// How often BEGIN is retried after the busy handler gave up (each try waits about five seconds).
const BEGIN_ATTEMPTS: usize = 3;

/// A topic and the consumer group reading it: what a subscription claims from.
#[derive(Debug)]
pub(super) struct TopicGroup {
    pub topic: String,
    pub group: String,
}

/// A claimed message.
pub(super) struct Delivery {
    pub seq: i64,
    /// How many times it has been handed out, this time included.
    pub deliveries: u32,
    pub message: BrokerMessage,
}

pub(super) struct Claimed {
    pub deliveries: Vec<Delivery>,
    /// When the group's earliest lease runs out (wall clock ms), if any message is pending.
    pub next_lease_ms: Option<i64>,
}

type Reply<T> = oneshot::Sender<Result<T, BrokerError>>;

enum Command {
    Publish { topic: String, data: Bytes, metadata: String, reply: Reply<()> },
    Join { key: Arc<TopicGroup>, port: u16, subscription: u64, reply: Reply<()> },
    Leave { key: Arc<TopicGroup>, port: u16, subscription: u64, reply: Reply<()> },
    Claim { key: Arc<TopicGroup>, max: usize, lease: Duration, reply: Reply<Claimed> },
    Ack { key: Arc<TopicGroup>, seq: i64, reply: Reply<()> },
    Retry { key: Arc<TopicGroup>, seqs: Vec<i64>, delay: Duration, reply: Reply<()> },
    Cleanup { retention: Duration, chunk: usize, reply: Reply<bool> },
    Claimable { reply: Reply<Vec<(String, String)>> },
    Close { reply: oneshot::Sender<()> },
}

/// A handle on the store thread; clones share it. The thread ends after [`Store::close`] or when
/// every handle is gone.
#[derive(Clone)]
pub(super) struct Store {
    commands: mpsc::Sender<Command>,
    path: Arc<str>,
    /// Claims asked so far, by every handle: an idle subscription asks none.
    claims: Arc<AtomicU64>,
}

impl Store {
    /// Opens (creating parent directories, the file and its tables) and starts the store thread.
    /// `port` is this instance's doorbell, whose listener rows the thread removes when it ends.
    pub async fn open(path: &Path, port: u16) -> Result<Self, BrokerError> {
        let shown: Arc<str> = path.display().to_string().into();
        let (commands, queue) = mpsc::channel(QUEUE_CAPACITY);
        let (ready, opened) = oneshot::channel();
        let owned_path = path.to_path_buf();
        let thread_path = shown.clone();
        std::thread::Builder::new()
            .name("pubsub-sqlite".into())
            .spawn(move || match connect(&owned_path) {
                Ok(conn) => {
                    let _ = ready.send(Ok(()));
                    let checkpointer = Checkpointer::start(owned_path);
                    Actor { conn, checkpointer, ringer: Ringer::new(), path: thread_path, port }.run(queue);
                }
                Err(err) => {
                    let _ = ready.send(Err(err));
                }
            })
            .map_err(|err| BrokerError::Unavailable(format!("pubsub.sqlite {shown}: cannot start the store thread: {err}")))?;
        match opened.await {
            Ok(Ok(())) => Ok(Self { commands, path: shown, claims: Arc::default() }),
            Ok(Err(err)) => Err(BrokerError::Unavailable(format!("pubsub.sqlite {shown}: {err}"))),
            Err(_) => Err(BrokerError::Unavailable(format!("pubsub.sqlite {shown}: the store thread ended while opening"))),
        }
    }

    #[cfg(test)]
    pub fn claims_so_far(&self) -> u64 {
        self.claims.load(Ordering::Relaxed)
    }

    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }

    pub async fn publish(&self, msg: BrokerMessage) -> Result<(), BrokerError> {
        let metadata = serde_json::to_string(&msg.metadata).map_err(|err| BrokerError::Other(format!("metadata: {err}")))?;
        self.call(|reply| Command::Publish { topic: msg.topic, data: msg.data, metadata, reply }).await
    }

    /// Creates the group if it is new (starting at the oldest retained message) and registers the
    /// subscription's doorbell for the topic.
    pub async fn join(&self, key: &Arc<TopicGroup>, port: u16, subscription: u64) -> Result<(), BrokerError> {
        self.call(|reply| Command::Join { key: key.clone(), port, subscription, reply }).await
    }

    pub async fn leave(&self, key: &Arc<TopicGroup>, port: u16, subscription: u64) -> Result<(), BrokerError> {
        self.call(|reply| Command::Leave { key: key.clone(), port, subscription, reply }).await
    }

    /// Leases up to `max` messages for `lease`: expired leases of the group first, then new ones.
    pub async fn claim(&self, key: &Arc<TopicGroup>, max: usize, lease: Duration) -> Result<Claimed, BrokerError> {
        self.claims.fetch_add(1, Ordering::Relaxed);
        self.call(|reply| Command::Claim { key: key.clone(), max, lease, reply }).await
    }

    pub async fn ack(&self, key: &Arc<TopicGroup>, seq: i64) -> Result<(), BrokerError> {
        self.call(|reply| Command::Ack { key: key.clone(), seq, reply }).await
    }

    /// Makes claimed messages claimable again after `delay`.
    pub async fn retry(&self, key: &Arc<TopicGroup>, seqs: Vec<i64>, delay: Duration) -> Result<(), BrokerError> {
        self.call(|reply| Command::Retry { key: key.clone(), seqs, delay, reply }).await
    }

    /// Deletes up to `chunk` messages per rule; `true` when there may be more to delete.
    pub async fn cleanup(&self, retention: Duration, chunk: usize) -> Result<bool, BrokerError> {
        self.call(|reply| Command::Cleanup { retention, chunk, reply }).await
    }

    /// The (topic, group) pairs with messages to claim right now.
    pub async fn claimable_groups(&self) -> Result<Vec<(String, String)>, BrokerError> {
        self.call(|reply| Command::Claimable { reply }).await
    }

    /// Runs what is queued, removes this instance's doorbell rows, closes the connection and ends
    /// the thread. Later calls on any handle fail as closed.
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Close { reply }).await.is_ok() {
            let _ = done.await;
        }
    }

    async fn call<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, BrokerError> {
        let (reply, result) = oneshot::channel();
        self.commands.send(command(reply)).await.map_err(|_| self.closed())?;
        result.await.map_err(|_| self.closed())?
    }

    fn closed(&self) -> BrokerError {
        BrokerError::Unavailable(format!("pubsub.sqlite {}: the component is closed", self.path))
    }
}

fn connect(path: &Path) -> Result<rusqlite::Connection, String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|err| format!("cannot create {}: {err}", parent.display()))?;
    }
    let mut attempt = 0;
    loop {
        match schema::open(path) {
            Ok(conn) => return Ok(conn),
            // Another process may be creating the same file right now.
            Err(err) if schema::is_busy(&err) && attempt < BEGIN_ATTEMPTS => attempt += 1,
            Err(err) => return Err(err.to_string()),
        }
    }
}

pub(super) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Sends a command's reply once its transaction has committed (or failed).
type Finish = Box<dyn FnOnce(Option<&str>)>;

fn finish<T: 'static>(reply: Reply<T>, result: Result<T, BrokerError>) -> Finish {
    Box::new(move |commit_error| {
        let _ = reply.send(match commit_error {
            Some(err) => Err(BrokerError::Unavailable(err.to_owned())),
            None => result,
        });
    })
}

// Fields drop in order: the connection closes before the checkpoint thread is stopped.
struct Actor {
    conn: rusqlite::Connection,
    #[allow(dead_code)] // held for its Drop
    checkpointer: Checkpointer,
    ringer: Ringer,
    path: Arc<str>,
    port: u16,
}

impl Actor {
    fn run(mut self, mut queue: mpsc::Receiver<Command>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut closing = None;
        while let Some(first) = queue.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            if let Some(at) = batch.iter().position(|c| matches!(c, Command::Close { .. })) {
                // Whatever was queued after Close is dropped; its callers see "closed".
                if let Command::Close { reply } = batch.remove(at) {
                    closing = Some(reply);
                }
                batch.truncate(at);
            }
            self.run_batch(std::mem::take(&mut batch));
            if closing.is_some() {
                break;
            }
        }
        drop(queue);
        if let Err(err) = queries::forget_listeners(&self.conn, self.port, std::process::id()) {
            tracing::debug!(path = %self.path, %err, "pubsub.sqlite could not remove its listener rows");
        }
        drop(self);
        if let Some(reply) = closing {
            let _ = reply.send(());
        }
    }

    fn error(&self, err: rusqlite::Error) -> BrokerError {
        BrokerError::Unavailable(format!("pubsub.sqlite {}: {err}", self.path))
    }

    fn run_batch(&mut self, batch: Vec<Command>) {
        if batch.is_empty() {
            return;
        }
        if let Err(err) = self.begin() {
            let message = format!("pubsub.sqlite {}: {err}", self.path);
            batch.into_iter().for_each(|command| command.fail(&message));
            return;
        }
        let now = now_ms();
        // Topics with messages newly claimable, whose listeners are rung after the commit.
        let mut to_ring = BTreeSet::new();
        let finishes: Vec<Finish> = batch.into_iter().map(|command| self.execute(command, now, &mut to_ring)).collect();
        // Read before COMMIT, ring after: a woken subscriber must find the messages committed.
        let rings = queries::listener_ports(&self.conn, &to_ring).unwrap_or_else(|err| {
            tracing::debug!(path = %self.path, %err, "pubsub.sqlite could not read listeners; subscribers will poll");
            Vec::new()
        });
        match self.commit() {
            Ok(()) => {
                for (port, topic) in &rings {
                    self.ringer.ring(*port, topic);
                }
                finishes.into_iter().for_each(|f| f(None));
            }
            Err(err) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                let message = format!("pubsub.sqlite {}: commit failed: {err}", self.path);
                finishes.into_iter().for_each(|f| f(Some(&message)));
            }
        }
    }

    fn begin(&self) -> rusqlite::Result<()> {
        let mut attempt = 1;
        loop {
            match self.conn.execute_batch("BEGIN IMMEDIATE") {
                Err(err) if schema::is_busy(&err) && attempt < BEGIN_ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }

    fn commit(&self) -> rusqlite::Result<()> {
        let mut attempt = 1;
        loop {
            // A COMMIT that fails with BUSY leaves the transaction open and may be retried.
            match self.conn.execute_batch("COMMIT") {
                Err(err) if schema::is_busy(&err) && attempt < BEGIN_ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }

    /// Runs one command inside the open transaction.
    fn execute(&self, command: Command, now: i64, to_ring: &mut BTreeSet<String>) -> Finish {
        let conn = &self.conn;
        match command {
            Command::Publish { topic, data, metadata, reply } => {
                let result = queries::insert_message(conn, &topic, &data, &metadata, now);
                if result.is_ok() {
                    to_ring.insert(topic);
                }
                finish(reply, result.map_err(|e| self.error(e)))
            }
            Command::Join { key, port, subscription, reply } => {
                let result = queries::atomically(conn, |c| queries::join(c, &key, port, subscription, std::process::id()));
                finish(reply, result.map_err(|e| self.error(e)))
            }
            Command::Leave { key, port, subscription, reply } => {
                finish(reply, queries::leave(conn, &key, port, subscription).map_err(|e| self.error(e)))
            }
            Command::Claim { key, max, lease, reply } => {
                let lease_until = now.saturating_add(lease.as_millis() as i64);
                let result = queries::atomically(conn, |c| queries::claim(c, &key, max, now, lease_until));
                finish(reply, result.map_err(|e| self.error(e)))
            }
            Command::Ack { key, seq, reply } => finish(reply, queries::ack(conn, &key, seq).map_err(|e| self.error(e))),
            Command::Retry { key, seqs, delay, reply } => {
                let at = now.saturating_add(delay.as_millis() as i64);
                let result = queries::retry(conn, &key, &seqs, at);
                if result.is_ok() && delay.is_zero() {
                    // Released for redelivery now: wake the group's other instances too.
                    to_ring.insert(key.topic.clone());
                }
                finish(reply, result.map_err(|e| self.error(e)))
            }
            Command::Cleanup { retention, chunk, reply } => {
                let cutoff = now.saturating_sub(retention.as_millis() as i64);
                finish(reply, queries::cleanup(conn, cutoff, chunk).map_err(|e| self.error(e)))
            }
            Command::Claimable { reply } => finish(reply, queries::claimable_groups(conn, now).map_err(|e| self.error(e))),
            Command::Close { reply } => {
                let _ = reply.send(());
                Box::new(|_| {})
            }
        }
    }
}

impl Command {
    /// Answers a command that never ran because its batch could not begin.
    fn fail(self, message: &str) {
        let err = || BrokerError::Unavailable(message.to_owned());
        match self {
            Command::Publish { reply, .. }
            | Command::Join { reply, .. }
            | Command::Leave { reply, .. }
            | Command::Ack { reply, .. }
            | Command::Retry { reply, .. } => drop(reply.send(Err(err()))),
            Command::Claim { reply, .. } => drop(reply.send(Err(err()))),
            Command::Cleanup { reply, .. } => drop(reply.send(Err(err()))),
            Command::Claimable { reply } => drop(reply.send(Err(err()))),
            Command::Close { reply } => drop(reply.send(())),
        }
    }
}
