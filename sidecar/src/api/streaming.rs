//! `SubscribeTopicEventsAlpha1` (contract §1.3): a STREAMING subscription whose events go down the
//! stream and whose answers come back on it, matched by event id.

use crate::delivery::{AppAnswer, EventSink, subscribe};
use crate::state::SidecarState;
use crate::subscription::SubscriptionInfo;
use async_trait::async_trait;
use dapr_rs_proto::cloudevent::{self, DeliveredEvent};
use dapr_rs_proto::outcome::DeliveryOutcome;
use dapr_rs_proto::runtime::subscribe_topic_events_request_alpha1::SubscribeTopicEventsRequestType as Req;
use dapr_rs_proto::runtime::subscribe_topic_events_response_alpha1::SubscribeTopicEventsResponseType as Resp;
use dapr_rs_proto::runtime::{
    PubsubSubscriptionType, SubscribeTopicEventsRequestAlpha1, SubscribeTopicEventsResponseAlpha1,
    SubscribeTopicEventsResponseInitialAlpha1,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tonic::{Status, Streaming};

pub type ResponseStream = tokio_stream::wrappers::ReceiverStream<Result<SubscribeTopicEventsResponseAlpha1, Status>>;

/// Path a streamed event is delivered to (daprd registers streams with route `/`).
const STREAM_ROUTE: &str = "/";

struct StreamSink {
    tx: mpsc::Sender<Result<SubscribeTopicEventsResponseAlpha1, Status>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<DeliveryOutcome>>>,
}

#[async_trait]
impl EventSink for StreamSink {
    // The broker's metadata stays here: daprd sends a stream none.
    async fn deliver(
        &self,
        ce: &DeliveredEvent,
        _metadata: &HashMap<String, String>,
        pubsub_name: &str,
        topic: &str,
        path: &str,
    ) -> AppAnswer {
        let event = cloudevent::to_topic_event_request(ce, pubsub_name, topic, path);
        let (answer_tx, answer_rx) = oneshot::channel();
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).insert(event.id.clone(), answer_tx);
        let id = event.id.clone();
        let msg = SubscribeTopicEventsResponseAlpha1 { subscribe_topic_events_response_type: Some(Resp::EventMessage(event)) };
        if self.tx.send(Ok(msg)).await.is_err() {
            self.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            return AppAnswer::Status(DeliveryOutcome::Retry);
        }
        // A stream that closes before answering leaves the event to redelivery.
        AppAnswer::Status(answer_rx.await.unwrap_or(DeliveryOutcome::Retry))
    }
}

/// How long a new subscription stream may take to send its initial request.
const INITIAL_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn open(state: Arc<SidecarState>, mut inbound: Streaming<SubscribeTopicEventsRequestAlpha1>) -> Result<ResponseStream, Status> {
    // A client that opens a stream and says nothing must not hold a server task forever.
    let first = tokio::time::timeout(INITIAL_REQUEST_TIMEOUT, inbound.message())
        .await
        .map_err(|_| Status::deadline_exceeded(format!("no initial_request within {INITIAL_REQUEST_TIMEOUT:?} of opening the stream")))??
        .ok_or_else(|| Status::invalid_argument("the stream ended before its initial request"))?;
    let Some(Req::InitialRequest(init)) = first.subscribe_topic_events_request_type else {
        return Err(Status::invalid_argument("the first message of a subscription stream must be initial_request"));
    };
    if init.pubsub_name.is_empty() || init.topic.is_empty() {
        return Err(Status::invalid_argument("initial_request needs pubsub_name and topic"));
    }
    // Checked before the stream is answered, so a forbidden topic fails the call itself.
    state.pubsub_for_subscription(&init.pubsub_name, &init.topic)?;
    let (tx, rx) = mpsc::channel(64);
    let sink = Arc::new(StreamSink { tx: tx.clone(), waiting: Mutex::default() });
    let info = SubscriptionInfo {
        pubsub_name: init.pubsub_name.clone(),
        topic: init.topic.clone(),
        metadata: init.metadata,
        rules: vec![(String::new(), STREAM_ROUTE.into())],
        dead_letter_topic: init.dead_letter_topic.unwrap_or_default(),
        kind: PubsubSubscriptionType::Streaming,
        bulk_subscribe: None,
    };
    let id = subscribe::subscribe(&state, info, sink.clone()).await?;
    let initial = SubscribeTopicEventsResponseAlpha1 {
        subscribe_topic_events_response_type: Some(Resp::InitialResponse(SubscribeTopicEventsResponseInitialAlpha1 {})),
    };
    let _ = tx.send(Ok(initial)).await;
    tokio::spawn(async move {
        let grace = state.config.grace;
        // At shutdown the answers to events in flight are still read, until none is left or the
        // grace period is over.
        let mut draining_until: Option<tokio::time::Instant> = None;
        loop {
            if draining_until.is_some() && sink.waiting.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
                break;
            }
            let msg = tokio::select! {
                m = inbound.message() => m,
                _ = tx.closed() => break,
                _ = state.shutdown.cancelled(), if draining_until.is_none() => {
                    draining_until = Some(tokio::time::Instant::now() + grace);
                    continue;
                }
                _ = tokio::time::sleep_until(draining_until.unwrap_or_else(tokio::time::Instant::now)), if draining_until.is_some() => break,
            };
            match msg {
                Ok(Some(SubscribeTopicEventsRequestAlpha1 { subscribe_topic_events_request_type: Some(Req::EventProcessed(p)) })) => {
                    let outcome = p.status.map(|s| DeliveryOutcome::from_status_value(s.status)).unwrap_or(DeliveryOutcome::Success);
                    if let Some(waiter) = sink.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&p.id) {
                        let _ = waiter.send(outcome);
                    }
                }
                Ok(Some(SubscribeTopicEventsRequestAlpha1 { subscribe_topic_events_request_type: Some(Req::InitialRequest(_)) })) => {
                    let _ = tx.send(Err(Status::invalid_argument("a subscription stream takes one initial_request"))).await;
                    break;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        // Unanswered events go back to the broker: dropping their waiters answers RETRY.
        sink.waiting.lock().unwrap_or_else(|e| e.into_inner()).clear();
        if let Some(sub) = state.remove_subscription(id) {
            sub.handle.stop(grace).await;
        }
        tracing::info!(pubsub = %init.pubsub_name, topic = %init.topic, "streaming subscription closed");
    });
    Ok(tokio_stream::wrappers::ReceiverStream::new(rx))
}
