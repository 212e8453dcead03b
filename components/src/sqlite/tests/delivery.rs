//! What a subscriber gets (data and metadata, messages from before it subscribed, publish order)
//! and what is delivered again (after a handler error or a handler that never returns).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_then_subscribe_delivers_data_and_metadata() {
    let dir = TempDir::new().unwrap();
    let pubsub = open(&dir, "app", &[]).await;
    let (handler, mut seen) = recorder("app", Behaviour::Succeed);
    let sub = pubsub.subscribe(request("orders", "app", 10), handler).await.unwrap();
    let sent = BrokerMessage {
        topic: "orders".into(),
        data: bytes::Bytes::from_static(b"{\"specversion\":\"1.0\",\"data\":\"\\u0000\xff\"}"),
        metadata: HashMap::from([("traceparent".into(), "00-abc-01".into()), ("ttlInSeconds".into(), "60".into())]),
    };
    pubsub.publish(sent.clone()).await.unwrap();
    assert_eq!(next(&mut seen).await.1, sent);
    let empty = BrokerMessage { topic: "orders".into(), ..BrokerMessage::default() };
    pubsub.publish(empty.clone()).await.unwrap();
    assert_eq!(next(&mut seen).await.1, empty);
    quiet(&mut seen).await;
    sub.stop(WITHIN).await;
    pubsub.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_published_before_any_subscriber_are_delivered() {
    let dir = TempDir::new().unwrap();
    let publisher = open(&dir, "publisher", &[]).await;
    for i in 0..5 {
        publisher.publish(message("early", i)).await.unwrap();
    }
    publisher.clean_now().await.unwrap();
    publisher.close().await;

    let subscriber = open(&dir, "late", &[]).await;
    let (handler, mut seen) = recorder("late", Behaviour::Succeed);
    let sub = subscriber.subscribe(request("early", "late", 1), handler).await.unwrap();
    let numbers: Vec<usize> = take(&mut seen, 5).await.iter().map(|(_, m)| number(m)).collect();
    assert_eq!(numbers, (0..5).collect::<Vec<_>>());
    sub.stop(WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_one_delivers_in_publish_order() {
    let dir = TempDir::new().unwrap();
    let pubsub = open(&dir, "app", &[]).await;
    for i in 0..30 {
        pubsub.publish(message("ordered", i)).await.unwrap();
    }
    let (handler, mut seen) = recorder("app", Behaviour::Jitter);
    let sub = pubsub.subscribe(request("ordered", "app", 1), handler).await.unwrap();
    for i in 30..60 {
        pubsub.publish(message("ordered", i)).await.unwrap();
    }
    let numbers: Vec<usize> = take(&mut seen, 60).await.iter().map(|(_, m)| number(m)).collect();
    assert_eq!(numbers, (0..60).collect::<Vec<_>>());
    sub.stop(WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_error_leads_to_redelivery() {
    let dir = TempDir::new().unwrap();
    let pubsub = open(&dir, "app", &[("redeliverInterval", "10s")]).await;
    let (handler, mut seen) = recorder("app", Behaviour::FailFirst(2));
    let sub = pubsub.subscribe(request("orders", "app", 1), handler).await.unwrap();
    pubsub.publish(message("orders", 7)).await.unwrap();
    // Backoff 100 ms then 200 ms; the retry wakes the loop, not the 10 s timer.
    let got = take(&mut seen, 3).await;
    assert!(got.iter().all(|(_, m)| number(m) == 7));
    quiet(&mut seen).await;
    until_settled(&db(&dir)).await;
    sub.stop(WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_that_never_returns_is_redelivered_after_processing_timeout() {
    let dir = TempDir::new().unwrap();
    let pubsub = open(&dir, "app", &[("processingTimeout", "200ms"), ("redeliverInterval", "50ms")]).await;
    let (handler, mut seen) = recorder("app", Behaviour::HangFirst(1));
    let sub = pubsub.subscribe(request("orders", "app", 1), handler).await.unwrap();
    let started = Instant::now();
    pubsub.publish(message("orders", 1)).await.unwrap();
    take(&mut seen, 2).await;
    assert!(started.elapsed() >= Duration::from_millis(200), "redelivered before the lease ran out");
    until_settled(&db(&dir)).await;
    sub.stop(WITHIN).await;
}
