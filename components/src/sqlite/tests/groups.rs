//! Consumer groups: every group gets every message, the instances of one group share them, and
//! what one instance left unfinished goes to the next.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_group_gets_every_message() {
    let dir = TempDir::new().unwrap();
    let publisher = open(&dir, "publisher", &[]).await;
    let orders = open(&dir, "orders", &[]).await;
    let billing = open(&dir, "billing", &[("consumerID", "billing-group")]).await;
    let (orders_handler, mut orders_seen) = recorder("orders", Behaviour::Succeed);
    let (billing_handler, mut billing_seen) = recorder("billing", Behaviour::Succeed);
    // An empty consumer group falls back to the component's consumerID (the app id by default).
    let a = orders.subscribe(request("events", "", 10), orders_handler).await.unwrap();
    let b = billing.subscribe(request("events", "", 10), billing_handler).await.unwrap();
    for i in 0..50 {
        publisher.publish(message("events", i)).await.unwrap();
    }
    for seen in [&mut orders_seen, &mut billing_seen] {
        let numbers: HashSet<usize> = take(seen, 50).await.iter().map(|(_, m)| number(m)).collect();
        assert_eq!(numbers, (0..50).collect());
        quiet(seen).await;
    }
    let groups = count(&db(&dir), "SELECT COUNT(*) FROM consumer_groups WHERE grp IN ('orders', 'billing-group')");
    assert_eq!(groups, 2);
    a.stop(WITHIN).await;
    b.stop(WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_of_one_group_share_messages_without_duplicates() {
    let dir = TempDir::new().unwrap();
    let publisher = open(&dir, "publisher", &[]).await;
    let first = open(&dir, "workers", &[]).await;
    let second = open(&dir, "workers", &[]).await;
    let (tx, mut seen) = mpsc::unbounded_channel();
    let a = first.subscribe(request("jobs", "workers", 8), shared_recorder("first", &tx)).await.unwrap();
    let b = second.subscribe(request("jobs", "workers", 8), shared_recorder("second", &tx)).await.unwrap();
    for i in 0..200 {
        publisher.publish(message("jobs", i)).await.unwrap();
    }
    let got = take(&mut seen, 200).await;
    let numbers: HashSet<usize> = got.iter().map(|(_, m)| number(m)).collect();
    assert_eq!(numbers.len(), 200, "a message was delivered twice");
    quiet(&mut seen).await;
    let by_first = got.iter().filter(|(tag, _)| *tag == "first").count();
    eprintln!("shared: first {by_first}, second {}", 200 - by_first);
    a.stop(WITHIN).await;
    b.stop(WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_messages_go_to_the_next_instance_of_the_group() {
    let dir = TempDir::new().unwrap();
    let first = open(&dir, "workers", &[]).await;
    let (stuck, mut stuck_seen) = recorder("first", Behaviour::HangAlways);
    let sub = first.subscribe(request("jobs", "workers", 10), stuck).await.unwrap();
    for i in 0..3 {
        first.publish(message("jobs", i)).await.unwrap();
    }
    take(&mut stuck_seen, 3).await;
    sub.stop(Duration::from_millis(50)).await;
    first.close().await;
    assert_eq!(count(&db(&dir), "SELECT COUNT(*) FROM pending"), 3, "nothing unhandled may be acknowledged");

    // The default 60 s lease does not delay them: stop released what it had not finished.
    let second = open(&dir, "workers", &[]).await;
    let (handler, mut seen) = recorder("second", Behaviour::Succeed);
    let sub = second.subscribe(request("jobs", "workers", 10), handler).await.unwrap();
    let numbers: HashSet<usize> = take(&mut seen, 3).await.iter().map(|(_, m)| number(m)).collect();
    assert_eq!(numbers, (0..3).collect());
    until_settled(&db(&dir)).await;
    sub.stop(WITHIN).await;
}
