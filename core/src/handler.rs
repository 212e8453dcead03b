//! What receives a subscription's events ([`TopicHandler`]), and the one rule for what its answer
//! means ([`answer_of`]), for the app server, streaming subscriptions and every binding.

use crate::{TopicEvent, TopicEventStatus};
use std::future::Future;
use std::pin::Pin;

/// A handler's failure; it is answered as RETRY, never SUCCESS.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Receives events for a subscription. `Ok(status)` is answered as is; `Err` means RETRY.
///
/// A closure is enough for most apps ([`handler_fn`]); implement the trait for a handler with
/// state of its own or one that takes a bulk delivery as a whole ([`TopicHandler::handle_batch`]),
/// e.g. to write a batch to a database in one transaction:
///
/// ```
/// use dapr_rs_core::{HandlerError, TopicEvent, TopicEventStatus, TopicHandler};
/// use std::future::Future;
/// use std::pin::Pin;
///
/// struct OrderWriter;
///
/// impl TopicHandler for OrderWriter {
///     fn handle(&self, event: TopicEvent) -> Pin<Box<dyn Future<Output = Result<TopicEventStatus, HandlerError>> + Send + '_>> {
///         Box::pin(async move {
///             let order = event.data_json()?; // not JSON: an Err, so RETRY
///             println!("one order: {order}");
///             Ok(TopicEventStatus::Success)
///         })
///     }
///
///     fn handle_batch(
///         &self,
///         events: Vec<TopicEvent>,
///     ) -> Pin<Box<dyn Future<Output = Result<Vec<TopicEventStatus>, HandlerError>> + Send + '_>> {
///         Box::pin(async move {
///             // One status per event, in order: a malformed order is dropped, the rest succeed.
///             Ok(events.iter().map(|e| if e.data_json().is_ok() { TopicEventStatus::Success } else { TopicEventStatus::Drop }).collect())
///         })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let batch = vec![TopicEvent { data: "1".into(), ..Default::default() }, TopicEvent { data: "{".into(), ..Default::default() }];
/// assert_eq!(OrderWriter.handle_batch(batch).await.unwrap(), [TopicEventStatus::Success, TopicEventStatus::Drop]);
/// # }
/// ```
///
/// Register it with [`Subscription::new`](crate::Subscription::new) (as `Arc::new(OrderWriter)`)
/// and, for batches, [`SubscriptionOptions::bulk_subscribe`](crate::SubscriptionOptions::bulk_subscribe).
pub trait TopicHandler: Send + Sync + 'static {
    /// Handles one event: `Ok(status)` is answered as is; an `Err` or a panic is answered RETRY.
    fn handle(&self, event: TopicEvent) -> Pin<Box<dyn Future<Output = Result<TopicEventStatus, HandlerError>> + Send + '_>>;

    /// A bulk delivery's events (each with its `entry_id`), answered with one status per event in
    /// order; `Err`, or as many statuses as events, means RETRY for all. By default each event goes
    /// to [`TopicHandler::handle`], all at once; a handler that takes a batch as a whole overrides it.
    fn handle_batch(
        &self,
        events: Vec<TopicEvent>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<TopicEventStatus>, HandlerError>> + Send + '_>> {
        Box::pin(async move { Ok(futures::future::join_all(events.into_iter().map(|event| run_handler(self, event))).await) })
    }
}

struct FnHandler<F>(F);

impl<F, Fut> TopicHandler for FnHandler<F>
where
    F: Fn(TopicEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<TopicEventStatus, HandlerError>> + Send + 'static,
{
    fn handle(&self, event: TopicEvent) -> Pin<Box<dyn Future<Output = Result<TopicEventStatus, HandlerError>> + Send + '_>> {
        Box::pin((self.0)(event))
    }
}

/// A handler from an async closure, ready for [`Subscription::new`](crate::Subscription::new) or
/// [`SubscriptionStream::serve`](crate::SubscriptionStream::serve). Its `?` turns any error into
/// an `Err`, answered RETRY.
///
/// ```
/// use dapr_rs_core::{TopicEvent, TopicEventStatus, handler_fn};
///
/// let handler = handler_fn(|event: TopicEvent| async move {
///     let order = event.data_json()?;
///     println!("order {}", order["orderId"]);
///     Ok(TopicEventStatus::Success)
/// });
/// # let _ = handler;
/// ```
pub fn handler_fn<F, Fut>(f: F) -> std::sync::Arc<dyn TopicHandler>
where
    F: Fn(TopicEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<TopicEventStatus, HandlerError>> + Send + 'static,
{
    std::sync::Arc::new(FnHandler(f))
}

/// The one answer rule, for app handlers and streaming handlers in every binding: what a
/// handler returned is answered as is; a failure or a panic asks for redelivery (RETRY), never
/// SUCCESS, so no event is lost to a bug. Bindings only turn a callable's result into
/// `Ok(status)` (an answer that is no status is an `Err`) and leave the rest to this.
pub fn answer_of(event_id: &str, outcome: std::thread::Result<Result<TopicEventStatus, HandlerError>>) -> TopicEventStatus {
    match outcome {
        Ok(Ok(status)) => status,
        Ok(Err(err)) => {
            tracing::warn!(event_id, error = %err, "handler failed; asking for redelivery");
            TopicEventStatus::Retry
        }
        Err(_) => {
            tracing::error!(event_id, "handler panicked; asking for redelivery");
            TopicEventStatus::Retry
        }
    }
}

/// A batch handler's answer given by entry id (as Dapr SDKs' `BulkSubscribeAppResponse` is), as
/// [`TopicHandler::handle_batch`] returns it: one status per entry of `entry_ids`, in their order.
/// An entry the answer leaves out is RETRY, as the sidecar reads an app's bulk reply
/// (`dapr_rs_proto::outcome::BulkOutcome`); an id that is no entry of the batch is ignored, as there.
///
/// ```
/// use dapr_rs_core::{TopicEventStatus as S, statuses_by_entry_id};
///
/// let ids = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
/// let answer = [("c".to_owned(), S::Drop), ("a".to_owned(), S::Success), ("z".to_owned(), S::Drop)];
/// assert_eq!(statuses_by_entry_id(&ids, answer), [S::Success, S::Retry, S::Drop]);
/// ```
pub fn statuses_by_entry_id(entry_ids: &[String], answer: impl IntoIterator<Item = (String, TopicEventStatus)>) -> Vec<TopicEventStatus> {
    let answer = dapr_rs_proto::outcome::BulkOutcome::PerEntry(answer.into_iter().collect());
    entry_ids.iter().map(|id| answer.of(id)).collect()
}

/// A single delivery to a handler that takes only batches (a binding's batch callable): handed to
/// its [`TopicHandler::handle_batch`] as a batch of one, answered by that batch's one status.
pub async fn handle_as_batch_of_one<H: TopicHandler + ?Sized>(handler: &H, event: TopicEvent) -> Result<TopicEventStatus, HandlerError> {
    let statuses = handler.handle_batch(vec![event]).await?;
    statuses.into_iter().next().ok_or_else(|| "no status for the event".into())
}

/// Runs a handler and answers by [`answer_of`].
pub(crate) async fn run_handler<H: TopicHandler + ?Sized>(handler: &H, event: TopicEvent) -> TopicEventStatus {
    use futures::FutureExt;
    let id = event.id.clone();
    let outcome = std::panic::AssertUnwindSafe(handler.handle(event)).catch_unwind().await;
    answer_of(&id, outcome)
}

/// Runs a handler on a batch and answers by [`answer_of`] for the batch as a whole: its statuses,
/// one per event, or RETRY for every event when it failed, panicked or answered another count.
pub(crate) async fn run_batch(handler: &dyn TopicHandler, events: Vec<TopicEvent>) -> Vec<TopicEventStatus> {
    use futures::FutureExt;
    let (count, first) = (events.len(), events.first().map(|e| e.id.clone()).unwrap_or_default());
    let outcome = std::panic::AssertUnwindSafe(handler.handle_batch(events)).catch_unwind().await;
    batch_answer_of(count, &first, outcome)
}

/// [`run_batch`]'s rule, also for a batch handler a web framework ran (`DeliveryAnswer::reply_to_batch`).
/// A batch that is not answered is logged once, named by `first` (its first event's id or entry id)
/// and its size, not as if it were one event.
pub(crate) fn batch_answer_of(
    count: usize,
    first: &str,
    outcome: std::thread::Result<Result<Vec<TopicEventStatus>, HandlerError>>,
) -> Vec<TopicEventStatus> {
    match outcome {
        Ok(Ok(statuses)) if statuses.len() == count => return statuses,
        Ok(Ok(statuses)) => {
            let answered = statuses.len();
            tracing::warn!(
                first,
                events = count,
                answered,
                "batch handler answered another count of statuses; asking for redelivery of the batch"
            );
        }
        Ok(Err(err)) => tracing::warn!(first, events = count, error = %err, "batch handler failed; asking for redelivery of the batch"),
        Err(_) => tracing::error!(first, events = count, "batch handler panicked; asking for redelivery of the batch"),
    }
    vec![TopicEventStatus::Retry; count]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &'static str) -> TopicEvent {
        TopicEvent { id: "e1".into(), data: bytes::Bytes::from_static(data.as_bytes()), ..Default::default() }
    }

    #[tokio::test]
    async fn statuses_pass_and_failures_and_panics_answer_retry() {
        let handler = handler_fn(|ev: TopicEvent| async move {
            match ev.data.as_ref() {
                b"drop" => Ok(TopicEventStatus::Drop),
                b"ok" => Ok(TopicEventStatus::Success),
                b"panic" => panic!("handler bug"),
                _ => Err("handler failed".into()),
            }
        });
        assert_eq!(run_handler(handler.as_ref(), event("ok")).await, TopicEventStatus::Success);
        assert_eq!(run_handler(handler.as_ref(), event("drop")).await, TopicEventStatus::Drop);
        assert_eq!(run_handler(handler.as_ref(), event("fail")).await, TopicEventStatus::Retry);
        assert_eq!(run_handler(handler.as_ref(), event("panic")).await, TopicEventStatus::Retry);
        // By default a batch's events go to `handle` one by one, each answered by the same rule.
        let batch = ["ok", "drop", "fail", "panic"].map(event).to_vec();
        let each = [TopicEventStatus::Success, TopicEventStatus::Drop, TopicEventStatus::Retry, TopicEventStatus::Retry];
        assert_eq!(run_batch(handler.as_ref(), batch).await, each);
    }

    /// Answers a batch as a whole, by its first event's data.
    struct WholeBatch;

    impl TopicHandler for WholeBatch {
        fn handle(&self, _: TopicEvent) -> Pin<Box<dyn Future<Output = Result<TopicEventStatus, HandlerError>> + Send + '_>> {
            Box::pin(async { Err("a batch handler".into()) })
        }

        fn handle_batch(
            &self,
            events: Vec<TopicEvent>,
        ) -> Pin<Box<dyn Future<Output = Result<Vec<TopicEventStatus>, HandlerError>> + Send + '_>> {
            Box::pin(async move {
                match events[0].data.as_ref() {
                    b"ok" => Ok(events.iter().map(|_| TopicEventStatus::Drop).collect()),
                    b"short" => Ok(vec![TopicEventStatus::Success]),
                    b"panic" => panic!("handler bug"),
                    _ => Err("handler failed".into()),
                }
            })
        }
    }

    #[tokio::test]
    async fn a_batch_that_fails_panics_or_miscounts_is_retried_whole() {
        let batch = |first: &'static str| vec![event(first), event("x")];
        assert_eq!(run_batch(&WholeBatch, batch("ok")).await, [TopicEventStatus::Drop; 2]);
        for failing in ["short", "panic", "fail"] {
            assert_eq!(run_batch(&WholeBatch, batch(failing)).await, [TopicEventStatus::Retry; 2], "{failing}");
        }
    }
}
