//! The component's one MQTT connection and the task that drives it: it hands incoming messages
//! to the subscription of their topic, tells each publish when the broker acknowledged it
//! (PUBACK, or PUBCOMP at QoS 2) and each subscribe when the broker granted it (SUBACK), and
//! connects again by itself after the broker went away, subscribing again to every topic.
//!
//! rumqttc reports a packet id only once a request is on the wire (`Outgoing::Publish(pkid)`),
//! in the order requests were queued; so a request and its waiter are queued together under one
//! lock, and the first waiter in line takes the next packet id. When the connection breaks,
//! every waiter is told it failed and rumqttc's queued publishes and subscribes are dropped (a
//! failed publish is never sent later behind the caller's back; subscriptions are renewed on the
//! next CONNACK), which keeps that order intact.

use super::settings::Settings;
use crate::BrokerError;
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, Incoming, Outgoing, Publish, QoS, Request, SubscribeReasonCode};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Requests queued for the connection task at most.
const REQUEST_CAPACITY: usize = 10_000;

type Waiter = oneshot::Sender<Result<(), String>>;

pub(super) struct Session {
    pub settings: Arc<Settings>,
    pub client: AsyncClient,
    inner: Mutex<Inner>,
    closed: CancellationToken,
    driver: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Default)]
struct Inner {
    connected: bool,
    /// Publishes queued, not yet on the wire (their packet ids are not known yet).
    queued_publishes: VecDeque<Waiter>,
    /// Publishes on the wire awaiting the broker's acknowledgement, by packet id.
    sent_publishes: HashMap<u16, Waiter>,
    /// Subscribes queued; `None` for those the connection task renews by itself.
    queued_subscribes: VecDeque<Option<Waiter>>,
    sent_subscribes: HashMap<u16, Option<Waiter>>,
    /// The subscription of each topic: the filter subscribed to and where its messages go.
    routes: HashMap<String, Route>,
    /// Messages of a topic nobody subscribes to (yet): a persistent session hands out what it
    /// kept as soon as the sidecar connects, before the app's subscriptions are made.
    unclaimed: HashMap<String, Vec<Publish>>,
}

struct Route {
    filter: String,
    messages: mpsc::UnboundedSender<Publish>,
}

impl Session {
    /// Connects (waiting for the broker's CONNACK), then drives the connection in a task of its own.
    pub async fn connect(settings: Arc<Settings>, client_id: String) -> Result<Arc<Self>, BrokerError> {
        let mut options = rumqttc::MqttOptions::new(client_id, settings.host.clone(), settings.port);
        options
            .set_clean_session(settings.clean_session)
            .set_manual_acks(true)
            .set_keep_alive(Duration::from_secs(30))
            // MQTT's own limit (256 MiB): the broker's limit is the one that counts.
            .set_max_packet_size(268_435_455, 268_435_455);
        if let Some(username) = &settings.username {
            options.set_credentials(username.clone(), settings.password.clone().unwrap_or_default());
        }
        if let Some(tls) = &settings.tls {
            options.set_transport(super::tls::transport(tls)?);
        }
        let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
        eventloop.network_options.set_connection_timeout(settings.connect_timeout.as_secs().max(1));
        let unavailable = |why: String| BrokerError::Unavailable(format!("cannot connect to MQTT broker at {}: {why}", settings.address));
        match tokio::time::timeout(settings.connect_timeout, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Incoming::ConnAck(_)))) => {}
            Ok(Ok(other)) => return Err(unavailable(format!("expected CONNACK, got {other:?}"))),
            Ok(Err(err)) => return Err(unavailable(err.to_string())),
            Err(_) => return Err(unavailable(format!("no answer within {:?}", settings.connect_timeout))),
        }
        let session = Arc::new(Self {
            settings,
            client,
            inner: Mutex::new(Inner { connected: true, ..Default::default() }),
            closed: CancellationToken::new(),
            driver: Mutex::new(None),
        });
        let driver = tokio::spawn(session.clone().drive(eventloop));
        *session.driver.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(driver);
        Ok(session)
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publishes and waits for the broker's acknowledgement (at QoS 0: until it is written).
    pub async fn publish(&self, topic: &str, payload: Vec<u8>, retain: bool) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        {
            let mut inner = self.inner();
            if !inner.connected {
                return Err("not connected (the broker is away; reconnecting)".into());
            }
            self.client.try_publish(topic, self.settings.qos, retain, payload).map_err(|e| e.to_string())?;
            inner.queued_publishes.push_back(tx);
        }
        self.answer(rx).await
    }

    /// Subscribes `filter` for `topic`'s messages and waits until the broker granted it. What
    /// arrived for the topic before is handed over first.
    pub async fn subscribe(&self, topic: &str, filter: String, messages: mpsc::UnboundedSender<Publish>) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        {
            let mut inner = self.inner();
            for publish in inner.unclaimed.remove(topic).unwrap_or_default() {
                let _ = messages.send(publish);
            }
            inner.routes.insert(topic.to_owned(), Route { filter: filter.clone(), messages });
            if !inner.connected {
                return Err("not connected (the broker is away; reconnecting)".into());
            }
            self.client.try_subscribe(filter, self.settings.qos).map_err(|e| e.to_string())?;
            inner.queued_subscribes.push_back(Some(tx));
        }
        let granted = self.answer(rx).await;
        if granted.is_err() {
            self.inner().routes.remove(topic);
        }
        granted
    }

    /// Stops routing `topic`'s messages; with a clean session also leaves the subscription (a
    /// persistent session keeps it, so the broker keeps its messages for the next start).
    pub async fn unsubscribe(&self, topic: &str) {
        let route = self.inner().routes.remove(topic);
        if let Some(route) = route
            && self.settings.clean_session
            && let Err(err) = self.client.unsubscribe(route.filter).await
        {
            tracing::debug!(%topic, %err, "pubsub.mqtt3: unsubscribing failed");
        }
    }

    async fn answer(&self, rx: oneshot::Receiver<Result<(), String>>) -> Result<(), String> {
        match tokio::time::timeout(self.settings.wait, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err("the connection was closed".into()),
            Err(_) => Err(format!("no answer from the broker within {:?}", self.settings.wait)),
        }
    }

    /// Sends DISCONNECT (a persistent session stays with the broker) and ends the connection task.
    pub async fn close(&self) {
        let driver = self.driver.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if self.client.try_disconnect().is_ok()
            && let Some(driver) = driver
        {
            let abort = driver.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), driver).await.is_err() {
                abort.abort();
            }
        }
        self.closed.cancel();
    }

    async fn drive(self: Arc<Self>, mut eventloop: EventLoop) {
        let mut failures = 0u32;
        loop {
            let event = tokio::select! {
                biased;
                () = self.closed.cancelled() => return,
                event = eventloop.poll() => event,
            };
            match event {
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(event) => {
                    if failures > 0 && matches!(event, Event::Incoming(Incoming::ConnAck(_))) {
                        tracing::info!(address = %self.settings.address, "pubsub.mqtt3: connected again");
                        failures = 0;
                        self.renew_subscriptions();
                    }
                    self.on_event(event);
                }
                Err(ConnectionError::RequestsDone) => return,
                Err(err) => {
                    failures += 1;
                    self.on_connection_lost(&mut eventloop);
                    if failures == 1 {
                        tracing::warn!(address = %self.settings.address, %err, "pubsub.mqtt3: connection lost; reconnecting until the broker answers");
                    } else {
                        tracing::debug!(address = %self.settings.address, %err, failures, "pubsub.mqtt3: still cannot connect");
                    }
                    let backoff = FIRST_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(8)).min(MAX_BACKOFF);
                    tokio::select! {
                        () = self.closed.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                }
            }
        }
    }

    fn on_event(&self, event: Event) {
        let mut inner = self.inner();
        match event {
            Event::Incoming(Incoming::ConnAck(_)) => inner.connected = true,
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                if let Some(waiter) = inner.queued_publishes.pop_front() {
                    if self.settings.qos == QoS::AtMostOnce {
                        let _ = waiter.send(Ok(()));
                    } else {
                        inner.sent_publishes.insert(pkid, waiter);
                    }
                }
            }
            Event::Incoming(Incoming::PubAck(ack)) => resolve(&mut inner.sent_publishes, ack.pkid),
            Event::Incoming(Incoming::PubComp(comp)) => resolve(&mut inner.sent_publishes, comp.pkid),
            Event::Outgoing(Outgoing::Subscribe(pkid)) => {
                if let Some(waiter) = inner.queued_subscribes.pop_front() {
                    inner.sent_subscribes.insert(pkid, waiter);
                }
            }
            Event::Incoming(Incoming::SubAck(ack)) => {
                if let Some(Some(waiter)) = inner.sent_subscribes.remove(&ack.pkid) {
                    let refused = ack.return_codes.iter().any(|code| matches!(code, SubscribeReasonCode::Failure));
                    let _ = waiter.send(if refused { Err("the broker refused the subscription".into()) } else { Ok(()) });
                }
            }
            Event::Incoming(Incoming::Publish(publish)) => match inner.routes.get(&publish.topic) {
                Some(route) => {
                    let _ = route.messages.send(publish);
                }
                None => inner.unclaimed.entry(publish.topic.clone()).or_default().push(publish),
            },
            _ => {}
        }
    }

    /// Fails every waiter and drops the publishes and subscribes rumqttc kept for the next
    /// connection (see the module comment).
    fn on_connection_lost(&self, eventloop: &mut EventLoop) {
        let mut guard = self.inner();
        let inner = &mut *guard;
        inner.connected = false;
        // Also moves what callers queued since the error into `pending`, under the lock they queue under.
        eventloop.clean();
        eventloop.pending.retain(|request| !matches!(request, Request::Publish(_) | Request::Subscribe(_) | Request::Unsubscribe(_)));
        let lost = "the connection to the broker was lost".to_owned();
        for waiter in inner.queued_publishes.drain(..).chain(inner.sent_publishes.drain().map(|(_, w)| w)) {
            let _ = waiter.send(Err(lost.clone()));
        }
        for waiter in inner.queued_subscribes.drain(..).chain(inner.sent_subscribes.drain().map(|(_, w)| w)).flatten() {
            let _ = waiter.send(Err(lost.clone()));
        }
    }

    /// After a reconnect: subscribes again to every topic (a clean session forgot them).
    fn renew_subscriptions(&self) {
        let mut inner = self.inner();
        let filters: Vec<String> = inner.routes.values().map(|route| route.filter.clone()).collect();
        for filter in filters {
            match self.client.try_subscribe(filter.clone(), self.settings.qos) {
                Ok(()) => inner.queued_subscribes.push_back(None),
                Err(err) => tracing::warn!(%filter, %err, "pubsub.mqtt3: cannot subscribe again"),
            }
        }
    }
}

fn resolve(sent: &mut HashMap<u16, Waiter>, pkid: u16) {
    if let Some(waiter) = sent.remove(&pkid) {
        let _ = waiter.send(Ok(()));
    }
}
