//! Publishes N events through a sidecar with the core client, `--in-flight` at a time on one
//! channel, and prints the rate.

use bytes::Bytes;
use clap::Parser;
use dapr_rs_bench as _; // its global allocator
use dapr_rs_core::{ClientOptions, DaprClient, PublishRequest};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..args.in_flight)
        .map(|_| {
            let (client, request, next, count) = (client.clone(), request.clone(), next.clone(), args.count);
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    client.publish_event(request.clone()).await.expect("publish");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}: {} events, {} in flight: {:.0} events/s ({:.2} s)",
        args.label,
        args.count,
        args.in_flight,
        args.count as f64 / secs,
        secs
    );
}
