//! Publishes N events through a sidecar with the core client, `--in-flight` at a time on one
//! channel, and prints the rate.

use bytes::Bytes;
use clap::Parser;
use dapr_rs_core::{ClientOptions, DaprClient, PublishRequest};
use std::time::Duration;

#[derive(Parser)]
struct Args {
    /// Sidecar gRPC address.
    #[arg(long, default_value = "127.0.0.1:50001")]
    address: String,
    #[arg(long, default_value = "order_pub_sub")]
    pubsub: String,
    #[arg(long, default_value = "bench")]
    topic: String,
    #[arg(long, default_value_t = 100_000)]
    count: usize,
    #[arg(long, default_value_t = 100)]
    in_flight: usize,
    /// What the report line calls this run.
    #[arg(long, default_value = "publish_throughput")]
    label: String,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let client = DaprClient::new(ClientOptions::from_env().with_address(&args.address)).expect("client");
    client.wait_for_sidecar(Duration::from_secs(20)).await.expect("sidecar");
    let request = PublishRequest {
        pubsub_name: args.pubsub.clone(),
        topic: args.topic.clone(),
        data: Bytes::from_static(br#"{"orderId":42}"#),
        data_content_type: "application/json".into(),
        ..Default::default()
    };
    // Warm up the connection and the sidecar.
    for _ in 0..200 {
        client.publish_event(request.clone()).await.expect("publish");
    }
    dapr_rs_bench::run_in_flight(&args.label, args.count, args.in_flight, move || {
        let (client, request) = (client.clone(), request.clone());
        async move { client.publish_event(request).await.expect("publish") }
    })
    .await;
}
