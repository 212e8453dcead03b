//! `pubsub.redis` when Redis is not there: at start the sidecar refuses to run (unless the
//! component says `ignoreErrors`), and when Redis goes away mid-run publishes fail loudly, then
//! publishing and delivery carry on by themselves once it is back, with nothing lost that a
//! publisher was told was published. Runs its own `redis-server` on a free port.

mod common;

use common::inbox::{Inbox, serve};
use common::redis_server::RedisServer;
use common::{SidecarBuilder, free_port};
use dapr_rs_core::app::AppProtocol;
use dapr_rs_core::{Subscription, TopicEventStatus};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const PUBSUB: &str = "orders_pubsub";

fn redis_component(dir: &Path, address: &str, extra: &str) {
    let yaml = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {PUBSUB}\nspec:\n  type: pubsub.redis\n  version: v1\n{extra}  metadata:\n  - name: redisHost\n    value: \"{address}\"\n  - name: processingTimeout\n    value: \"2s\"\n  - name: redeliverInterval\n    value: \"300ms\"\n"
    );
    std::fs::write(dir.join("pubsub.yaml"), yaml).unwrap();
}

fn publish(sc: &common::Sidecar, topic: &str, n: usize) -> (u16, String) {
    sc.http("POST", &format!("/v1.0/publish/{PUBSUB}/{topic}"), &[("content-type", "application/json")], n.to_string().as_bytes())
}

async fn received(inbox: &mut Inbox, count: usize) -> BTreeSet<String> {
    inbox.take(count).await.into_iter().map(|(_, ev)| String::from_utf8_lossy(&ev.data).into_owned()).collect()
}

#[test]
fn a_redis_that_is_down_at_start_stops_the_sidecar_with_component_broker_and_address() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port()); // nothing listens there
    redis_component(dir.path(), &address, "");
    let (code, output) = SidecarBuilder::new("down-at-start", dir.path()).run_to_exit(Duration::from_secs(30));
    assert_eq!(code, Some(1), "{output}");
    for needle in [PUBSUB, "pubsub.redis", address.as_str(), "Redis"] {
        assert!(output.contains(needle), "the error should name {needle:?}:\n{output}");
    }

    // ignoreErrors: the sidecar starts without the component, and says so.
    redis_component(dir.path(), &address, "  ignoreErrors: true\n");
    let (mut sc, logs) = SidecarBuilder::new("down-at-start", dir.path()).start_logged();
    sc.wait_http("/v1.0/healthz", 204, Duration::from_secs(10));
    logs.wait_for(&[PUBSUB, "ignoreErrors"], 1, Duration::from_secs(5));
    let (status, body) = publish(&sc, "orders", 1);
    // The component was left out, so the sidecar has no pubsub at all.
    assert!(status == 400 && body.contains("ERR_PUBSUB_NOT_CONFIGURED"), "{status} {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_fail_while_redis_is_away_and_everything_resumes_when_it_returns() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    redis_component(dir.path(), &redis.address(), "");
    let topic = format!("orders-{}", uuid::Uuid::new_v4());

    // "live" stays up throughout; "offline" is down while Redis restarts and must find its messages.
    let mut live_inbox = Inbox::default();
    let live_app =
        serve(AppProtocol::Grpc, vec![Subscription::new(PUBSUB, &topic, live_inbox.handler("live", TopicEventStatus::Success))]).await;
    let mut live = SidecarBuilder::new("live", dir.path()).app(live_app.local_addr().port(), "grpc").start();
    live.wait_http("/v1.0/healthz", 204, Duration::from_secs(10));
    let mut offline_inbox = Inbox::default();
    let offline_app =
        serve(AppProtocol::Grpc, vec![Subscription::new(PUBSUB, &topic, offline_inbox.handler("offline", TopicEventStatus::Success))])
            .await;
    let offline_builder = || SidecarBuilder::new("offline", dir.path()).app(offline_app.local_addr().port(), "grpc");
    let mut offline = offline_builder().start();
    offline.wait_http("/v1.0/healthz", 204, Duration::from_secs(10));
    let publisher = SidecarBuilder::new("publisher", dir.path()).start();

    for n in 0..5 {
        let (status, body) = publish(&publisher, &topic, n);
        assert_eq!(status, 204, "{body}");
    }
    let first: BTreeSet<String> = (0..5).map(|n| n.to_string()).collect();
    assert_eq!(received(&mut live_inbox, 5).await, first);
    assert_eq!(received(&mut offline_inbox, 5).await, first);

    // Acknowledged while "offline" is away: these must outlive the Redis restart.
    offline.stop();
    for n in 5..10 {
        let (status, body) = publish(&publisher, &topic, n);
        assert_eq!(status, 204, "{body}");
    }
    assert_eq!(received(&mut live_inbox, 5).await, (5..10).map(|n| n.to_string()).collect());

    redis.stop();
    for n in 100..103 {
        let (status, body) = publish(&publisher, &topic, n);
        assert_eq!(status, 500, "a publish while Redis is away must fail: {body}");
        assert!(body.contains("ERR_PUBSUB_PUBLISH_MESSAGE") && body.contains(&redis.address()), "{body}");
    }

    redis.restart();
    for n in 10..15 {
        let (status, body) = publish(&publisher, &topic, n);
        assert_eq!(status, 204, "publishing resumes once Redis is back: {body}");
    }
    assert_eq!(received(&mut live_inbox, 5).await, (10..15).map(|n| n.to_string()).collect(), "the live subscription resumed by itself");
    let mut offline = offline_builder().start();
    offline.wait_http("/v1.0/healthz", 204, Duration::from_secs(10));
    assert_eq!(received(&mut offline_inbox, 10).await, (5..15).map(|n| n.to_string()).collect(), "nothing acknowledged was lost");
    live_inbox.assert_empty_for(Duration::from_millis(500)).await;
    offline_inbox.assert_empty_for(Duration::from_millis(200)).await;
    drop((live, offline, publisher));
}
