//! The HTTP app channel: `GET /dapr/subscribe` announces the subscriptions, and the sidecar POSTs
//! each CloudEvent to its route (contract §3.3–3.4).

use super::Router;
use crate::TopicEvent;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dapr_rs_proto::cloudevent;
use serde_json::{Value as Json, json};
use std::future::Future;
use std::sync::Arc;

pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    router: Arc<Router>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> crate::Result<()> {
    let app = axum::Router::new()
        .route("/dapr/subscribe", get(list_subscriptions))
        .route("/dapr/config", get(|| async { Json::Object(Default::default()).to_string() }))
        .fallback(deliver)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(router);
    axum::serve(listener, app).with_graceful_shutdown(stop).await.map_err(|e| crate::Error::Server(e.to_string()))
}

fn token_ok(router: &Router, headers: &HeaderMap) -> bool {
    router.token_ok(headers.get(dapr_rs_proto::API_TOKEN_HEADER).and_then(|v| v.to_str().ok()))
}

async fn list_subscriptions(State(router): State<Arc<Router>>, headers: HeaderMap) -> Response {
    if !token_ok(&router, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let items: Vec<Json> = crate::subscription::topic_subscriptions(&router.subscriptions)
        .into_iter()
        .map(|ts| {
            let routes = ts.routes.unwrap_or_default();
            let mut item = json!({
                "pubsubname": ts.pubsub_name,
                "topic": ts.topic,
                "routes": {
                    "rules": routes.rules.iter().map(|r| json!({"match": r.r#match, "path": r.path})).collect::<Vec<_>>(),
                    "default": routes.default,
                },
                "metadata": ts.metadata,
            });
            if !ts.dead_letter_topic.is_empty() {
                item["deadLetterTopic"] = ts.dead_letter_topic.into();
            }
            item
        })
        .collect();
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
        Ok(Json::Object(map)) => map,
        _ => return (StatusCode::BAD_REQUEST, "the body is not a CloudEvent JSON object").into_response(),
    };
    let pubsub = ce.get("pubsubname").and_then(Json::as_str).unwrap_or(&sub.pubsub_name).to_owned();
    let topic = ce.get("topic").and_then(Json::as_str).unwrap_or(&sub.topic).to_owned();
    let event = TopicEvent::from(cloudevent::to_topic_event_request(&ce, &pubsub, &topic, path));
    let status = crate::handler::run_handler(sub.handler.as_ref(), event).await;
    axum::Json(json!({ "status": status.as_http_status_word() })).into_response()
}
