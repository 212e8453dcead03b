//! The HTTP app channel: `GET /dapr/subscribe` announces the subscriptions, and the sidecar POSTs
//! each CloudEvent to its route, or a batch of them in the bulk envelope (contract §3.3–3.4).
//!
//! What both are answered with is decided here once ([`subscribe_reply`], [`read_delivery`],
//! [`DeliveryAnswer::reply`], [`DeliveryAnswer::reply_to_batch`] for a bulk subscription's batch
//! handler): for core's own server below, and for an app whose web framework serves the routes
//! itself (a binding's FastAPI or Flask extension).

use super::{Router, app_token_ok};
use crate::{HandlerError, Subscription, TopicEvent, TopicEventStatus};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dapr_rs_proto::bulk::{BulkEnvelope, BulkReply, BulkReplyEntry};
use dapr_rs_proto::cloudevent;
use dapr_rs_proto::subscribe_document::HttpSubscription;
use serde_json::{Map, Value as Json, json};
use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

/// `--app-health-check-path`'s default.
pub(crate) const HEALTH_PATH: &str = "/healthz";

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

/// What the app answers the sidecar over HTTP: a status code and a body of `content_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// The HTTP status code.
    pub status: u16,
    /// The body's `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpReply {
    fn json(value: &impl serde::Serialize) -> Self {
        // Serializing our own reply types cannot fail: they hold strings only.
        Self { status: 200, content_type: JSON, body: serde_json::to_vec(value).unwrap_or_default() }
    }

    fn text(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status: status.as_u16(), content_type: TEXT, body: message.into().into_bytes() }
    }

    fn unauthorized() -> Self {
        Self::text(StatusCode::UNAUTHORIZED, "invalid or missing dapr-api-token")
    }
}

impl IntoResponse for HttpReply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, [(axum::http::header::CONTENT_TYPE, self.content_type)], self.body).into_response()
    }
}

/// A call's headers as the reply rules read them: names lowercased (HTTP/1.1 servers such as
/// WSGI's give them as sent), the `dapr-api-token` found, the rest the event's metadata.
struct CallHeaders<'h> {
    token: Option<&'h [u8]>,
    metadata: std::collections::HashMap<String, String>,
}

impl<'h> CallHeaders<'h> {
    fn read(headers: impl IntoIterator<Item = (&'h str, &'h [u8])>) -> Self {
        let lowered: Vec<(Cow<'h, str>, &'h [u8])> = headers
            .into_iter()
            .map(|(name, value)| match name.bytes().any(|b| b.is_ascii_uppercase()) {
                true => (Cow::Owned(name.to_ascii_lowercase()), value),
                false => (Cow::Borrowed(name), value),
            })
            .collect();
        let token = lowered.iter().find(|(name, _)| name == dapr_rs_proto::API_TOKEN_HEADER).map(|(_, value)| *value);
        let metadata = dapr_rs_proto::delivery_metadata::from_headers(lowered.iter().map(|(name, value)| (name.as_ref(), *value)));
        Self { token, metadata }
    }
}

/// The answer to `GET /dapr/subscribe`: the announced `subscriptions` as the sidecar reads them,
/// or 401 when the call lacks the app's `APP_API_TOKEN`.
pub fn subscribe_reply<'h>(
    subscriptions: &[Subscription],
    app_api_token: Option<&str>,
    headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
) -> HttpReply {
    if !app_token_ok(app_api_token, CallHeaders::read(headers).token) {
        return HttpReply::unauthorized();
    }
    let items: Vec<HttpSubscription> =
        crate::subscription::topic_subscriptions(subscriptions).into_iter().map(HttpSubscription::from).collect();
    HttpReply::json(&items)
}

/// A delivery POST's events, in order, for its subscription's handler, and how the app answers
/// once the handler has.
#[derive(Debug)]
pub struct HttpDelivery {
    /// One event, or each event of a bulk envelope (each with its `entry_id`).
    pub events: Vec<TopicEvent>,
    /// Turns the handler's statuses into the reply.
    pub answer: DeliveryAnswer,
}

/// The form of a delivery's reply: one status, or one per entry of a bulk envelope.
#[derive(Debug, Clone)]
pub struct DeliveryAnswer(Form);

#[derive(Debug, Clone)]
enum Form {
    /// The event's id.
    Single(String),
    /// Each entry's id, and whether it was an event (handed to the handler) at all.
    Bulk(Vec<(String, bool)>),
}

impl DeliveryAnswer {
    /// The reply once the handler answered `statuses`, one per event in order: `{"status": …}`
    /// for a single event, `{"statuses": [...]}` for a bulk envelope, where an entry that was no
    /// event is DROP and an event left unanswered RETRY.
    pub fn reply(&self, statuses: &[TopicEventStatus]) -> HttpReply {
        let mut answered = statuses.iter().copied();
        match &self.0 {
            Form::Single(_) => {
                let status = answered.next().unwrap_or(TopicEventStatus::Retry);
                HttpReply::json(&json!({ "status": status.as_http_status_word() }))
            }
            Form::Bulk(entries) => {
                let statuses = entries
                    .iter()
                    .map(|(entry_id, is_event)| {
                        let status = match is_event {
                            true => answered.next().unwrap_or(TopicEventStatus::Retry),
                            false => TopicEventStatus::Drop,
                        };
                        BulkReplyEntry { entry_id: entry_id.clone(), status: status.as_http_status_word().to_owned() }
                    })
                    .collect();
                HttpReply::json(&BulkReply { statuses })
            }
        }
    }

    /// The reply once a batch handler (one given every event of the delivery at once, in order) is
    /// done, by the rule core's own server answers `TopicHandler::handle_batch` with: its statuses,
    /// one per event, or RETRY for every event when it failed (`Err`), panicked or answered another
    /// count. An entry that was no event is DROP, as in [`DeliveryAnswer::reply`].
    pub fn reply_to_batch(&self, outcome: std::thread::Result<Result<Vec<TopicEventStatus>, HandlerError>>) -> HttpReply {
        let (count, first) = match &self.0 {
            Form::Single(id) => (1, id.as_str()),
            Form::Bulk(entries) => {
                let mut events = entries.iter().filter(|(_, is_event)| *is_event).map(|(entry_id, _)| entry_id.as_str());
                let first = events.next();
                (first.map_or(0, |_| 1 + events.count()), first.unwrap_or_default())
            }
        };
        self.reply(&crate::handler::batch_answer_of(count, first, outcome))
    }
}

/// Reads a delivery POSTed to `path` as core's HTTP app server does: the subscription routed
/// there and its events (the CloudEvent by proto's rules, the message metadata from the headers;
/// or every entry of a bulk envelope). A call it refuses gets its reply instead: 401 without the
/// app's token, 404 when no subscription is routed to `path`, 400 for a body that is neither.
pub fn read_delivery<'s, 'h>(
    subscriptions: &'s [Subscription],
    app_api_token: Option<&str>,
    path: &str,
    headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    body: &[u8],
) -> Result<(&'s Subscription, HttpDelivery), HttpReply> {
    let headers = CallHeaders::read(headers);
    if !app_token_ok(app_api_token, headers.token) {
        return Err(HttpReply::unauthorized());
    }
    let Some(sub) = subscriptions.iter().find(|s| s.route() == path) else {
        return Err(HttpReply::text(StatusCode::NOT_FOUND, format!("no subscription is routed to {path}")));
    };
    let ce = match serde_json::from_slice::<Json>(body) {
        Ok(Json::Object(map)) if is_bulk_envelope(&map) => match serde_json::from_value(Json::Object(map)) {
            Ok(envelope) => return Ok((sub, read_bulk(path, envelope))),
            Err(e) => return Err(HttpReply::text(StatusCode::BAD_REQUEST, format!("invalid bulk envelope: {e}"))),
        },
        Ok(Json::Object(map)) => map,
        _ => return Err(HttpReply::text(StatusCode::BAD_REQUEST, "the body is not a CloudEvent JSON object")),
    };
    let pubsub = ce.get("pubsubname").and_then(Json::as_str).unwrap_or(&sub.pubsub_name);
    let topic = ce.get("topic").and_then(Json::as_str).unwrap_or(&sub.topic);
    let event = TopicEvent { metadata: headers.metadata, ..TopicEvent::from(cloudevent::to_topic_event_request(&ce, pubsub, topic, path)) };
    let answer = DeliveryAnswer(Form::Single(event.id.clone()));
    Ok((sub, HttpDelivery { events: vec![event], answer }))
}

fn is_bulk_envelope(body: &Map<String, Json>) -> bool {
    body.get("type").and_then(Json::as_str) == Some(cloudevent::BULK_EVENT_TYPE) && body.get("entries").is_some_and(Json::is_array)
}

/// Every entry of a bulk envelope as an event; an entry's metadata travels in the entry.
fn read_bulk(path: &str, envelope: BulkEnvelope) -> HttpDelivery {
    let BulkEnvelope { topic, pubsubname, entries, .. } = envelope;
    let mut events = Vec::with_capacity(entries.len());
    let mut form = Vec::with_capacity(entries.len());
    for entry in entries {
        let event = entry.cloud_event(&pubsubname, &topic).map(|ce| TopicEvent {
            metadata: entry.metadata,
            entry_id: entry.entry_id.clone(),
            ..TopicEvent::from(cloudevent::to_topic_event_request(&ce, &pubsubname, &topic, path))
        });
        if event.is_none() {
            tracing::warn!(entry_id = %entry.entry_id, "bulk entry is neither a CloudEvent nor base64; dropped");
        }
        form.push((entry.entry_id, event.is_some()));
        events.extend(event);
    }
    HttpDelivery { events, answer: DeliveryAnswer(Form::Bulk(form)) }
}

fn header_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &[u8])> {
    headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes()))
}

pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    router: Arc<Router>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> crate::Result<()> {
    let app = axum::Router::new()
        .route("/dapr/subscribe", get(list_subscriptions))
        .route("/dapr/config", get(|| async { Json::Object(Default::default()).to_string() }))
        // The sidecar's app health probe (`--enable-app-health-check`, daprd's default path): the
        // app is healthy while it serves. No token: daprd sends none with the probe either.
        .route(HEALTH_PATH, get(|| async { StatusCode::OK }))
        .fallback(deliver)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(router);
    axum::serve(listener, app).with_graceful_shutdown(stop).await.map_err(|e| crate::Error::Server(e.to_string()))
}

async fn list_subscriptions(State(router): State<Arc<Router>>, headers: HeaderMap) -> HttpReply {
    subscribe_reply(&router.subscriptions, router.app_api_token.as_deref(), header_pairs(&headers))
}

/// Gives the handler the delivery's events as one batch (by default each event to the handler, all
/// at once); one status per event.
async fn deliver(State(router): State<Arc<Router>>, uri: Uri, headers: HeaderMap, body: Bytes) -> HttpReply {
    let (sub, HttpDelivery { events, answer }) =
        match read_delivery(&router.subscriptions, router.app_api_token.as_deref(), uri.path(), header_pairs(&headers), &body) {
            Ok(read) => read,
            Err(refused) => return refused,
        };
    answer.reply(&crate::handler::run_batch(sub.handler.as_ref(), events).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler_fn;

    fn subs() -> Vec<Subscription> {
        vec![Subscription::new("ps", "orders", handler_fn(|_| async { Ok(TopicEventStatus::Success) }))]
    }

    fn text(reply: &HttpReply) -> Json {
        serde_json::from_slice(&reply.body).unwrap()
    }

    #[test]
    fn a_single_delivery_reads_the_cloudevent_and_its_headers_whatever_their_case() {
        let subs = subs();
        let body = br#"{"id":"1","source":"s","type":"t","specversion":"1.0","datacontenttype":"application/json","data":{"orderId":1}}"#;
        let headers = [("Content-Type", &b"application/cloudevents+json"[..]), ("Pubsubname", b"ps"), ("dapr-api-token", b"tok")];
        let (sub, delivery) = read_delivery(&subs, Some("tok"), "/events/ps/orders", headers, body).unwrap();
        assert_eq!(sub.topic, "orders");
        let event = &delivery.events[0];
        assert_eq!((event.pubsub_name.as_str(), event.topic.as_str(), event.path.as_str()), ("ps", "orders", "/events/ps/orders"));
        assert_eq!(event.data_json().unwrap(), json!({"orderId": 1}));
        assert_eq!(event.metadata, [("pubsubname".to_owned(), "ps".to_owned())].into());
        let reply = delivery.answer.reply(&[TopicEventStatus::Drop]);
        assert_eq!((reply.status, reply.content_type, text(&reply)), (200, JSON, json!({"status": "DROP"})));
    }

    #[test]
    fn refused_deliveries_get_the_servers_status_codes() {
        let subs = subs();
        let status = |token: Option<&str>, path: &str, body: &[u8]| match read_delivery(&subs, token, path, [], body) {
            Ok(_) => panic!("{path}: the delivery was read"),
            Err(refused) => refused.status,
        };
        assert_eq!(status(Some("tok"), "/events/ps/orders", b"{}"), 401);
        assert_eq!(status(None, "/nowhere", b"{}"), 404);
        assert_eq!(status(None, "/events/ps/orders", b"[1]"), 400);
        assert_eq!(status(None, "/events/ps/orders", br#"{"type":"com.dapr.event.sent.bulk","entries":[1]}"#), 400);
        let document = subscribe_reply(&subs, Some("tok"), [("Dapr-Api-Token", &b"tok"[..])]);
        assert_eq!(text(&document)[0]["routes"]["default"], "/events/ps/orders");
        assert_eq!(subscribe_reply(&subs, Some("tok"), []).status, 401);
    }

    #[test]
    fn a_bulk_reply_drops_entries_that_were_no_event_and_retries_unanswered_ones() {
        let subs = subs();
        let body = json!({"id": "b", "type": cloudevent::BULK_EVENT_TYPE, "topic": "orders", "pubsubname": "ps", "entries": [
            {"entryId": "1", "event": {"id": "e1", "data": 1, "datacontenttype": "application/json"}, "metadata": {"k": "v"}},
            {"entryId": "2", "event": 7},
            {"entryId": "3", "event": {"id": "e3"}},
        ]});
        let (_, delivery) = read_delivery(&subs, None, "/events/ps/orders", [], body.to_string().as_bytes()).unwrap();
        assert_eq!(delivery.events.iter().map(|e| (e.id.as_str(), e.entry_id.as_str())).collect::<Vec<_>>(), [("e1", "1"), ("e3", "3")]);
        assert_eq!(delivery.events[0].metadata, [("k".to_owned(), "v".to_owned())].into());
        let reply = delivery.answer.reply(&[TopicEventStatus::Success]);
        let statuses = json!({"statuses": [
            {"entryId": "1", "status": "SUCCESS"}, {"entryId": "2", "status": "DROP"}, {"entryId": "3", "status": "RETRY"},
        ]});
        assert_eq!(text(&reply), statuses);
    }

    #[test]
    fn a_batch_handlers_answer_is_one_status_per_event_or_retry_for_all() {
        use TopicEventStatus::{Drop, Retry, Success};
        let subs = subs();
        let body = json!({"id": "b", "type": cloudevent::BULK_EVENT_TYPE, "topic": "orders", "pubsubname": "ps", "entries": [
            {"entryId": "1", "event": {"id": "e1"}}, {"entryId": "2", "event": 7}, {"entryId": "3", "event": {"id": "e3"}},
        ]});
        let (_, delivery) = read_delivery(&subs, None, "/events/ps/orders", [], body.to_string().as_bytes()).unwrap();
        let statuses = |reply: HttpReply| -> Vec<String> {
            text(&reply)["statuses"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap().to_owned()).collect()
        };
        // Two events (entry 2 is none, so DROP whatever the handler says).
        assert_eq!(statuses(delivery.answer.reply_to_batch(Ok(Ok(vec![Success, Retry])))), ["SUCCESS", "DROP", "RETRY"]);
        for wrong in [Ok(Ok(vec![Success])), Ok(Ok(vec![Success; 3])), Ok(Err("the database is down".into())), Err(Box::new("panic") as _)]
        {
            assert_eq!(statuses(delivery.answer.reply_to_batch(wrong)), ["RETRY", "DROP", "RETRY"]);
        }
        let single = br#"{"id":"e9","source":"s","type":"t","specversion":"1.0"}"#;
        let (_, delivery) = read_delivery(&subs, None, "/events/ps/orders", [], single).unwrap();
        assert_eq!(text(&delivery.answer.reply_to_batch(Ok(Ok(vec![Drop])))), json!({"status": "DROP"}));
        assert_eq!(text(&delivery.answer.reply_to_batch(Ok(Err("failed".into())))), json!({"status": "RETRY"}));
    }
}
