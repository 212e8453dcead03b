//! `GetMetadata` and `GET /v1.0/metadata`: one description of the sidecar, two encodings.

use crate::state::SidecarState;
use dapr_rs_proto::runtime::{
    ActorRuntime, AppConnectionProperties, GetMetadataResponse, PubsubSubscription, PubsubSubscriptionRule, PubsubSubscriptionRules,
    PubsubSubscriptionType, RegisteredComponents,
};
use serde_json::{Value as Json, json};

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
        extended_metadata: [("daprRuntimeVersion".to_string(), dapr_rs_proto::RUNTIME_VERSION.to_string())].into(),
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

/// The HTTP shape daprd answers with (contract §3.5): camelCase, `rules` flattened.
pub fn to_json(m: &GetMetadataResponse) -> Json {
    let kind = |t: i32| PubsubSubscriptionType::try_from(t).map(|t| t.as_str_name()).unwrap_or("UNKNOWN");
    let app = m.app_connection_properties.clone().unwrap_or_default();
    json!({
        "id": m.id,
        "runtimeVersion": m.runtime_version,
        "enabledFeatures": m.enabled_features,
        "actors": [],
        "components": m.registered_components.iter().map(|c| json!({
            "name": c.name, "type": c.r#type, "version": c.version, "capabilities": c.capabilities,
        })).collect::<Vec<_>>(),
        "extended": m.extended_metadata,
        "subscriptions": m.subscriptions.iter().map(|s| json!({
            "pubsubname": s.pubsub_name,
            "topic": s.topic,
            "metadata": s.metadata,
            "rules": s.rules.as_ref().map(|r| r.rules.iter().map(|r| json!({"match": r.r#match, "path": r.path})).collect::<Vec<_>>()).unwrap_or_default(),
            "deadLetterTopic": s.dead_letter_topic,
            "type": kind(s.r#type),
        })).collect::<Vec<_>>(),
        "httpEndpoints": [],
        "appConnectionProperties": app_connection_json(&app),
        "actorRuntime": { "runtimeStatus": "DISABLED", "activeActors": [], "hostReady": false, "placement": "" },
    })
}

fn app_connection_json(app: &AppConnectionProperties) -> Json {
    let mut out = json!({
        "port": app.port,
        "protocol": app.protocol,
        "channelAddress": app.channel_address,
        "maxConcurrency": app.max_concurrency,
    });
    if let Some(h) = &app.health {
        // protojson leaves empty fields out: gRPC apps have no healthCheckPath.
        let mut health = json!({
            "healthProbeInterval": h.health_probe_interval,
            "healthProbeTimeout": h.health_probe_timeout,
            "healthThreshold": h.health_threshold,
        });
        if !h.health_check_path.is_empty() {
            health["healthCheckPath"] = json!(h.health_check_path);
        }
        out["health"] = health;
    }
    out
}
