//! The app callback servers as a sidecar sees them: a real tonic client for gRPC and raw HTTP
//! for the HTTP channel, with the reply mapping of the contract.

use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::proto::runtime::app_callback_client::AppCallbackClient;
use dapr_rs_core::proto::runtime::{TopicEventRequest, topic_event_response::TopicEventResponseStatus};
use dapr_rs_core::{RoutingRule, Subscription, SubscriptionOptions, TopicEvent, TopicEventStatus, handler_fn};
use std::io::{Read, Write};
use std::sync::Arc;

/// Answers by the payload: "ok" → SUCCESS, "retry" → RETRY, "drop" → DROP, "fail" → Err, "panic" → panic.
fn scripted() -> Arc<dyn dapr_rs_core::TopicHandler> {
    handler_fn(|ev: TopicEvent| async move {
        match ev.data.as_ref() {
            b"ok" => Ok(TopicEventStatus::Success),
            b"retry" => Ok(TopicEventStatus::Retry),
            b"drop" => Ok(TopicEventStatus::Drop),
            b"panic" => panic!("handler bug"),
            _ => Err("handler failed".into()),
        }
    })
}

fn subscriptions() -> Vec<Subscription> {
    let rule = SubscriptionOptions {
        rule: Some(RoutingRule { match_expr: "event.type == \"important\"".into(), priority: 1 }),
        ..Default::default()
    };
    vec![
        Subscription::new("ps", "orders", scripted()),
        Subscription::new("ps", "orders", scripted()).with_options(rule),
        Subscription::new("ps", "audit", scripted())
            .with_options(SubscriptionOptions { dead_letter_topic: Some("audit-dlq".into()), ..Default::default() }),
    ]
}

async fn start(protocol: AppProtocol, token: Option<&str>) -> AppServer {
    AppServer::start_with_token(protocol, "127.0.0.1:0".parse().unwrap(), subscriptions(), token.map(str::to_owned)).await.unwrap()
}

#[tokio::test]
async fn grpc_lists_subscriptions_and_maps_handler_outcomes() {
    let server = start(AppProtocol::Grpc, None).await;
    let mut client = AppCallbackClient::connect(format!("http://{}", server.local_addr())).await.unwrap();
    let subs = client.list_topic_subscriptions(()).await.unwrap().into_inner().subscriptions;
    assert_eq!(subs.len(), 2);
    let orders = &subs[0];
    let routes = orders.routes.as_ref().unwrap();
    assert_eq!(routes.default, "/events/ps/orders");
    assert_eq!(routes.rules.len(), 1);
    assert_eq!(routes.rules[0].r#match, "event.type == \"important\"");
    assert_eq!(subs[1].dead_letter_topic, "audit-dlq");

    let event = |data: &'static str, path: &str| TopicEventRequest {
        id: "1".into(),
        pubsub_name: "ps".into(),
        topic: "orders".into(),
        path: path.into(),
        data: bytes::Bytes::from_static(data.as_bytes()),
        ..Default::default()
    };
    let status = |r: dapr_rs_core::proto::runtime::TopicEventResponse| r.status;
    for (data, want) in [
        ("ok", TopicEventResponseStatus::Success),
        ("retry", TopicEventResponseStatus::Retry),
        ("drop", TopicEventResponseStatus::Drop),
        ("fail", TopicEventResponseStatus::Retry),
        ("panic", TopicEventResponseStatus::Retry),
    ] {
        let got = client.on_topic_event(event(data, "/events/ps/orders")).await.unwrap().into_inner();
        assert_eq!(status(got), want as i32, "payload {data}");
    }
    // The rule's route and the empty path (no routes) reach handlers too.
    let rule_route = routes.rules[0].path.clone();
    assert_eq!(status(client.on_topic_event(event("ok", &rule_route)).await.unwrap().into_inner()), 0);
    assert_eq!(status(client.on_topic_event(event("ok", "")).await.unwrap().into_inner()), 0);
    // An event nobody subscribed to is an error (a retry for the sidecar), not a silent success.
    let mut stray = event("ok", "/nowhere");
    stray.topic = "unknown".into();
    assert_eq!(client.on_topic_event(stray).await.unwrap_err().code(), tonic::Code::NotFound);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn grpc_requires_the_app_api_token_when_set() {
    let server = start(AppProtocol::Grpc, Some("app-secret")).await;
    let mut client = AppCallbackClient::connect(format!("http://{}", server.local_addr())).await.unwrap();
    assert_eq!(client.list_topic_subscriptions(()).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    let mut req = tonic::Request::new(());
    req.metadata_mut().insert("dapr-api-token", "app-secret".parse().unwrap());
    assert_eq!(client.list_topic_subscriptions(req).await.unwrap().into_inner().subscriptions.len(), 2);
    server.stop().await.unwrap();
}

fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/cloudevents+json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    (status, out.split_once("\r\n\r\n").unwrap().1.to_owned())
}

#[tokio::test]
async fn http_announces_routes_and_answers_statuses() {
    let server = start(AppProtocol::Http, None).await;
    let addr = server.local_addr();
    let (status, body) = tokio::task::spawn_blocking(move || http(addr, "GET", "/dapr/subscribe", "")).await.unwrap();
    assert_eq!(status, 200);
    let subs: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(subs[0]["pubsubname"], "ps");
    assert_eq!(subs[0]["routes"]["default"], "/events/ps/orders");
    assert_eq!(subs[1]["deadLetterTopic"], "audit-dlq");
    for (data, want) in [("ok", "SUCCESS"), ("retry", "RETRY"), ("drop", "DROP"), ("fail", "RETRY")] {
        let ce = serde_json::json!({"id": "1", "source": "s", "type": "t", "specversion": "1.0", "datacontenttype": "text/plain",
            "data": data, "topic": "orders", "pubsubname": "ps"})
        .to_string();
        let (status, body) = tokio::task::spawn_blocking(move || http(addr, "POST", "/events/ps/orders", &ce)).await.unwrap();
        assert_eq!(status, 200);
        let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(reply["status"], want, "payload {data}");
    }
    // Unknown routes are 404: the sidecar drops (or dead-letters) rather than retrying forever.
    let (status, _) = tokio::task::spawn_blocking(move || http(addr, "POST", "/nowhere", "{}")).await.unwrap();
    assert_eq!(status, 404);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn http_answers_the_sidecars_health_probe_while_serving() {
    let server = start(AppProtocol::Http, Some("app-secret")).await;
    let addr = server.local_addr();
    let (status, _) = tokio::task::spawn_blocking(move || http(addr, "GET", "/healthz", "")).await.unwrap();
    assert_eq!(status, 200, "healthy while serving, without the app token (daprd's probe sends none)");
    server.stop().await.unwrap();
}

/// A client made in a runtime that has since been dropped must not poison later clients for the
/// same endpoint (the shared channel is tied to the runtime that drives it).
#[test]
fn clients_for_one_endpoint_work_across_runtimes() {
    let server_rt = tokio::runtime::Runtime::new().unwrap();
    let server = server_rt.block_on(start(AppProtocol::Grpc, None));
    let endpoint = format!("http://{}", server.local_addr());
    for _ in 0..2 {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let options = dapr_rs_core::ClientOptions::from_lookup(|_| None).with_address(&endpoint);
            let client = dapr_rs_core::DaprClient::new(options).unwrap();
            // The app server is no sidecar: any answer but Unavailable proves the channel works.
            let err = client.metadata().await.unwrap_err();
            assert_eq!(err.grpc_code(), tonic::Code::Unimplemented, "{err}");
        });
        drop(rt);
    }
    server_rt.block_on(server.stop()).unwrap();
}

/// A handler that never returns, and a receiver told each time it is called.
fn never_returning_handler() -> (Arc<dyn dapr_rs_core::TopicHandler>, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let (called_tx, called) = tokio::sync::mpsc::unbounded_channel();
    let hangs = handler_fn(move |_ev: TopicEvent| {
        let _ = called_tx.send(());
        async move {
            futures::future::pending::<()>().await;
            Ok(TopicEventStatus::Success)
        }
    });
    (hangs, called)
}

/// A handler that never returns does not hold a stop: the server gives it up at the grace period,
/// over gRPC and over HTTP.
#[tokio::test(flavor = "multi_thread")]
async fn a_stop_ends_within_its_grace_even_with_a_handler_that_never_returns() {
    for protocol in [AppProtocol::Grpc, AppProtocol::Http] {
        let (hangs, mut called) = never_returning_handler();
        let server =
            AppServer::start_with_token(protocol, "127.0.0.1:0".parse().unwrap(), vec![Subscription::new("ps", "orders", hangs)], None)
                .await
                .unwrap();
        let addr = server.local_addr();
        match protocol {
            AppProtocol::Grpc => {
                let mut client = AppCallbackClient::connect(format!("http://{addr}")).await.unwrap();
                let request = TopicEventRequest {
                    id: "1".into(),
                    pubsub_name: "ps".into(),
                    topic: "orders".into(),
                    path: "/events/ps/orders".into(),
                    data: bytes::Bytes::from_static(b"{}"),
                    ..Default::default()
                };
                tokio::spawn(async move { client.on_topic_event(request).await });
            }
            AppProtocol::Http => {
                let body = r#"{"id":"1","source":"s","type":"t","specversion":"1.0","pubsubname":"ps","topic":"orders","data":{}}"#;
                // Sends the event and waits on the connection; the stop may close it unanswered.
                std::thread::spawn(move || {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    let head = format!(
                        "POST /events/ps/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(head.as_bytes()).and_then(|()| s.write_all(body.as_bytes()));
                    let _ = s.read_to_end(&mut Vec::new());
                });
            }
        }
        tokio::time::timeout(std::time::Duration::from_secs(10), called.recv())
            .await
            .unwrap_or_else(|_| panic!("{protocol:?}: the handler was not called within 10 s"));
        let grace = std::time::Duration::from_millis(500);
        let started = std::time::Instant::now();
        tokio::time::timeout(std::time::Duration::from_secs(10), server.stop_within(grace))
            .await
            .unwrap_or_else(|_| panic!("{protocol:?}: stop did not end 10 s after it was asked to (grace {grace:?})"))
            .unwrap();
        assert!(started.elapsed() < grace + std::time::Duration::from_secs(2), "{protocol:?}: stop took {:?}", started.elapsed());
    }
}

/// Stopped through its stop handle (as the Python binding stops it) and then waited on, a server
/// with a handler that never returns still ends within the default grace.
#[tokio::test(flavor = "multi_thread")]
async fn a_stop_through_the_handle_ends_within_the_default_grace() {
    let (hangs, mut called) = never_returning_handler();
    let mut server = AppServer::start_with_token(
        AppProtocol::Grpc,
        "127.0.0.1:0".parse().unwrap(),
        vec![Subscription::new("ps", "orders", hangs)],
        None,
    )
    .await
    .unwrap();
    let mut client = AppCallbackClient::connect(format!("http://{}", server.local_addr())).await.unwrap();
    let request = TopicEventRequest { id: "1".into(), pubsub_name: "ps".into(), topic: "orders".into(), ..Default::default() };
    tokio::spawn(async move { client.on_topic_event(request).await });
    tokio::time::timeout(std::time::Duration::from_secs(10), called.recv()).await.expect("the handler is called within 10 s");
    let started = std::time::Instant::now();
    let _ = server.take_stop_handle().expect("a stop handle").send(());
    let limit = dapr_rs_core::app::DEFAULT_STOP_GRACE + std::time::Duration::from_secs(2);
    tokio::time::timeout(limit, server.wait()).await.expect("the server ended within the default grace").unwrap();
    assert!(started.elapsed() >= dapr_rs_core::app::DEFAULT_STOP_GRACE - std::time::Duration::from_millis(100));
}

#[tokio::test]
async fn two_handlers_at_one_route_are_refused_before_serving() {
    let subs = vec![Subscription::new("ps", "orders", scripted()), Subscription::new("ps", "orders", scripted())];
    let err = match AppServer::start(AppProtocol::Http, "127.0.0.1:0".parse().unwrap(), subs).await {
        Ok(_) => panic!("a second handler at /events/ps/orders was accepted"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), dapr_rs_core::ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("ps/orders already has a handler at route /events/ps/orders"), "{err}");
    let rule = SubscriptionOptions { rule: Some(RoutingRule { match_expr: "true".into(), priority: 1 }), ..Default::default() };
    let distinct = vec![Subscription::new("ps", "orders", scripted()), Subscription::new("ps", "orders", scripted()).with_options(rule)];
    AppServer::start(AppProtocol::Http, "127.0.0.1:0".parse().unwrap(), distinct)
        .await
        .expect("a rule's route is its own")
        .stop()
        .await
        .unwrap();
}
