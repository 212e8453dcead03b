//! The HTTP app channel: `GET /dapr/subscribe` announces the subscriptions, and the sidecar POSTs
//! each CloudEvent to its route, or a batch of them in the bulk envelope (contract §3.3–3.4).

use super::Router;
use crate::{Subscription, TopicEvent, TopicEventStatus};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dapr_rs_proto::bulk::{BulkEnvelope, BulkReply, BulkReplyEntry};
use dapr_rs_proto::cloudevent;
use dapr_rs_proto::subscribe_document::HttpSubscription;
use serde_json::{Map, Value as Json, json};
use std::future::Future;
use std::sync::Arc;

/// `--app-health-check-path`'s default.
pub(crate) const HEALTH_PATH: &str = "/healthz";

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

fn token_ok(router: &Router, headers: &HeaderMap) -> bool {
    router.token_ok(headers.get(dapr_rs_proto::API_TOKEN_HEADER).map(|v| v.as_bytes()))
}

async fn list_subscriptions(State(router): State<Arc<Router>>, headers: HeaderMap) -> Response {
    if !token_ok(&router, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let items: Vec<HttpSubscription> =
        crate::subscription::topic_subscriptions(&router.subscriptions).into_iter().map(HttpSubscription::from).collect();
    axum::Json(items).into_response()
}

async fn deliver(State(router): State<Arc<Router>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if !token_ok(&router, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let path = uri.path();
    let Some(sub) = router.handler_for_path(path) else {
        return (StatusCode::NOT_FOUND, format!("no subscription is routed to {path}")).into_response();
    };
    let ce = match serde_json::from_slice::<Json>(&body) {
        Ok(Json::Object(map)) if is_bulk_envelope(&map) => match serde_json::from_value(Json::Object(map)) {
            Ok(envelope) => return axum::Json(deliver_bulk(sub, path, envelope).await).into_response(),
            Err(e) => return (StatusCode::BAD_REQUEST, format!("invalid bulk envelope: {e}")).into_response(),
        },
        Ok(Json::Object(map)) => map,
        _ => return (StatusCode::BAD_REQUEST, "the body is not a CloudEvent JSON object").into_response(),
    };
    let pubsub = ce.get("pubsubname").and_then(Json::as_str).unwrap_or(&sub.pubsub_name).to_owned();
    let topic = ce.get("topic").and_then(Json::as_str).unwrap_or(&sub.topic).to_owned();
    let event = TopicEvent {
        metadata: super::delivered_metadata(&headers),
        ..TopicEvent::from(cloudevent::to_topic_event_request(&ce, &pubsub, &topic, path))
    };
    let status = crate::handler::run_handler(sub.handler.as_ref(), event).await;
    axum::Json(json!({ "status": status.as_http_status_word() })).into_response()
}

fn is_bulk_envelope(body: &Map<String, Json>) -> bool {
    body.get("type").and_then(Json::as_str) == Some(cloudevent::BULK_EVENT_TYPE) && body.get("entries").is_some_and(Json::is_array)
}

/// Runs the handler on every entry of a bulk delivery at once; one status per entry.
async fn deliver_bulk(sub: &Subscription, path: &str, envelope: BulkEnvelope) -> BulkReply {
    let BulkEnvelope { topic, pubsubname, entries, .. } = envelope;
    let deliveries = entries.into_iter().map(|entry| {
        let event = entry.cloud_event(&pubsubname, &topic).map(|ce| TopicEvent {
            metadata: entry.metadata.clone(),
            ..TopicEvent::from(cloudevent::to_topic_event_request(&ce, &pubsubname, &topic, path))
        });
        async move {
            let status = match event {
                Some(event) => crate::handler::run_handler(sub.handler.as_ref(), event).await,
                None => {
                    tracing::warn!(entry_id = %entry.entry_id, "bulk entry is neither a CloudEvent nor base64; dropped");
                    TopicEventStatus::Drop
                }
            };
            BulkReplyEntry { entry_id: entry.entry_id, status: status.as_http_status_word().to_owned() }
        }
    });
    BulkReply { statuses: futures::future::join_all(deliveries).await }
}
