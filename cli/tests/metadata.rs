//! `GetMetadata` and `GET /v1.0/metadata` in daprd's shapes, and extended metadata set with
//! `SetMetadata` / `PUT /v1.0/metadata/{key}`.

mod common;

use common::{SidecarBuilder, memory_resources};
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{RoutingRule, Subscription, SubscriptionOptions, TopicEventStatus, handler_fn};
use dapr_rs_proto::runtime::dapr_client::DaprClient as RawDaprClient;
use dapr_rs_proto::runtime::{PubsubSubscriptionType, SetMetadataRequest};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn metadata_describes_components_subscriptions_and_the_app_connection_as_daprd_does() {
    let dir = memory_resources("order_pub_sub");
    let ok = handler_fn(|_| async { Ok(TopicEventStatus::Success) });
    let rule = SubscriptionOptions {
        rule: Some(RoutingRule { match_expr: "event.type == \"widget\"".into(), priority: 1 }),
        ..Default::default()
    };
    let subs = vec![
        Subscription::new("order_pub_sub", "orders", ok.clone())
            .with_options(SubscriptionOptions { dead_letter_topic: Some("orders-dead".into()), ..Default::default() }),
        Subscription::new("order_pub_sub", "orders", ok.clone()).with_options(rule),
    ];
    let addr = "127.0.0.1:0".parse().unwrap(); // the OS picks the port; no race with other tests
    let server = AppServer::start_with_token(AppProtocol::Http, addr, subs, None).await.unwrap();
    let port = server.local_addr().port();
    let sc = SidecarBuilder::new("checkout", dir.path()).app(port, "http").args(&["--app-max-concurrency", "7"]).start_subscribed();
    let stream = sc.client().subscribe("order_pub_sub", "live", Default::default()).await.unwrap();

    let (status, body) = sc.http("GET", "/v1.0/metadata", &[], b"");
    assert_eq!(status, 200);
    let md: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(md["id"], "checkout");
    assert_eq!(md["components"], json!([{"name": "order_pub_sub", "type": "pubsub.in-memory", "version": "v1"}]));
    assert_eq!(
        md["appConnectionProperties"],
        json!({"port": port, "protocol": "http", "channelAddress": "127.0.0.1", "maxConcurrency": 7})
    );
    assert_eq!(md["actorRuntime"], json!({"runtimeStatus": "DISABLED", "hostReady": false}));
    assert!(md["extended"]["daprRuntimeVersion"].is_string(), "{md}");
    // Empty lists are left out, as daprd's `omitempty` leaves them out.
    for absent in ["actors", "httpEndpoints", "enabledFeatures"] {
        assert!(md.get(absent).is_none(), "{absent}: {md}");
    }
    let subs = md["subscriptions"].as_array().unwrap();
    let orders = subs.iter().find(|s| s["topic"] == "orders").unwrap();
    assert_eq!(
        *orders,
        json!({
            "pubsubname": "order_pub_sub",
            "topic": "orders",
            "rules": [
                {"match": "event.type == \"widget\"", "path": "/events/order_pub_sub/orders/rule-1"},
                {"path": "/events/order_pub_sub/orders"},
            ],
            "deadLetterTopic": "orders-dead",
            "type": "PROGRAMMATIC",
        })
    );
    let live = subs.iter().find(|s| s["topic"] == "live").unwrap();
    assert_eq!(live["type"], "STREAMING");
    assert_eq!(live["deadLetterTopic"], "");

    // The same over gRPC, in the protobuf shape.
    let grpc = sc.client().metadata().await.unwrap();
    let orders = grpc.subscriptions.iter().find(|s| s.topic == "orders").unwrap();
    assert_eq!(orders.r#type, PubsubSubscriptionType::Programmatic as i32);
    assert_eq!(orders.rules.as_ref().unwrap().rules.len(), 2);
    let app = grpc.app_connection_properties.unwrap();
    assert_eq!((app.port, app.protocol.as_str(), app.max_concurrency), (i32::from(port), "http", 7));
    drop(stream);
    drop(sc);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn extended_metadata_set_over_grpc_and_http_is_reported() {
    let dir = memory_resources("order_pub_sub");
    let sc = SidecarBuilder::new("a", dir.path()).start();
    let mut raw = RawDaprClient::connect(sc.grpc_endpoint()).await.unwrap();
    raw.set_metadata(SetMetadataRequest { key: "team".into(), value: "payments".into() }).await.unwrap();
    // daprd ignores an empty key, and the runtime version cannot be overwritten.
    raw.set_metadata(SetMetadataRequest { key: "".into(), value: "x".into() }).await.unwrap();
    raw.set_metadata(SetMetadataRequest { key: "daprRuntimeVersion".into(), value: "fake".into() }).await.unwrap();
    assert_eq!(sc.http("PUT", "/v1.0/metadata/region", &[], b"eu west").0, 204);

    let grpc = sc.client().metadata().await.unwrap().extended_metadata;
    assert_eq!(grpc.get("team").map(String::as_str), Some("payments"));
    assert_eq!(grpc.get("region").map(String::as_str), Some("eu west"));
    assert_ne!(grpc.get("daprRuntimeVersion").map(String::as_str), Some("fake"));
    assert!(!grpc.contains_key(""));
    let http: serde_json::Value = serde_json::from_str(&sc.http("GET", "/v1.0/metadata", &[], b"").1).unwrap();
    assert_eq!(http["extended"]["team"], "payments");
    assert_eq!(http["extended"]["region"], "eu west");
}
