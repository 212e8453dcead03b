//! Publisher sidecar → broker → subscriber sidecar → app: serves the app (core's gRPC app
//! server), publishes through the publisher's sidecar, and measures delivery rate and latency.
//! `--rate 0` publishes as fast as `--in-flight` allows (throughput); a rate paces publishes
//! (latency at that load). Each payload carries its send time.

use bytes::Bytes;
use clap::Parser;
use dapr_rs_bench::Latencies;
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{ClientOptions, DaprClient, PublishRequest, Subscription, TopicEvent, TopicEventStatus, handler_fn};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
struct Args {
    /// Publisher sidecar gRPC address.
    #[arg(long)]
    publish_address: String,
    /// Port the app (this process) serves deliveries on; the subscriber sidecar's --app-port.
    #[arg(long)]
    app_port: u16,
    #[arg(long, default_value = "order_pub_sub")]
    pubsub: String,
    #[arg(long, default_value = "bench-e2e")]
    topic: String,
    #[arg(long, default_value_t = 20_000)]
    count: usize,
    /// Events per second; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    #[arg(long, default_value_t = 100)]
    in_flight: usize,
    /// Seconds to wait for the subscriber sidecar to connect to this app.
    #[arg(long, default_value_t = 30)]
    wait: u64,
    /// Writes the latency distribution (percentile → ms) as JSON here, for `bench/charts.py`.
    #[arg(long)]
    latency_out: Option<std::path::PathBuf>,
    /// Writes one line per event, `ms into the run it was sent,latency ms`, here: where in a run
    /// its slow events sit (a stall, or a queue that grows).
    #[arg(long)]
    timeline_out: Option<std::path::PathBuf>,
}

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let received = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(args.count)));
    let (r, l) = (received.clone(), latencies.clone());
    let handler = handler_fn(move |ev: TopicEvent| {
        let (r, l) = (r.clone(), l.clone());
        async move {
            if let Ok(sent) = std::str::from_utf8(&ev.data).unwrap_or("").parse::<u64>() {
                l.lock().unwrap().push((sent, Duration::from_micros(now_micros().saturating_sub(sent))));
            }
            r.fetch_add(1, Ordering::Relaxed);
            Ok(TopicEventStatus::Success)
        }
    });
    let addr = format!("127.0.0.1:{}", args.app_port).parse().unwrap();
    let server =
        AppServer::start(AppProtocol::Grpc, addr, vec![Subscription::new(&args.pubsub, &args.topic, handler)]).await.expect("app server");
    let client = DaprClient::new(ClientOptions::from_env().with_address(&args.publish_address)).expect("client");
    client.wait_for_sidecar(Duration::from_secs(args.wait)).await.expect("publisher sidecar");

    // Probe until the subscriber side delivers, so subscription setup is not measured.
    let probe = |n: u64| PublishRequest {
        pubsub_name: args.pubsub.clone(),
        topic: args.topic.clone(),
        data: Bytes::from(n.to_string()),
        data_content_type: "text/plain".into(),
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    while received.load(Ordering::Relaxed) == 0 {
        assert!(
            Instant::now() < deadline,
            "no delivery reached the app: is the subscriber sidecar running with --app-port {}?",
            args.app_port
        );
        client.publish_event(probe(now_micros())).await.expect("probe publish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    received.store(0, Ordering::SeqCst);
    latencies.lock().unwrap().clear();

    let (start, start_micros) = (Instant::now(), now_micros());
    let next = Arc::new(AtomicUsize::new(0));
    let interval = (args.rate > 0).then(|| Duration::from_secs_f64(1.0 / args.rate as f64));
    let workers = if interval.is_some() { 1 } else { args.in_flight };
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (client, next, count, pubsub, topic) = (client.clone(), next.clone(), args.count, args.pubsub.clone(), args.topic.clone());
            tokio::spawn(async move {
                let mut ticker = interval.map(|i| {
                    let mut t = tokio::time::interval(i);
                    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                    t
                });
                let mut pending = tokio::task::JoinSet::new();
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    let req = PublishRequest {
                        pubsub_name: pubsub.clone(),
                        topic: topic.clone(),
                        data: Bytes::from(now_micros().to_string()),
                        data_content_type: "text/plain".into(),
                        ..Default::default()
                    };
                    match ticker.as_mut() {
                        // Paced: do not wait for each publish, so the rate holds.
                        Some(t) => {
                            t.tick().await;
                            let c = client.clone();
                            pending.spawn(async move { c.publish_event(req).await.expect("publish") });
                        }
                        None => client.publish_event(req).await.expect("publish"),
                    }
                }
                while pending.join_next().await.is_some() {}
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let published = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.load(Ordering::Relaxed) < args.count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let total = start.elapsed();
    let got = received.load(Ordering::Relaxed);
    let events = std::mem::take(&mut *latencies.lock().unwrap());
    if let Some(path) = &args.timeline_out {
        let ms = |us: u64| us as f64 / 1000.0;
        let lines: String = events
            .iter()
            .map(|(sent, took)| format!("{:.3},{:.3}\n", ms(sent.saturating_sub(start_micros)), took.as_secs_f64() * 1000.0))
            .collect();
        std::fs::write(path, lines).expect("write --timeline-out");
    }
    let lat = Latencies::new(events.into_iter().map(|(_, took)| took).collect());
    let mode = if args.rate > 0 { format!("paced at {}/s", args.rate) } else { format!("{} in flight", args.in_flight) };
    println!(
        "end_to_end ({mode}): {got}/{} delivered, publish {:.0}/s, delivery {:.0} events/s; latency {}",
        args.count,
        args.count as f64 / published.as_secs_f64(),
        got as f64 / total.as_secs_f64(),
        lat.summary()
    );
    if let Some(path) = &args.latency_out {
        std::fs::write(path, lat.distribution_json().to_string()).expect("write --latency-out");
    }
    server.stop().await.ok();
    if got < args.count {
        std::process::exit(1);
    }
}
