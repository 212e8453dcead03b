//! The metrics endpoint: Prometheus text on `--metrics-listen-address`:`--metrics-port`, at any
//! path, as daprd's exporter answers (D pkg/metrics/exporter.go).

use super::Metrics;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Serves `metrics` on `listener` until `shutdown`.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    let app = axum::Router::new().fallback(move || {
        let metrics = metrics.clone();
        async move { ([(CONTENT_TYPE, prometheus::TEXT_FORMAT)], metrics.render()).into_response() }
    });
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await {
        tracing::error!(error = %e, "metrics endpoint stopped");
    }
}

/// Binds the endpoint's address, when metrics are on; the error names the address.
pub async fn bind(addr: Option<SocketAddr>) -> Result<Option<tokio::net::TcpListener>, (SocketAddr, std::io::Error)> {
    match addr {
        Some(addr) => tokio::net::TcpListener::bind(addr).await.map(Some).map_err(|e| (addr, e)),
        None => Ok(None),
    }
}
