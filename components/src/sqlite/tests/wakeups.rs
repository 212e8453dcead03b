//! How subscribers are woken: the doorbell across instances, no polling while idle, the lease
//! watcher for what no ring announced, and doorbell rows that go with their subscription.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doorbell_wakes_a_subscriber_in_another_instance_without_polling() {
    let dir = TempDir::new().unwrap();
    // With a 10 s fallback timer only the doorbell can explain a prompt delivery.
    let slow_poll = [("redeliverInterval", "10s")];
    let publisher = open(&dir, "publisher", &slow_poll).await;
    let subscriber = open(&dir, "subscriber", &slow_poll).await;
    let (handler, mut seen) = recorder("subscriber", Behaviour::Succeed);
    let sub = subscriber.subscribe(request("orders", "subscriber", 10), handler).await.unwrap();
    for i in 0..3 {
        // Let the subscription go idle first.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let sent_at = Instant::now();
        publisher.publish(message("orders", i)).await.unwrap();
        let (_, got) = next(&mut seen).await;
        let latency = sent_at.elapsed();
        assert_eq!(number(&got), i);
        assert!(latency < Duration::from_millis(500), "delivery {i} took {latency:?}");
    }
    sub.stop(WITHIN).await;
    subscriber.close().await;
    publisher.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_subscriptions_claim_nothing_and_the_lease_watcher_finds_what_no_ring_announced() {
    let dir = TempDir::new().unwrap();
    let pubsub = open(&dir, "app", &[("redeliverInterval", "50ms")]).await;
    let (tx, mut seen) = mpsc::unbounded_channel();
    let mut subs = Vec::new();
    for i in 0..200 {
        subs.push(pubsub.subscribe(request(&format!("topic-{i}"), "app", 10), shared_recorder("app", &tx)).await.unwrap());
    }
    // Every subscription's first claim finds nothing; then they sleep.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = pubsub.store.claims_so_far();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pubsub.store.claims_so_far(), before, "idle subscriptions must not poll (ten redeliver intervals went by)");

    // A message written by someone who rings no doorbell (as if the datagram were lost).
    let conn = rusqlite::Connection::open(db(&dir)).unwrap();
    conn.execute("INSERT INTO messages (topic, data, metadata, created_ms) VALUES ('topic-7', X'7B7D', '{\"n\":\"7\"}', 0)", []).unwrap();
    let (_, got) = next(&mut seen).await;
    assert_eq!((got.topic.as_str(), number(&got)), ("topic-7", 7));
    quiet(&mut seen).await;
    for sub in subs {
        sub.stop(WITHIN).await;
    }
    pubsub.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doorbell_rows_go_away_with_their_subscription() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let pubsub = open(&dir, "app", &[]).await;
    let (handler, _seen) = recorder("app", Behaviour::Succeed);
    let sub = pubsub.subscribe(request("orders", "app", 1), handler.clone()).await.unwrap();
    let _kept = pubsub.subscribe(request("orders", "other", 1), handler).await.unwrap();
    assert_eq!(count(&path, "SELECT COUNT(*) FROM listeners"), 2);
    sub.stop(WITHIN).await;
    assert_eq!(count(&path, "SELECT COUNT(*) FROM listeners"), 1);

    // A row left by a process that is gone is harmless and cleaned up.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("INSERT INTO listeners (topic, port, subscription, pid) VALUES ('orders', 9, 1, 999999999)", [])
        .unwrap();
    pubsub.publish(message("orders", 1)).await.unwrap();
    pubsub.clean_now().await.unwrap();
    assert_eq!(count(&path, "SELECT COUNT(*) FROM listeners"), 1);

    // close removes this instance's rows even for subscriptions never stopped.
    pubsub.close().await;
    assert_eq!(count(&path, "SELECT COUNT(*) FROM listeners"), 0);
    assert!(pubsub.publish(message("orders", 2)).await.is_err(), "publish after close must fail");
}
