//! A JVM handler as core's [`TopicHandler`], for app servers and streaming subscriptions alike.
//! The handler is a foreign trait (`EventHandler`, implemented in Kotlin or Java); it runs on a
//! blocking thread of the runtime, so a slow handler never stalls the tokio workers. What it
//! returned is `Ok(status)`; what it threw is an `Err`, which core's `answer_of` answers RETRY.

use crate::errors::HandlerError;
use crate::event::{Event, EventStatus};
use dapr_rs_core::{HandlerError as CoreHandlerError, TopicEvent, TopicEventStatus, TopicHandler};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Receives a subscription's events. Throwing anything means RETRY.
#[uniffi::export(with_foreign)]
pub trait EventHandler: Send + Sync {
    fn handle(&self, event: Event) -> Result<EventStatus, HandlerError>;
}

/// A foreign handler under a label (`pubsub/topic route`) naming it in the failures core logs.
pub struct ForeignHandler {
    handler: Arc<dyn EventHandler>,
    label: String,
}

impl ForeignHandler {
    pub fn new(handler: Arc<dyn EventHandler>, label: String) -> Arc<Self> {
        Arc::new(Self { handler, label })
    }
}

impl TopicHandler for ForeignHandler {
    fn handle(&self, event: TopicEvent) -> Pin<Box<dyn Future<Output = Result<TopicEventStatus, CoreHandlerError>> + Send + '_>> {
        let handler = self.handler.clone();
        Box::pin(async move {
            let answer = tokio::task::spawn_blocking(move || handler.handle(Event::from(event)))
                .await
                .map_err(|e| format!("the handler of {} did not finish: {e}", self.label))?;
            answer.map(Into::into).map_err(|e| format!("the handler of {}: {e}", self.label).into())
        })
    }
}
