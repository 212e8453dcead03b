//! Wake-ups across processes. Each `SqlitePubSub` binds one UDP socket on 127.0.0.1; its
//! subscriptions register that port per topic in the `listeners` table, and a publisher, once its
//! batch has committed, sends every registered port one datagram naming the topic. A ring is only a
//! hint: a lost datagram costs latency (until the component's lease watcher, see `mod.rs`, finds
//! the messages), never a message.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Per topic, each subscription's id, consumer group and the Notify that wakes its loop.
type Waiters = HashMap<String, Vec<(u64, String, Arc<Notify>)>>;

/// The receiving side: wakes this instance's subscriptions of the topic a datagram names.
pub(super) struct Doorbell {
    port: u16,
    waiters: Mutex<Waiters>,
}

impl Doorbell {
    /// Binds the socket and starts the task that reads it until `stop` is cancelled.
    pub async fn bind(stop: CancellationToken) -> std::io::Result<Arc<Self>> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let doorbell = Arc::new(Self { port: socket.local_addr()?.port(), waiters: Mutex::default() });
        let weak = Arc::downgrade(&doorbell);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let len = tokio::select! {
                    _ = stop.cancelled() => return,
                    received = socket.recv_from(&mut buf) => match received {
                        Ok((len, _)) => len,
                        // Transient (e.g. an ICMP error from an earlier send); pause so a lasting
                        // one cannot spin: subscribers still have their fallback timer.
                        Err(err) => {
                            tracing::debug!(%err, "pubsub.sqlite doorbell receive failed");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let Some(doorbell) = weak.upgrade() else { return };
                doorbell.wake(&buf[..len]);
            }
        });
        Ok(doorbell)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts waking `notify` for datagrams naming `topic`, and for work found for its group.
    pub fn register(&self, topic: &str, group: &str, subscription: u64, notify: Arc<Notify>) {
        let mut waiters = self.waiters.lock().expect("doorbell lock");
        waiters.entry(topic.to_owned()).or_default().push((subscription, group.to_owned(), notify));
    }

    pub fn unregister(&self, topic: &str, subscription: u64) {
        let mut waiters = self.waiters.lock().expect("doorbell lock");
        if let Some(list) = waiters.get_mut(topic) {
            list.retain(|(id, _, _)| *id != subscription);
            if list.is_empty() {
                waiters.remove(topic);
            }
        }
    }

    fn wake(&self, datagram: &[u8]) {
        let waiters = self.waiters.lock().expect("doorbell lock");
        if let Some(list) = std::str::from_utf8(datagram).ok().and_then(|topic| waiters.get(topic)) {
            list.iter().for_each(|(_, _, notify)| notify.notify_one());
        }
    }

    /// Wakes this instance's subscriptions of each (topic, group).
    pub fn wake_groups(&self, groups: &[(String, String)]) {
        let waiters = self.waiters.lock().expect("doorbell lock");
        for (topic, group) in groups {
            for (_, _, notify) in waiters.get(topic).into_iter().flatten().filter(|(_, g, _)| g == group) {
                notify.notify_one();
            }
        }
    }
}

/// The sending side, owned by the store thread.
pub(super) struct Ringer {
    socket: Option<StdUdpSocket>,
}

impl Ringer {
    pub fn new() -> Self {
        let socket = StdUdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|s| s.set_nonblocking(true).map(|()| s));
        if let Err(err) = &socket {
            tracing::warn!(%err, "pubsub.sqlite cannot send wake-ups; subscribers fall back to their redeliver interval");
        }
        Self { socket: socket.ok() }
    }

    /// Tells the listener on `port` that `topic` has new messages.
    pub fn ring(&self, port: u16, topic: &str) {
        if let Some(socket) = &self.socket {
            // A dead listener's port just drops the datagram.
            let _ = socket.send_to(topic.as_bytes(), SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        }
    }
}
