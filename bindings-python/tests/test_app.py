"""The App answers the sidecar's AppCallback calls: driven here by the official Dapr SDK's
generated stubs, exactly as daprd calls an app."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
import time
import urllib.request
from typing import Any, List

import grpc
import pytest
from dapr.clients.grpc._response import TopicEventResponse as SdkTopicEventResponse
from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import appcallback_pb2, appcallback_pb2_grpc
from google.protobuf import empty_pb2, struct_pb2

from dapr_rs import App, DaprClient, DaprError, Rule, TopicEvent, TopicEventResponse, TopicEventResponseStatus, v1

Status = appcallback_pb2.TopicEventResponse.TopicEventResponseStatus
SUCCESS, RETRY, DROP = Status.SUCCESS, Status.RETRY, Status.DROP


def request(topic: str = "orders", data: bytes = b'{"orderId": 1}', **fields: Any) -> appcallback_pb2.TopicEventRequest:
    fields.setdefault("pubsub_name", "order_pub_sub")
    fields.setdefault("path", f"/events/{fields['pubsub_name']}/{topic}")
    fields.setdefault("data_content_type", "application/json")
    return appcallback_pb2.TopicEventRequest(
        id="e-1", source="orderprocessing", type="com.dapr.event.sent", spec_version="1.0", topic=topic, data=data, **fields
    )


def test_list_topic_subscriptions(callback) -> None:
    app = App()

    @app.subscribe(pubsub_name="order_pub_sub", topic="orders")
    def orders(event: v1.Event) -> None: ...

    @app.subscribe("order_pub_sub", "payments", metadata={"rawPayload": True}, dead_letter_topic="poison")
    def payments(event: v1.Event) -> None: ...

    @app.subscribe("order_pub_sub", "payments", rule=Rule("event.type == 'refund'", 1))
    def refunds(event: v1.Event) -> None: ...

    subs = callback(app).ListTopicSubscriptions(empty_pb2.Empty()).subscriptions
    assert [(s.pubsub_name, s.topic) for s in subs] == [("order_pub_sub", "orders"), ("order_pub_sub", "payments")]
    assert subs[0].routes.default == "/events/order_pub_sub/orders"
    assert subs[0].dead_letter_topic == ""
    assert dict(subs[1].metadata) == {"rawPayload": "true"}
    assert subs[1].dead_letter_topic == "poison"
    assert subs[1].routes.default == "/events/order_pub_sub/payments"
    assert [(r.match, r.path) for r in subs[1].routes.rules] == [("event.type == 'refund'", "/events/order_pub_sub/payments/rule-1")]


def test_the_handler_gets_the_event(callback) -> None:
    app = App()
    seen: List[TopicEvent] = []
    threads: List[str] = []

    @app.subscribe(pubsub_name="order_pub_sub", topic="orders")
    def orders(event: v1.Event) -> None:
        seen.append(event)
        threads.append(threading.current_thread().name)

    ext = struct_pb2.Struct()
    ext.update({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "n": 2})
    resp = callback(app).OnTopicEvent(request(extensions=ext))
    assert resp.status == SUCCESS
    (event,) = seen
    assert threads[0] != threading.main_thread().name
    assert json.loads(event.Data()) == {"orderId": 1}
    assert event.decoded_data() == {"orderId": 1}
    assert (event.id, event.source, event.type, event.topic, event.pubsub_name) == (
        "e-1",
        "orderprocessing",
        "com.dapr.event.sent",
        "orders",
        "order_pub_sub",
    )
    assert event.path == "/events/order_pub_sub/orders"
    assert event.extensions == {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "n": 2}


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (None, SUCCESS),
        (TopicEventResponse("success"), SUCCESS),
        (TopicEventResponse("retry"), RETRY),
        (TopicEventResponse("drop"), DROP),
        (TopicEventResponse(TopicEventResponseStatus.drop), DROP),
        ("DROP", DROP),
        ("retry", RETRY),
        (TopicEventResponseStatus.success, SUCCESS),
        (SdkTopicEventResponse("drop"), DROP),  # the official SDK's response works too
        ("sucess", RETRY),  # a typo is the app's bug: retried and logged, never acked
        (42, RETRY),
    ],
)
def test_handler_answers_map_to_statuses(callback, answer: object, status: int) -> None:
    app = App()
    app.subscribe("order_pub_sub", "orders")(lambda event: answer)
    assert callback(app).OnTopicEvent(request()).status == status


def test_a_raising_handler_is_retried_and_logged(callback, caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    @app.subscribe(pubsub_name="order_pub_sub", topic="orders")
    def orders(event: v1.Event) -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="dapr_rs"):
        assert callback(app).OnTopicEvent(request()).status == RETRY
    (record,) = [r for r in caplog.records if r.name == "dapr_rs"]
    assert "orders" in record.getMessage() and "e-1" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert "raise RuntimeError" in caplog.text  # the traceback


def test_an_unknown_topic_is_not_found(callback) -> None:
    app = App()
    app.subscribe("order_pub_sub", "orders")(lambda event: None)
    with pytest.raises(grpc.RpcError) as err:
        callback(app).OnTopicEvent(request(topic="other"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_rules_route_to_their_handler(callback) -> None:
    app = App()
    got: List[str] = []
    app.subscribe("ps", "t")(lambda e: got.append("default"))
    app.subscribe("ps", "t", rule=Rule("event.type == 'b'", 1))(lambda e: got.append("rule"))
    stub = callback(app)
    stub.OnTopicEvent(request("t", pubsub_name="ps", path="/events/ps/t/rule-1"))
    stub.OnTopicEvent(request("t", pubsub_name="ps", path="/events/ps/t"))
    assert got == ["rule", "default"]


def test_the_handler_gets_the_calls_metadata(callback) -> None:
    """daprd sends a message's metadata as gRPC metadata; the handler reads it as event.metadata,
    without the transport's own keys. A bulk entry's metadata comes from the entry."""
    app = App()
    seen: List[TopicEvent] = []

    @app.subscribe("order_pub_sub", "orders")
    def orders(event: v1.Event) -> None:
        seen.append(event)

    stub = callback(app)
    stub.OnTopicEvent(request(), metadata=(("__key", "order-7"), ("pubsubname", "order_pub_sub"), ("x-tenant", "acme")))
    ce = appcallback_pb2.TopicEventCERequest(id="ce-1", data=b"1", data_content_type="application/json")
    entry = appcallback_pb2.TopicEventBulkRequestEntry(entry_id="0", cloud_event=ce, metadata={"__key": "order-8"})
    bulk = appcallback_pb2.TopicEventBulkRequest(id="b", entries=[entry], pubsub_name="order_pub_sub", topic="orders", path=request().path)
    stub.OnBulkTopicEvent(bulk, metadata=(("pubsubname", "order_pub_sub"),))
    single, entry_event = seen
    assert single.metadata == {"__key": "order-7", "pubsubname": "order_pub_sub", "x-tenant": "acme"}
    assert entry_event.metadata == {"__key": "order-8"}


def test_bulk_delivery_answers_each_entry(callback) -> None:
    app = App()

    @app.subscribe("ps", "t")
    def handler(event: v1.Event) -> Any:
        return {"ok": None, "no": "drop"}[event.decoded_data()]

    def entry(i: int, word: str) -> appcallback_pb2.TopicEventBulkRequestEntry:
        ce = appcallback_pb2.TopicEventCERequest(id=f"ce-{i}", data=json.dumps(word).encode(), data_content_type="application/json")
        return appcallback_pb2.TopicEventBulkRequestEntry(entry_id=str(i), cloud_event=ce, content_type="application/json")

    entries = [entry(i, word) for i, word in enumerate(["ok", "no"])]
    req = appcallback_pb2.TopicEventBulkRequest(id="b", entries=entries, pubsub_name="ps", topic="t", path="/events/ps/t")
    statuses = callback(app).OnBulkTopicEvent(req).statuses
    assert [(s.entry_id, s.status) for s in statuses] == [("0", SUCCESS), ("1", DROP)]


def test_handlers_may_call_the_client(callback, unreachable_address: str) -> None:
    """A handler blocking on a DaprClient call (republishing, say) runs on a blocking-pool thread:
    no deadlock, and the DaprError is an ordinary exception there."""
    app = App()
    errors: List[int] = []

    @app.subscribe("ps", "t")
    def handler(event: v1.Event) -> None:
        with DaprClient(unreachable_address) as client:
            try:
                client.publish_event("ps", "next", event.Data())
            except DaprError as e:
                errors.append(e.grpc_code)
                return TopicEventResponse("drop")

    assert callback(app).OnTopicEvent(request("t", pubsub_name="ps")).status == DROP
    assert errors == [grpc.StatusCode.UNAVAILABLE.value[0]]


def test_handlers_run_concurrently(callback) -> None:
    app = App()
    barrier = threading.Barrier(2, timeout=5)

    @app.subscribe("ps", "t")
    def handler(event: v1.Event) -> None:
        barrier.wait()  # both deliveries must be in their handlers at once

    stub = callback(app)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: stub.OnTopicEvent(request("t", pubsub_name="ps")).status, range(2)))
    assert results == [SUCCESS, SUCCESS]


def test_service_invocation_is_unimplemented(callback) -> None:
    stub = callback(App())
    with pytest.raises(grpc.RpcError) as err:
        stub.OnInvoke(common_pb2.InvokeRequest(method="m"))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_registration_rules() -> None:
    app = App()
    app.subscribe("ps", "t")(lambda e: None)
    with pytest.raises(ValueError, match="already has a handler"):
        app.subscribe("ps", "t")(lambda e: None)
    with pytest.raises(TypeError, match="callable"):
        app.subscribe("ps", "u")(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        app.subscribe("", "t")(lambda e: None)
    port = app.start(0, listen_address="127.0.0.1")
    try:
        assert app.port == port
        with pytest.raises(RuntimeError, match="before the app starts"):
            app.subscribe("ps", "v")(lambda e: None)
        with pytest.raises(RuntimeError, match="already serving"):
            app.start(0, listen_address="127.0.0.1")
    finally:
        app.stop()
    assert app.port is None
    app.stop()  # idempotent


def test_decorator_returns_the_function() -> None:
    app = App()

    def handler(event: v1.Event) -> None: ...

    assert app.subscribe("ps", "t")(handler) is handler


def test_bad_start_arguments() -> None:
    app = App()
    with pytest.raises(ValueError, match="protocol"):
        app.start(0, protocol="carrier-pigeon")
    with pytest.raises(OverflowError):
        app.start(70000)


def test_port_in_use_is_a_dapr_error() -> None:
    first, second = App(), App()
    port = first.start(0, listen_address="127.0.0.1")
    try:
        with pytest.raises(DaprError, match="cannot listen"):
            second.start(port, listen_address="127.0.0.1")
    finally:
        first.stop()


def test_run_returns_when_a_handler_stops_the_app() -> None:
    app = App()
    received: List[bytes] = []

    @app.subscribe("ps", "t")
    def handler(event: v1.Event) -> None:
        received.append(event.Data())
        app.stop()  # does not wait for itself

    port_box: List[int] = []
    done = threading.Event()

    def deliver() -> None:
        while app.port is None and not done.is_set():
            time.sleep(0.01)
        port_box.append(app.port)
        with grpc.insecure_channel(f"127.0.0.1:{app.port}") as ch:
            status = appcallback_pb2_grpc.AppCallbackStub(ch).OnTopicEvent(request("t", pubsub_name="ps"), timeout=5).status
            port_box.append(status)

    t = threading.Thread(target=deliver)
    t.start()
    start = time.monotonic()
    app.run(0, listen_address="127.0.0.1")
    done.set()
    t.join(5)
    assert time.monotonic() - start < 5
    assert received == [b'{"orderId": 1}']
    assert port_box[1] == SUCCESS  # the in-flight delivery finished before the server stopped
    assert app.port is None


def test_stop_from_another_thread_ends_run() -> None:
    app = App()
    timer = threading.Timer(0.3, app.stop)
    timer.start()
    start = time.monotonic()
    app.run(0, listen_address="127.0.0.1")
    assert 0.25 < time.monotonic() - start < 5


def test_http_protocol() -> None:
    app = App()
    got: List[Any] = []

    seen: List[TopicEvent] = []

    @app.subscribe("ps", "t", dead_letter_topic="dlq")
    def handler(event: v1.Event) -> TopicEventResponse:
        got.append(event.decoded_data())
        seen.append(event)
        return TopicEventResponse("drop")

    port = app.start(0, protocol="http", listen_address="127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/dapr/subscribe", timeout=5) as resp:
            subs = json.load(resp)
        assert subs[0]["pubsubname"] == "ps" and subs[0]["topic"] == "t" and subs[0]["deadLetterTopic"] == "dlq"
        ce = {"id": "1", "source": "s", "type": "t", "specversion": "1.0", "datacontenttype": "application/json", "data": {"x": 1}}
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/events/ps/t",
            data=json.dumps(ce).encode(),
            headers={"Content-Type": "application/cloudevents+json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.load(resp) == {"status": "DROP"}
        # daprd sends a message's metadata as headers; standard HTTP ones are not metadata.
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/events/ps/t",
            data=json.dumps(ce).encode(),
            headers={"Content-Type": "application/cloudevents+json", "__key": "order-7", "pubsubname": "ps"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.load(resp) == {"status": "DROP"}
    finally:
        app.stop()
    assert got == [{"x": 1}, {"x": 1}]
    assert [e.metadata for e in seen] == [{}, {"__key": "order-7", "pubsubname": "ps"}]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_async_def_handlers_are_awaited(callback, protocol: str) -> None:
    """An `async def` handler runs to completion; its answer (or exception) is the status."""
    app = App()
    seen: List[Any] = []

    @app.subscribe("order_pub_sub", "orders")
    async def orders(event: TopicEvent) -> str:
        import asyncio

        await asyncio.sleep(0.01)
        seen.append(event.decoded_data())
        return "drop"

    @app.subscribe("order_pub_sub", "failing")
    async def failing(event: TopicEvent) -> None:
        raise RuntimeError("async boom")

    if protocol == "grpc":
        stub = callback(app)
        assert stub.OnTopicEvent(request()).status == DROP
        assert stub.OnTopicEvent(request(topic="failing")).status == RETRY
    else:
        port = app.start(0, listen_address="127.0.0.1", protocol="http")
        try:
            for path, expected in (("/events/order_pub_sub/orders", "DROP"), ("/events/order_pub_sub/failing", "RETRY")):
                body = json.dumps({"id": "h-1", "specversion": "1.0", "source": "s", "type": "t", "datacontenttype": "application/json",
                                   "data": {"orderId": 1}, "topic": path.rsplit("/", 1)[1], "pubsubname": "order_pub_sub"}).encode()
                req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST",
                                             headers={"content-type": "application/cloudevents+json"})
                try:
                    with urllib.request.urlopen(req, timeout=5) as resp:
                        answer = json.loads(resp.read() or b"{}").get("status")
                except urllib.error.HTTPError as e:
                    answer = "RETRY" if e.code >= 500 else f"http {e.code}"
                assert answer == expected, path
        finally:
            app.stop()
    assert seen == [{"orderId": 1}]
