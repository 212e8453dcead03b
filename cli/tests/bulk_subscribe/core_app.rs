//! Core's `AppServer` as the app, over gRPC and HTTP: full and partial batches, RETRY, shutdown.

use super::{PUBSUB, eventually, lock, start_sidecar};
use crate::common::memory_resources;
use bytes::Bytes;
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{BulkSubscribeOptions, PublishRequest, Subscription, SubscriptionOptions, TopicEvent, TopicEventStatus, handler_fn};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

async fn core_app_gets_batches(protocol: AppProtocol, flag: &'static str) {
    let dir = memory_resources(PUBSUB);
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, TopicEvent)>();
    let seen = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let seen2 = seen.clone();
    let handler = handler_fn(move |ev: TopicEvent| {
        let (tx, seen) = (tx.clone(), seen2.clone());
        async move {
            let data = String::from_utf8_lossy(&ev.data).into_owned();
            let n = {
                let mut seen = lock(&seen);
                let n = seen.entry(data.clone()).or_default();
                *n += 1;
                *n
            };
            tx.send((Instant::now(), ev)).unwrap();
            let retry = (data == "retry-once" && n == 1) || (data == "retry-5" && n <= 5);
            Ok(if retry { TopicEventStatus::Retry } else { TopicEventStatus::Success })
        }
    });
    let bulk = BulkSubscribeOptions { max_messages_count: 5, max_await_duration_ms: 1500 };
    let sub =
        Subscription::new(PUBSUB, "orders", handler).with_options(SubscriptionOptions { bulk_subscribe: Some(bulk), ..Default::default() });
    let addr = "127.0.0.1:0".parse().unwrap(); // the OS picks the port; no race with other tests
    let server = AppServer::start_with_token(protocol, addr, vec![sub], None).await.unwrap();
    let sc = start_sidecar(&dir, server.local_addr().port(), flag).await;
    let client = sc.client();
    let publish = |n: u32| {
        let client = client.clone();
        async move {
            let req = PublishRequest {
                pubsub_name: PUBSUB.into(),
                topic: "orders".into(),
                data: Bytes::from(format!("event-{n}")),
                data_content_type: "text/plain".into(),
                ..Default::default()
            };
            client.publish_event(req).await.unwrap();
        }
    };

    // Four events wait for their batch to fill: a one-by-one delivery would have them by now.
    for n in 1..=4 {
        publish(n).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(rx.try_recv().is_err(), "{flag}: delivered before the batch was full");
    let fifth = Instant::now();
    publish(5).await;
    let mut batch = Vec::new();
    for _ in 0..5 {
        batch.push(tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("the full batch").unwrap());
    }
    let mut data: Vec<String> = batch.iter().map(|(_, e)| String::from_utf8_lossy(&e.data).into_owned()).collect();
    data.sort();
    assert_eq!(data, ["event-1", "event-2", "event-3", "event-4", "event-5"], "{flag}");
    for (at, ev) in &batch {
        assert!(*at >= fifth, "{flag}: an entry arrived before the batch was full");
        assert_eq!(
            (ev.source.as_str(), ev.event_type.as_str(), ev.data_content_type.as_str()),
            ("checkout", "com.dapr.event.sent", "text/plain")
        );
        assert_eq!((ev.topic.as_str(), ev.pubsub_name.as_str()), ("orders", PUBSUB));
        assert!(ev.extensions["traceparent"].as_str().unwrap().starts_with("00-"), "{flag}: {:?}", ev.extensions);
    }

    // A partial batch goes after maxAwaitDurationMs. RETRY sends an entry again, alone; after the
    // last retry (four tries) it goes back to the broker, which redelivers it.
    let published = Instant::now();
    publish_text(&client, "retry-once").await;
    publish_text(&client, "retry-5").await;
    let (first_at, _) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
    assert!(first_at - published >= Duration::from_millis(1000), "{flag}: a partial batch left after {:?}", first_at - published);
    eventually("retry-5 acknowledged", || lock(&seen).get("retry-5") == Some(&6)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut again = Vec::new();
    while let Ok((_, ev)) = rx.try_recv() {
        again.push(ev);
    }
    assert_eq!(lock(&seen).get("retry-once"), Some(&2), "{flag}");
    assert_eq!(lock(&seen).values().sum::<usize>(), 13, "{flag}: acknowledged events came back: {:?}", lock(&seen));
    let ids: HashSet<&str> = again.iter().filter(|e| e.data.as_ref() == b"retry-5").map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), 1, "{flag}: every redelivery is the same event");
    drop(sc);
    server.stop().await.unwrap();
}

async fn publish_text(client: &dapr_rs_core::DaprClient, text: &str) {
    let req = PublishRequest {
        pubsub_name: PUBSUB.into(),
        topic: "orders".into(),
        data: Bytes::from(text.to_owned()),
        data_content_type: "text/plain".into(),
        ..Default::default()
    };
    client.publish_event(req).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_core_app_gets_batches() {
    core_app_gets_batches(AppProtocol::Grpc, "grpc").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_core_app_gets_batches() {
    core_app_gets_batches(AppProtocol::Http, "http").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_batch_is_delivered_at_shutdown() {
    let dir = memory_resources(PUBSUB);
    let (tx, mut rx) = mpsc::unbounded_channel::<TopicEvent>();
    let handler = handler_fn(move |ev: TopicEvent| {
        let tx = tx.clone();
        async move {
            tx.send(ev).unwrap();
            Ok(TopicEventStatus::Success)
        }
    });
    // The batch would wait a minute to fill; SIGTERM sends it at once, within the grace period.
    let bulk = BulkSubscribeOptions { max_messages_count: 100, max_await_duration_ms: 60_000 };
    let sub =
        Subscription::new(PUBSUB, "orders", handler).with_options(SubscriptionOptions { bulk_subscribe: Some(bulk), ..Default::default() });
    let addr = "127.0.0.1:0".parse().unwrap(); // the OS picks the port; no race with other tests
    let server = AppServer::start_with_token(AppProtocol::Grpc, addr, vec![sub], None).await.unwrap();
    let sc = start_sidecar(&dir, server.local_addr().port(), "grpc").await;
    publish_text(&sc.client(), "last words").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "the batch is still waiting to fill");
    let stopping = Instant::now();
    let code = tokio::task::spawn_blocking(move || sc.stop()).await.unwrap();
    assert_eq!(code, Some(0));
    assert!(stopping.elapsed() < Duration::from_secs(4), "stopped after {:?}", stopping.elapsed());
    assert_eq!(rx.try_recv().expect("delivered before the sidecar exited").data.as_ref(), b"last words");
    server.stop().await.unwrap();
}
