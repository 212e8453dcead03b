"""dapr_rs.ext.fastapi and dapr_rs.ext.flask: a real uvicorn (FastAPI) or werkzeug (Flask) server in
this process serves the app's subscriptions, and a real `dapr-rs` sidecar delivers to it over HTTP
from the embedded broker (pubsub.sqlite, as samples/components). Every test runs on both, bulk
subscriptions (`bulk=BulkSubscribe(...)`) too."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import pytest
import uvicorn
import werkzeug.serving
from fastapi import FastAPI
from flask import Flask

import dapr_rs
from dapr_rs import BulkSubscribe, Rule, TopicEvent, TopicEventResponse
from dapr_rs.ext import fastapi as ext_fastapi
from dapr_rs.ext import flask as ext_flask
from sidecar_harness import Sidecar, wait_until, write_component

PUBSUB = "order_pub_sub"
# Every wait for a server or an event gives up after this many seconds.
DEADLINE = 20.0
CLOUD_EVENT = {"id": "ce-1", "source": "checkout", "type": "com.dapr.event.sent", "specversion": "1.0",
               "datacontenttype": "application/json", "data": {"orderId": 1}}


@contextlib.contextmanager
def uvicorn_serving(app: FastAPI) -> Iterator[int]:
    """A real uvicorn server for `app` on a thread of its own; yields its port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), DEADLINE, "uvicorn serves")
        assert server.started, "uvicorn ended before serving"
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(DEADLINE)
        sock.close()
        assert not thread.is_alive(), f"uvicorn did not stop within {DEADLINE}s"


@contextlib.contextmanager
def werkzeug_serving(app: Flask) -> Iterator[int]:
    """A real werkzeug server (Flask's) for `app`, a thread per request; yields its port."""
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="werkzeug", daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(DEADLINE)
        assert not thread.is_alive(), f"werkzeug did not stop within {DEADLINE}s"


class Framework:
    """How a test makes an app of one framework with its DaprApp, and serves it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def app(self) -> Tuple[Any, Union[ext_fastapi.DaprApp, ext_flask.DaprApp]]:
        if self.name == "fastapi":
            fastapi_app = FastAPI()
            return fastapi_app, ext_fastapi.DaprApp(fastapi_app)
        flask_app = Flask("orderprocessing")
        return flask_app, ext_flask.DaprApp(flask_app)

    def serving(self, app: Any) -> "contextlib.AbstractContextManager[int]":
        return uvicorn_serving(app) if self.name == "fastapi" else werkzeug_serving(app)


@pytest.fixture(params=["fastapi", "flask"])
def framework(request: pytest.FixtureRequest) -> Framework:
    return Framework(request.param)


@contextlib.contextmanager
def behind_a_sidecar(framework: Framework, app: Any, tmp_path: Path) -> Iterator[Tuple[int, Sidecar]]:
    """`app` served, and a sidecar (app id `orderprocessing`, `--app-protocol http`) delivering to
    it from `order_pub_sub` on the embedded broker, its database this test's own; yields the app's
    port and the sidecar once the sidecar has the app's subscriptions."""
    resources = tmp_path / "components"
    resources.mkdir()
    write_component(resources, PUBSUB, "pubsub.sqlite", {"path": str(tmp_path / "pubsub.db")})
    with framework.serving(app) as port:
        sidecar = Sidecar("orderprocessing", resources, app_port=port, protocol="http")
        try:
            sidecar.wait_http("/v1.0/healthz", 204)
            yield port, sidecar
        finally:
            sidecar.stop()


def publish(sidecar: Sidecar, topic: str, *data: Any) -> None:
    with dapr_rs.DaprClient(f"127.0.0.1:{sidecar.grpc_port}") as client:
        for item in data:
            client.publish_event(PUBSUB, topic, item)


def take(events: "queue.Queue[Any]", count: int, what: str) -> List[Any]:
    got: List[Any] = []
    for _ in range(count):
        try:
            got.append(events.get(timeout=DEADLINE))
        except queue.Empty:
            pytest.fail(f"{len(got)} of {count} {what} arrived within {DEADLINE}s: {got}")
    return got


def call(port: int, method: str, path: str, body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Any]:
    """One HTTP call to the app, as the sidecar makes it; (status, body as JSON, or as text when it is not)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=DEADLINE) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def deliver(port: int, path: str, event: Any, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Any]:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return call(port, "POST", path, body, {"content-type": "application/cloudevents+json", **(headers or {})})


def test_the_quickstarts_orders_arrive(framework: Framework, tmp_path: Path) -> None:
    app, dapr_app = framework.app()
    received: "queue.Queue[TopicEvent]" = queue.Queue()

    @dapr_app.subscribe(pubsub=PUBSUB, topic="orders")
    def orders(event: TopicEvent) -> None:
        received.put(event)

    with behind_a_sidecar(framework, app, tmp_path) as (_, sidecar):
        publish(sidecar, "orders", *({"orderId": n} for n in range(1, 11)))
        events = take(received, 10, "orders")
    assert sorted(e.decoded_data()["orderId"] for e in events) == list(range(1, 11))
    assert {(e.pubsub_name, e.topic, e.path, e.data_content_type) for e in events} == {
        (PUBSUB, "orders", "/events/order_pub_sub/orders", "application/json")
    }
    assert all(e.metadata.get("pubsubname") == PUBSUB for e in events), events[0].metadata


def test_a_handler_that_raises_gets_its_event_again(framework: Framework, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app, dapr_app = framework.app()
    attempts: "queue.Queue[str]" = queue.Queue()
    succeeded: "queue.Queue[TopicEvent]" = queue.Queue()

    @dapr_app.subscribe(pubsub=PUBSUB, topic="orders")
    def orders(event: TopicEvent) -> None:
        attempts.put(event.id)
        if attempts.qsize() == 1:
            raise RuntimeError("the database is down")
        succeeded.put(event)

    with caplog.at_level(logging.ERROR, logger="dapr_rs"), behind_a_sidecar(framework, app, tmp_path) as (_, sidecar):
        publish(sidecar, "orders", {"orderId": 1})
        [event] = take(succeeded, 1, "redelivered orders")
    assert [attempts.get_nowait() for _ in range(attempts.qsize())] == [event.id, event.id]
    assert "the database is down" in caplog.text and "answering RETRY" in caplog.text


def test_a_dropped_event_goes_to_the_dead_letter_topic(framework: Framework, tmp_path: Path) -> None:
    app, dapr_app = framework.app()
    dropped: "queue.Queue[TopicEvent]" = queue.Queue()
    dead: "queue.Queue[TopicEvent]" = queue.Queue()

    @dapr_app.subscribe(pubsub=PUBSUB, topic="orders", dead_letter_topic="orders-dead")
    def orders(event: TopicEvent) -> TopicEventResponse:
        dropped.put(event)
        return TopicEventResponse("drop")

    @dapr_app.subscribe(pubsub=PUBSUB, topic="orders-dead", route="/dead-orders")
    def dead_orders(event: TopicEvent) -> str:
        dead.put(event)
        return "success"

    with behind_a_sidecar(framework, app, tmp_path) as (port, sidecar):
        status, document = call(port, "GET", "/dapr/subscribe")
        publish(sidecar, "orders", {"orderId": 7})
        [first] = take(dropped, 1, "orders")
        [letter] = take(dead, 1, "dead letters")
    assert status == 200
    assert [(s["topic"], s["routes"]["default"], s.get("deadLetterTopic")) for s in document] == [
        ("orders", "/events/order_pub_sub/orders", "orders-dead"),
        ("orders-dead", "/dead-orders", None),
    ]
    # The dead letter is the CloudEvent as it was, topic attribute and all, at the other route.
    assert (letter.id, letter.decoded_data(), letter.topic, letter.path) == (first.id, {"orderId": 7}, "orders", "/dead-orders")


def test_calls_are_read_and_answered_by_cores_rules(framework: Framework, caplog: pytest.LogCaptureFixture) -> None:
    """What the sidecar may send, straight to the app's server: a bad body is 400, answers map to
    statuses (an exception, or an answer that is no status, to RETRY), a bulk envelope gets a
    status per entry, and the subscribe document says everything the subscriptions ask for."""
    app, dapr_app = framework.app()
    seen: List[TopicEvent] = []

    @dapr_app.subscribe(PUBSUB, "orders", metadata={"rawPayload": False}, dead_letter_topic="dlq")
    def orders(event: TopicEvent) -> Any:
        seen.append(event)
        return event.decoded_data()["answer"]

    @dapr_app.subscribe(PUBSUB, "orders", rule=Rule('event.type == "vip"', priority=1), route="vip")
    async def vip(event: TopicEvent) -> str:
        await asyncio.sleep(0)
        return "drop"

    @dapr_app.subscribe(PUBSUB, "failing")
    def failing(event: TopicEvent) -> None:
        raise ValueError("handler bug")

    def order(answer: Any, **attributes: Any) -> Dict[str, Any]:
        return {**CLOUD_EVENT, "data": {"answer": answer}, **attributes}

    with caplog.at_level(logging.ERROR, logger="dapr_rs"), framework.serving(app) as port:
        status, document = call(port, "GET", "/dapr/subscribe", headers={"dapr-app-id": "orderprocessing"})
        answers = {word: deliver(port, "/events/order_pub_sub/orders", order(word)) for word in ("success", "RETRY", "Drop", None)}
        not_a_status = deliver(port, "/events/order_pub_sub/orders", order({"success": True}))
        with_headers = deliver(port, "/events/order_pub_sub/orders", order("success", topic="orders"), {"__key": "k-7", "pubsubname": PUBSUB, "Order-Region": "eu"})
        raised = deliver(port, "/events/order_pub_sub/failing", CLOUD_EVENT)
        awaited = deliver(port, "/vip", {**CLOUD_EVENT, "type": "vip"})
        bad_bodies = [deliver(port, "/events/order_pub_sub/orders", body) for body in (b"not json", b"[1, 2]", b'"text"')]
        bulk = deliver(port, "/events/order_pub_sub/orders", {
            "id": "b-1", "type": "com.dapr.event.sent.bulk", "topic": "orders", "pubsubname": PUBSUB, "metadata": {},
            "entries": [
                {"entryId": "1", "event": order("drop"), "metadata": {"k": "v"}, "contentType": "application/cloudevents+json"},
                {"entryId": "2", "event": 42, "metadata": {}, "contentType": "application/json"},
                {"entryId": "3", "event": order("success"), "metadata": {}, "contentType": "application/cloudevents+json"},
            ],
        })

    assert status == 200
    assert document == [{
        "pubsubname": PUBSUB, "topic": "orders", "metadata": {"rawPayload": "false"}, "deadLetterTopic": "dlq",
        "routes": {"rules": [{"match": 'event.type == "vip"', "path": "/vip"}], "default": "/events/order_pub_sub/orders"},
    }, {
        "pubsubname": PUBSUB, "topic": "failing", "metadata": {}, "routes": {"rules": [], "default": "/events/order_pub_sub/failing"},
    }]
    assert answers == {"success": (200, {"status": "SUCCESS"}), "RETRY": (200, {"status": "RETRY"}),
                       "Drop": (200, {"status": "DROP"}), None: (200, {"status": "SUCCESS"})}
    assert not_a_status == raised == (200, {"status": "RETRY"})
    assert with_headers == (200, {"status": "SUCCESS"})
    assert awaited == (200, {"status": "DROP"})
    assert [status for status, _ in bad_bodies] == [400, 400, 400]
    assert "not a CloudEvent" in bad_bodies[0][1]
    assert bulk == (200, {"statuses": [{"entryId": "1", "status": "DROP"}, {"entryId": "2", "status": "DROP"},
                                       {"entryId": "3", "status": "SUCCESS"}]})
    # The metadata of an event is its call's headers (lowercased), or its bulk entry's. A WSGI
    # server (werkzeug, gunicorn) drops header names with "_", which its environ cannot tell from "-".
    metadata = {"__key": "k-7", "pubsubname": PUBSUB, "order-region": "eu"}
    if framework.name == "flask":
        del metadata["__key"]
    assert seen[5].metadata == metadata
    assert sorted(json.dumps(e.metadata) for e in seen[6:]) == ['{"k": "v"}', "{}"]
    assert (seen[0].id, seen[0].topic, seen[0].path) == ("ce-1", "orders", "/events/order_pub_sub/orders")
    assert "handler bug" in caplog.text and "TopicEventResponse" in caplog.text


def test_the_app_api_token_is_required_when_set(framework: Framework, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_API_TOKEN", "app-secret")
    app, dapr_app = framework.app()
    dapr_app.subscribe(PUBSUB, "orders")(lambda event: None)
    with framework.serving(app) as port:
        document = [call(port, "GET", "/dapr/subscribe", headers=h)[0] for h in ({}, {"dapr-api-token": "wrong"}, {"Dapr-Api-Token": "app-secret"})]
        delivered = [deliver(port, "/events/order_pub_sub/orders", CLOUD_EVENT, h)[0] for h in ({}, {"dapr-api-token": "app-secret"})]
    assert document == [401, 401, 200]
    assert delivered == [401, 200]


def test_bad_subscriptions_are_refused_when_registered(framework: Framework) -> None:
    _, dapr_app = framework.app()
    dapr_app.subscribe(PUBSUB, "orders")(lambda event: None)
    refused: List[Tuple[Callable[[], Any], type, str]] = [
        (lambda: dapr_app.subscribe(PUBSUB, "orders")(lambda event: None), ValueError, "already has a handler at route /events/order_pub_sub/orders"),
        (lambda: dapr_app.subscribe(PUBSUB, "other", route="/events/order_pub_sub/orders")(lambda event: None), ValueError, "already has a handler"),
        (lambda: dapr_app.subscribe(PUBSUB, "probe", route="healthz")(lambda event: None), ValueError, "probes the app's health"),
        (lambda: dapr_app.subscribe("", "orders")(lambda event: None), ValueError, "needs a pubsub_name and a topic"),
        (lambda: dapr_app.subscribe(PUBSUB, "empty", route="")(lambda event: None), ValueError, "must not be empty"),
        (lambda: dapr_app.subscribe(PUBSUB, "two")(lambda event, other: None), TypeError, "called with one TopicEvent"),
        (lambda: dapr_app.subscribe(PUBSUB, "none")(lambda: None), TypeError, "called with one TopicEvent"),
        (lambda: dapr_app.subscribe(PUBSUB, "text")("not a function"), TypeError, "must be callable"),  # type: ignore[type-var]
    ]
    for register, error, message in refused:
        with pytest.raises(error, match=message):
            register()


def test_fastapi_awaits_async_handlers_on_its_loop_and_runs_others_on_its_threadpool() -> None:
    app, dapr_app = Framework("fastapi").app()
    threads: Dict[str, str] = {}

    @dapr_app.subscribe(PUBSUB, "async")
    async def on_the_loop(event: TopicEvent) -> None:
        threads["async"] = threading.current_thread().name

    @dapr_app.subscribe(PUBSUB, "sync")
    def on_the_threadpool(event: TopicEvent) -> None:
        threads["sync"] = threading.current_thread().name

    with uvicorn_serving(app) as port:
        assert deliver(port, "/events/order_pub_sub/async", CLOUD_EVENT) == (200, {"status": "SUCCESS"})
        assert deliver(port, "/events/order_pub_sub/sync", CLOUD_EVENT) == (200, {"status": "SUCCESS"})
    assert threads["async"] == "uvicorn" and threads["sync"] != "uvicorn"
    # Tagged in the OpenAPI document as the official extension's routes are.
    assert app.openapi()["paths"]["/dapr/subscribe"]["get"]["tags"] == ["PubSub"]
    assert app.openapi()["paths"]["/events/order_pub_sub/sync"]["post"]["tags"] == ["PubSub"]


def bulk_envelope(*events: Any) -> Dict[str, Any]:
    """A bulk delivery as the sidecar POSTs it: entry `entry-<i>` holds `events[i]`."""
    entries = [{"entryId": f"entry-{i}", "event": event, "metadata": {"n": str(i)}, "contentType": "application/cloudevents+json"}
               for i, event in enumerate(events)]
    return {"id": "b-1", "type": "com.dapr.event.sent.bulk", "topic": "orders", "pubsubname": PUBSUB, "metadata": {}, "entries": entries}


def test_bulk_calls_are_read_and_answered_per_entry_by_cores_rules(framework: Framework, caplog: pytest.LogCaptureFixture) -> None:
    """A bulk subscription's handler gets each delivery as one list and answers per entry as an App
    bulk handler does; core reads the envelope and writes the statuses (a failure, or an answer that
    does not fit the batch, retries every entry), straight to the app's server."""
    app, dapr_app = framework.app()
    batches: List[List[TopicEvent]] = []

    @dapr_app.subscribe(PUBSUB, "orders", dead_letter_topic="dlq", bulk=BulkSubscribe(max_messages=50, max_await_ms=20))
    def orders(events: List[TopicEvent]) -> Any:
        batches.append(events)
        answer = events[0].decoded_data()
        if answer == "by-id":
            return {e.entry_id: e.decoded_data() for e in events[1:]}  # the first left out: RETRY
        if answer == "in-order":
            return ["success", "drop", "retry"][: len(events)]
        if answer == "raise":
            raise RuntimeError("the database is down")
        return answer

    def bulk(*answers: Any) -> Tuple[int, Any]:
        events = [{**CLOUD_EVENT, "id": f"e-{i}", "data": answer} for i, answer in enumerate(answers)]
        return deliver(framework_port, "/events/order_pub_sub/orders", bulk_envelope(*events))

    def statuses(reply: Tuple[int, Any]) -> List[str]:
        status, body = reply
        assert status == 200, body
        return [s["status"] for s in body["statuses"]]

    with caplog.at_level(logging.ERROR, logger="dapr_rs"), framework.serving(app) as framework_port:
        _, [document] = call(framework_port, "GET", "/dapr/subscribe")
        assert statuses(bulk("drop", "x")) == ["DROP", "DROP"]
        assert statuses(bulk("by-id", "success", "drop")) == ["RETRY", "SUCCESS", "DROP"]
        assert statuses(bulk("in-order", "a", "b")) == ["SUCCESS", "DROP", "RETRY"]
        answered = len(batches)
        failing = [statuses(bulk(*answers)) for answers in [("raise", "x"), ("in-order", "a", "b", "c"), ("by-id", "sometimes"), ("sometimes", "a")]]
        assert len(batches) == answered + 4
        # An entry that is no event reaches no handler and is dropped; the others are one batch.
        mixed = deliver(framework_port, "/events/order_pub_sub/orders", bulk_envelope({**CLOUD_EVENT, "data": "success"}, 42))
        # A single event POSTed to the route is a batch of one, answered as a single delivery.
        single = deliver(framework_port, "/events/order_pub_sub/orders", {**CLOUD_EVENT, "data": "drop"})
        bad_body = deliver(framework_port, "/events/order_pub_sub/orders", b"not json")

    assert document == {
        "pubsubname": PUBSUB, "topic": "orders", "metadata": {}, "deadLetterTopic": "dlq",
        "routes": {"rules": [], "default": "/events/order_pub_sub/orders"},
        "bulkSubscribe": {"enabled": True, "maxMessagesCount": 50, "maxAwaitDurationMs": 20},
    }
    assert [(e.entry_id, e.id, e.metadata, e.topic) for e in batches[0]] == [
        ("entry-0", "e-0", {"n": "0"}, "orders"),
        ("entry-1", "e-1", {"n": "1"}, "orders"),
    ]
    assert failing == [["RETRY"] * 2, ["RETRY"] * 4, ["RETRY"] * 2, ["RETRY"] * 2]
    assert statuses(mixed) == ["SUCCESS", "DROP"] and [len(b) for b in batches[-2:]] == [1, 1]
    assert single == (200, {"status": "DROP"}) and batches[-1][0].entry_id == ""
    assert bad_body[0] == 400 and len(batches) == answered + 6
    assert "the database is down" in caplog.text and "a batch of 2 events" in caplog.text


def test_a_bulk_subscription_gets_the_quickstarts_orders_in_batches(framework: Framework, tmp_path: Path) -> None:
    app, dapr_app = framework.app()
    batches: "queue.Queue[List[TopicEvent]]" = queue.Queue()
    received: "queue.Queue[TopicEvent]" = queue.Queue()

    @dapr_app.subscribe(pubsub=PUBSUB, topic="orders", bulk=BulkSubscribe(max_messages=10, max_await_ms=1000))
    def orders(events: List[TopicEvent]) -> str:
        batches.put(events)
        for event in events:
            received.put(event)
        return "success"

    with behind_a_sidecar(framework, app, tmp_path) as (_, sidecar):
        publish(sidecar, "orders", *({"orderId": n} for n in range(1, 21)))
        events = take(received, 20, "orders")
        time.sleep(1.0)  # time for a wrong redelivery to show
    assert sorted(e.decoded_data()["orderId"] for e in events) == list(range(1, 21))
    assert received.empty()
    assert {(e.pubsub_name, e.topic, e.path) for e in events} == {(PUBSUB, "orders", "/events/order_pub_sub/orders")}
    assert all(e.entry_id for e in events) and len({e.id for e in events}) == 20
    sizes = [len(batches.get_nowait()) for _ in range(batches.qsize())]
    assert max(sizes) > 1 and max(sizes) <= 10, sizes


def test_a_bulk_handlers_per_entry_answers_are_honoured(framework: Framework, tmp_path: Path) -> None:
    """Through the sidecar: an entry answered RETRY, or left out of the answer, comes again; DROP goes
    to the dead-letter topic; SUCCESS is not sent again. The handler is `async def` (awaited on
    FastAPI's loop; run to completion on Flask's request thread)."""
    app, dapr_app = framework.app()
    seen: Counter = Counter()
    lock = threading.Lock()
    again: "queue.Queue[str]" = queue.Queue()
    dead: "queue.Queue[TopicEvent]" = queue.Queue()

    @dapr_app.subscribe(pubsub=PUBSUB, topic="orders", dead_letter_topic="orders-dead", bulk=BulkSubscribe(max_messages=10, max_await_ms=500))
    async def orders(events: List[TopicEvent]) -> Dict[str, str]:
        await asyncio.sleep(0)
        answers = {}
        for event in events:
            name = event.decoded_data()
            with lock:
                seen[name] += 1
                first = seen[name] == 1
            if not first:
                again.put(name)
            if name == "left-out" and first:
                continue  # not answered: RETRY
            answers[event.entry_id] = {"retry": "retry" if first else "success", "drop": "drop"}.get(name, "success")
        return answers

    @dapr_app.subscribe(pubsub=PUBSUB, topic="orders-dead", route="/dead-orders")
    def dead_orders(event: TopicEvent) -> None:
        dead.put(event)

    with behind_a_sidecar(framework, app, tmp_path) as (_, sidecar):
        publish(sidecar, "orders", "a", "retry", "drop", "left-out", "b")
        redelivered = take(again, 2, "redelivered entries")
        [letter] = take(dead, 1, "dead letters")
        time.sleep(1.0)  # time for a wrong redelivery of the others to show
    assert sorted(redelivered) == ["left-out", "retry"]
    assert letter.decoded_data() == "drop"
    with lock:
        assert dict(seen) == {"a": 1, "retry": 2, "drop": 1, "left-out": 2, "b": 1}
    assert again.empty() and dead.empty()


def test_bad_bulk_subscriptions_are_refused_when_registered(framework: Framework) -> None:
    _, dapr_app = framework.app()
    with pytest.raises(TypeError, match="bulk must be a BulkSubscribe"):
        dapr_app.subscribe(PUBSUB, "orders", bulk=10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="called with a list of TopicEvent"):
        dapr_app.subscribe(PUBSUB, "orders", bulk=BulkSubscribe())(lambda events, other: None)
    with pytest.raises(ValueError, match="must not be negative"):
        BulkSubscribe(max_messages=-1)
