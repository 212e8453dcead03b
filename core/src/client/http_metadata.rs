//! `GET /v1.0/metadata`'s JSON (contract §3.5, daprd's `pkg/api/http/metadata.go`) read into the
//! `GetMetadataResponse` the gRPC API gives, so callers see one shape whichever API they call:
//! camelCase keys, subscription `rules` flattened, enums by name, empty fields left out.

use crate::{Error, Result};
use dapr_rs_proto::runtime::actor_runtime::ActorRuntimeStatus;
use dapr_rs_proto::runtime::{
    ActiveActorsCount, ActorRuntime, AppConnectionHealthProperties, AppConnectionProperties, GetMetadataResponse, MetadataHttpEndpoint,
    MetadataScheduler, MetadataWorkflows, PubsubSubscription, PubsubSubscriptionRule, PubsubSubscriptionRules, PubsubSubscriptionType,
    RegisteredComponents,
};
use serde::Deserialize;
use std::collections::HashMap;

/// The document; Go writes `null` for some empty lists and maps, hence the `Option`s.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Metadata {
    id: String,
    runtime_version: String,
    enabled_features: Option<Vec<String>>,
    actors: Option<Vec<ActiveActors>>,
    components: Option<Vec<Component>>,
    extended: Option<HashMap<String, String>>,
    subscriptions: Option<Vec<Subscription>>,
    http_endpoints: Option<Vec<HttpEndpoint>>,
    app_connection_properties: Option<AppConnection>,
    actor_runtime: Option<Actors>,
    scheduler: Option<Scheduler>,
    workflows: Option<Workflows>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ActiveActors {
    r#type: String,
    count: i32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Component {
    name: String,
    r#type: String,
    version: String,
    capabilities: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Subscription {
    pubsubname: String,
    topic: String,
    metadata: Option<HashMap<String, String>>,
    rules: Option<Vec<Rule>>,
    dead_letter_topic: String,
    r#type: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Rule {
    r#match: String,
    path: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HttpEndpoint {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct AppConnection {
    port: i32,
    protocol: String,
    channel_address: String,
    max_concurrency: i32,
    health: Option<AppHealth>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct AppHealth {
    health_check_path: String,
    health_probe_interval: String,
    health_probe_timeout: String,
    health_threshold: i32,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Actors {
    runtime_status: String,
    active_actors: Option<Vec<ActiveActors>>,
    host_ready: bool,
    placement: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Scheduler {
    #[serde(alias = "connectedAddresses")]
    connected_addresses: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Workflows {
    connected_workers: i32,
}

fn actor_counts(actors: Option<Vec<ActiveActors>>) -> Vec<ActiveActorsCount> {
    actors.unwrap_or_default().into_iter().map(|a| ActiveActorsCount { r#type: a.r#type, count: a.count }).collect()
}

/// The sidecar's metadata from its HTTP answer; a body that is no such document is an error.
pub(super) fn from_json(body: &[u8]) -> Result<GetMetadataResponse> {
    let m: Metadata = serde_json::from_slice(body).map_err(|e| Error::Api {
        code: tonic::Code::Internal,
        error_code: None,
        message: format!("the sidecar's GET /v1.0/metadata answer is not Dapr's metadata document: {e}"),
    })?;
    #[allow(deprecated)] // `actors` is still what daprd sends beside `actorRuntime.activeActors`
    let response = GetMetadataResponse {
        id: m.id,
        active_actors_count: actor_counts(m.actors),
        registered_components: m
            .components
            .unwrap_or_default()
            .into_iter()
            .map(|c| RegisteredComponents {
                name: c.name,
                r#type: c.r#type,
                version: c.version,
                capabilities: c.capabilities.unwrap_or_default(),
            })
            .collect(),
        extended_metadata: m.extended.unwrap_or_default(),
        subscriptions: m
            .subscriptions
            .unwrap_or_default()
            .into_iter()
            .map(|s| PubsubSubscription {
                pubsub_name: s.pubsubname,
                topic: s.topic,
                metadata: s.metadata.unwrap_or_default(),
                rules: Some(PubsubSubscriptionRules {
                    rules: s
                        .rules
                        .unwrap_or_default()
                        .into_iter()
                        .map(|r| PubsubSubscriptionRule { r#match: r.r#match, path: r.path })
                        .collect(),
                }),
                dead_letter_topic: s.dead_letter_topic,
                r#type: PubsubSubscriptionType::from_str_name(&s.r#type).unwrap_or(PubsubSubscriptionType::Unknown) as i32,
            })
            .collect(),
        http_endpoints: m.http_endpoints.unwrap_or_default().into_iter().map(|e| MetadataHttpEndpoint { name: e.name }).collect(),
        app_connection_properties: m.app_connection_properties.map(|a| AppConnectionProperties {
            port: a.port,
            protocol: a.protocol,
            channel_address: a.channel_address,
            max_concurrency: a.max_concurrency,
            health: a.health.map(|h| AppConnectionHealthProperties {
                health_check_path: h.health_check_path,
                health_probe_interval: h.health_probe_interval,
                health_probe_timeout: h.health_probe_timeout,
                health_threshold: h.health_threshold,
            }),
        }),
        runtime_version: m.runtime_version,
        enabled_features: m.enabled_features.unwrap_or_default(),
        actor_runtime: m.actor_runtime.map(|a| ActorRuntime {
            runtime_status: ActorRuntimeStatus::from_str_name(&a.runtime_status).unwrap_or(ActorRuntimeStatus::Initializing) as i32,
            active_actors: actor_counts(a.active_actors),
            host_ready: a.host_ready,
            placement: a.placement,
        }),
        scheduler: m.scheduler.map(|s| MetadataScheduler { connected_addresses: s.connected_addresses.unwrap_or_default() }),
        workflows: m.workflows.map(|w| MetadataWorkflows { connected_workers: w.connected_workers }),
    };
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daprds_document_reads_into_the_grpc_shape() {
        let body = br#"{
            "id": "checkout", "runtimeVersion": "1.17.0", "enabledFeatures": ["SchedulerReminders"],
            "actors": null,
            "components": [{"name": "pubsub", "type": "pubsub.redis", "version": "v1", "capabilities": ["TTL"]}],
            "extended": {"daprRuntimeVersion": "1.17.0", "k": "v"},
            "subscriptions": [
                {"pubsubname": "pubsub", "topic": "orders", "metadata": {"rawPayload": "true"},
                 "rules": [{"match": "event.type == \"a\"", "path": "/a"}, {"path": "/orders"}],
                 "deadLetterTopic": "dlq", "type": "PROGRAMMATIC"},
                {"pubsubname": "pubsub", "topic": "s", "deadLetterTopic": "", "type": "STREAMING"}
            ],
            "httpEndpoints": [{"name": "ep"}],
            "appConnectionProperties": {"port": 3000, "protocol": "http", "channelAddress": "127.0.0.1", "maxConcurrency": -1,
                "health": {"healthCheckPath": "/healthz", "healthProbeInterval": "5s", "healthProbeTimeout": "500ms", "healthThreshold": 3}},
            "actorRuntime": {"runtimeStatus": "DISABLED", "hostReady": false},
            "scheduler": {"connected_addresses": ["127.0.0.1:50006"]},
            "workflows": {"connectedWorkers": 2}
        }"#;
        let m = from_json(body).unwrap();
        assert_eq!((m.id.as_str(), m.runtime_version.as_str(), m.enabled_features.len()), ("checkout", "1.17.0", 1));
        assert_eq!(m.registered_components[0].r#type, "pubsub.redis");
        assert_eq!(m.registered_components[0].capabilities, ["TTL"]);
        assert_eq!(m.extended_metadata["k"], "v");
        let orders = &m.subscriptions[0];
        assert_eq!(
            (orders.topic.as_str(), orders.dead_letter_topic.as_str(), orders.metadata["rawPayload"].as_str()),
            ("orders", "dlq", "true")
        );
        let rules = &orders.rules.as_ref().unwrap().rules;
        assert_eq!((rules[0].r#match.as_str(), rules[0].path.as_str(), rules[1].r#match.as_str()), ("event.type == \"a\"", "/a", ""));
        assert_eq!(orders.r#type, PubsubSubscriptionType::Programmatic as i32);
        assert_eq!(m.subscriptions[1].r#type, PubsubSubscriptionType::Streaming as i32);
        assert_eq!(m.http_endpoints[0].name, "ep");
        let app = m.app_connection_properties.unwrap();
        assert_eq!((app.port, app.max_concurrency, app.health.unwrap().health_threshold), (3000, -1, 3));
        assert_eq!(m.actor_runtime.unwrap().runtime_status, ActorRuntimeStatus::Disabled as i32);
        assert_eq!(m.scheduler.unwrap().connected_addresses, ["127.0.0.1:50006"]);
        assert_eq!(m.workflows.unwrap().connected_workers, 2);
    }

    #[test]
    fn a_body_that_is_no_metadata_document_is_an_error() {
        assert!(from_json(b"{}").is_ok());
        for bad in [&b"<html>"[..], br#"{"components": "pubsub"}"#, b""] {
            let err = from_json(bad).unwrap_err();
            assert!(err.message().contains("not Dapr's metadata document"), "{err}");
        }
    }
}
