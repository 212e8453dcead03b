//! `dapr-rs dashboard` (and `dapr-rs run --dashboard`): a local web page that shows, live, every
//! app `dapr-rs run` runs and any sidecar named with `--sidecar`: its ports, pid and uptime, its
//! components and subscriptions, message rates and latencies per topic from its metrics, and its
//! last dead-lettered messages. One poller reads the sidecars every second, whoever watches; the
//! page (plain HTML, CSS and JS, embedded in the binary: no build step, nothing from the network)
//! fetches the poller's latest snapshot.

mod exposition;
mod snapshot;
mod sources;
mod traffic;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::routing::get;
use bytes::Bytes;
use clap::Args;
use sources::{HttpClient, NamedSidecar};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How often the sidecars are read (and the page asks for the result).
const POLL_INTERVAL: Duration = Duration::from_secs(1);

const INDEX_HTML: &str = include_str!("assets/index.html");
const DASHBOARD_CSS: &str = include_str!("assets/dashboard.css");
const DASHBOARD_JS: &str = include_str!("assets/dashboard.js");

#[derive(Debug, Clone, Args)]
pub struct DashboardArgs {
    /// The port the page is served on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The address the page is served on.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: IpAddr,
    /// A sidecar not started by `dapr-rs run`, by its HTTP API address, with its metrics port when
    /// it serves metrics; repeatable.
    #[arg(long = "sidecar", value_name = "URL[,metrics-port=PORT]")]
    pub sidecars: Vec<NamedSidecar>,
}

/// `dapr-rs dashboard`: serves the page until SIGINT or SIGTERM.
pub async fn run(args: DashboardArgs) -> u8 {
    let listener = match bind(SocketAddr::new(args.address, args.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("dapr-rs: {e}");
            return 1;
        }
    };
    // The address goes to stdout, so scripts (and the tests) can find a port picked free.
    println!("dapr-rs dashboard: {}", url(&listener));
    tokio::select! {
        served = serve(listener, args.sidecars) => {
            if let Err(e) = served {
                eprintln!("dapr-rs: the dashboard stopped: {e}");
                return 1;
            }
        }
        _ = crate::launcher::termination_signal() => {}
    }
    0
}

/// The dashboard beside a `dapr-rs run`: listening once this returns, stopped when dropped.
pub struct RunDashboard(tokio::task::AbortHandle);

impl Drop for RunDashboard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `dapr-rs run --dashboard[=PORT]`: serves the page on loopback while the run goes on.
pub async fn beside_run(port: u16) -> Result<RunDashboard, String> {
    let listener = bind(SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port)).await?;
    tracing::info!(url = %url(&listener), "dashboard");
    let task = tokio::spawn(async move {
        if let Err(e) = serve(listener, Vec::new()).await {
            tracing::warn!(error = %e, "the dashboard stopped");
        }
    });
    Ok(RunDashboard(task.abort_handle()))
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).await.map_err(|e| format!("the dashboard cannot listen on {addr}: {e}"))
}

fn url(listener: &TcpListener) -> String {
    listener.local_addr().map(|a| format!("http://{a}/")).unwrap_or_default()
}

/// Serves the page and the poller's snapshots; polls the sidecars as long as it serves.
async fn serve(listener: TcpListener, sidecars: Vec<NamedSidecar>) -> std::io::Result<()> {
    let empty = serde_json::to_vec(&snapshot::Snapshot::default()).unwrap_or_default();
    let (latest, snapshots) = watch::channel(Bytes::from(empty));
    let asset = |content_type: &'static str, body: &'static str| get(move || async move { ([(CONTENT_TYPE, content_type)], body) });
    let app = axum::Router::new()
        .route("/", asset("text/html; charset=utf-8", INDEX_HTML))
        .route("/dashboard.css", asset("text/css; charset=utf-8", DASHBOARD_CSS))
        .route("/dashboard.js", asset("text/javascript; charset=utf-8", DASHBOARD_JS))
        .route(
            "/api/snapshot",
            get(move || {
                let body = snapshots.borrow().clone();
                async move { ([(CONTENT_TYPE, "application/json"), (CACHE_CONTROL, "no-store")], body) }
            }),
        );
    tokio::select! {
        served = axum::serve(listener, app) => served,
        never = poll(sidecars, latest) => match never {},
    }
}

/// Reads every sidecar at once, each [`POLL_INTERVAL`], and publishes the snapshot.
async fn poll(sidecars: Vec<NamedSidecar>, latest: watch::Sender<Bytes>) -> std::convert::Infallible {
    let client = HttpClient::default();
    let mut history = snapshot::History::default();
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let targets = sources::targets(&sidecars);
        let mut reads = tokio::task::JoinSet::new();
        for (i, target) in targets.iter().cloned().enumerate() {
            let client = client.clone();
            reads.spawn(async move { (i, sources::read(&client, &target).await) });
        }
        let mut readings: Vec<Option<sources::Reading>> = std::iter::repeat_with(|| None).take(targets.len()).collect();
        while let Some(joined) = reads.join_next().await {
            if let Ok((i, reading)) = joined {
                readings[i] = Some(reading);
            }
        }
        // A read that panicked is shown as unreachable rather than dropping its app from the page.
        let readings = readings
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| sources::Reading {
                    metadata: Err("the read failed".into()),
                    dead_letters: Err("the read failed".into()),
                    metrics: None,
                })
            })
            .collect();
        let snapshot = snapshot::build(&targets, readings, &mut history, Instant::now());
        if let Ok(json) = serde_json::to_vec(&snapshot) {
            latest.send_replace(Bytes::from(json));
        }
    }
}
