//! Removing what a case left on a shared broker that keeps things for absent apps (queues that
//! outlive their consumers, persistent MQTT sessions), so `make test` run after run does not pile
//! them up. Best effort: a broker that is gone by then is left as it is.

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use std::time::Duration;

/// What a case made on the broker: its app ids (sidecars' consumer ids) and every name it made
/// (app ids and topics alike).
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub app_ids: Vec<String>,
    pub names: Vec<String>,
}

/// Runs `cleanup` to completion on a runtime of its own (a case's `Drop` cannot await).
fn blocking(cleanup: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(10), cleanup).await })
    })
    .join();
}

/// RabbitMQ at `uri`: every `{app id}-{topic}` queue and every topic's exchange (deleting what
/// does not exist is a no-op for RabbitMQ).
pub fn rabbitmq(uri: &'static str, names: &Names) {
    {
        let names = names.clone();
        blocking(async move {
            let Ok(connection) = lapin::Connection::connect(uri, Default::default()).await else { return };
            let Ok(channel) = connection.create_channel().await else { return };
            for app_id in &names.app_ids {
                for topic in &names.names {
                    let queue = format!("{app_id}-{topic}");
                    let _ = channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await;
                }
            }
            for topic in &names.names {
                let _ = channel.exchange_delete(topic.as_str().into(), ExchangeDeleteOptions::default()).await;
            }
            let _ = connection.close(200, "conformance case done".into()).await;
        });
    }
}

/// MQTT at `host:port`: a clean connection under each app id's client id ends the session the
/// broker kept.
pub fn mqtt_sessions(host: &'static str, port: u16, names: &Names) {
    {
        let app_ids = names.app_ids.clone();
        blocking(async move {
            for client_id in app_ids {
                let mut options = rumqttc::MqttOptions::new(client_id, host, port);
                options.set_clean_session(true);
                let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
                if !matches!(eventloop.poll().await, Ok(rumqttc::Event::Incoming(rumqttc::Incoming::ConnAck(_)))) {
                    return;
                }
                let _ = client.disconnect().await;
                while let Ok(event) = eventloop.poll().await {
                    if matches!(event, rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                        break;
                    }
                }
            }
        });
    }
}
