//! Commands that act on apps a `dapr-rs run` is running, found through its registry
//! (`~/.dapr-rs/run/`): `publish`, `list`, `stop`.

mod list;
mod publish;
mod stop;

pub use list::{ListArgs, list};
pub use publish::{PublishArgs, publish};
pub use stop::{StopArgs, stop};

use crate::launcher::registry::RunRecord;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::time::Duration;

/// One request to a running app's sidecar HTTP API, with `DAPR_API_TOKEN` when it is set;
/// returns the status and body.
async fn sidecar_request(
    record: &RunRecord,
    method: http::Method,
    path_and_query: &str,
    content_type: Option<&str>,
    body: Bytes,
) -> Result<(u16, Bytes), String> {
    let host = if record.host.contains(':') { format!("[{}]", record.host) } else { record.host.clone() };
    let url = format!("http://{host}:{}{path_and_query}", record.http_port);
    let mut req = http::Request::builder().method(method).uri(&url);
    if let Some(ct) = content_type {
        req = req.header(http::header::CONTENT_TYPE, ct);
    }
    if let Some(token) = std::env::var("DAPR_API_TOKEN").ok().filter(|t| !t.is_empty()) {
        req = req.header(dapr_rs_proto::API_TOKEN_HEADER, token);
    }
    let req = req.body(Full::new(body)).map_err(|e| format!("invalid request to {url}: {e}"))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let call = async {
        let resp = client.request(req).await.map_err(|e| format!("cannot reach the sidecar of {} at {url}: {e}", record.app_id))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .unwrap_or_else(|_| Err(format!("the sidecar of {} did not answer", record.app_id)))
}
