//! W3C trace context on the client side: what a publish continues (sent as `traceparent` /
//! `tracestate` gRPC metadata or HTTP headers, which the sidecar reads as daprd does) and what a delivered event
//! carries (its CloudEvent `traceparent` / `tracestate`: the publishing sidecar's span when it
//! traces, else the publisher's own).

use crate::{Error, Result, TopicEvent};
use serde_json::Value as Json;

/// The trace a publish continues; empty fields are not sent.
///
/// Pass the app's current span (from its tracer) to
/// [`DaprClient::publish_event_traced`](crate::DaprClient::publish_event_traced), or a delivered
/// event's own ([`TopicEvent::trace_context`]) to publish a follow-up in the same trace:
///
/// ```
/// use dapr_rs_core::{DaprClient, PublishRequest, TopicEvent, TopicEventStatus, handler_fn};
///
/// # fn example(client: DaprClient) {
/// let handler = handler_fn(move |event: TopicEvent| {
///     let client = client.clone();
///     async move {
///         let trace = event.trace_context();
///         let shipment =
///             PublishRequest { pubsub_name: "order_pub_sub".into(), topic: "shipments".into(), data: event.data, ..Default::default() };
///         client.publish_event_traced(shipment, &trace).await?;
///         Ok(TopicEventStatus::Success)
///     }
/// });
/// # let _ = handler;
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    /// `00-<trace id>-<span id>-<flags>`.
    pub traceparent: String,
    /// The vendors' `key=value` list that travels with `traceparent`; often empty.
    pub tracestate: String,
}

impl TraceContext {
    /// A context of W3C `traceparent` and `tracestate` values (either may be empty).
    ///
    /// ```
    /// use dapr_rs_core::TraceContext;
    ///
    /// let trace = TraceContext::new("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "");
    /// assert!(!trace.is_empty());
    /// assert!(TraceContext::default().is_empty()); // what an untraced publish sends: nothing
    /// ```
    pub fn new(traceparent: impl Into<String>, tracestate: impl Into<String>) -> Self {
        Self { traceparent: traceparent.into(), tracestate: tracestate.into() }
    }

    /// Whether there is nothing to send (both fields empty).
    pub fn is_empty(&self) -> bool {
        self.traceparent.is_empty() && self.tracestate.is_empty()
    }

    /// Adds the non-empty fields to a gRPC call's metadata; a value no header can carry is refused.
    pub(crate) fn add_to(&self, metadata: &mut tonic::metadata::MetadataMap) -> Result<()> {
        for (key, value) in self.fields() {
            metadata.insert(key, value.trim().parse().map_err(|_| not_a_header(key, value))?);
        }
        Ok(())
    }

    /// Adds the non-empty fields to an HTTP request's headers, refusing what [`TraceContext::add_to`] refuses.
    pub(crate) fn add_to_headers(&self, headers: &mut http::HeaderMap) -> Result<()> {
        for (key, value) in self.fields() {
            headers.insert(key, http::HeaderValue::from_str(value.trim()).map_err(|_| not_a_header(key, value))?);
        }
        Ok(())
    }

    fn fields(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [("traceparent", self.traceparent.as_str()), ("tracestate", self.tracestate.as_str())].into_iter().filter(|(_, v)| !v.is_empty())
    }
}

fn not_a_header(key: &str, value: &str) -> Error {
    Error::InvalidArgument(format!("{key} {value:?} is not a valid header value"))
}

impl TopicEvent {
    /// The event's CloudEvent `traceparent` ("" when it has none).
    pub fn traceparent(&self) -> &str {
        self.extensions.get("traceparent").and_then(Json::as_str).unwrap_or("")
    }

    /// The event's CloudEvent `tracestate` ("" when it has none).
    pub fn tracestate(&self) -> &str {
        self.extensions.get("tracestate").and_then(Json::as_str).unwrap_or("")
    }

    /// Both, as the context a handler continues.
    pub fn trace_context(&self) -> TraceContext {
        TraceContext::new(self.traceparent(), self.tracestate())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_is_given_is_sent_and_bad_values_are_refused() {
        let mut metadata = tonic::metadata::MetadataMap::new();
        TraceContext::new("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "").add_to(&mut metadata).unwrap();
        assert_eq!(metadata.get("traceparent").unwrap(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        assert!(metadata.get("tracestate").is_none());
        let err = TraceContext::new("00-\u{1}-x", "").add_to(&mut tonic::metadata::MetadataMap::new()).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        assert!(TraceContext::default().is_empty());
        let mut headers = http::HeaderMap::new();
        TraceContext::new("", "k=v").add_to_headers(&mut headers).unwrap();
        assert_eq!((headers.get("traceparent"), headers.get("tracestate").unwrap().to_str().unwrap()), (None, "k=v"));
        assert!(TraceContext::new("00-\n-x", "").add_to_headers(&mut headers).is_err());
    }

    #[test]
    fn an_event_gives_its_cloudevent_trace_context() {
        let mut event = TopicEvent::default();
        assert_eq!(event.traceparent(), "");
        event.extensions.insert("traceparent".into(), "00-a-b-01".into());
        event.extensions.insert("tracestate".into(), "k=v".into());
        assert_eq!(event.trace_context(), TraceContext::new("00-a-b-01", "k=v"));
    }
}
