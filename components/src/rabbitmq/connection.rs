//! The component's one AMQP connection, opened again on first use after it broke (RabbitMQ
//! restarted, the network went away): publishing and every subscription each keep a channel of
//! their own on it and ask for the connection again when their channel dies.

use super::settings::Settings;
use crate::BrokerError;
use lapin::{Connection, ConnectionProperties};
use std::sync::Arc;
use tokio::sync::Mutex;

pub(super) struct Connector {
    settings: Arc<Settings>,
    current: Mutex<Option<Arc<Connection>>>,
}

impl Connector {
    pub fn new(settings: Arc<Settings>) -> Self {
        Self { settings, current: Mutex::new(None) }
    }

    /// The open connection, or a new one when it is gone; one caller reconnects at a time.
    pub async fn connection(&self) -> Result<Arc<Connection>, BrokerError> {
        let mut current = self.current.lock().await;
        if let Some(connection) = current.as_ref().filter(|c| c.status().connected()) {
            return Ok(connection.clone());
        }
        let settings = &self.settings;
        let properties = ConnectionProperties::default().with_connection_name("dapr-rs".into());
        let connection = tokio::time::timeout(settings.connect_timeout, Connection::connect(&settings.uri, properties))
            .await
            .map_err(|_| self.unavailable("cannot connect to", &format!("no answer within {:?}", settings.connect_timeout)))?
            .map_err(|e| self.unavailable("cannot connect to", &e))?;
        let connection = Arc::new(connection);
        *current = Some(connection.clone());
        Ok(connection)
    }

    /// Forgets `dead`, a connection that stopped answering though it still looks open (a cut the
    /// client has not noticed yet), so the next caller connects afresh instead of waiting on it.
    pub async fn forget(&self, dead: &Arc<Connection>) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, dead)) {
            *current = None;
        }
    }

    /// Closes the connection (at shutdown): unacknowledged deliveries go back to their queues.
    pub async fn close(&self) {
        if let Some(connection) = self.current.lock().await.take()
            && connection.status().connected()
            && let Err(err) = connection.close(200, "dapr-rs sidecar shutting down".into()).await
        {
            tracing::debug!(%err, "pubsub.rabbitmq: closing the connection failed");
        }
    }

    /// An error naming the broker and its address (never the password).
    pub fn unavailable(&self, what: &str, err: &dyn std::fmt::Display) -> BrokerError {
        BrokerError::Unavailable(format!("{what} RabbitMQ at {}: {err}", self.settings.address()))
    }
}
