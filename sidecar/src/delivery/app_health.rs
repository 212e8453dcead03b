//! The app health probe (`--enable-app-health-check`), as daprd probes: HTTP `GET <path>`, or
//! gRPC `AppCallbackHealthCheck/HealthCheck`, on a connection of its own. What follows from its
//! answers (subscriptions stopped and started again) is `app_subscriptions`'.

use super::app_transport::{self, HttpClient};
use crate::config::AppProtocol;
use bytes::Bytes;
use dapr_rs_proto::runtime::app_callback_health_check_client::AppCallbackHealthCheckClient;
use http_body_util::Full;
use std::time::Duration;
use tonic::transport::Channel;

/// One health probe of the app, over its own connection so probes never queue behind deliveries.
pub(super) enum AppProbe {
    Http { client: HttpClient, url: String, token: Option<String> },
    Grpc { client: AppCallbackHealthCheckClient<Channel>, token: Option<String> },
}

impl AppProbe {
    pub(super) fn new(protocol: AppProtocol, address: &str, port: u16, path: &str, token: Option<String>) -> Result<Self, String> {
        if protocol.is_grpc() {
            let client = AppCallbackHealthCheckClient::new(app_transport::grpc_channel(protocol, address, port)?);
            Ok(Self::Grpc { client, token })
        } else {
            let url = format!("{}{path}", app_transport::base_url(protocol, address, port));
            Ok(Self::Http { client: app_transport::http_client(protocol), url, token })
        }
    }

    /// Healthy: a 2xx answer (HTTP) or an OK status (gRPC) within `timeout`.
    pub(super) async fn check(&self, timeout: Duration) -> Result<(), String> {
        let probe = async {
            match self {
                Self::Http { client, url, token } => {
                    let mut req = http::Request::get(url.as_str());
                    if let Some(t) = token {
                        req = req.header(dapr_rs_proto::API_TOKEN_HEADER, t.as_str());
                    }
                    let req = req.body(Full::new(Bytes::new())).map_err(|e| e.to_string())?;
                    let resp = client.request(req).await.map_err(|e| format!("GET {url} failed: {e}"))?;
                    let status = resp.status();
                    if status.is_success() { Ok(()) } else { Err(format!("GET {url} answered {}", status.as_u16())) }
                }
                Self::Grpc { client, token } => {
                    let mut req = tonic::Request::new(());
                    if let Some(t) = token.as_deref().and_then(|t| t.parse().ok()) {
                        req.metadata_mut().insert(dapr_rs_proto::API_TOKEN_HEADER, t);
                    }
                    client.clone().health_check(req).await.map(|_| ()).map_err(|s| format!("HealthCheck failed: {s}"))
                }
            }
        };
        tokio::time::timeout(timeout, probe).await.unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
    }
}
