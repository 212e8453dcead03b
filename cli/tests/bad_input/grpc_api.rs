//! The gRPC API given bad requests: each answers as documented and the sidecar keeps serving.

use super::http_api::still_serving;
use super::table::Table;
use super::{MIB, PUBSUB};
use crate::common::Sidecar;
use bytes::Bytes;
use dapr_rs_proto::runtime::dapr_client::DaprClient as DaprGrpc;
use dapr_rs_proto::runtime::subscribe_topic_events_request_alpha1::SubscribeTopicEventsRequestType as SubReq;
use dapr_rs_proto::runtime::{
    BulkPublishRequest, BulkPublishRequestEntry, PublishEventRequest, SubscribeTopicEventsRequestAlpha1,
    SubscribeTopicEventsRequestInitialAlpha1, SubscribeTopicEventsRequestProcessedAlpha1,
};
use std::time::Duration;

fn grpc_answer<T>(result: Result<T, tonic::Status>) -> String {
    match result {
        Ok(_) => "OK".into(),
        Err(status) => match dapr_rs_proto::error_code::from_grpc_status(&status) {
            Some(code) => format!("{:?} {code}", status.code()),
            None => format!("{:?}", status.code()),
        },
    }
}

async fn grpc_case<T>(
    t: &mut Table,
    sc: &mut Sidecar,
    input: &str,
    expected: &str,
    call: impl std::future::Future<Output = Result<T, tonic::Status>>,
) {
    let answer = match tokio::time::timeout(Duration::from_secs(30), call).await {
        Ok(r) => grpc_answer(r),
        Err(_) => "no answer within 30s".into(),
    };
    let observed = format!("{answer}; {}", still_serving(sc));
    t.add("gRPC", input, format!("{expected}; still serving"), observed);
}

async fn grpc(endpoint: String) -> DaprGrpc<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(endpoint).unwrap().connect().await.expect("connect to the gRPC API");
    DaprGrpc::new(channel).max_decoding_message_size(usize::MAX).max_encoding_message_size(usize::MAX)
}

fn publish_req(pubsub: &str, topic: &str, data: Vec<u8>, content_type: &str) -> PublishEventRequest {
    PublishEventRequest {
        pubsub_name: pubsub.into(),
        topic: topic.into(),
        data: Bytes::from(data),
        data_content_type: content_type.into(),
        metadata: Default::default(),
    }
}

/// `PublishEventRequest` with its string fields as bytes, to put invalid UTF-8 on the wire.
#[derive(Clone, PartialEq, prost::Message)]
struct RawPublishEventRequest {
    #[prost(bytes = "vec", tag = "1")]
    pubsub_name: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    topic: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    data: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    data_content_type: Vec<u8>,
}

async fn raw_publish(endpoint: String, req: RawPublishEventRequest) -> Result<(), tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(endpoint).unwrap().connect().await.expect("connect to the gRPC API");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = http::uri::PathAndQuery::from_static("/dapr.proto.runtime.v1.Dapr/PublishEvent");
    grpc.unary(tonic::Request::new(req), path, tonic_prost::ProstCodec::<RawPublishEventRequest, ()>::default()).await.map(|_| ())
}

async fn subscribe_with(endpoint: String, first: SubReq) -> Result<(), tonic::Status> {
    let msg = SubscribeTopicEventsRequestAlpha1 { subscribe_topic_events_request_type: Some(first) };
    let mut stream = grpc(endpoint).await.subscribe_topic_events_alpha1(tokio_stream::iter(vec![msg])).await?.into_inner();
    // Opened: the initial response must come, then the stream is dropped.
    stream.message().await.map(|_| ())
}

fn initial(pubsub: &str, topic: &str) -> SubReq {
    SubReq::InitialRequest(SubscribeTopicEventsRequestInitialAlpha1 {
        pubsub_name: pubsub.into(),
        topic: topic.into(),
        metadata: Default::default(),
        dead_letter_topic: None,
    })
}

pub async fn bad_requests(t: &mut Table, sc: &mut Sidecar) {
    let mut client = grpc(sc.grpc_endpoint()).await;
    let ep = sc.grpc_endpoint();
    let c = &mut client;
    grpc_case(
        t,
        sc,
        "PublishEvent, cloudevents+json data `{\"id\":` (malformed JSON)",
        "InvalidArgument ERR_PUBSUB_CLOUD_EVENTS_SER",
        c.publish_event(publish_req(PUBSUB, "orders", b"{\"id\":".to_vec(), "application/cloudevents+json")),
    )
    .await;
    grpc_case(
        t,
        sc,
        "PublishEvent, cloudevents+json data of invalid UTF-8",
        "InvalidArgument ERR_PUBSUB_CLOUD_EVENTS_SER",
        c.publish_event(publish_req(PUBSUB, "orders", b"{\"id\":\"\xff\"}".to_vec(), "application/cloudevents+json")),
    )
    .await;
    grpc_case(
        t,
        sc,
        "PublishEvent, 5 MiB data (limit 4 MiB)",
        "ResourceExhausted ERR_BODY_TOO_LARGE",
        c.publish_event(publish_req(PUBSUB, "orders", vec![b'x'; 5 * MIB], "text/plain")),
    )
    .await;
    grpc_case(
        t,
        sc,
        "BulkPublishEvent, 5 MiB of entries (limit 4 MiB)",
        "ResourceExhausted ERR_BODY_TOO_LARGE",
        c.bulk_publish_event(BulkPublishRequest {
            pubsub_name: PUBSUB.into(),
            topic: "orders".into(),
            entries: vec![BulkPublishRequestEntry {
                entry_id: "1".into(),
                event: vec![b'x'; 5 * MIB],
                content_type: "text/plain".into(),
                metadata: Default::default(),
            }],
            metadata: Default::default(),
        }),
    )
    .await;
    let mut ttl = publish_req(PUBSUB, "orders", b"x".to_vec(), "text/plain");
    ttl.metadata.insert("ttlInSeconds".into(), "9223372036854775807".into());
    grpc_case(
        t,
        sc,
        "PublishEvent, metadata ttlInSeconds=9223372036854775807",
        "InvalidArgument ERR_PUBSUB_REQUEST_METADATA",
        c.publish_event(ttl),
    )
    .await;
    grpc_case(
        t,
        sc,
        "PublishEvent, empty topic",
        "InvalidArgument ERR_TOPIC_NAME_EMPTY",
        c.publish_event(publish_req(PUBSUB, "", b"x".to_vec(), "text/plain")),
    )
    .await;
    grpc_case(
        t,
        sc,
        "PublishEvent, 1 MiB topic name",
        "OK",
        c.publish_event(publish_req(PUBSUB, &"t".repeat(MIB), b"x".to_vec(), "text/plain")),
    )
    .await;
    grpc_case(
        t,
        sc,
        "PublishEvent, unknown pubsub",
        "InvalidArgument ERR_PUBSUB_NOT_FOUND",
        c.publish_event(publish_req("nope", "orders", b"x".to_vec(), "text/plain")),
    )
    .await;
    grpc_case(
        t,
        sc,
        "PublishEvent, topic outside publishingScopes",
        "PermissionDenied ERR_PUBSUB_FORBIDDEN",
        c.publish_event(publish_req("scoped", "payments", b"x".to_vec(), "text/plain")),
    )
    .await;
    let dup = |id: &str| BulkPublishRequestEntry {
        entry_id: id.into(),
        event: b"x".to_vec(),
        content_type: "text/plain".into(),
        metadata: Default::default(),
    };
    grpc_case(
        t,
        sc,
        "BulkPublishEvent, two entries with entry_id \"1\"",
        "InvalidArgument ERR_PUBSUB_EVENTS_SER",
        c.bulk_publish_event(BulkPublishRequest {
            pubsub_name: PUBSUB.into(),
            topic: "orders".into(),
            entries: vec![dup("1"), dup("1")],
            metadata: Default::default(),
        }),
    )
    .await;
    grpc_case(
        t,
        sc,
        "BulkPublishEvent, an entry without entry_id",
        "InvalidArgument ERR_PUBSUB_EVENTS_SER",
        c.bulk_publish_event(BulkPublishRequest {
            pubsub_name: PUBSUB.into(),
            topic: "orders".into(),
            entries: vec![dup("")],
            metadata: Default::default(),
        }),
    )
    .await;
    let raw = RawPublishEventRequest {
        pubsub_name: PUBSUB.into(),
        topic: b"\xff\xfe".to_vec(),
        data: b"x".to_vec(),
        data_content_type: b"text/plain".to_vec(),
    };
    grpc_case(t, sc, "PublishEvent, topic of invalid UTF-8 on the wire", "Internal", raw_publish(ep.clone(), raw)).await;
    let raw = RawPublishEventRequest {
        pubsub_name: PUBSUB.into(),
        topic: b"orders".to_vec(),
        data: b"x".to_vec(),
        data_content_type: b"\xff".to_vec(),
    };
    grpc_case(t, sc, "PublishEvent, data_content_type of invalid UTF-8 on the wire", "Internal", raw_publish(ep.clone(), raw)).await;
    grpc_case(
        t,
        sc,
        "SubscribeTopicEventsAlpha1, event_processed before initial_request",
        "InvalidArgument",
        subscribe_with(ep.clone(), SubReq::EventProcessed(SubscribeTopicEventsRequestProcessedAlpha1 { id: "x".into(), status: None })),
    )
    .await;
    grpc_case(t, sc, "SubscribeTopicEventsAlpha1, empty topic", "InvalidArgument", subscribe_with(ep.clone(), initial(PUBSUB, ""))).await;
    grpc_case(
        t,
        sc,
        "SubscribeTopicEventsAlpha1, unknown pubsub",
        "InvalidArgument ERR_PUBSUB_NOT_FOUND",
        subscribe_with(ep.clone(), initial("nope", "orders")),
    )
    .await;
}
