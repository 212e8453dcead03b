//! `ssl://` against a Mosquitto of the test's own with a TLS listener whose certificate a CA made
//! here signed: messages flow when `caCert` is that CA, and the component refuses to start,
//! naming the broker, when it is another.

use super::Mqtt3PubSub;
use super::test_broker::{free_port, mosquitto};
use crate::test_support::{next, numbered as message, recorder};
use crate::{BrokerError, ComponentConfig, PubSub, SubscribeRequest};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::time::Duration;

/// A CA's certificate (PEM) and the issuer that signs with its key.
fn certificate_authority() -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

fn config(port: u16, ca_cert: &str) -> ComponentConfig {
    ComponentConfig {
        name: "pubsub".into(),
        component_type: "pubsub.mqtt3".into(),
        metadata: [
            ("url".to_owned(), format!("ssl://127.0.0.1:{port}")),
            ("caCert".to_owned(), ca_cert.to_owned()),
            ("cleanSession".to_owned(), "true".to_owned()),
        ]
        .into(),
        app_id: "checkout".into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ssl_urls_verify_the_broker_against_ca_cert() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, issuer) = certificate_authority();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().signed_by(&server_key, &issuer).unwrap();
    for (file, pem) in [("ca.pem", &ca_pem), ("server.pem", &server_cert.pem()), ("server.key", &server_key.serialize_pem())] {
        std::fs::write(dir.path().join(file), pem).unwrap();
    }
    let port = free_port();
    let tls = format!("cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\n", dir.path().display());
    let _server = mosquitto(port, dir.path(), &tls);

    let pubsub = Mqtt3PubSub::open(&config(port, &ca_pem)).await.expect("TLS to a broker the CA vouches for");
    let (handler, mut rx) = recorder(0);
    let request = SubscribeRequest { topic: "orders".into(), consumer_group: "checkout".into(), max_concurrency: 4, shared_slots: None };
    let subscription = pubsub.subscribe(request, handler).await.unwrap();
    pubsub.publish(message("orders", 1)).await.unwrap();
    assert_eq!(next(&mut rx).await.data, "1");
    subscription.stop(Duration::from_secs(1)).await;
    pubsub.close().await;

    let (other_ca, _) = certificate_authority();
    match Mqtt3PubSub::open(&config(port, &other_ca)).await {
        Err(BrokerError::Unavailable(text)) => assert!(text.contains(&format!("ssl://127.0.0.1:{port}")), "{text}"),
        Err(other) => panic!("expected Unavailable, got {other}"),
        Ok(_) => panic!("a broker another CA vouches for is refused"),
    }
}
