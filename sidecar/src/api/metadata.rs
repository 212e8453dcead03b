//! `GetMetadata` and `GET /v1.0/metadata`: one description of the sidecar, two encodings.

use crate::state::SidecarState;
use dapr_rs_proto::runtime::actor_runtime::ActorRuntimeStatus;
use dapr_rs_proto::runtime::{
    ActorRuntime, AppConnectionProperties, GetMetadataResponse, PubsubSubscription, PubsubSubscriptionRule, PubsubSubscriptionRules,
    PubsubSubscriptionType, RegisteredComponents,
};
use serde_json::{Map, Value as Json, json};

pub fn describe(state: &SidecarState) -> GetMetadataResponse {
    let cfg = &state.config;
    GetMetadataResponse {
        id: cfg.app_id.clone(),
        registered_components: state
            .components
            .values()
            .map(|c| RegisteredComponents {
                name: c.name.clone(),
                r#type: c.component_type.clone(),
                version: c.version.clone(),
                capabilities: vec![],
            })
            .collect(),
        extended_metadata: {
            // Set after the app's keys, so the runtime version cannot be overwritten (as daprd).
            let mut extended: std::collections::HashMap<_, _> = state.extended_metadata().into_iter().collect();
            extended.insert("daprRuntimeVersion".into(), dapr_rs_proto::RUNTIME_VERSION.into());
            extended
        },
        subscriptions: state
            .subscription_infos()
            .into_iter()
            .map(|s| PubsubSubscription {
                pubsub_name: s.pubsub_name,
                topic: s.topic,
                metadata: s.metadata,
                rules: Some(PubsubSubscriptionRules {
                    rules: s.rules.into_iter().map(|(m, p)| PubsubSubscriptionRule { r#match: m, path: p }).collect(),
                }),
                dead_letter_topic: s.dead_letter_topic,
                r#type: s.kind as i32,
            })
            .collect(),
        app_connection_properties: Some(AppConnectionProperties {
            port: cfg.app_port.map(i32::from).unwrap_or(0),
            protocol: cfg.app_protocol.as_str().into(),
            channel_address: cfg.app_channel_address.clone(),
            max_concurrency: cfg.max_concurrency.map(|n| n as i32).unwrap_or(-1),
            health: cfg.app_health.as_ref().map(|h| h.describe(cfg.app_protocol)),
        }),
        runtime_version: dapr_rs_proto::RUNTIME_VERSION.into(),
        actor_runtime: Some(ActorRuntime { runtime_status: 1, ..Default::default() }),
        ..Default::default()
    }
}

/// The HTTP shape daprd answers with (contract §3.5, dapr/dapr `pkg/api/http/metadata.go`):
/// camelCase, `rules` flattened, enums as names, and empty fields left out where daprd's
/// `omitempty` leaves them out.
pub fn to_json(m: &GetMetadataResponse) -> Json {
    let kind = |t: i32| PubsubSubscriptionType::try_from(t).map(|t| t.as_str_name()).unwrap_or("UNKNOWN");
    let app = m.app_connection_properties.clone().unwrap_or_default();
    let actors = m.actor_runtime.clone().unwrap_or_default();
    let components: Vec<Json> = m
        .registered_components
        .iter()
        .map(|c| {
            let mut out = Map::new();
            non_empty(&mut out, "name", &c.name);
            non_empty(&mut out, "type", &c.r#type);
            non_empty(&mut out, "version", &c.version);
            if !c.capabilities.is_empty() {
                out.insert("capabilities".into(), json!(c.capabilities));
            }
            Json::Object(out)
        })
        .collect();
    let subscriptions: Vec<Json> = m
        .subscriptions
        .iter()
        .map(|s| {
            let mut out = Map::new();
            out.insert("pubsubname".into(), json!(s.pubsub_name));
            out.insert("topic".into(), json!(s.topic));
            if !s.metadata.is_empty() {
                out.insert("metadata".into(), json!(s.metadata));
            }
            let rules: Vec<Json> = s
                .rules
                .iter()
                .flat_map(|r| &r.rules)
                .map(|r| {
                    let mut rule = Map::new();
                    non_empty(&mut rule, "match", &r.r#match);
                    non_empty(&mut rule, "path", &r.path);
                    Json::Object(rule)
                })
                .collect();
            if !rules.is_empty() {
                out.insert("rules".into(), Json::Array(rules));
            }
            out.insert("deadLetterTopic".into(), json!(s.dead_letter_topic));
            out.insert("type".into(), json!(kind(s.r#type)));
            Json::Object(out)
        })
        .collect();
    let mut connection = Map::new();
    if app.port != 0 {
        connection.insert("port".into(), json!(app.port));
    }
    non_empty(&mut connection, "protocol", &app.protocol);
    non_empty(&mut connection, "channelAddress", &app.channel_address);
    if app.max_concurrency != 0 {
        connection.insert("maxConcurrency".into(), json!(app.max_concurrency));
    }
    if let Some(h) = &app.health {
        let mut health = Map::new();
        non_empty(&mut health, "healthCheckPath", &h.health_check_path);
        non_empty(&mut health, "healthProbeInterval", &h.health_probe_interval);
        non_empty(&mut health, "healthProbeTimeout", &h.health_probe_timeout);
        if h.health_threshold != 0 {
            health.insert("healthThreshold".into(), json!(h.health_threshold));
        }
        connection.insert("health".into(), Json::Object(health));
    }
    let mut actor_runtime = Map::new();
    let status = ActorRuntimeStatus::try_from(actors.runtime_status).map(|s| s.as_str_name()).unwrap_or("INITIALIZING");
    actor_runtime.insert("runtimeStatus".into(), json!(status));
    actor_runtime.insert("hostReady".into(), json!(actors.host_ready));
    non_empty(&mut actor_runtime, "placement", &actors.placement);

    let mut out = Map::new();
    non_empty(&mut out, "id", &m.id);
    non_empty(&mut out, "runtimeVersion", &m.runtime_version);
    if !m.enabled_features.is_empty() {
        out.insert("enabledFeatures".into(), json!(m.enabled_features));
    }
    if !components.is_empty() {
        out.insert("components".into(), Json::Array(components));
    }
    if !m.extended_metadata.is_empty() {
        out.insert("extended".into(), json!(m.extended_metadata));
    }
    if !subscriptions.is_empty() {
        out.insert("subscriptions".into(), Json::Array(subscriptions));
    }
    out.insert("appConnectionProperties".into(), Json::Object(connection));
    out.insert("actorRuntime".into(), Json::Object(actor_runtime));
    Json::Object(out)
}

/// Go's `omitempty` for a string field.
fn non_empty(out: &mut Map<String, Json>, key: &str, value: &str) {
    if !value.is_empty() {
        out.insert(key.into(), json!(value));
    }
}
