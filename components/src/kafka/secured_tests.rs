//! A Kafka of the test's own that asks clients to authenticate (`scripts/kafka/run-secured.sh`: SASL
//! PLAIN and SCRAM with and without TLS, and mutual TLS, its certificates made by openssl in a
//! temporary directory). Every way `authType` can authenticate publishes and delivers through it;
//! a wrong password, a client certificate the broker does not trust, and TLS to a broker whose
//! certificate no `caCert` vouches for each fail `KafkaPubSub::open`, saying why and naming the address.

use super::KafkaPubSub;
use crate::test_support::{numbered, recorder};
use crate::{ComponentConfig, PubSub, SubscribeRequest};
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the broker may take to serve (the JVM and KRaft start in ~10 s on an idle machine).
const START_DEADLINE: Duration = Duration::from_secs(120);

/// The broker (run-secured.sh execs the JVM, so the child is the broker) and its listeners. It is
/// killed and reaped when dropped, also when a step fails; then its folder goes.
struct SecuredKafka {
    broker: Child,
    sasl_plaintext: u16,
    sasl_ssl: u16,
    ssl: u16,
    /// run-secured.sh's certificates (PEM).
    tls: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for SecuredKafka {
    fn drop(&mut self) {
        let _ = self.broker.kill();
        let _ = self.broker.wait();
    }
}

impl SecuredKafka {
    fn start() -> Self {
        let scripts = super::checkout_dir::checkout_dir().join("../scripts/kafka");
        // Nothing here is skipped: a machine without the tools fails, saying what to install.
        let openssl = Command::new("openssl").arg("version").output();
        assert!(
            openssl.is_ok_and(|o| o.status.success()),
            "openssl is needed to make the secured Kafka's certificates, and it does not run: install it (apt-get install openssl)"
        );
        let fetch = Command::new(scripts.join("kafka.sh")).arg("fetch").stdout(Stdio::null()).output().expect("scripts/kafka/kafka.sh");
        assert!(
            fetch.status.success(),
            "Kafka's jars are not cached and `scripts/kafka/kafka.sh fetch` could not fetch them (Java 17+ and Maven needed): {}",
            String::from_utf8_lossy(&fetch.stderr)
        );

        let dir = tempfile::tempdir().unwrap();
        // Five ports held open together, so that no two are the same; released for the broker.
        let held: Vec<TcpListener> = (0..5).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
        let ports: Vec<u16> = held.iter().map(|l| l.local_addr().unwrap().port()).collect();
        drop(held);
        let log = dir.path().join("kafka.log");
        let out = File::create(&log).unwrap();
        let broker = Command::new(scripts.join("run-secured.sh"))
            .args(ports.iter().map(u16::to_string))
            .arg(dir.path().join("kafka"))
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("scripts/kafka/run-secured.sh");
        let mut kafka =
            Self { broker, sasl_plaintext: ports[1], sasl_ssl: ports[2], ssl: ports[3], tls: dir.path().join("kafka/tls"), log, _dir: dir };
        kafka.wait_until_it_serves(&scripts, ports[0]);
        kafka
    }

    /// `kafka.sh ready` on the PLAINTEXT listener (a topic created: the broker serves, not only
    /// listens), given up as soon as the broker is gone or the deadline passed.
    fn wait_until_it_serves(&mut self, scripts: &Path, plaintext: u16) {
        let seconds = START_DEADLINE.as_secs().to_string();
        let mut ready = Command::new(scripts.join("kafka.sh"))
            .args(["ready", &plaintext.to_string(), &seconds])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("scripts/kafka/kafka.sh");
        let started = Instant::now();
        let failure = loop {
            if let Some(status) = ready.try_wait().unwrap() {
                if status.success() {
                    eprintln!("secured Kafka serving after {:.1?}", started.elapsed());
                    return;
                }
                break format!("did not serve within {START_DEADLINE:?}");
            }
            if let Some(status) = self.broker.try_wait().unwrap() {
                let _ = ready.kill();
                let _ = ready.wait();
                break format!("exited ({status}) before it served");
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
        panic!("the secured Kafka (scripts/kafka/run-secured.sh) {failure}; the end of its log:\n{}", tail.join("\n"));
    }

    fn pem(&self, name: &str) -> String {
        std::fs::read_to_string(self.tls.join(name)).unwrap_or_else(|e| panic!("{}/{name}: {e}", self.tls.display()))
    }
}

/// alice, whom run-secured.sh made a user of every SASL mechanism.
const ALICE: [(&str, &str); 3] = [("authType", "password"), ("saslUsername", "alice"), ("saslPassword", "alice-secret")];
const NO_TLS: (&str, &str) = ("disableTls", "true");
/// What librdkafka says when the broker's certificate does not chain to a CA it trusts.
const VERIFY_FAILED: [&str; 2] = ["SSL handshake failed", "certificate verify failed"];

/// A component on 127.0.0.1:`port` with the metadata of `parts` (a later key wins).
fn config(port: u16, parts: &[&[(&str, &str)]]) -> ComponentConfig {
    let brokers = format!("127.0.0.1:{port}");
    let common = [("brokers", brokers.as_str()), ("initialOffset", "oldest")];
    let metadata = common.iter().chain(parts.iter().copied().flatten()).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    ComponentConfig { name: "pubsub".into(), component_type: "pubsub.kafka".into(), metadata, app_id: "checkout".into() }
}

/// `step` (also its topic and consumer group) opens the component, subscribes, publishes and
/// sees its message delivered: the credentials work for the producer, the admin client and the
/// consumer group alike.
async fn publishes_and_delivers(step: &str, config: ComponentConfig) {
    let started = Instant::now();
    let pubsub = KafkaPubSub::open(&config).await.unwrap_or_else(|e| panic!("{step}: the component did not open: {e}"));
    let (handler, mut rx) = recorder(0);
    let request = SubscribeRequest { topic: step.into(), consumer_group: step.into(), max_concurrency: 1, shared_slots: None };
    let subscription = pubsub.subscribe(request, handler).await.unwrap_or_else(|e| panic!("{step}: subscribing failed: {e}"));
    pubsub.publish(numbered(step, 7)).await.unwrap_or_else(|e| panic!("{step}: publishing failed: {e}"));
    let delivered = tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("{step}: published, but nothing was delivered within 15 s"))
        .expect("the handler lives");
    assert_eq!((delivered.topic.as_str(), delivered.data.as_ref()), (step, b"7".as_ref()), "{step}: the message delivered");
    subscription.stop(Duration::from_secs(1)).await;
    pubsub.close().await;
    eprintln!("{step}: published and delivered in {:.1?}", started.elapsed());
}

/// `step` fails `KafkaPubSub::open`, with an error naming the address and saying each of `says`.
async fn refused(step: &str, mut config: ComponentConfig, says: &[&str]) {
    // Quickly: the component's connect timeout is its session timeout. (Only here: a consumer group
    // takes no session timeout under the broker's group.min.session.timeout.ms, 6 s.)
    config.metadata.extend([("sessionTimeout".to_owned(), "3s".to_owned()), ("heartbeatInterval".to_owned(), "1s".to_owned())]);
    let started = Instant::now();
    let address = config.metadata["brokers"].clone();
    let err = match KafkaPubSub::open(&config).await {
        Ok(_) => panic!("{step}: the component opened, but Kafka should have refused it"),
        Err(e) => e.to_string(),
    };
    eprintln!("{step}: refused in {:.1?}: {err}", started.elapsed());
    assert!(err.contains(&address), "{step}: the error names {address}: {err}");
    for what in says {
        assert!(err.contains(what), "{step}: the error says {what:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_auth_type_publishes_and_delivers_and_bad_credentials_are_refused_saying_why() {
    let kafka = SecuredKafka::start();
    let started = Instant::now();
    let (sasl, tls, ssl) = (kafka.sasl_plaintext, kafka.sasl_ssl, kafka.ssl);
    let (ca, untrusted_ca) = (kafka.pem("ca.pem"), kafka.pem("untrusted-ca.pem"));
    let client = [("authType", "mtls"), ("clientCert", &kafka.pem("client.pem")), ("clientKey", &kafka.pem("client.key"))];
    let untrusted_client =
        [("authType", "mtls"), ("clientCert", &kafka.pem("untrusted-client.pem")), ("clientKey", &kafka.pem("untrusted-client.key"))];

    publishes_and_delivers("sasl-plain", config(sasl, &[&ALICE, &[("saslMechanism", "PLAIN"), NO_TLS]])).await;
    publishes_and_delivers("scram-sha-256", config(sasl, &[&ALICE, &[("saslMechanism", "SHA-256"), NO_TLS]])).await;
    publishes_and_delivers("scram-sha-512", config(sasl, &[&ALICE, &[("saslMechanism", "SHA-512"), NO_TLS]])).await;
    // TLS verified: the broker's certificate chains to caCert and names 127.0.0.1.
    publishes_and_delivers("scram-sha-512-over-tls", config(tls, &[&ALICE, &[("saslMechanism", "SHA-512"), ("caCert", &ca)]])).await;
    // No caCert: the test's CA is in no trust store, so only skipVerify lets the handshake through.
    // No saslMechanism: PLAIN, the default.
    publishes_and_delivers("sasl-over-tls-skip-verify", config(tls, &[&ALICE, &[("skipVerify", "true")]])).await;
    publishes_and_delivers("mtls", config(ssl, &[&client, &[("caCert", &ca)]])).await;

    // The refusals together: each waits out the 3 s connect timeout.
    let wrong_password = [("saslPassword", "not-alice-secret"), ("saslMechanism", "SHA-512"), NO_TLS];
    tokio::join!(
        refused("wrong-password", config(sasl, &[&ALICE, &wrong_password]), &["SASL authentication error", "invalid credentials"]),
        refused("untrusted-client-certificate", config(ssl, &[&untrusted_client, &[("caCert", &ca)]]), &["SSL", "bad certificate"]),
        refused("wrong-ca-cert", config(tls, &[&ALICE, &[("caCert", &untrusted_ca)]]), &VERIFY_FAILED),
        // What skipVerify did above: without it (and without caCert) the same connection fails.
        refused("tls-without-ca-cert-or-skip-verify", config(tls, &[&ALICE]), &VERIFY_FAILED),
    );
    eprintln!("every case done {:.1?} after the broker served", started.elapsed());
}
