//! The floor the publish benchmarks are read against: tonic's generated client and server with
//! nothing else. `serve` answers every `PublishEvent` at once and does nothing; `publish` drives
//! it (or any sidecar) with the generated client on one channel, `--in-flight` at a time. Run on
//! the same machine in the same run as `publish_throughput`, the pair separates the cost of our
//! client and of our sidecar from what HTTP/2 and gRPC cost anyway.

use clap::{Parser, Subcommand};
use dapr_rs_proto::runtime::dapr_client::DaprClient;
use dapr_rs_proto::runtime::dapr_server::{Dapr, DaprServer};
use dapr_rs_proto::runtime::{
    BulkPublishRequest, BulkPublishResponse, GetMetadataRequest, GetMetadataResponse, PublishEventRequest, SetMetadataRequest,
    ShutdownRequest, SubscribeTopicEventsRequestAlpha1, SubscribeTopicEventsResponseAlpha1,
};
use std::pin::Pin;
use tonic::{Request, Response, Status, Streaming};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A do-nothing `Dapr` gRPC server; prints its address, then serves until killed.
    Serve {
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Publishes with the generated client only.
    Publish {
        #[arg(long)]
        address: String,
        #[arg(long, default_value_t = 100_000)]
        count: usize,
        #[arg(long, default_value_t = 100)]
        in_flight: usize,
    },
}

struct DoNothing;

type EventStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<SubscribeTopicEventsResponseAlpha1, Status>> + Send>>;

#[tonic::async_trait]
impl Dapr for DoNothing {
    async fn publish_event(&self, _req: Request<PublishEventRequest>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }
    async fn bulk_publish_event_alpha1(&self, _req: Request<BulkPublishRequest>) -> Result<Response<BulkPublishResponse>, Status> {
        Ok(Response::new(BulkPublishResponse::default()))
    }
    async fn bulk_publish_event(&self, _req: Request<BulkPublishRequest>) -> Result<Response<BulkPublishResponse>, Status> {
        Ok(Response::new(BulkPublishResponse::default()))
    }
    type SubscribeTopicEventsAlpha1Stream = EventStream;
    async fn subscribe_topic_events_alpha1(
        &self,
        _req: Request<Streaming<SubscribeTopicEventsRequestAlpha1>>,
    ) -> Result<Response<EventStream>, Status> {
        Err(Status::unimplemented("bare_tonic serves PublishEvent only"))
    }
    async fn get_metadata(&self, _req: Request<GetMetadataRequest>) -> Result<Response<GetMetadataResponse>, Status> {
        Ok(Response::new(GetMetadataResponse::default()))
    }
    async fn set_metadata(&self, _req: Request<SetMetadataRequest>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }
    async fn shutdown(&self, _req: Request<ShutdownRequest>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }
}

#[tokio::main]
async fn main() {
    match Args::parse().command {
        Command::Serve { port } => {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
            println!("{}", listener.local_addr().expect("address"));
            tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .add_service(DaprServer::new(DoNothing))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
                .expect("serve");
        }
        Command::Publish { address, count, in_flight } => {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
                .expect("address")
                .tcp_nodelay(true)
                .connect()
                .await
                .expect("connect");
            let client = DaprClient::new(channel);
            let request = PublishEventRequest {
                pubsub_name: "order_pub_sub".into(),
                topic: "bench".into(),
                data: bytes::Bytes::from_static(br#"{"orderId":42}"#),
                data_content_type: "application/json".into(),
                ..Default::default()
            };
            for _ in 0..200 {
                client.clone().publish_event(request.clone()).await.expect("publish");
            }
            dapr_rs_bench::run_in_flight("bare tonic client", count, in_flight, move || {
                let (mut client, request) = (client.clone(), request.clone());
                async move {
                    client.publish_event(request).await.expect("publish");
                }
            })
            .await;
        }
    }
}
