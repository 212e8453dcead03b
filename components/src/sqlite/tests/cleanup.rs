//! Cleanup deletes consumed and expired messages, and nothing else.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_deletes_consumed_and_expired_messages_only() {
    let dir = TempDir::new().unwrap();
    let pubsub = open(&dir, "app", &[]).await;
    let (handler, mut seen) = recorder("app", Behaviour::Succeed);
    let sub = pubsub.subscribe(request("consumed", "app", 10), handler).await.unwrap();
    for i in 0..10 {
        pubsub.publish(message("consumed", i)).await.unwrap();
        pubsub.publish(message("unsubscribed", i)).await.unwrap();
    }
    take(&mut seen, 10).await;
    until_settled(&db(&dir)).await;
    pubsub.clean_now().await.unwrap();
    let path = db(&dir);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM messages WHERE topic = 'consumed'"), 0);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM messages WHERE topic = 'unsubscribed'"), 10);
    sub.stop(WITHIN).await;
    pubsub.close().await;

    let short = open(&dir, "app", &[("retention", "50ms")]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    short.clean_now().await.unwrap();
    assert_eq!(count(&path, "SELECT COUNT(*) FROM messages"), 0);
}
