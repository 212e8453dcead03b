//! `NativeClient`: core's [`DaprClient`]; every method returns a Promise.

use crate::errors::{invalid_argument, promise, to_js_error};
use crate::payload::to_payload;
use crate::stream::NativeSubscriptionStream;
use dapr_rs_core::{BulkPublishEntry, ClientOptions, ClientProtocol, DaprClient, PublishRequest, SubscriptionOptions, TraceContext};
use napi::Env;
use napi::bindgen_prelude::{Buffer, Either, PromiseRaw};
use napi_derive::napi;
use std::collections::HashMap;
use std::time::Duration;

#[napi]
pub struct NativeClient {
    client: DaprClient,
}

/// One entry of a bulk publish, as the facade shapes it.
#[napi(object, object_to_js = false)]
pub struct NativeBulkEntry {
    pub entry_id: String,
    pub data: Either<String, Buffer>,
    pub is_json: bool,
    pub content_type: Option<String>,
    pub metadata: Option<HashMap<String, String>>,
}

#[napi(object)]
pub struct NativeBulkFailure {
    pub entry_id: String,
    pub error: String,
}

fn sidecar_port(env: &Env, port: Option<u32>) -> napi::Result<Option<u16>> {
    port.map(|p| {
        u16::try_from(p).ok().filter(|p| *p > 0).ok_or_else(|| invalid_argument(env, format!("daprPort must be 1-65535, not {p}")))
    })
    .transpose()
}

/// The facade's protocol word as core's protocol.
fn client_protocol(env: &Env, protocol: Option<String>) -> napi::Result<ClientProtocol> {
    match protocol.as_deref() {
        None | Some("grpc") => Ok(ClientProtocol::Grpc),
        Some("http") => Ok(ClientProtocol::Http),
        Some(other) => Err(invalid_argument(env, format!("the client protocol must be \"grpc\" or \"http\", not {other:?}"))),
    }
}

#[napi]
impl NativeClient {
    /// `protocol` is `"grpc"` (the default) or `"http"`: the sidecar API the calls go to
    /// (streaming subscriptions always use gRPC). `host` / `port` override `DAPR_RUNTIME_HOST` and
    /// that API's port, `DAPR_GRPC_PORT` or `DAPR_HTTP_PORT` (else `DAPR_GRPC_ENDPOINT` /
    /// `DAPR_HTTP_ENDPOINT`, else 127.0.0.1:50001 / 127.0.0.1:3500); `apiToken` overrides
    /// `DAPR_API_TOKEN`; `timeoutMs` bounds each call.
    #[napi(constructor)]
    pub fn new(
        env: &Env,
        host: Option<String>,
        port: Option<u32>,
        api_token: Option<String>,
        timeout_ms: Option<u32>,
        protocol: Option<String>,
    ) -> napi::Result<Self> {
        let host = host.as_deref().filter(|h| !h.is_empty());
        let mut options = ClientOptions::from_env_for(client_protocol(env, protocol)?, host, sidecar_port(env, port)?);
        if api_token.is_some() {
            options = options.with_api_token(api_token.filter(|t| !t.is_empty()));
        }
        if let Some(ms) = timeout_ms {
            options = options.with_timeout(Some(Duration::from_millis(ms.into())));
        }
        // The shared channel spawns its connection task on the runtime it is made in.
        let client = napi::bindgen_prelude::within_runtime_if_available(|| DaprClient::new(options)).map_err(|e| to_js_error(env, &e))?;
        Ok(Self { client })
    }

    /// The sidecar endpoint the calls go to, e.g. `http://127.0.0.1:50001`.
    #[napi(getter)]
    pub fn endpoint(&self) -> String {
        self.client.options().api_endpoint().to_owned()
    }

    #[napi(ts_return_type = "Promise<void>")]
    #[allow(clippy::too_many_arguments)] // the JS signature, one argument per value
    pub fn publish<'env>(
        &self,
        env: &'env Env,
        pubsub_name: String,
        topic: String,
        data: Either<String, Buffer>,
        is_json: bool,
        content_type: Option<String>,
        metadata: Option<HashMap<String, String>>,
        traceparent: Option<String>,
        tracestate: Option<String>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (data, data_content_type) = to_payload(data, is_json).into_data(content_type);
        let req = PublishRequest { pubsub_name, topic, data, data_content_type, metadata: metadata.unwrap_or_default() };
        let trace = TraceContext::new(traceparent.unwrap_or_default(), tracestate.unwrap_or_default());
        let client = self.client.clone();
        promise(env, async move { client.publish_event_traced(req, &trace).await })
    }

    /// Returns the entries the sidecar could not publish. `traceparent` / `tracestate` are the
    /// trace every entry continues, as for `publish`.
    #[napi(ts_return_type = "Promise<Array<NativeBulkFailure>>")]
    #[allow(clippy::too_many_arguments)] // the JS signature, one argument per value
    pub fn publish_bulk<'env>(
        &self,
        env: &'env Env,
        pubsub_name: String,
        topic: String,
        entries: Vec<NativeBulkEntry>,
        metadata: Option<HashMap<String, String>>,
        traceparent: Option<String>,
        tracestate: Option<String>,
    ) -> napi::Result<PromiseRaw<'env, Vec<NativeBulkFailure>>> {
        let entries = entries
            .into_iter()
            .map(|e| {
                let (event, content_type) = to_payload(e.data, e.is_json).into_data(e.content_type);
                BulkPublishEntry { entry_id: e.entry_id, event, content_type, metadata: e.metadata.unwrap_or_default() }
            })
            .collect();
        let trace = TraceContext::new(traceparent.unwrap_or_default(), tracestate.unwrap_or_default());
        let client = self.client.clone();
        promise(env, async move {
            let failed = client.bulk_publish_traced(&pubsub_name, &topic, entries, metadata.unwrap_or_default(), &trace).await?;
            Ok(failed.into_iter().map(|f| NativeBulkFailure { entry_id: f.entry_id, error: f.error }).collect())
        })
    }

    /// Resolves once the sidecar answers; rejects (DEADLINE_EXCEEDED) after `timeoutMs`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn wait_for_sidecar<'env>(&self, env: &'env Env, timeout_ms: u32) -> napi::Result<PromiseRaw<'env, ()>> {
        let client = self.client.clone();
        promise(env, async move { client.wait_for_sidecar(Duration::from_millis(timeout_ms.into())).await })
    }

    /// Whether the sidecar answers now.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn is_healthy<'env>(&self, env: &'env Env, timeout_ms: u32) -> napi::Result<PromiseRaw<'env, bool>> {
        let client = self.client.clone();
        promise(env, async move { client.probe_sidecar(Duration::from_millis(timeout_ms.into())).await })
    }

    /// Asks the sidecar to shut down.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn shutdown<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let client = self.client.clone();
        promise(env, async move { client.shutdown_sidecar().await })
    }

    /// Opens a streaming subscription; it reconnects by itself after a sidecar restart.
    #[napi(ts_return_type = "Promise<NativeSubscriptionStream>")]
    pub fn subscribe_stream<'env>(
        &self,
        env: &'env Env,
        pubsub_name: String,
        topic: String,
        dead_letter_topic: Option<String>,
        metadata: Option<HashMap<String, String>>,
    ) -> napi::Result<PromiseRaw<'env, NativeSubscriptionStream>> {
        let options = SubscriptionOptions {
            dead_letter_topic: dead_letter_topic.filter(|t| !t.is_empty()),
            metadata: metadata.unwrap_or_default(),
            ..Default::default()
        };
        let client = self.client.clone();
        promise(env, async move {
            let stream = client.subscribe(&pubsub_name, &topic, options).await?;
            Ok(NativeSubscriptionStream::new(stream, format!("{pubsub_name}/{topic}")))
        })
    }
}
