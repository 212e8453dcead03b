//! Connections to Redis: one multiplexed connection per component for publishes, acks and
//! redelivery (concurrent commands share it, pipelined), plus one per subscription for its
//! blocking XREADGROUP. Each reconnects by itself after Redis goes away.

use super::settings::Settings;
use crate::BrokerError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};
use std::time::Duration;

/// A client for the component's Redis; connects nothing yet.
pub(super) fn client(settings: &Settings) -> Result<redis::Client, BrokerError> {
    let addr = if settings.tls {
        ConnectionAddr::TcpTls {
            host: settings.host.clone(),
            port: settings.port,
            insecure: settings.insecure_skip_tls_verify,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(settings.host.clone(), settings.port)
    };
    let mut login = RedisConnectionInfo::default().set_db(settings.db);
    if let Some(user) = &settings.username {
        login = login.set_username(user);
    }
    if let Some(password) = &settings.password {
        login = login.set_password(password);
    }
    let info = addr
        .into_connection_info()
        .map_err(|e| BrokerError::Config(format!("Redis address {}: {e}", settings.address())))?
        .set_redis_settings(login);
    redis::Client::open(info).map_err(|e| BrokerError::Config(format!("Redis address {}: {e}", settings.address())))
}

/// Connects now (so a Redis that is down fails the caller) and keeps reconnecting later.
/// `response_timeout` bounds every reply on this connection.
pub(super) async fn connect(
    client: &redis::Client,
    settings: &Settings,
    response_timeout: Duration,
) -> Result<ConnectionManager, BrokerError> {
    let mut connection = ConnectionManager::new_with_config(client.clone(), manager_config(settings, response_timeout))
        .await
        .map_err(|e| unavailable(settings, "cannot connect to", &e))?;
    // Proves the login and database, which a bare connect does not.
    redis::cmd("PING").query_async::<()>(&mut connection).await.map_err(|e| unavailable(settings, "cannot use", &e))?;
    Ok(connection)
}

/// A connection made on first use, so a subscription starting while Redis is away still starts
/// (and reads once Redis is back).
pub(super) fn connect_lazily(
    client: &redis::Client,
    settings: &Settings,
    response_timeout: Duration,
) -> Result<ConnectionManager, BrokerError> {
    ConnectionManager::new_lazy_with_config(client.clone(), manager_config(settings, response_timeout))
        .map_err(|e| BrokerError::Config(format!("Redis at {}: {e}", settings.address())))
}

fn manager_config(settings: &Settings, response_timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(settings.dial_timeout))
        .set_response_timeout(Some(response_timeout))
        .set_number_of_retries(settings.max_retries)
        .set_min_delay(settings.min_retry_interval)
        .set_max_delay(settings.max_retry_interval)
}

/// "cannot connect to Redis at localhost:6379: Connection refused (os error 111)".
pub(super) fn unavailable(settings: &Settings, what: &str, err: &redis::RedisError) -> BrokerError {
    BrokerError::Unavailable(format!("{what} Redis at {}: {err}", settings.address()))
}

/// Errors that mean "Redis is not there right now" rather than "Redis refused this command".
pub(super) fn is_connection_error(err: &redis::RedisError) -> bool {
    err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() || err.is_timeout()
}
