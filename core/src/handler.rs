use crate::{TopicEvent, TopicEventStatus};
use std::future::Future;
use std::pin::Pin;

/// A handler's failure; it is answered as RETRY, never SUCCESS.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Receives events for a subscription. `Ok(status)` is answered as is; `Err` means RETRY.
pub trait TopicHandler: Send + Sync + 'static {
    fn handle(&self, event: TopicEvent) -> Pin<Box<dyn Future<Output = Result<TopicEventStatus, HandlerError>> + Send + '_>>;
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

/// A handler from an async closure.
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

/// Runs a handler and answers by [`answer_of`].
pub(crate) async fn run_handler(handler: &dyn TopicHandler, event: TopicEvent) -> TopicEventStatus {
    use futures::FutureExt;
    let id = event.id.clone();
    let outcome = std::panic::AssertUnwindSafe(handler.handle(event)).catch_unwind().await;
    answer_of(&id, outcome)
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
    }
}
