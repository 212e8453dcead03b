//! Deliveries in flight: bounded by shared slots across subscriptions, and ten thousand messages
//! with a hundred at a time.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_slots_bound_deliveries_in_flight_across_subscriptions() {
    let dir = TempDir::new().unwrap();
    let pubsub = open(&dir, "app", &[]).await;
    for topic in ["a", "b"] {
        for i in 0..20 {
            pubsub.publish(message(topic, i)).await.unwrap();
        }
    }
    let app = Arc::new(tokio::sync::Semaphore::new(3));
    let (hung, mut seen) = recorder("app", Behaviour::HangAlways);
    let mut subs = Vec::new();
    for topic in ["a", "b"] {
        let req = SubscribeRequest { shared_slots: Some(app.clone()), ..request(topic, "app", 10) };
        subs.push(pubsub.subscribe(req, hung.clone()).await.unwrap());
    }
    take(&mut seen, 3).await;
    quiet(&mut seen).await;
    // Only what is in flight was claimed: the rest waits in the database, not in memory.
    assert_eq!(count(&db(&dir), "SELECT COUNT(*) FROM pending"), 3);
    for sub in subs {
        sub.stop(Duration::from_millis(10)).await;
    }
    pubsub.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_with_a_hundred_in_flight() {
    const TOTAL: usize = 10_000;
    let dir = TempDir::new().unwrap();
    let publisher = Arc::new(open(&dir, "publisher", &[]).await);
    let subscriber = open(&dir, "subscriber", &[]).await;
    let (handler, mut seen) = recorder("subscriber", Behaviour::Succeed);
    let sub = subscriber.subscribe(request("load", "subscriber", 100), handler).await.unwrap();

    let started = Instant::now();
    let results: Vec<Result<(), BrokerError>> = futures::stream::iter(0..TOTAL)
        .map(|i| {
            let publisher = publisher.clone();
            async move { publisher.publish(message("load", i)).await }
        })
        .buffer_unordered(100)
        .collect()
        .await;
    let published = started.elapsed();
    assert!(results.iter().all(Result::is_ok));
    let mut numbers = HashSet::with_capacity(TOTAL);
    while numbers.len() < TOTAL {
        numbers.insert(number(&next(&mut seen).await.1));
    }
    let delivered = started.elapsed();
    eprintln!(
        "{TOTAL} messages: published in {published:?} ({:.0}/s), delivered in {delivered:?} ({:.0}/s)",
        TOTAL as f64 / published.as_secs_f64(),
        TOTAL as f64 / delivered.as_secs_f64()
    );
    sub.stop(WITHIN).await;
}
