//! The gRPC app channel: `AppCallback` (and its Alpha / health-check siblings) backed by the router.

use super::Router;
use crate::handler::run_batch;
use crate::{TopicEvent, TopicEventStatus};
use dapr_rs_proto::cloudevent;
use dapr_rs_proto::common::{InvokeRequest, InvokeResponse};
use dapr_rs_proto::runtime::app_callback_alpha_server::{AppCallbackAlpha, AppCallbackAlphaServer};
use dapr_rs_proto::runtime::app_callback_health_check_server::{AppCallbackHealthCheck, AppCallbackHealthCheckServer};
use dapr_rs_proto::runtime::app_callback_server::{AppCallback, AppCallbackServer};
use dapr_rs_proto::runtime::topic_event_bulk_request_entry::Event as BulkEvent;
use dapr_rs_proto::runtime::{
    HealthCheckResponse, JobEventRequest, JobEventResponse, ListTopicSubscriptionsResponse, TopicEventBulkRequest, TopicEventBulkResponse,
    TopicEventBulkResponseEntry, TopicEventRequest, TopicEventResponse,
};
use dapr_rs_proto::struct_json::struct_to_json_map;
use std::future::Future;
use std::sync::Arc;
use tonic::{Request, Response, Status};

#[derive(Clone)]
struct Service(Arc<Router>);

impl Service {
    fn check_token<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let presented = req.metadata().get(dapr_rs_proto::API_TOKEN_HEADER).map(|v| v.as_bytes());
        if self.0.token_ok(presented) { Ok(()) } else { Err(Status::unauthenticated("invalid or missing dapr-api-token")) }
    }

    /// A bulk delivery's entries, all to the handler of its route as one batch.
    async fn bulk(&self, req: TopicEventBulkRequest) -> TopicEventBulkResponse {
        let events: Vec<TopicEvent> = req
            .entries
            .into_iter()
            .map(|entry| {
                let event = match entry.event {
                    Some(BulkEvent::CloudEvent(ce)) => TopicEvent {
                        id: ce.id,
                        source: ce.source,
                        event_type: ce.r#type,
                        spec_version: ce.spec_version,
                        data_content_type: ce.data_content_type,
                        data: ce.data.into(),
                        extensions: ce.extensions.as_ref().map(struct_to_json_map).unwrap_or_default(),
                        ..Default::default()
                    },
                    Some(BulkEvent::Bytes(raw)) => {
                        // rawPayload bulk entries: the same synthesized envelope a single delivery gets.
                        let ce = cloudevent::raw_envelope(&req.pubsub_name, &req.topic, &raw, &entry.metadata);
                        TopicEvent::from(cloudevent::to_topic_event_request(&ce, &req.pubsub_name, &req.topic, &req.path))
                    }
                    None => TopicEvent::default(),
                };
                // A bulk entry's metadata travels in the entry; the call's is the batch's.
                TopicEvent {
                    topic: req.topic.clone(),
                    pubsub_name: req.pubsub_name.clone(),
                    path: req.path.clone(),
                    metadata: entry.metadata,
                    entry_id: entry.entry_id,
                    ..event
                }
            })
            .collect();
        let entry_ids: Vec<String> = events.iter().map(|e| e.entry_id.clone()).collect();
        let statuses = match self.0.handler_for(&req.pubsub_name, &req.topic, &req.path) {
            Some(handler) => run_batch(handler.as_ref(), events).await,
            None => vec![TopicEventStatus::Retry; entry_ids.len()],
        };
        let statuses = entry_ids
            .into_iter()
            .zip(statuses)
            .map(|(entry_id, status)| TopicEventBulkResponseEntry { entry_id, status: status.to_status() as i32 })
            .collect();
        TopicEventBulkResponse { statuses }
    }
}

#[tonic::async_trait]
impl AppCallback for Service {
    async fn on_invoke(&self, _: Request<InvokeRequest>) -> Result<Response<InvokeResponse>, Status> {
        Err(Status::unimplemented("service invocation is not part of dapr-rs"))
    }

    async fn list_topic_subscriptions(&self, req: Request<()>) -> Result<Response<ListTopicSubscriptionsResponse>, Status> {
        self.check_token(&req)?;
        Ok(Response::new(ListTopicSubscriptionsResponse { subscriptions: crate::subscription::topic_subscriptions(&self.0.subscriptions) }))
    }

    async fn on_topic_event(&self, req: Request<TopicEventRequest>) -> Result<Response<TopicEventResponse>, Status> {
        self.check_token(&req)?;
        let (metadata, _, request) = req.into_parts();
        let event = TopicEvent { metadata: super::delivered_metadata(&metadata.into_headers()), ..TopicEvent::from(request) };
        let (pubsub, topic, path) = (event.pubsub_name.clone(), event.topic.clone(), event.path.clone());
        match self.0.deliver(event).await {
            Some(status) => Ok(Response::new(TopicEventResponse { status: status.to_status() as i32 })),
            None => Err(Status::not_found(format!("no handler for pubsub {pubsub:?} topic {topic:?} path {path:?}"))),
        }
    }

    async fn on_bulk_topic_event(&self, req: Request<TopicEventBulkRequest>) -> Result<Response<TopicEventBulkResponse>, Status> {
        self.check_token(&req)?;
        Ok(Response::new(self.bulk(req.into_inner()).await))
    }

    async fn on_job_event(&self, _: Request<JobEventRequest>) -> Result<Response<JobEventResponse>, Status> {
        Err(Status::unimplemented("jobs are not part of dapr-rs"))
    }
}

#[tonic::async_trait]
impl AppCallbackAlpha for Service {
    async fn on_bulk_topic_event_alpha1(&self, req: Request<TopicEventBulkRequest>) -> Result<Response<TopicEventBulkResponse>, Status> {
        self.check_token(&req)?;
        Ok(Response::new(self.bulk(req.into_inner()).await))
    }

    async fn on_job_event_alpha1(&self, _: Request<JobEventRequest>) -> Result<Response<JobEventResponse>, Status> {
        Err(Status::unimplemented("jobs are not part of dapr-rs"))
    }
}

#[tonic::async_trait]
impl AppCallbackHealthCheck for Service {
    async fn health_check(&self, _: Request<()>) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {}))
    }
}

/// The most calls the sidecar may have open on one connection to the app.
const MAX_CONCURRENT_DELIVERIES: u32 = 1024;

pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    router: Arc<Router>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> crate::Result<()> {
    let svc = Service(router);
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .initial_connection_window_size(dapr_rs_proto::h2_windows::CONNECTION)
        .initial_stream_window_size(dapr_rs_proto::h2_windows::STREAM)
        // Advertised to the sidecar, whose HTTP/2 client queues calls past it instead of having
        // them refused: a backlog never turns into GOAWAYs or resets, hence duplicates.
        .max_concurrent_streams(MAX_CONCURRENT_DELIVERIES)
        .add_service(AppCallbackServer::new(svc.clone()).max_decoding_message_size(usize::MAX))
        .add_service(AppCallbackAlphaServer::new(svc.clone()).max_decoding_message_size(usize::MAX))
        .add_service(AppCallbackHealthCheckServer::new(svc))
        .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), stop)
        .await
        .map_err(|e| crate::Error::Server(e.to_string()))
}
