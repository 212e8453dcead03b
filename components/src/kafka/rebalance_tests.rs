//! Members of one consumer group come and go on the shared Kafka (127.0.0.1:9092, started by
//! scripts/start-brokers.sh) while records flow through a topic of 4 partitions: B joins, C joins
//! and is then dropped mid-flight as a crash drops it, A stops and closes. No record is lost to a
//! rebalance, and each member takes each key's records in order (as rebalance_log.rs defines and
//! checks it, from the log of handler calls).

use super::KafkaPubSub;
use super::rebalance_log::{Call, Calls, Member, Outcome, examine};
use crate::{BrokerMessage, ComponentConfig, MessageHandler, NotProcessed, PubSub, SubscribeRequest, Subscription};
use async_trait::async_trait;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

const BROKERS: &str = "127.0.0.1:9092";
const PARTITIONS: i32 = 4;
const KEYS: u32 = 16;
/// Records per key, numbered from 0.
const PER_KEY: u32 = 200;
/// The pause between publishing rounds (one record of every key each): publishing lasts seconds.
const PACE: Duration = Duration::from_millis(25);
/// Numbers n with `n % REFUSE_EVERY == REFUSED` are refused at their first attempt, by any member.
const REFUSE_EVERY: u32 = 40;
const REFUSED: u32 = 7;
/// Records taken from Kafka and not yet handled, per member: many are in flight when partitions move.
const IN_FLIGHT: usize = 32;
/// How long one step with Kafka may take: a topic, a join (a rebalance), a stop.
const STEP: Duration = Duration::from_secs(20);
/// Member C's calls that succeed before the rest hang.
const C_CALLS: usize = 20;
/// How long every record may take to be handled once the last one is published.
const COMPLETE_WITHIN: Duration = Duration::from_secs(40);

struct Handler {
    member: Member,
    calls: Arc<Calls>,
    stall: Option<Stall>,
}

/// Member C's calls hang from its `after`-th on, and say so: its crash then surely finds records
/// in its handler, taken from Kafka and not handled.
struct Stall {
    after: usize,
    calls: AtomicUsize,
    stalled: watch::Sender<bool>,
}

#[async_trait]
impl MessageHandler for Handler {
    async fn handle(&self, msg: BrokerMessage) -> Result<(), NotProcessed> {
        let text = String::from_utf8_lossy(&msg.data);
        let (key, seq) = text.split_once(' ').and_then(|(k, s)| Some((k.parse().ok()?, s.parse().ok()?))).expect("\"<key> <seq>\"");
        let partition = msg.metadata.get("__partition").and_then(|p| p.parse().ok()).expect("__partition");
        let offset = msg.metadata.get("__offset").and_then(|o| o.parse().ok()).expect("__offset");
        let mut call = Call { member: self.member, key, seq, partition, offset, outcome: Outcome::Hung };
        if let Some(stall) = &self.stall
            && stall.calls.fetch_add(1, Ordering::SeqCst) >= stall.after
        {
            self.calls.log.lock().unwrap().push(call);
            stall.stalled.send_replace(true);
            std::future::pending::<()>().await
        }
        // Long enough that records are in flight when partitions move.
        tokio::time::sleep(Duration::from_millis(1 + u64::from(seq % 3))).await;
        let refuse = seq % REFUSE_EVERY == REFUSED && self.calls.refused.lock().unwrap().insert((key, seq));
        call.outcome = if refuse { Outcome::Refused } else { Outcome::Handled };
        self.calls.log.lock().unwrap().push(call);
        if refuse { Err(NotProcessed("refused at its first attempt".into())) } else { Ok(()) }
    }
}

/// `strategy`: `consumerGroupRebalanceStrategy`, "range" (eager, daprd's default) or "sticky"
/// (here librdkafka's cooperative-sticky: only what has to move is revoked).
pub(super) fn config(group: &str, strategy: &str) -> ComponentConfig {
    let metadata = [
        ("brokers", BROKERS),
        ("authType", "none"),
        ("initialOffset", "oldest"),
        ("consumerGroup", group),
        ("consumerGroupRebalanceStrategy", strategy),
        // Quick rebalances, and quick retries of a refused record.
        ("sessionTimeout", "6s"),
        ("heartbeatInterval", "1s"),
        ("backOffDuration", "100ms"),
    ];
    let metadata = metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    ComponentConfig { name: "pubsub".into(), component_type: "pubsub.kafka".into(), metadata, app_id: "rebalance".into() }
}

fn record(topic: &str, key: u32, seq: u32) -> BrokerMessage {
    BrokerMessage {
        topic: topic.into(),
        data: format!("{key} {seq}").into(),
        metadata: [("partitionKey".into(), format!("key-{key}"))].into(),
    }
}

pub(super) async fn within<T>(limit: Duration, what: &str, step: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, step).await.unwrap_or_else(|_| panic!("{what}: not done within {limit:?}"))
}

async fn open(config: &ComponentConfig, who: &str) -> KafkaPubSub {
    within(STEP, &format!("{who} opening"), KafkaPubSub::open(config)).await.unwrap_or_else(|e| panic!("{who} opens: {e}"))
}

fn admin() -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", BROKERS).create().expect("an admin client")
}

/// The component would make the topic with the broker's default of one partition.
async fn create_topic(admin: &AdminClient<DefaultClientContext>, topic: &str) {
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let created =
        within(STEP, "creating the topic", admin.create_topics([&NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1))], &options))
            .await
            .expect("Kafka on 127.0.0.1:9092 (scripts/start-brokers.sh) answers");
    assert!(created.iter().all(Result::is_ok), "{topic} with {PARTITIONS} partitions: {created:?}");
}

async fn join(pubsub: &KafkaPubSub, topic: &str, handler: Handler) -> Box<dyn Subscription> {
    let request =
        SubscribeRequest { topic: topic.into(), consumer_group: "(consumerGroup)".into(), max_concurrency: IN_FLIGHT, shared_slots: None };
    let member = handler.member;
    within(STEP, &format!("{member:?} joining"), pubsub.subscribe(request, Arc::new(handler))).await.expect("the member subscribes")
}

fn handler(member: Member, calls: &Arc<Calls>) -> Handler {
    Handler { member, calls: calls.clone(), stall: None }
}

/// Member C, on a runtime of its own: shutting that down drops its tasks wherever they are (handler
/// calls, records queued, retries waiting) with no stop and no close, as a crash would. The
/// component's Drop then closes its consumer, which commits what was stored, and leaves the group.
/// Returns once C's calls hang.
async fn crashable_member(config: &ComponentConfig, topic: &str, calls: &Arc<Calls>) -> tokio::runtime::Runtime {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime");
    let (stalled_tx, mut stalled) = watch::channel(false);
    let stall = Stall { after: C_CALLS, calls: AtomicUsize::new(0), stalled: stalled_tx };
    let (joined_tx, joined) = oneshot::channel();
    let handler = Handler { stall: Some(stall), ..handler(Member::C, calls) };
    let (config, topic) = (config.clone(), topic.to_owned());
    runtime.spawn(async move {
        let pubsub = open(&config, "C").await;
        let subscription = join(&pubsub, &topic, handler).await;
        let _ = joined_tx.send(());
        let _until_the_crash = (pubsub, subscription);
        std::future::pending::<()>().await
    });
    within(STEP, "C joining", joined).await.expect("member C subscribes");
    within(STEP, "C's calls hanging", stalled.wait_for(|s| *s)).await.expect("member C runs");
    runtime
}

/// Waits until `member` refuses a record logged at `from` or later: its partition is then waiting
/// out the back-off, the refused record taken from Kafka and not handled.
async fn next_refusal(calls: &Calls, member: Member, from: usize) {
    let refused = || calls.log.lock().unwrap()[from..].iter().any(|c| c.member == member && c.outcome == Outcome::Refused);
    within(STEP, &format!("{member:?} refusing a record"), async {
        while !refused() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}

/// Publishes PER_KEY rounds of one record per key; a key's records one after the other, so their
/// order in the partition is their numbers'. Tells how many rounds are done.
async fn publish_rounds(publisher: Arc<KafkaPubSub>, topic: String, rounds: watch::Sender<u32>) {
    for seq in 0..PER_KEY {
        for published in futures::future::join_all((0..KEYS).map(|key| publisher.publish(record(&topic, key, seq)))).await {
            published.expect("Kafka takes every record");
        }
        rounds.send_replace(seq + 1);
        tokio::time::sleep(PACE).await;
    }
}

async fn after_round(rounds: &mut watch::Receiver<u32>, round: u32) {
    within(STEP, &format!("publishing round {round}"), rounds.wait_for(|r| *r >= round)).await.expect("the publisher runs");
}

/// Whether every record was handled within `limit`.
async fn all_handled(calls: &Calls, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while calls.unique_successes() < (KEYS * PER_KEY) as usize {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread")]
async fn eager_rebalances_lose_no_uncommitted_record_and_keep_each_partition_in_order() {
    members_come_and_go("range").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cooperative_rebalances_lose_no_uncommitted_record_and_keep_each_partition_in_order() {
    members_come_and_go("sticky").await;
}

async fn members_come_and_go(strategy: &str) {
    let started = Instant::now();
    let id = uuid::Uuid::new_v4().simple();
    let (topic, config) = (format!("rebalance-{id}"), config(&format!("rebalance-group-{id}"), strategy));
    let admin = admin();
    create_topic(&admin, &topic).await;
    let calls = Arc::new(Calls::default());

    let a = open(&config, "A").await;
    let a_subscription = join(&a, &topic, handler(Member::A, &calls)).await;
    let publisher = Arc::new(open(&config, "the publisher").await);
    let (rounds_tx, mut rounds) = watch::channel(0);
    let publishing = tokio::spawn(publish_rounds(publisher.clone(), topic.clone(), rounds_tx));

    // B joins: A's partitions are revoked while A holds records, and shared out again.
    after_round(&mut rounds, PER_KEY / 5).await;
    let b = open(&config, "B").await;
    let b_subscription = join(&b, &topic, handler(Member::B, &calls)).await;
    // C joins, then crashes in the middle of handler calls: what it had not handled goes to others.
    after_round(&mut rounds, 2 * PER_KEY / 5).await;
    let c = crashable_member(&config, &topic, &calls).await;
    c.shutdown_background();
    // A stops while a record it refused waits for its retry, and leaves: B takes every partition,
    // that record too.
    after_round(&mut rounds, 3 * PER_KEY / 5).await;
    next_refusal(&calls, Member::A, calls.snapshot().len()).await;
    within(STEP, "A stopping", a_subscription.stop(Duration::from_millis(500))).await;
    let a_stopped = calls.snapshot().len();
    // As the sidecar does: the stopped subscription goes, then the component closes and goes.
    drop(a_subscription);
    within(STEP, "A closing", a.close()).await;
    drop(a);
    within(STEP, "publishing", publishing).await.expect("every record is published");
    let published = started.elapsed();

    let complete = all_handled(&calls, COMPLETE_WITHIN).await;
    let handled = started.elapsed();
    within(STEP, "B stopping", b_subscription.stop(Duration::from_secs(1))).await;
    within(STEP, "B closing", b.close()).await;
    within(STEP, "the publisher closing", publisher.close()).await;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let _ = within(STEP, "deleting the topic", admin.delete_topics(&[&topic], &options)).await;

    let calls = calls.snapshot();
    let findings = examine(&calls, KEYS, PER_KEY);
    println!(
        "rebalance ({strategy}): {} published over {KEYS} keys in {published:?}; {} handled ({} successes: {} duplicates, {} records \
         handled by two members) after {handled:?}; {} breaks of order; {:?}; {:?} in all",
        KEYS * PER_KEY,
        findings.unique,
        findings.successes,
        findings.successes - findings.unique,
        findings.shared,
        findings.disorder.len(),
        findings.members,
        started.elapsed(),
    );
    assert!(complete && findings.missing.is_empty(), "records never handled, by key: {:?}", findings.missing);
    assert!(
        findings.disorder.is_empty(),
        "{} breaks of order, the first: {:#?}",
        findings.disorder.len(),
        &findings.disorder[..findings.disorder.len().min(20)]
    );
    let late: Vec<&Call> = calls[a_stopped..].iter().filter(|c| c.member == Member::A).collect();
    assert!(late.is_empty(), "A's handler was called after its subscription stopped: {late:?}");
    // The scenario happened: every member handled records, partitions moved mid-stream, and
    // refused records were retried.
    for member in [Member::A, Member::B, Member::C] {
        assert!(findings.members.get(&member).is_some_and(|t| t.successes > 0), "{member:?} handled nothing: {:?}", findings.members);
    }
    assert!(findings.members.values().map(|t| t.takeovers).sum::<usize>() > 0, "no partition moved mid-stream");
    assert!(findings.members.values().map(|t| t.refusals).sum::<usize>() > 0, "nothing was refused");
}
