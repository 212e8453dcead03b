//! The app side of a test: core's `AppServer`, whose handlers each put what they get, labelled,
//! into one inbox the test reads.

use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{Subscription, TopicEvent, TopicEventStatus, TopicHandler, handler_fn};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

pub struct Inbox {
    tx: mpsc::UnboundedSender<(String, TopicEvent)>,
    rx: mpsc::UnboundedReceiver<(String, TopicEvent)>,
}

impl Default for Inbox {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { tx, rx }
    }
}

impl Inbox {
    /// A handler that files each event under `label` and answers `answer`.
    pub fn handler(&self, label: &str, answer: TopicEventStatus) -> Arc<dyn TopicHandler> {
        let (tx, label) = (self.tx.clone(), label.to_owned());
        handler_fn(move |ev: TopicEvent| {
            let _ = tx.send((label.clone(), ev));
            async move { Ok(answer) }
        })
    }

    pub async fn next(&mut self) -> (String, TopicEvent) {
        tokio::time::timeout(Duration::from_secs(15), self.rx.recv()).await.expect("an event within 15 s").unwrap()
    }

    /// The next `n` events, in arrival order.
    pub async fn take(&mut self, n: usize) -> Vec<(String, TopicEvent)> {
        let mut got = Vec::with_capacity(n);
        for _ in 0..n {
            got.push(self.next().await);
        }
        got
    }

    /// Asserts that nothing arrives within `wait`.
    pub async fn assert_empty_for(&mut self, wait: Duration) {
        if let Ok(Some((label, ev))) = tokio::time::timeout(wait, self.rx.recv()).await {
            panic!("expected nothing, got an event for {label}: {ev:?}");
        }
    }
}

/// Serves `subscriptions` on a free loopback port.
pub async fn serve(protocol: AppProtocol, subscriptions: Vec<Subscription>) -> AppServer {
    let addr = "127.0.0.1:0".parse().unwrap(); // the OS picks the port; no race with other tests
    AppServer::start_with_token(protocol, addr, subscriptions, None).await.unwrap()
}

pub fn protocol_flag(protocol: AppProtocol) -> &'static str {
    match protocol {
        AppProtocol::Grpc => "grpc",
        AppProtocol::Http => "http",
    }
}
