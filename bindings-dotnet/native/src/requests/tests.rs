use super::*;
use dapr_rs_core::ErrorKind;

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}

fn encoded(message: &impl Message) -> Vec<u8> {
    message.encode_to_vec()
}

/// The bytes bindings-dotnet/tests/BridgeRequestTests.cs asserts its encoder writes.
#[test]
fn the_csharp_encoders_requests_decode() {
    let (publish, trace) =
        publish(&hex("0a 0d 6f 72 64 65 72 5f 70 75 62 5f 73 75 62 12 06 6f 72 64 65 72 73 1a 02 01 02 20 02 32 06 0a 01 6b 12 01 76"))
            .unwrap();
    assert!(trace.is_empty());
    let (_, trace) = super::publish(&hex("0a 01 70 12 01 74 20 02 3a 05 30 30 2d 61 62 42 03 6b 3d 76")).unwrap();
    assert_eq!(trace, TraceContext::new("00-ab", "k=v"));
    assert_eq!((publish.pubsub_name.as_str(), publish.topic.as_str()), ("order_pub_sub", "orders"));
    assert_eq!(publish.data.as_ref(), [1, 2]);
    assert_eq!(publish.data_content_type, "application/json");
    assert_eq!(publish.metadata, HashMap::from([("k".to_owned(), "v".to_owned())]));

    let bulk = bulk_publish(&hex("0a 01 70 12 01 74 1a 08 0a 01 30 12 01 31 18 02 2a 05 30 30 2d 61 62 32 03 6b 3d 76")).unwrap();
    assert_eq!(bulk.trace, TraceContext::new("00-ab", "k=v"));
    assert_eq!((bulk.entries[0].entry_id.as_str(), bulk.entries[0].event.as_ref()), ("0", b"1".as_slice()));
    assert!(bulk_publish(&hex("0a 01 70 12 01 74")).unwrap().trace.is_empty());

    let (slice, _) = super::publish(&hex("0a 01 70 12 01 74 1a 02 01 02 20 03")).unwrap();
    assert_eq!((slice.data.as_ref(), slice.data_content_type.as_str()), ([1, 2].as_slice(), "application/cloudevents+json"));
    let sized = app_subscription(&hex("0a 01 70 12 01 74 42 05 08 0a 10 f4 03")).unwrap().options.bulk_subscribe;
    assert_eq!(sized, Some(BulkSubscribeOptions { max_messages_count: 10, max_await_duration_ms: 500 }));
    assert_eq!(app_subscription(&hex("0a 01 70 12 01 74 42 00")).unwrap().options.bulk_subscribe, Some(BulkSubscribeOptions::default()));
    assert_eq!(app_subscription(&hex("0a 01 70 12 01 74")).unwrap().options.bulk_subscribe, None);

    // A batch handler's subscription, and its answer: a DROP, a SUCCESS (0, so no status field).
    let batch = app_subscription(&hex("0a 01 70 12 01 74 42 00 48 01")).unwrap();
    assert!(batch.batch_handler && batch.options.bulk_subscribe.is_some());
    let answer = batch_answer(&hex("0a 0c 0a 05 0a 01 61 10 02 0a 03 0a 01 63")).unwrap().unwrap();
    assert_eq!(answer, [("a".to_owned(), TopicEventStatus::Drop), ("c".to_owned(), TopicEventStatus::Success)]);
    assert!(batch_answer(&hex("0a 00")).unwrap().unwrap().is_empty(), "no statuses: every entry left out");
    assert_eq!(batch_answer(&hex("12 04 62 6f 6f 6d")).unwrap().unwrap_err().to_string(), "boom");

    assert!(matches!(event_answer(&hex("08 00")), Ok(Ok(TopicEventStatus::Success))));
    assert!(matches!(event_answer(&hex("08 02")), Ok(Ok(TopicEventStatus::Drop))));
    let failure = event_answer(&hex("12 04 62 6f 6f 6d")).unwrap().unwrap_err();
    assert_eq!(failure.to_string(), "boom");

    let options = client_options(&hex("0a 00 18 88 27")).unwrap();
    assert_eq!(options.timeout, Some(Duration::from_secs(5)));
    assert_eq!(options.endpoint, ClientOptions::from_env().endpoint, "an empty endpoint leaves it to the environment");
    assert!(client_options(&hex("12 00")).unwrap().api_token.is_none(), "an empty token sends none");
}

#[test]
fn a_malformed_request_is_an_invalid_argument_naming_the_message_and_the_fault() {
    // A length running past the end, a string that is no UTF-8, a wire type a field does not have.
    for (bytes, fault) in [("0a 05 61", "buffer underflow"), ("12 01 ff", "UTF-8"), ("0d 00 00 00 00", "wire type")] {
        let err = publish(&hex(bytes)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bytes}");
        let text = err.to_string();
        assert!(text.contains("dapr_rs.bridge.v1.PublishRequest") && text.contains(fault), "{bytes}: {text}");
    }
}

#[test]
fn payload_kinds_pick_the_content_type_and_bad_ones_are_named() {
    let request = |data: &[u8], kind: i32, content_type: &str| {
        encoded(&bridge::PublishRequest {
            pubsub_name: "p".into(),
            topic: "t".into(),
            data: data.to_vec().into(),
            data_kind: kind,
            content_type: content_type.into(),
            metadata: HashMap::new(),
            ..Default::default()
        })
    };
    let cases = [
        (bridge::DataKind::Bytes, "", "application/octet-stream"),
        (bridge::DataKind::Text, "", "text/plain"),
        (bridge::DataKind::Json, "", "application/json"),
        (bridge::DataKind::Bytes, "image/png", "image/png"),
        // Whatever attributes the caller's CloudEvent left to the sidecar, it is one.
        (bridge::DataKind::CloudEvent, "", "application/cloudevents+json"),
    ];
    for (kind, named, expected) in cases {
        let (published, _) = publish(&request(b"\"x\"", kind as i32, named)).unwrap();
        assert_eq!(published.data_content_type, expected, "{kind:?}");
        assert_eq!(published.data.as_ref(), b"\"x\"");
    }
    let unknown = publish(&request(b"x", 7, "")).unwrap_err();
    assert!(unknown.to_string().contains("unknown data kind 7"), "{unknown}");
    let not_text = publish(&request(&[0xff], bridge::DataKind::Text as i32, "")).unwrap_err();
    assert!(not_text.to_string().contains("not valid UTF-8"), "{not_text}");
}

#[test]
fn a_bulk_request_keeps_its_entries_in_order_and_fails_on_a_bad_one() {
    let entry = |id: &str, kind: i32| bridge::BulkPublishEntry {
        entry_id: id.into(),
        data: bytes::Bytes::from_static(b"1"),
        data_kind: kind,
        content_type: String::new(),
        metadata: HashMap::from([("ttlInSeconds".to_owned(), "5".to_owned())]),
    };
    let request =
        |entries| encoded(&bridge::BulkPublishRequest { pubsub_name: "p".into(), topic: "t".into(), entries, ..Default::default() });
    let json = bridge::DataKind::Json as i32;
    let bulk = bulk_publish(&request(vec![entry("0", json), entry("1", json)])).unwrap();
    let ids: Vec<_> = bulk.entries.iter().map(|e| e.entry_id.as_str()).collect();
    assert_eq!(ids, ["0", "1"]);
    assert_eq!(bulk.entries[1].content_type, "application/json");
    assert_eq!(bulk.entries[1].metadata["ttlInSeconds"], "5");
    assert!(bulk_publish(&request(vec![entry("0", json), entry("1", 9)])).is_err());
}

#[test]
fn an_app_subscription_needs_its_names_and_carries_its_rule() {
    let request = |pubsub: &str, topic: &str| bridge::AppSubscribeRequest {
        pubsub_name: pubsub.into(),
        topic: topic.into(),
        r#match: "event.type == \"widget\"".into(),
        priority: 1,
        ..Default::default()
    };
    let subscription = app_subscription(&encoded(&request("p", "t"))).unwrap();
    let rule = subscription.options.rule.unwrap();
    assert_eq!((rule.match_expr.as_str(), rule.priority), ("event.type == \"widget\"", 1));
    assert_eq!(subscription.options.route, None);
    assert_eq!(subscription.options.dead_letter_topic, None);
    for (pubsub, topic) in [("", "t"), ("p", "")] {
        let err = app_subscription(&encoded(&request(pubsub, topic))).unwrap_err();
        assert!(err.to_string().contains("needs a pubsub_name and a topic"), "{err}");
    }
}

#[test]
fn an_app_subscription_may_ask_for_batches_of_a_size_the_sidecar_can_use() {
    let request = |bulk_subscribe| {
        encoded(&bridge::AppSubscribeRequest { pubsub_name: "p".into(), topic: "t".into(), bulk_subscribe, ..Default::default() })
    };
    let bulk = |max_messages_count, max_await_duration_ms| Some(bridge::BulkSubscribe { max_messages_count, max_await_duration_ms });
    assert_eq!(app_subscription(&request(None)).unwrap().options.bulk_subscribe, None);
    let defaults = app_subscription(&request(bulk(0, 0))).unwrap().options.bulk_subscribe;
    assert_eq!(defaults, Some(BulkSubscribeOptions::default()), "an empty BulkSubscribe still asks for batches");
    let sized = app_subscription(&request(bulk(10, 250))).unwrap().options.bulk_subscribe;
    assert_eq!(sized, Some(BulkSubscribeOptions { max_messages_count: 10, max_await_duration_ms: 250 }));
    for (count, ms, name) in
        [(-1, 0, "max_messages_count must not be negative, not -1"), (5, -2, "max_await_duration_ms must not be negative")]
    {
        let err = app_subscription(&request(bulk(count, ms))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn an_app_start_names_a_bad_protocol_or_port() {
    let request = |protocol: &str, port: i32| encoded(&bridge::AppStartRequest { protocol: protocol.into(), host: String::new(), port });
    let (_, addr) = app_start(&request("http", 0)).unwrap();
    assert_eq!(addr, "127.0.0.1:0".parse().unwrap());
    assert!(app_start(&request("smtp", 0)).unwrap_err().to_string().contains("unknown app protocol"));
    assert!(app_start(&request("grpc", 70000)).unwrap_err().to_string().contains("port must be 0-65535, not 70000"));
}

#[test]
fn an_event_answer_is_a_status_or_a_failure_and_nothing_else() {
    let status = |value| encoded(&bridge::EventAnswer { outcome: Some(bridge::event_answer::Outcome::Status(value)) });
    assert!(matches!(event_answer(&status(1)), Ok(Ok(TopicEventStatus::Retry))));
    let unknown = event_answer(&status(3)).unwrap_err();
    assert!(unknown.to_string().contains("unknown event status 3"), "{unknown}");
    let empty = event_answer(&[]).unwrap_err();
    assert!(empty.to_string().contains("needs a status or a failure"), "{empty}");
}

#[test]
fn a_batch_answer_is_statuses_or_a_failure_and_an_unknown_status_spoils_it() {
    use bridge::batch_answer::Outcome;
    let statuses = |entries: Vec<(&str, i32)>| {
        let entries = entries.into_iter().map(|(id, status)| bridge::EntryStatus { entry_id: id.into(), status }).collect();
        encoded(&bridge::BatchAnswer { outcome: Some(Outcome::Statuses(bridge::EntryStatuses { entries })) })
    };
    let answer = batch_answer(&statuses(vec![("1", 1), ("2", 2)])).unwrap().unwrap();
    assert_eq!(answer, [("1".to_owned(), TopicEventStatus::Retry), ("2".to_owned(), TopicEventStatus::Drop)]);
    let unknown = batch_answer(&statuses(vec![("1", 0), ("2", 5)])).unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::InvalidArgument);
    assert!(unknown.to_string().contains("unknown event status 5"), "{unknown}");
    let empty = batch_answer(&[]).unwrap_err();
    assert!(empty.to_string().contains("needs statuses or a failure"), "{empty}");
}
