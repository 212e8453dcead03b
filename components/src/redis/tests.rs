//! Behaviour tests against the machine's Redis on 127.0.0.1:6379 (`make test` starts it). Every
//! test uses its own stream and group names, so runs never see each other's entries.

use super::*;
use crate::test_support::{next, recorder};
use std::collections::HashMap;

const REDIS: &str = "127.0.0.1:6379";
const WITHIN: Duration = Duration::from_secs(10);

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

fn config(extra: &[(&str, &str)]) -> ComponentConfig {
    let mut metadata: HashMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    metadata.entry("redisHost".into()).or_insert_with(|| REDIS.into());
    ComponentConfig { name: "pubsub".into(), component_type: "pubsub.redis".into(), metadata, app_id: unique("app") }
}

async fn raw_connection() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(format!("redis://{REDIS}")).unwrap();
    client.get_multiplexed_async_connection().await.expect("the machine's Redis on 127.0.0.1:6379 (make test starts it)")
}

fn message(topic: &str, n: usize) -> BrokerMessage {
    BrokerMessage { topic: topic.into(), data: format!("{{\"n\":{n}}}").into(), metadata: HashMap::from([("n".into(), n.to_string())]) }
}

fn request(topic: &str, group: &str) -> SubscribeRequest {
    SubscribeRequest { topic: topic.into(), consumer_group: group.into(), max_concurrency: 16, shared_slots: None }
}

#[tokio::test]
async fn entries_use_daprs_stream_layout_and_a_new_group_reads_from_the_start() {
    let topic = unique("layout");
    let pubsub = RedisStreamsPubSub::open(&config(&[])).await.unwrap();
    pubsub.publish(message(&topic, 1)).await.unwrap();

    // What daprd would read: stream key = topic, fields `data` and `metadata` (JSON).
    let mut raw = raw_connection().await;
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE").arg(&topic).arg("-").arg("+").query_async(&mut raw).await.unwrap();
    assert_eq!(entries.ids.len(), 1);
    let fields = &entries.ids[0].map;
    assert_eq!(redis::from_redis_value::<Vec<u8>>(fields["data"].clone()).unwrap(), b"{\"n\":1}");
    let metadata: HashMap<String, String> =
        serde_json::from_slice(&redis::from_redis_value::<Vec<u8>>(fields["metadata"].clone()).unwrap()).unwrap();
    assert_eq!(metadata["n"], "1");

    // A group created after the publish still gets it (created from id 0), and acks it.
    let group = unique("group");
    let (handler, mut rx) = recorder(0);
    let sub = pubsub.subscribe(request(&topic, &group), handler).await.unwrap();
    assert_eq!(next(&mut rx).await, message(&topic, 1));
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let pending: redis::streams::StreamPendingReply =
            redis::cmd("XPENDING").arg(&topic).arg(&group).query_async(&mut raw).await.unwrap();
        if pending.count() == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the delivered entry was never XACKed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sub.stop(Duration::from_secs(1)).await;
    let _: () = redis::cmd("DEL").arg(&topic).query_async(&mut raw).await.unwrap();
}

#[tokio::test]
async fn groups_each_get_every_message_and_one_group_shares_them() {
    let topic = unique("groups");
    let pubsub = RedisStreamsPubSub::open(&config(&[])).await.unwrap();
    let (group_a, group_b) = (unique("a"), unique("b"));
    let (a1, mut rx_a1) = recorder(0);
    let (a2, mut rx_a2) = recorder(0);
    let (b, mut rx_b) = recorder(0);
    let subs = [
        pubsub.subscribe(request(&topic, &group_a), a1).await.unwrap(),
        pubsub.subscribe(request(&topic, &group_a), a2).await.unwrap(),
        pubsub.subscribe(request(&topic, &group_b), b).await.unwrap(),
    ];
    for n in 0..20 {
        pubsub.publish(message(&topic, n)).await.unwrap();
    }
    let mut got_b: Vec<BrokerMessage> = Vec::new();
    while got_b.len() < 20 {
        got_b.push(next(&mut rx_b).await);
    }
    let mut got_a = Vec::new();
    while got_a.len() < 20 {
        tokio::select! {
            Some(m) = rx_a1.recv() => got_a.push(m),
            Some(m) = rx_a2.recv() => got_a.push(m),
            () = tokio::time::sleep(WITHIN) => panic!("group a got only {} of 20", got_a.len()),
        }
    }
    let mut numbers: Vec<String> = got_a.iter().map(|m| m.metadata["n"].clone()).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 20, "each message once within a group");
    for sub in subs {
        sub.stop(Duration::from_secs(1)).await;
    }
    let _: () = redis::cmd("DEL").arg(&topic).query_async(&mut raw_connection().await).await.unwrap();
}

#[tokio::test]
async fn a_message_not_processed_is_claimed_again() {
    let topic = unique("redeliver");
    let pubsub = RedisStreamsPubSub::open(&config(&[("processingTimeout", "1s"), ("redeliverInterval", "200ms")])).await.unwrap();
    let (handler, mut rx) = recorder(2);
    let sub = pubsub.subscribe(request(&topic, &unique("g")), handler.clone()).await.unwrap();
    pubsub.publish(message(&topic, 7)).await.unwrap();
    for _ in 0..3 {
        assert_eq!(next(&mut rx).await.metadata["n"], "7");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(handler.calls(), 3, "acknowledged after the third call; no more deliveries");
    sub.stop(Duration::from_secs(1)).await;
    let _: () = redis::cmd("DEL").arg(&topic).query_async(&mut raw_connection().await).await.unwrap();
}

#[tokio::test]
async fn max_len_approx_trims_the_stream() {
    let topic = unique("trim");
    let pubsub = RedisStreamsPubSub::open(&config(&[("maxLenApprox", "10")])).await.unwrap();
    for n in 0..500 {
        pubsub.publish(message(&topic, n)).await.unwrap();
    }
    let mut raw = raw_connection().await;
    let len: usize = redis::cmd("XLEN").arg(&topic).query_async(&mut raw).await.unwrap();
    assert!(len < 500, "MAXLEN ~ 10 left {len} entries");
    let _: () = redis::cmd("DEL").arg(&topic).query_async(&mut raw).await.unwrap();
}

#[tokio::test]
async fn a_redis_that_is_down_names_its_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let err =
        RedisStreamsPubSub::open(&config(&[("redisHost", &address), ("redisMaxRetries", "1")])).await.err().expect("nothing listens there");
    let text = err.to_string();
    assert!(matches!(err, BrokerError::Unavailable(_)) && text.contains(&address) && text.contains("Redis"), "{text}");
}

#[tokio::test]
async fn entries_written_as_daprd_writes_them_are_delivered() {
    let topic = unique("from-daprd");
    let mut raw = raw_connection().await;
    // daprd's XADD: `data` (the CloudEvent) and, for an HTTP publish, `metadata` as JSON.
    let _: String = redis::cmd("XADD")
        .arg(&topic)
        .arg("*")
        .arg("data")
        .arg(r#"{"id":"1","specversion":"1.0","data":{"orderId":1}}"#)
        .arg("metadata")
        .arg(r#"{"traceparent":"00-abc"}"#)
        .query_async(&mut raw)
        .await
        .unwrap();
    let pubsub = RedisStreamsPubSub::open(&config(&[])).await.unwrap();
    let (handler, mut rx) = recorder(0);
    let sub = pubsub.subscribe(request(&topic, &unique("g")), handler).await.unwrap();
    let got = next(&mut rx).await;
    assert_eq!(got.data.as_ref(), br#"{"id":"1","specversion":"1.0","data":{"orderId":1}}"#);
    assert_eq!(got.metadata["traceparent"], "00-abc");
    sub.stop(Duration::from_secs(1)).await;
    let _: () = redis::cmd("DEL").arg(&topic).query_async(&mut raw).await.unwrap();
}

/// A hundred drained streams wait in one blocked read; a stream that starts waiting while it is
/// blocked (here for up to 20 s) interrupts it, so its first message is not held up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_streams_share_one_blocked_read_and_one_joining_late_is_not_kept_waiting() {
    let pubsub = RedisStreamsPubSub::open(&config(&[("readTimeout", "20s")])).await.unwrap();
    let group = unique("quiet");
    let topics: Vec<String> = (0..100).map(|i| unique(&format!("quiet-{i}"))).collect();
    let (handler, mut rx) = recorder(0);
    let mut subs = Vec::new();
    for topic in &topics {
        subs.push(pubsub.subscribe(request(topic, &group), handler.clone()).await.unwrap());
        // Let the read block before the next stream joins.
        if subs.len() == 99 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = tokio::time::Instant::now();
    pubsub.publish(message(&topics[99], 1)).await.unwrap();
    assert_eq!(next(&mut rx).await, message(&topics[99], 1));
    assert!(started.elapsed() < Duration::from_secs(2), "the late stream waited {:?} for the blocked read", started.elapsed());
    // Every stream is still read.
    for (n, topic) in topics.iter().enumerate().take(10) {
        pubsub.publish(message(topic, n)).await.unwrap();
        assert_eq!(next(&mut rx).await, message(topic, n));
    }
    for sub in subs {
        sub.stop(Duration::from_secs(1)).await;
    }
    pubsub.close().await;
    let mut raw = raw_connection().await;
    for topic in &topics {
        let _: () = redis::cmd("DEL").arg(topic).query_async(&mut raw).await.unwrap();
    }
}

#[tokio::test]
async fn a_bulk_publish_is_one_pipeline_with_a_result_per_entry_in_order() {
    let topic = unique("bulk");
    let pubsub = RedisStreamsPubSub::open(&config(&[])).await.unwrap();
    let outcomes = pubsub.publish_bulk((0..250).map(|n| message(&topic, n)).collect()).await;
    assert_eq!(outcomes.len(), 250);
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");

    // Every entry stored once, in the order given.
    let mut raw = raw_connection().await;
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE").arg(&topic).arg("-").arg("+").query_async(&mut raw).await.unwrap();
    let stored: Vec<Vec<u8>> = entries.ids.iter().map(|e| redis::from_redis_value::<Vec<u8>>(e.map["data"].clone()).unwrap()).collect();
    let sent: Vec<Vec<u8>> = (0..250).map(|n| message(&topic, n).data.to_vec()).collect();
    assert_eq!(stored, sent);
    let _: () = redis::cmd("DEL").arg(&topic).query_async(&mut raw).await.unwrap();
}

#[tokio::test]
async fn a_bulk_publish_redis_refuses_fails_every_entry_with_redis_reason() {
    // The topic's key holds a string, so Redis refuses each XADD with WRONGTYPE.
    let topic = unique("bulk-wrongtype");
    let mut raw = raw_connection().await;
    let _: () = redis::cmd("SET").arg(&topic).arg("not a stream").query_async(&mut raw).await.unwrap();
    let pubsub = RedisStreamsPubSub::open(&config(&[])).await.unwrap();
    let outcomes = pubsub.publish_bulk((0..3).map(|n| message(&topic, n)).collect()).await;
    assert_eq!(outcomes.len(), 3);
    for outcome in outcomes {
        match outcome {
            Err(BrokerError::Other(reason)) => assert!(reason.contains("WRONGTYPE") && reason.contains(&topic), "{reason}"),
            other => panic!("expected Redis' refusal, got {other:?}"),
        }
    }
    // And a plain publish after it still works on the shared connection.
    let other = unique("bulk-after");
    pubsub.publish(message(&other, 1)).await.unwrap();
    let _: () = redis::cmd("DEL").arg(&topic).arg(&other).query_async(&mut raw).await.unwrap();
}
