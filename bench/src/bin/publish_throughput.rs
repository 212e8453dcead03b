//! Publishes N events through a sidecar with the core client, `--in-flight` calls at a time on one
//! channel, and prints the rate; `--bulk K` makes each call a bulk publish of K entries.

use bytes::Bytes;
use clap::Parser;
use dapr_rs_core::{BulkPublishEntry, ClientOptions, DaprClient, PublishRequest};
use std::collections::HashMap;
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
    /// Events published (with `--bulk`, in calls of that many entries).
    #[arg(long, default_value_t = 100_000)]
    count: usize,
    #[arg(long, default_value_t = 100)]
    in_flight: usize,
    /// Entries per `BulkPublishEvent` call; 0 publishes each event with `PublishEvent`.
    #[arg(long, default_value_t = 0)]
    bulk: usize,
    /// Calls made before the measured ones, to warm the connection and the sidecar. 0 when the
    /// caller warmed it already (`scripts/bench.sh` counts a sidecar's instructions from here on).
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Calls a second, paced, each call's latency reported (1 in flight unless one runs late);
    /// 0 runs `--in-flight` calls at a time as fast as they go.
    #[arg(long, default_value_t = 0)]
    rate: u64,
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
    if args.bulk > 0 {
        let entries: Vec<BulkPublishEntry> = (0..args.bulk)
            .map(|i| BulkPublishEntry {
                entry_id: i.to_string(),
                event: request.data.clone(),
                content_type: request.data_content_type.clone(),
                ..Default::default()
            })
            .collect();
        let (pubsub, topic) = (args.pubsub.clone(), args.topic.clone());
        let publish = move |client: DaprClient| {
            let (pubsub, topic, entries) = (pubsub.clone(), topic.clone(), entries.clone());
            async move {
                let failed = client.bulk_publish(&pubsub, &topic, entries, HashMap::new()).await.expect("bulk publish");
                assert!(failed.is_empty(), "entries not published: {failed:?}");
            }
        };
        for _ in 0..args.warmup.div_ceil(args.bulk) {
            publish(client.clone()).await;
        }
        let label = format!("{} (bulk of {})", args.label, args.bulk);
        // Counted in calls; the line reports events (calls × entries).
        dapr_rs_bench::run_in_flight_batches(&label, args.count.div_ceil(args.bulk), args.bulk, args.in_flight, move || {
            publish(client.clone())
        })
        .await;
        return;
    }
    for _ in 0..args.warmup {
        client.publish_event(request.clone()).await.expect("publish");
    }
    if args.rate > 0 {
        dapr_rs_bench::run_paced(&args.label, args.count, args.rate, move || {
            let (client, request) = (client.clone(), request.clone());
            async move { client.publish_event(request).await.expect("publish") }
        })
        .await;
        return;
    }
    dapr_rs_bench::run_in_flight(&args.label, args.count, args.in_flight, move || {
        let (client, request) = (client.clone(), request.clone());
        async move { client.publish_event(request).await.expect("publish") }
    })
    .await;
}
