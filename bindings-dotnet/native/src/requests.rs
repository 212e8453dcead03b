//! Every call's one encoded request (`dapr_rs.bridge.v1`, `proto/dapr_rs_bridge.proto`), decoded
//! and turned into core's types. Pure functions of the request bytes, so unit tests and the fuzz
//! target reach every rule a caller's request meets; a malformed request is an
//! [`Error::InvalidArgument`] naming the message and what is wrong with it.

use dapr_rs_core::app::AppProtocol;
use dapr_rs_core::{
    BulkPublishEntry, BulkSubscribeOptions, ClientOptions, Error, HandlerError, PublishPayload, PublishRequest, Result, RoutingRule,
    SubscriptionOptions, TopicEventStatus, TraceContext,
};
use prost::Message;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// The generated request messages.
pub mod bridge {
    include!(concat!(env!("OUT_DIR"), "/dapr_rs.bridge.v1.rs"));
}

fn decode<M: Message + prost::Name + Default>(request: &[u8]) -> Result<M> {
    M::decode(request).map_err(|e| Error::InvalidArgument(format!("malformed {} request: {e}", M::full_name())))
}

/// proto3 has no "absent" for a string: empty is "not given".
fn given(text: String) -> Option<String> {
    Some(text).filter(|t| !t.is_empty())
}

/// A payload as core takes it; core picks the content type from its kind when none is named.
pub fn payload(data: bytes::Bytes, kind: i32) -> Result<PublishPayload> {
    match bridge::DataKind::try_from(kind) {
        Ok(bridge::DataKind::Bytes) => Ok(PublishPayload::Bytes(data)),
        // The request's own copy of the bytes becomes the String (no second copy).
        Ok(bridge::DataKind::Text) => String::from_utf8(Vec::from(data))
            .map(PublishPayload::Text)
            .map_err(|_| Error::InvalidArgument("text data is not valid UTF-8".into())),
        Ok(bridge::DataKind::Json) => Ok(PublishPayload::json(data)),
        // The caller's value is a CloudEvent by its type, whatever attributes it left unset.
        Ok(bridge::DataKind::CloudEvent) => Ok(PublishPayload::CloudEvent(data)),
        Err(_) => {
            Err(Error::InvalidArgument(format!("unknown data kind {kind}; expected 0 (bytes), 1 (text), 2 (JSON) or 3 (CloudEvent)")))
        }
    }
}

/// `dapr_rs_client_new`: unset values come from the environment, as core reads it.
pub fn client_options(request: &[u8]) -> Result<ClientOptions> {
    let request: bridge::ClientOptions = decode(request)?;
    let mut options = ClientOptions::from_env();
    if let Some(endpoint) = request.endpoint.filter(|e| !e.is_empty()) {
        options = options.with_address(&endpoint);
    }
    if let Some(token) = request.api_token {
        options = options.with_api_token(given(token));
    }
    if request.timeout_ms > 0 {
        options = options.with_timeout(Some(Duration::from_millis(request.timeout_ms)));
    }
    Ok(options)
}

/// `dapr_rs_client_publish`: the publish and the trace it continues.
pub fn publish(request: &[u8]) -> Result<(PublishRequest, TraceContext)> {
    let request: bridge::PublishRequest = decode(request)?;
    let (data, data_content_type) = payload(request.data, request.data_kind)?.into_data(given(request.content_type));
    let trace = TraceContext::new(request.traceparent, request.tracestate);
    let publish =
        PublishRequest { pubsub_name: request.pubsub_name, topic: request.topic, data, data_content_type, metadata: request.metadata };
    Ok((publish, trace))
}

/// A bulk publish's entries, where they go, and the trace they continue.
#[derive(Debug)]
pub struct BulkPublish {
    pub pubsub_name: String,
    pub topic: String,
    pub entries: Vec<BulkPublishEntry>,
    pub metadata: HashMap<String, String>,
    pub trace: TraceContext,
}

/// `dapr_rs_client_bulk_publish`.
pub fn bulk_publish(request: &[u8]) -> Result<BulkPublish> {
    let request: bridge::BulkPublishRequest = decode(request)?;
    let entries = request
        .entries
        .into_iter()
        .map(|entry| {
            let (event, content_type) = payload(entry.data, entry.data_kind)?.into_data(given(entry.content_type));
            Ok(BulkPublishEntry { entry_id: entry.entry_id, event, content_type, metadata: entry.metadata })
        })
        .collect::<Result<_>>()?;
    let trace = TraceContext::new(request.traceparent, request.tracestate);
    Ok(BulkPublish { pubsub_name: request.pubsub_name, topic: request.topic, entries, metadata: request.metadata, trace })
}

/// A subscription to open: a streaming one, or one of an app host.
#[derive(Debug)]
pub struct TopicSubscription {
    pub pubsub_name: String,
    pub topic: String,
    pub options: SubscriptionOptions,
    /// Its handler takes whole batches (an app host's; never a stream's).
    pub batch_handler: bool,
}

/// `dapr_rs_client_subscribe` (core checks the names when it opens the stream).
pub fn stream_subscription(request: &[u8]) -> Result<TopicSubscription> {
    let request: bridge::StreamSubscribeRequest = decode(request)?;
    let options =
        SubscriptionOptions { dead_letter_topic: given(request.dead_letter_topic), metadata: request.metadata, ..Default::default() };
    Ok(TopicSubscription { pubsub_name: request.pubsub_name, topic: request.topic, options, batch_handler: false })
}

/// `dapr_rs_app_subscribe`.
pub fn app_subscription(request: &[u8]) -> Result<TopicSubscription> {
    let request: bridge::AppSubscribeRequest = decode(request)?;
    if request.pubsub_name.is_empty() || request.topic.is_empty() {
        return Err(Error::InvalidArgument("a subscription needs a pubsub_name and a topic".into()));
    }
    let priority = request.priority;
    let bulk_subscribe = request.bulk_subscribe.map(bulk_subscribe).transpose()?;
    let options = SubscriptionOptions {
        dead_letter_topic: given(request.dead_letter_topic),
        metadata: request.metadata,
        rule: given(request.r#match).map(|match_expr| RoutingRule { match_expr, priority }),
        route: given(request.route),
        bulk_subscribe,
    };
    Ok(TopicSubscription { pubsub_name: request.pubsub_name, topic: request.topic, options, batch_handler: request.batch_handler })
}

/// A bulk subscription's batching; 0 leaves a value to the sidecar, which has no use for a negative one.
fn bulk_subscribe(bulk: bridge::BulkSubscribe) -> Result<BulkSubscribeOptions> {
    for (name, value) in [("max_messages_count", bulk.max_messages_count), ("max_await_duration_ms", bulk.max_await_duration_ms)] {
        if value < 0 {
            return Err(Error::InvalidArgument(format!("bulk subscribe {name} must not be negative, not {value}")));
        }
    }
    Ok(BulkSubscribeOptions { max_messages_count: bulk.max_messages_count, max_await_duration_ms: bulk.max_await_duration_ms })
}

/// `dapr_rs_app_start`: the protocol and the resolved listen address.
pub fn app_start(request: &[u8]) -> Result<(AppProtocol, SocketAddr)> {
    let request: bridge::AppStartRequest = decode(request)?;
    let protocol: AppProtocol = request.protocol.parse()?;
    let host = given(request.host).unwrap_or_else(|| "127.0.0.1".into());
    let port = u16::try_from(request.port).map_err(|_| Error::InvalidArgument(format!("port must be 0-65535, not {}", request.port)))?;
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| Error::InvalidArgument(format!("cannot resolve the listen address {host}:{port}")))?;
    Ok((protocol, addr))
}

/// `dapr_rs_event_ack`: what the handler made of the event, as core's answer rule
/// ([`dapr_rs_core::answer_of`]) takes it: a status, or the handler's failure.
pub fn event_answer(request: &[u8]) -> Result<Result<TopicEventStatus, HandlerError>> {
    use bridge::event_answer::Outcome;
    let request: bridge::EventAnswer = decode(request)?;
    match request.outcome {
        Some(Outcome::Status(status)) => status_of(status).map(Ok),
        Some(Outcome::Failure(failure)) => Ok(Err(failure.into())),
        None => Err(Error::InvalidArgument("an EventAnswer needs a status or a failure".into())),
    }
}

/// A status number of an answer (TopicEventResponseStatus).
fn status_of(status: i32) -> Result<TopicEventStatus> {
    TopicEventStatus::try_from_status_value(status)
        .ok_or_else(|| Error::InvalidArgument(format!("unknown event status {status}; expected 0 (SUCCESS), 1 (RETRY) or 2 (DROP)")))
}

/// `dapr_rs_batch_ack`: what a batch handler made of a batch: statuses by entry id (for
/// [`dapr_rs_core::statuses_by_entry_id`], which makes an entry left out RETRY), or its failure.
/// One unknown status makes the whole answer malformed.
pub fn batch_answer(request: &[u8]) -> Result<Result<Vec<(String, TopicEventStatus)>, HandlerError>> {
    use bridge::batch_answer::Outcome;
    let request: bridge::BatchAnswer = decode(request)?;
    match request.outcome {
        Some(Outcome::Statuses(statuses)) => {
            statuses.entries.into_iter().map(|entry| Ok((entry.entry_id, status_of(entry.status)?))).collect::<Result<_>>().map(Ok)
        }
        Some(Outcome::Failure(failure)) => Ok(Err(failure.into())),
        None => Err(Error::InvalidArgument("a BatchAnswer needs statuses or a failure".into())),
    }
}

#[cfg(test)]
mod tests;
