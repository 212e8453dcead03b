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

/// Runs a handler and maps its result to the status the sidecar is told; a panic is a RETRY too.
pub(crate) async fn run_handler(handler: &dyn TopicHandler, event: TopicEvent) -> TopicEventStatus {
    use futures::FutureExt;
    let id = event.id.clone();
    match std::panic::AssertUnwindSafe(handler.handle(event)).catch_unwind().await {
        Ok(Ok(status)) => status,
        Ok(Err(err)) => {
            tracing::warn!(event_id = %id, error = %err, "handler failed; asking for redelivery");
            TopicEventStatus::Retry
        }
        Err(_) => {
            tracing::error!(event_id = %id, "handler panicked; asking for redelivery");
            TopicEventStatus::Retry
        }
    }
}
