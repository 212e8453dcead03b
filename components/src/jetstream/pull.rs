//! Pull requests for one durable consumer, counted here: every message asked for has a delivery
//! slot reserved for it before the request goes out, so NATS never sends more than the sidecar has
//! room for, and the count cannot drift.
//!
//! async-nats' own `messages()` stream counted a request only once its publish had returned, so a
//! message that came back before that was not subtracted; with one slot the stream then waited for
//! a message it would never ask for, until a heartbeat was missed (a minute). Under a backlog that
//! stalled delivery again and again.
//!
//! What comes to the inbox: messages (no status), idle heartbeats (100) while a request waits,
//! and the end of requests that were not filled: 408 when one expired, 409 when the server ended
//! it, both with `Nats-Pending-Messages` telling how many of ours it will no longer send.

use crate::{BrokerError, DeliverySlot, ReaderControl};
use async_nats::{Client, StatusCode, Subscriber};
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long one pull request waits for messages, and how often NATS tells an idle pull it is still
/// there (a missed beat means the pull is gone). Long, because every idle subscription costs one
/// beat per HEARTBEAT and one pull per PULL_EXPIRES: a thousand quiet subscriptions at 5 s beats
/// kept 1.9% of a core busy. A reconnect does not wait for a missed beat: the feed asks again as
/// soon as the client is connected.
const PULL_EXPIRES: Duration = Duration::from_secs(60);
const HEARTBEAT: Duration = Duration::from_secs(30);

/// Why a feed ended; the reader binds the consumer again (after a backoff) and opens a new one.
#[derive(Debug)]
pub(super) struct FeedEnded(pub String);

impl std::fmt::Display for FeedEnded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub(super) struct PullFeed {
    client: Client,
    /// `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`.
    next_subject: String,
    inbox: String,
    inbox_messages: Subscriber,
    /// One reserved slot per message asked for and not yet come.
    asked: Vec<DeliverySlot>,
    /// Slots reserved and not yet asked for: they are asked for together once there are enough
    /// (half the subscription's slots), so a busy subscription keeps a few requests waiting at
    /// NATS, not one per slot (NATS refuses more than 512 waiting requests per consumer).
    spare: Vec<DeliverySlot>,
    asking: AskPolicy,
    /// When the inbox last heard from NATS; with requests waiting, silence for two heartbeats means
    /// they are gone.
    last_heard: Instant,
    reconnects: watch::Receiver<()>,
}

impl PullFeed {
    pub async fn open(
        client: &Client,
        stream: &str,
        consumer: &str,
        max_concurrency: usize,
        max_ack_pending: Option<usize>,
        mut reconnects: watch::Receiver<()>,
    ) -> Result<Self, BrokerError> {
        // Requests are sent on the connection there is now.
        reconnects.borrow_and_update();
        let inbox = client.new_inbox();
        let inbox_messages = client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| BrokerError::Unavailable(format!("cannot subscribe to {inbox} for consumer {consumer}: {e}")))?;
        Ok(Self {
            client: client.clone(),
            next_subject: format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
            inbox,
            inbox_messages,
            asked: Vec::new(),
            spare: Vec::new(),
            asking: AskPolicy::new(max_concurrency, max_ack_pending),
            last_heard: Instant::now(),
            reconnects,
        })
    }

    /// The next message with the subscription's own part of a slot for it, `Ok(None)` once the
    /// subscription is stopping.
    pub async fn next(&mut self, control: &ReaderControl) -> Result<Option<(async_nats::Message, DeliverySlot)>, FeedEnded> {
        loop {
            if control.stop.is_cancelled() {
                return Ok(None);
            }
            self.ask(control).await?;
            let heartbeat_missed = self.last_heard + 2 * HEARTBEAT;
            let waiting = !self.asked.is_empty();
            let message = tokio::select! {
                biased;
                () = control.stop.cancelled() => return Ok(None),
                Ok(()) = self.reconnects.changed() => {
                    // A new connection: the requests NATS held for the old one are gone.
                    self.forget(self.asked.len());
                    continue;
                }
                message = self.inbox_messages.next() => match message {
                    Some(message) => message,
                    None => return Err(FeedEnded("the NATS connection is closed".into())),
                },
                Some(slot) = control.reserve() => {
                    self.spare.push(slot);
                    continue;
                }
                () = tokio::time::sleep_until(heartbeat_missed), if waiting => {
                    tracing::debug!(subject = %self.next_subject, "pubsub.jetstream: no heartbeat for the waiting pull requests; asking again");
                    self.forget(self.asked.len());
                    continue;
                }
            };
            self.last_heard = Instant::now();
            match message.status {
                None | Some(StatusCode::OK) => {
                    let slot = match self.asked.pop().or_else(|| self.spare.pop()) {
                        Some(slot) => slot,
                        // More came than was asked for (requests thought lost were not): wait for room.
                        None => match control.reserve().await {
                            Some(slot) => slot,
                            None => return Ok(None),
                        },
                    };
                    return Ok(Some((message, slot)));
                }
                Some(StatusCode::IDLE_HEARTBEAT) => {}
                Some(status @ (StatusCode::TIMEOUT | StatusCode::REQUEST_TERMINATED)) => {
                    let description = message.description.as_deref().unwrap_or_default();
                    if status == StatusCode::REQUEST_TERMINATED
                        && (description.starts_with("Exceeded")
                            || description.contains("Consumer Deleted")
                            || description.contains("push based"))
                    {
                        // Refused, not ended: asking the same again would be refused again.
                        return Err(FeedEnded(format!("NATS refused the pull request for {}: {status} {description}", self.next_subject)));
                    }
                    let unsent = message
                        .headers
                        .as_ref()
                        .and_then(|headers| headers.get("Nats-Pending-Messages"))
                        .and_then(|pending| pending.as_str().parse::<usize>().ok())
                        .unwrap_or(self.asked.len());
                    self.forget(unsent);
                }
                Some(status) => {
                    let description = message.description.as_deref().unwrap_or_default();
                    return Err(FeedEnded(format!("NATS answered the pull request for {} with {status} {description}", self.next_subject)));
                }
            }
        }
    }

    /// Reserves what slots are free now and asks NATS for that many messages when there are enough
    /// of them, or when nothing is asked for yet.
    async fn ask(&mut self, control: &ReaderControl) -> Result<(), FeedEnded> {
        while let Some(slot) = control.try_reserve() {
            self.spare.push(slot);
        }
        let Some(batch) = self.asking.batch(self.spare.len(), self.asked.len()) else { return Ok(()) };
        let request = format!(r#"{{"batch":{batch},"expires":{},"idle_heartbeat":{}}}"#, PULL_EXPIRES.as_nanos(), HEARTBEAT.as_nanos());
        let sent = tokio::select! {
            biased;
            // The client's queue may be full while NATS is away: a stop does not wait for it.
            () = control.stop.cancelled() => return Ok(()),
            sent = self.client.publish_with_reply(self.next_subject.clone(), self.inbox.clone(), request.into()) => sent,
        };
        sent.map_err(|e| FeedEnded(format!("cannot send a pull request to {}: {e}", self.next_subject)))?;
        if self.asked.is_empty() {
            // The heartbeat clock starts with the first request waiting.
            self.last_heard = Instant::now();
        }
        self.asked.extend(self.spare.drain(..batch));
        Ok(())
    }

    /// `count` asked-for messages will not come: their slots are free again.
    fn forget(&mut self, count: usize) {
        let keep = self.asked.len().saturating_sub(count);
        self.asked.truncate(keep);
    }
}

/// How much one pull request asks for: the reserved slots not asked for yet, once there are half
/// the subscription's slots of them (or nothing is asked for), and never more than the consumer's
/// `maxAckPending` (servers refuse a larger batch with 409).
#[derive(Debug, Clone, Copy)]
struct AskPolicy {
    ask_at: usize,
    max_batch: usize,
}

impl AskPolicy {
    fn new(max_concurrency: usize, max_ack_pending: Option<usize>) -> Self {
        let max_batch = max_ack_pending.unwrap_or(usize::MAX).max(1);
        Self { ask_at: (max_concurrency / 2).max(1).min(max_batch), max_batch }
    }

    /// The batch to ask for with `spare` slots reserved and `asked` messages still to come.
    fn batch(self, spare: usize, asked: usize) -> Option<usize> {
        if spare == 0 || (spare < self.ask_at && asked > 0) {
            return None;
        }
        Some(spare.min(self.max_batch))
    }
}

#[cfg(test)]
mod tests {
    use super::AskPolicy;

    #[test]
    fn asks_in_halves_and_never_over_max_ack_pending() {
        let eight = AskPolicy::new(8, None);
        assert_eq!(eight.batch(8, 0), Some(8), "everything at first");
        assert_eq!(eight.batch(3, 5), None, "fewer than half free while messages are coming");
        assert_eq!(eight.batch(4, 4), Some(4));
        assert_eq!(eight.batch(1, 0), Some(1), "anything when nothing is coming");
        assert_eq!(eight.batch(0, 0), None);
        let capped = AskPolicy::new(8, Some(2));
        assert_eq!(capped.batch(8, 0), Some(2), "maxAckPending caps a request");
        assert_eq!(capped.batch(6, 2), Some(2), "and the half is at most the cap");
        assert_eq!(AskPolicy::new(1, None).batch(1, 0), Some(1));
    }
}
