//! Subscriber apps for the tests of what reaches an app: an HTTP app (axum) or a gRPC app (tonic
//! `AppCallback` + `AppCallbackHealthCheck`), served in the clear (HTTP/1.1 or h2c) or over TLS
//! with a self-signed certificate made here, with a health answer the test can flip. Each
//! delivery is recorded with the headers (or gRPC metadata) its call carried, as the sidecar wrote
//! them, before any SDK reads them.
#![allow(dead_code)]

use super::{Sidecar, SidecarBuilder, free_port};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use dapr_rs_proto::runtime::app_callback_health_check_server::{AppCallbackHealthCheck, AppCallbackHealthCheckServer};
use dapr_rs_proto::runtime::app_callback_server::{AppCallback, AppCallbackServer};
use dapr_rs_proto::runtime::{
    HealthCheckResponse, JobEventRequest, JobEventResponse, ListTopicSubscriptionsResponse, TopicEventBulkRequest, TopicEventBulkResponse,
    TopicEventRequest, TopicEventResponse, TopicSubscription,
};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

pub const PUBSUB: &str = "pubsub";
pub const TOPIC: &str = "orders";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    Http,
    Grpc,
}

impl AppKind {
    /// The `--app-protocol` that speaks to this app in the clear.
    pub fn protocol(self) -> &'static str {
        match self {
            AppKind::Http => "http",
            AppKind::Grpc => "grpc",
        }
    }
}

/// One event as the app received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub data: String,
    pub http_version: http::Version,
    /// What the call carried: its HTTP headers or gRPC metadata, by (lowercase) name.
    pub headers: HashMap<String, String>,
}

/// A call's headers by name, a repeated one's values joined by ", ".
fn by_name(headers: &HeaderMap) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.entry(name.as_str().to_owned()).and_modify(|v: &mut String| *v = format!("{v}, {value}")).or_insert(value);
    }
    map
}

/// What the app's handlers share with the test, and the subscription they announce.
#[derive(Clone)]
pub struct AppProbe {
    pubsub: String,
    topic: String,
    events: mpsc::UnboundedSender<Received>,
    pub healthy: Arc<AtomicBool>,
    pub health_checks: Arc<AtomicUsize>,
    pub deliveries: Arc<AtomicUsize>,
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub probe: AppProbe,
    pub events: mpsc::UnboundedReceiver<Received>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestApp {
    /// Starts an app on `host` (a free port), TLS when `tls`, subscribed to `PUBSUB`/`TOPIC`.
    pub async fn start(kind: AppKind, tls: bool, host: &str) -> Self {
        Self::subscribed(kind, tls, host, PUBSUB, TOPIC).await
    }

    /// Starts an app on `host` (a free port), TLS when `tls`, subscribed to `topic` of `pubsub`.
    pub async fn subscribed(kind: AppKind, tls: bool, host: &str, pubsub: &str, topic: &str) -> Self {
        let (tx, events) = mpsc::unbounded_channel();
        let probe = AppProbe {
            pubsub: pubsub.to_owned(),
            topic: topic.to_owned(),
            events: tx,
            healthy: Arc::new(AtomicBool::new(true)),
            health_checks: Arc::default(),
            deliveries: Arc::default(),
        };
        let router = match kind {
            AppKind::Http => http_app(probe.clone()),
            AppKind::Grpc => {
                let app = GrpcApp(probe.clone());
                tonic::service::Routes::new(AppCallbackServer::new(app.clone()))
                    .add_service(AppCallbackHealthCheckServer::new(app))
                    .into_axum_router()
            }
        };
        let listener = tokio::net::TcpListener::bind((host, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tls.then(|| tokio_rustls::TlsAcceptor::from(Arc::new(self_signed_tls())));
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (router, acceptor) = (router.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    // HTTP/1.1 or HTTP/2 (h2c prior knowledge, or h2 by ALPN), whichever the client speaks.
                    let server = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                let _ = server.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = server.serve_connection(TokioIo::new(tcp), service).await;
                        }
                    }
                });
            }
        });
        Self { addr, probe, events, task }
    }

    pub fn set_healthy(&self, healthy: bool) {
        self.probe.healthy.store(healthy, Ordering::SeqCst);
    }

    pub async fn recv(&mut self) -> Received {
        self.recv_within(Duration::from_secs(15)).await
    }

    pub async fn recv_within(&mut self, within: Duration) -> Received {
        tokio::time::timeout(within, self.events.recv()).await.unwrap_or_else(|_| panic!("no event within {within:?}")).unwrap()
    }

    /// Asserts nothing arrives for `quiet`.
    pub async fn expect_nothing(&mut self, quiet: Duration) {
        if let Ok(Some(ev)) = tokio::time::timeout(quiet, self.events.recv()).await {
            panic!("unexpected delivery: {ev:?}");
        }
    }
}

/// A certificate for localhost / 127.0.0.1 that nobody signed, as apps in development use.
fn self_signed_tls() -> rustls::ServerConfig {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = key.cert.der().clone();
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], private)
        .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    cfg
}

fn http_app(probe: AppProbe) -> axum::Router {
    async fn subscribe(State(p): State<AppProbe>) -> axum::Json<Json> {
        axum::Json(json!([{ "pubsubname": p.pubsub, "topic": p.topic, "route": "/orders" }]))
    }
    async fn orders(State(p): State<AppProbe>, req: axum::extract::Request) -> axum::Json<Json> {
        let (version, headers) = (req.version(), by_name(req.headers()));
        let body = axum::body::to_bytes(req.into_body(), usize::MAX).await.unwrap();
        let ce: Json = serde_json::from_slice(&body).unwrap();
        p.deliveries.fetch_add(1, Ordering::SeqCst);
        let data = match &ce["data"] {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = p.events.send(Received { id: ce["id"].as_str().unwrap_or("").into(), data, http_version: version, headers });
        axum::Json(json!({ "status": "SUCCESS" }))
    }
    async fn healthz(State(p): State<AppProbe>) -> StatusCode {
        p.health_checks.fetch_add(1, Ordering::SeqCst);
        if p.healthy.load(Ordering::SeqCst) { StatusCode::NO_CONTENT } else { StatusCode::SERVICE_UNAVAILABLE }
    }
    axum::Router::new()
        .route("/dapr/subscribe", get(subscribe))
        .route("/orders", post(orders))
        .route("/healthz", get(healthz))
        .with_state(probe)
}

#[derive(Clone)]
struct GrpcApp(AppProbe);

#[tonic::async_trait]
impl AppCallback for GrpcApp {
    async fn on_invoke(
        &self,
        _: Request<dapr_rs_proto::common::InvokeRequest>,
    ) -> Result<Response<dapr_rs_proto::common::InvokeResponse>, Status> {
        Err(Status::unimplemented("no invocation"))
    }

    async fn list_topic_subscriptions(&self, _: Request<()>) -> Result<Response<ListTopicSubscriptionsResponse>, Status> {
        let sub = TopicSubscription { pubsub_name: self.0.pubsub.clone(), topic: self.0.topic.clone(), ..Default::default() };
        Ok(Response::new(ListTopicSubscriptionsResponse { subscriptions: vec![sub] }))
    }

    async fn on_topic_event(&self, req: Request<TopicEventRequest>) -> Result<Response<TopicEventResponse>, Status> {
        let headers = by_name(&req.metadata().clone().into_headers());
        let ev = req.into_inner();
        self.0.deliveries.fetch_add(1, Ordering::SeqCst);
        let data = String::from_utf8_lossy(&ev.data).into_owned();
        let received = Received { id: ev.id, data, http_version: http::Version::HTTP_2, headers };
        let _ = self.0.events.send(received);
        Ok(Response::new(TopicEventResponse { status: 0 }))
    }

    async fn on_bulk_topic_event(&self, _: Request<TopicEventBulkRequest>) -> Result<Response<TopicEventBulkResponse>, Status> {
        Err(Status::unimplemented("no bulk"))
    }

    async fn on_job_event(&self, _: Request<JobEventRequest>) -> Result<Response<JobEventResponse>, Status> {
        Err(Status::unimplemented("no jobs"))
    }
}

#[tonic::async_trait]
impl AppCallbackHealthCheck for GrpcApp {
    async fn health_check(&self, _: Request<()>) -> Result<Response<HealthCheckResponse>, Status> {
        self.0.health_checks.fetch_add(1, Ordering::SeqCst);
        if self.0.healthy.load(Ordering::SeqCst) {
            Ok(Response::new(HealthCheckResponse {}))
        } else {
            Err(Status::unavailable("not ready"))
        }
    }
}

/// A sidecar for `app` with extra flags, started as the harness does; `/v1.0/healthz/outbound` answers.
pub fn start_sidecar(app_id: &str, resources: &std::path::Path, app: SocketAddr, protocol: &'static str, extra: &[&str]) -> Sidecar {
    let (http, grpc) = (free_port(), free_port());
    let mut cmd = SidecarBuilder::new(app_id, resources).app(app.port(), protocol).command(http, grpc);
    cmd.args(extra).stdout(Stdio::null()).stderr(Stdio::inherit());
    let mut sc = Sidecar { child: cmd.spawn().unwrap(), http_port: http, grpc_port: grpc, app_id: app_id.into() };
    sc.wait_http("/v1.0/healthz/outbound", 204, Duration::from_secs(20));
    sc
}

/// Publishes `data` (JSON) to the test topic over the sidecar's HTTP API.
pub fn publish(sc: &Sidecar, data: &str) {
    let (status, body) =
        sc.http("POST", &format!("/v1.0/publish/{PUBSUB}/{TOPIC}"), &[("content-type", "application/json")], data.as_bytes());
    assert_eq!(status, 204, "{body}");
}
