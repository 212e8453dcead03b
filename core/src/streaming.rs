//! Streaming subscriptions over `SubscribeTopicEventsAlpha1` (contract §1.3): no app port, the
//! app pulls events and answers each by id. A background task owns the gRPC stream and reopens it
//! when the sidecar goes away, so callers see one uninterrupted sequence of messages.

use crate::client::GrpcTransport;
use crate::handler::run_handler;
use crate::{Error, Result, SubscriptionOptions, TopicEvent, TopicEventStatus, TopicHandler};
use dapr_rs_proto::runtime::subscribe_topic_events_request_alpha1::SubscribeTopicEventsRequestType as Req;
use dapr_rs_proto::runtime::subscribe_topic_events_response_alpha1::SubscribeTopicEventsResponseType as Resp;
use dapr_rs_proto::runtime::{
    SubscribeTopicEventsRequestAlpha1, SubscribeTopicEventsRequestInitialAlpha1, SubscribeTopicEventsRequestProcessedAlpha1,
    TopicEventResponse,
};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

/// How many delivered-but-unread events a stream buffers before it stops reading from the sidecar.
const BUFFERED_EVENTS: usize = 64;

/// An open streaming subscription. Dropping it (or [`SubscriptionStream::close`]) ends it.
///
/// Made by [`DaprClient::subscribe`](crate::DaprClient::subscribe). For an app without an app
/// port, or one that subscribes at run time; events the app does not answer are redelivered.
/// Pull events one by one with [`SubscriptionStream::next`], or hand them to a handler with
/// [`SubscriptionStream::serve`]:
///
/// ```no_run
/// use dapr_rs_core::{DaprClient, SubscriptionOptions, TopicEvent, TopicEventStatus, handler_fn};
/// use std::time::Duration;
///
/// # #[tokio::main]
/// # async fn main() -> dapr_rs_core::Result<()> {
/// let client = DaprClient::from_env()?;
/// let options = SubscriptionOptions { dead_letter_topic: Some("orders-dead".into()), ..Default::default() };
/// let mut stream = client.subscribe("order_pub_sub", "orders", options).await?;
/// let closer = stream.closer();
/// tokio::spawn(async move {
///     tokio::time::sleep(Duration::from_secs(60)).await;
///     closer.close(); // serve returns once the handlers running have answered
/// });
/// let handler = handler_fn(|event: TopicEvent| async move {
///     println!("order: {}", event.data_json()?);
///     Ok(TopicEventStatus::Success)
/// });
/// stream.serve(handler, 16).await?;
/// # Ok(())
/// # }
/// ```
pub struct SubscriptionStream {
    events: mpsc::Receiver<Result<TopicEvent>>,
    responder: StreamResponder,
    task: tokio::task::JoinHandle<()>,
}

/// Answers events of one stream; cheap to clone and usable from any task.
#[derive(Clone)]
pub struct StreamResponder {
    tx: mpsc::UnboundedSender<(String, TopicEventStatus)>,
}

impl StreamResponder {
    /// Tells the sidecar what became of event `id`. Answers for a connection that has since been
    /// lost are dropped: the sidecar redelivers those events on the new connection.
    pub fn respond(&self, id: &str, status: TopicEventStatus) -> Result<()> {
        self.tx.send((id.to_owned(), status)).map_err(|_| Error::Cancelled)
    }
}

/// An event read from a stream, with the means to answer it.
pub struct StreamMessage {
    /// The event.
    pub event: TopicEvent,
    /// Answers it, from any task, also once the message itself is gone.
    pub responder: StreamResponder,
}

impl StreamMessage {
    /// Tells the sidecar what became of this event; see [`StreamResponder::respond`].
    pub fn respond(&self, status: TopicEventStatus) -> Result<()> {
        self.responder.respond(&self.event.id, status)
    }
}

impl SubscriptionStream {
    pub(crate) async fn open(client: GrpcTransport, pubsub_name: String, topic: String, options: SubscriptionOptions) -> Result<Self> {
        if pubsub_name.is_empty() || topic.is_empty() {
            return Err(Error::InvalidArgument("a streaming subscription needs a pubsub name and a topic".into()));
        }
        let initial = SubscribeTopicEventsRequestInitialAlpha1 {
            pubsub_name,
            topic,
            metadata: options.metadata,
            dead_letter_topic: options.dead_letter_topic,
        };
        let (events_tx, events) = mpsc::channel(BUFFERED_EVENTS);
        let (resp_tx, resp_rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = tokio::spawn(run(client, initial, events_tx, resp_rx, ready_tx));
        match ready_rx.await {
            Ok(Ok(())) => Ok(Self { events, responder: StreamResponder { tx: resp_tx }, task }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Cancelled),
        }
    }

    /// The next event; `None` once the stream is closed. An `Err` is final.
    pub async fn next(&mut self) -> Option<Result<StreamMessage>> {
        let item = self.events.recv().await?;
        Some(item.map(|event| StreamMessage { event, responder: self.responder.clone() }))
    }

    /// Answers this stream's events by id, from any task (e.g. one that handles an event later).
    pub fn responder(&self) -> StreamResponder {
        self.responder.clone()
    }

    /// A handle that ends this stream from elsewhere, e.g. while another task waits in `next`,
    /// which then returns `None`.
    pub fn closer(&self) -> StreamCloser {
        StreamCloser(self.task.abort_handle())
    }

    /// Ends the stream now: [`SubscriptionStream::next`] returns `None` once the buffered events
    /// are read, and events not yet answered are redelivered by the sidecar.
    pub fn close(&mut self) {
        self.task.abort();
        self.events.close();
    }

    /// Runs `handler` on every event, up to `max_in_flight` at once, and answers each by the
    /// one answer rule ([`crate::answer_of`]: a failure or a panic is RETRY). Returns once the
    /// stream is closed (through a [`StreamCloser`]) and the handlers still running have ended,
    /// or with the error that ended the stream for good. Handlers still running
    /// [`crate::app::DEFAULT_STOP_GRACE`] after the end are given up (their events were not
    /// answered, so the sidecar hands them over again), as an app server's stop does: one that
    /// never returns cannot hold the caller.
    pub async fn serve(&mut self, handler: std::sync::Arc<dyn TopicHandler>, max_in_flight: usize) -> Result<()> {
        let grace = crate::app::DEFAULT_STOP_GRACE;
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
        let mut running = tokio::task::JoinSet::new();
        let ended = loop {
            let Ok(slot) = slots.clone().acquire_owned().await else { break Ok(()) };
            let message = tokio::select! {
                next = self.next() => next,
                // Reap finished handlers as we go, so a long stream keeps no join results.
                Some(_) = running.join_next(), if !running.is_empty() => continue,
            };
            match message {
                Some(Ok(StreamMessage { event, responder })) => {
                    let handler = handler.clone();
                    running.spawn(async move {
                        let id = event.id.clone();
                        let status = run_handler(handler.as_ref(), event).await;
                        // A closed stream drops the answer; the sidecar redelivers the event.
                        let _ = responder.respond(&id, status);
                        drop(slot);
                    });
                }
                Some(Err(e)) => break Err(e),
                None => break Ok(()),
            }
        };
        let drained = async { while running.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, drained).await.is_err() {
            tracing::warn!(
                ?grace,
                handlers = running.len(),
                "streaming subscription: handlers still running when its grace ran out; given up"
            );
            // Dropping the set aborts the tasks; a handler on a blocking thread finishes unheard.
            running.abort_all();
        }
        ended
    }
}

/// Ends a [`SubscriptionStream`]; see [`SubscriptionStream::closer`].
#[derive(Clone)]
pub struct StreamCloser(tokio::task::AbortHandle);

impl StreamCloser {
    /// Ends the stream, as [`SubscriptionStream::close`].
    pub fn close(&self) {
        self.0.abort();
    }

    /// Whether the stream has ended: closed, dropped, or refused for good.
    pub fn is_closed(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for SubscriptionStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Errors after which reconnecting cannot help.
fn is_final(code: tonic::Code) -> bool {
    use tonic::Code::*;
    matches!(code, InvalidArgument | NotFound | PermissionDenied | Unauthenticated | FailedPrecondition | AlreadyExists | Unimplemented)
}

async fn run(
    client: GrpcTransport,
    initial: SubscribeTopicEventsRequestInitialAlpha1,
    events_tx: mpsc::Sender<Result<TopicEvent>>,
    mut resp_rx: mpsc::UnboundedReceiver<(String, TopicEventStatus)>,
    ready_tx: oneshot::Sender<Result<()>>,
) {
    let mut ready_tx = Some(ready_tx);
    let mut backoff = Duration::from_millis(50);
    loop {
        let (out_tx, out_rx) = mpsc::channel::<SubscribeTopicEventsRequestAlpha1>(BUFFERED_EVENTS);
        let first = SubscribeTopicEventsRequestAlpha1 { subscribe_topic_events_request_type: Some(Req::InitialRequest(initial.clone())) };
        let _ = out_tx.send(first).await;
        let opened = async {
            let mut inbound = client.grpc().subscribe_topic_events_alpha1(ReceiverStream::new(out_rx)).await?.into_inner();
            match inbound.message().await? {
                Some(m) if matches!(m.subscribe_topic_events_response_type, Some(Resp::InitialResponse(_))) => Ok(inbound),
                _ => Err(tonic::Status::unavailable("the sidecar closed the stream before acknowledging the subscription")),
            }
        }
        .await;
        let mut inbound = match opened {
            Ok(s) => s,
            Err(status) => {
                let err = client.status_error(status.clone());
                if let Some(tx) = ready_tx.take() {
                    // The first attempt reports to the caller; a sidecar that is not up yet is an error too.
                    let _ = tx.send(Err(err));
                    return;
                }
                if is_final(status.code()) {
                    let _ = events_tx.send(Err(err)).await;
                    return;
                }
                tracing::debug!(error = %status, "streaming subscription: reconnecting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                if events_tx.is_closed() {
                    return;
                }
                continue;
            }
        };
        if let Some(tx) = ready_tx.take() {
            let _ = tx.send(Ok(()));
        }
        backoff = Duration::from_millis(50);
        // Pump until the connection ends or the caller goes away.
        let end: Option<tonic::Status> = loop {
            tokio::select! {
                msg = inbound.next() => match msg {
                    Some(Ok(m)) => {
                        if let Some(Resp::EventMessage(ev)) = m.subscribe_topic_events_response_type
                            && events_tx.send(Ok(TopicEvent::from(ev))).await.is_err()
                        {
                            return;
                        }
                    }
                    Some(Err(status)) => break Some(status),
                    None => break None,
                },
                answer = resp_rx.recv() => match answer {
                    Some((id, status)) => {
                        let processed = SubscribeTopicEventsRequestProcessedAlpha1 {
                            id,
                            status: Some(TopicEventResponse { status: status.to_status() as i32 }),
                        };
                        let req = SubscribeTopicEventsRequestAlpha1 { subscribe_topic_events_request_type: Some(Req::EventProcessed(processed)) };
                        if out_tx.send(req).await.is_err() {
                            break None;
                        }
                    }
                    None => return,
                },
                _ = events_tx.closed() => return,
            }
        };
        if let Some(status) = &end
            && is_final(status.code())
        {
            let _ = events_tx.send(Err(client.status_error(status.clone()))).await;
            return;
        }
        tracing::debug!(?end, "streaming subscription lost; reconnecting");
        tokio::time::sleep(backoff).await;
    }
}
