//! Starting and stopping one sidecar: resources → components → APIs → the app's subscriptions.

use crate::config::{ListenAddresses, SidecarConfig};
use crate::metrics::{Metrics, exporter};
use crate::scopes::TopicScopes;
use crate::state::{LoadedPubSub, SidecarState};
use crate::{api, delivery, resources};
use dapr_rs_components as pubsub;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Resources(#[from] resources::ResourceError),
    #[error("{0}")]
    Configuration(#[from] crate::config::configuration::ConfigurationError),
    #[error("{0}")]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    #[error("component {name} ({component_type}) from {file} failed to initialise: {message}")]
    Component { name: String, component_type: String, file: String, message: String },
    #[error("cannot listen on {addr} for the {api} API: {message}")]
    Listen { api: &'static str, addr: SocketAddr, message: String },
    #[error("cannot listen on {addr} for metrics (--metrics-port; --enable-metrics=false serves none): {message}")]
    MetricsListen { addr: SocketAddr, message: String },
}

/// A started sidecar; [`RunningSidecar::shutdown`] stops it gracefully.
pub struct RunningSidecar {
    pub state: Arc<SidecarState>,
    /// Where the HTTP and gRPC APIs listen: on the first listen address (also on the others).
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    /// Where `/metrics` is served, when it is.
    pub metrics_addr: Option<SocketAddr>,
    servers: tokio::task::JoinSet<()>,
}

pub async fn start(mut config: SidecarConfig) -> Result<RunningSidecar, StartError> {
    config.load_configuration()?;
    // A Configuration's `spec.metrics.enabled: false` turns metrics off as `--enable-metrics=false` does.
    if !config.configuration.metrics_enabled {
        config.metrics = None;
    }
    let loaded = resources::load(&config.resources_paths, &config.app_id)?;
    for s in &loaded.subscriptions {
        tracing::info!(name = %s.name, file = %s.file.display(), pubsub = %s.info.pubsub_name, topic = %s.info.topic, "declarative subscription loaded");
    }
    let declarative = loaded.subscriptions.into_iter().map(|s| s.info).collect();
    let metrics = Arc::new(Metrics::new(&config.app_id, config.metrics.is_some()));
    let mut components = BTreeMap::new();
    for c in &loaded.components {
        let ty = c.config.component_type.clone();
        if !ty.starts_with("pubsub.") {
            tracing::warn!(name = %c.config.name, r#type = %ty, "only pub/sub components are supported; ignored");
            continue;
        }
        let opened = tokio::time::timeout(c.init_timeout, pubsub::open(&c.config)).await.unwrap_or_else(|_| {
            Err(pubsub::BrokerError::Unavailable(format!("did not initialise within {:?} (spec.initTimeout)", c.init_timeout)))
        });
        match opened {
            Ok(ps) => {
                tracing::info!(name = %c.config.name, r#type = %ty, "component loaded");
                metrics.components.initialized(&ty);
                let consumer_group = c.config.consumer_id();
                components.insert(
                    c.config.name.clone(),
                    LoadedPubSub {
                        name: c.config.name.clone(),
                        component_type: ty,
                        version: c.version.clone(),
                        consumer_group,
                        pubsub: ps,
                        scopes: Arc::new(TopicScopes::from_metadata(&c.config.metadata, &config.app_id)),
                        inbound: loaded.resiliency.inbound_policy(&c.config.name),
                    },
                );
            }
            Err(e) if c.ignore_errors => {
                tracing::warn!(name = %c.config.name, error = %e, "component failed to initialise; ignored (ignoreErrors)");
                metrics.components.init_failed(&ty, &c.config.name);
            }
            Err(e) => {
                return Err(StartError::Component {
                    name: c.config.name.clone(),
                    component_type: ty,
                    file: c.file.display().to_string(),
                    message: e.to_string(),
                });
            }
        }
    }
    let http_listeners = bind_api("HTTP", &config.listen_addresses, config.http_port).await?;
    let grpc_listeners = bind_api("gRPC", &config.listen_addresses, config.grpc_port).await?;
    let metrics_listener =
        exporter::bind(config.metrics).await.map_err(|(addr, e)| StartError::MetricsListen { addr, message: e.to_string() })?;
    let metrics_addr = metrics_listener.as_ref().map(|l| l.local_addr().expect("a bound listener has an address"));
    let local_addrs = |listeners: &[tokio::net::TcpListener]| -> Vec<SocketAddr> {
        listeners.iter().map(|l| l.local_addr().expect("a bound listener has an address")).collect()
    };
    let (http_addrs, grpc_addrs) = (local_addrs(&http_listeners), local_addrs(&grpc_listeners));
    // A ListenAddresses holds one address at least, so each API has a first listener.
    let (http_addr, grpc_addr) = (http_addrs[0], grpc_addrs[0]);
    let telemetry = crate::telemetry::Telemetry::start(&config)?;
    let state = Arc::new(SidecarState::new(config, components, declarative, metrics).with_telemetry(telemetry));

    let mut servers = tokio::task::JoinSet::new();
    let http_api = api::http::router(state.clone());
    for listener in http_listeners {
        let (app, stopping) = (http_api.clone(), state.shutdown.clone());
        servers.spawn(async move {
            // With the caller's address: the API span's `server.address`, as daprd's.
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopping.cancelled_owned()).await {
                tracing::error!(error = %e, "HTTP API stopped");
            }
        });
    }
    let s = state.clone();
    servers.spawn(async move {
        if let Err(e) = api::grpc::serve(s, grpc_listeners).await {
            tracing::error!(error = %e, "gRPC API stopped");
        }
    });
    if let Some(listener) = metrics_listener {
        servers.spawn(exporter::serve(listener, state.metrics.clone(), state.shutdown.clone()));
    }
    tokio::spawn(delivery::app_subscriptions::start_app_subscriptions(state.clone()));
    let metrics = metrics_addr.map_or_else(|| "off".to_owned(), |a| a.to_string());
    tracing::info!(app_id = %state.config.app_id, http_addr = %addr_list(&http_addrs), grpc_addr = %addr_list(&grpc_addrs), %metrics, "dapr-rs sidecar started");
    Ok(RunningSidecar { state, http_addr, grpc_addr, metrics_addr, servers })
}

/// Binds one API on every listen address. Port 0 picks a free port on the first address and
/// the same port on the others, so the API has one port wherever it listens.
async fn bind_api(api: &'static str, addresses: &ListenAddresses, port: u16) -> Result<Vec<tokio::net::TcpListener>, StartError> {
    let mut listeners: Vec<tokio::net::TcpListener> = Vec::new();
    for ip in addresses.iter() {
        let port = listeners.first().and_then(|l| l.local_addr().ok()).map_or(port, |a| a.port());
        let addr = SocketAddr::new(ip, port);
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| StartError::Listen { api, addr, message: e.to_string() })?;
        listeners.push(listener);
    }
    Ok(listeners)
}

fn addr_list(addrs: &[SocketAddr]) -> String {
    addrs.iter().map(SocketAddr::to_string).collect::<Vec<_>>().join(",")
}

impl RunningSidecar {
    /// Resolves when something asked the sidecar to stop (Shutdown API, signal, launcher).
    pub async fn stopped(&self) {
        self.state.shutdown.cancelled().await
    }

    /// Stops taking messages and lets the deliveries in flight finish within the grace period;
    /// what is still unfinished then goes back to the broker. Called before the app is stopped.
    pub async fn stop_deliveries(&self) {
        self.state.shutdown.cancel();
        let grace = self.state.config.grace;
        let stops = self.state.take_subscriptions().into_iter().map(|s| async move { s.handle.stop(grace).await });
        let bound = grace + dapr_rs_components::ABANDON_WAIT + Duration::from_millis(500);
        if tokio::time::timeout(bound, futures::future::join_all(stops)).await.is_err() {
            tracing::warn!("subscriptions did not stop within the grace period; what they held is left to their brokers");
        }
    }

    /// [`Self::stop_deliveries`], then closes components and APIs: within the grace period plus
    /// [`SHUTDOWN_MARGIN`], whatever a broker, the app or a client does. A component that will not
    /// close is abandoned; what it did not acknowledge stays with its broker.
    pub async fn shutdown(mut self) {
        let grace = self.state.config.grace;
        let deadline = tokio::time::Instant::now() + grace;
        self.stop_deliveries().await;
        let closes = self.state.components.values().map(|c| async move {
            if tokio::time::timeout(COMPONENT_CLOSE_TIMEOUT, c.pubsub.close()).await.is_err() {
                tracing::warn!(name = %c.name, r#type = %c.component_type, "component did not close in time; abandoned");
            }
        });
        futures::future::join_all(closes).await;
        let _ = tokio::time::timeout_at(deadline, async { while self.servers.join_next().await.is_some() {} }).await;
        self.servers.abort_all();
        let flush_for = deadline.saturating_duration_since(tokio::time::Instant::now()).max(TRACE_FLUSH_MIN);
        self.state.telemetry.shutdown(flush_for).await;
        tracing::info!("dapr-rs sidecar stopped");
    }
}

/// How long a component gets to close its connections at shutdown.
const COMPONENT_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The last spans get what is left of the grace period to reach the collector, and at least this.
const TRACE_FLUSH_MIN: Duration = Duration::from_millis(500);

/// The most a shutdown takes beyond the grace period: abandoned calls handing their messages back,
/// then components closing, then the last spans.
pub const SHUTDOWN_MARGIN: Duration = Duration::from_millis(
    dapr_rs_components::ABANDON_WAIT.as_millis() as u64
        + 500
        + COMPONENT_CLOSE_TIMEOUT.as_millis() as u64
        + TRACE_FLUSH_MIN.as_millis() as u64,
);

/// The last resort once a stop was asked for: if the process still runs `limit` later (a thread
/// blocked where no timeout reaches), it exits anyway, so nothing that started it waits forever.
pub fn exit_if_still_running_after(limit: Duration) {
    std::thread::Builder::new()
        .name("exit-deadline".into())
        .spawn(move || {
            std::thread::sleep(limit);
            eprintln!("dapr-rs: still stopping {limit:?} after the stop was asked for; exiting now");
            std::process::exit(1);
        })
        .expect("a thread for the exit deadline");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_api_on_several_addresses_has_one_port_even_when_picked() {
        let addresses: ListenAddresses = "127.0.0.1,::1".parse().unwrap();
        let listeners = bind_api("HTTP", &addresses, 0).await.unwrap();
        let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        assert_eq!(addrs.len(), 2);
        assert_eq!(addrs[0].ip().to_string(), "127.0.0.1");
        assert_eq!(addrs[1].ip().to_string(), "::1");
        assert!(addrs[0].port() != 0 && addrs[0].port() == addrs[1].port(), "{addrs:?}");
        // The port taken on one address fails the bind there, naming the API and the address.
        let taken = addrs[1];
        let err = bind_api("gRPC", &"::1".parse().unwrap(), taken.port()).await.unwrap_err().to_string();
        assert!(err.contains(&format!("cannot listen on {taken} for the gRPC API")), "{err}");
    }
}
