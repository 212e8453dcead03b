"""Bulk subscriptions of an App: the handler gets a batch of events and answers per entry. Driven by
the official SDK's stubs as daprd calls the app, and through a real sidecar over both app
protocols: batches arrive, per-entry RETRY is redelivered, DROP goes to the dead-letter topic, and
an exception retries the whole batch."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from dapr.proto.runtime.v1 import appcallback_pb2
from google.protobuf import empty_pb2

import dapr_rs.aio
from dapr_rs import App, BulkSubscribe, DaprClient, TopicEvent
from sidecar_harness import Sidecar, wait_until, write_component

PUBSUB = "order_pub_sub"
SUCCESS, RETRY, DROP = (appcallback_pb2.TopicEventResponse.TopicEventResponseStatus.Value(s) for s in ("SUCCESS", "RETRY", "DROP"))
# Every wait for an event gives up after this many seconds.
DEADLINE = 20.0


def bulk_request(*data: str) -> appcallback_pb2.TopicEventBulkRequest:
    entries = [
        appcallback_pb2.TopicEventBulkRequestEntry(
            entry_id=f"entry-{i}",
            cloud_event=appcallback_pb2.TopicEventCERequest(
                id=f"e-{i}", source="s", type="t", spec_version="1.0", data_content_type="text/plain", data=d.encode()
            ),
            metadata={"n": str(i)},
        )
        for i, d in enumerate(data)
    ]
    return appcallback_pb2.TopicEventBulkRequest(id="b", entries=entries, topic="orders", pubsub_name=PUBSUB, path="/events/order_pub_sub/orders")


def statuses(response: appcallback_pb2.TopicEventBulkResponse) -> Dict[str, int]:
    return {s.entry_id: s.status for s in response.statuses}


def test_a_bulk_handler_gets_the_batch_and_answers_each_entry(callback, caplog: pytest.LogCaptureFixture) -> None:
    app = App()
    batches: List[List[TopicEvent]] = []

    @app.subscribe(PUBSUB, "orders", bulk=BulkSubscribe(max_messages=50, max_await_ms=20))
    def orders(events: List[TopicEvent]) -> Any:
        batches.append(events)
        answer = events[0].data.decode()
        if answer == "by-id":
            return {e.entry_id: e.data.decode() for e in events[1:]}  # the first left out: RETRY
        if answer == "in-order":
            return ["success", "drop", "retry"][: len(events)]
        if answer == "raise":
            raise RuntimeError("the database is down")
        return answer

    stub = callback(app)
    [sub] = stub.ListTopicSubscriptions(empty_pb2.Empty()).subscriptions
    assert (sub.bulk_subscribe.enabled, sub.bulk_subscribe.max_messages_count, sub.bulk_subscribe.max_await_duration_ms) == (True, 50, 20)

    assert statuses(stub.OnBulkTopicEvent(bulk_request("drop", "x"))) == {"entry-0": DROP, "entry-1": DROP}
    [batch] = batches
    assert [(e.entry_id, e.id, e.data, e.metadata, e.topic) for e in batch] == [
        ("entry-0", "e-0", b"drop", {"n": "0"}, "orders"),
        ("entry-1", "e-1", b"x", {"n": "1"}, "orders"),
    ]
    assert statuses(stub.OnBulkTopicEvent(bulk_request("by-id", "success", "drop"))) == {"entry-0": RETRY, "entry-1": SUCCESS, "entry-2": DROP}
    assert statuses(stub.OnBulkTopicEvent(bulk_request("in-order", "a", "b"))) == {"entry-0": SUCCESS, "entry-1": DROP, "entry-2": RETRY}
    # A failure, or an answer that does not fit the batch, retries every entry.
    with caplog.at_level(logging.ERROR, logger="dapr_rs"):
        for failing in [("raise", "x"), ("in-order", "a", "b", "c"), ("by-id", "sometimes"), ("sometimes", "a")]:
            assert set(statuses(stub.OnBulkTopicEvent(bulk_request(*failing))).values()) == {RETRY}, failing
    assert "the database is down" in caplog.text and "a batch of 2 events" in caplog.text
    # A single delivery to a bulk subscription is a batch of one.
    single = appcallback_pb2.TopicEventRequest(
        id="e-9", source="s", type="t", spec_version="1.0", data=b"drop", topic="orders", pubsub_name=PUBSUB, path="/events/order_pub_sub/orders"
    )
    assert stub.OnTopicEvent(single).status == DROP
    assert [e.id for e in batches[-1]] == ["e-9"]


def test_bulk_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        BulkSubscribe(max_messages=-1)
    with pytest.raises(TypeError):
        App().subscribe(PUBSUB, "orders", bulk=10)  # type: ignore[arg-type]
    assert dapr_rs.aio.BulkSubscribe is BulkSubscribe


@pytest.fixture(params=["grpc", "http"])
def protocol(request: pytest.FixtureRequest) -> str:
    return request.param


@contextlib.contextmanager
def behind_a_sidecar(app: App, protocol: str, tmp_path: Path) -> Iterator[Sidecar]:
    """`app` served over `protocol` and a sidecar delivering to it from `order_pub_sub` on the
    embedded broker (this test's own database), once the sidecar has the app's subscriptions."""
    resources = tmp_path / "components"
    resources.mkdir()
    write_component(resources, PUBSUB, "pubsub.sqlite", {"path": str(tmp_path / "pubsub.db")})
    port = app.start(0, listen_address="127.0.0.1", protocol=protocol)
    try:
        sidecar = Sidecar(f"bulk-{uuid.uuid4().hex[:8]}", resources, app_port=port, protocol=protocol)
        try:
            sidecar.wait_http("/v1.0/healthz", 204)
            yield sidecar
        finally:
            sidecar.stop()
    finally:
        app.stop()


def publish(sidecar: Sidecar, topic: str, data: List[Any]) -> None:
    with DaprClient(f"127.0.0.1:{sidecar.grpc_port}") as client:
        assert client.publish_events(PUBSUB, topic, data).failed_entries == []


def take(events: "queue.Queue[Any]", count: int, what: str) -> List[Any]:
    wait_until(lambda: events.qsize() >= count, DEADLINE, f"{count} {what} arrived")
    return [events.get_nowait() for _ in range(count)]


def test_bulk_published_events_arrive_in_batches(protocol: str, tmp_path: Path) -> None:
    app = App()
    batches: "queue.Queue[List[TopicEvent]]" = queue.Queue()
    events: "queue.Queue[TopicEvent]" = queue.Queue()

    @app.subscribe(PUBSUB, "orders", bulk=BulkSubscribe(max_messages=10, max_await_ms=1000))
    def orders(batch: List[TopicEvent]) -> str:
        batches.put(batch)
        for event in batch:
            events.put(event)
        return "success"

    with behind_a_sidecar(app, protocol, tmp_path) as sidecar:
        with urllib.request.urlopen(f"http://127.0.0.1:{sidecar.http_port}/v1.0/metadata", timeout=5) as resp:
            announced = json.load(resp)["subscriptions"]
        if protocol == "http":  # what the app announces (gRPC's is checked through the stubs above)
            with urllib.request.urlopen(f"http://127.0.0.1:{app.port}/dapr/subscribe", timeout=5) as resp:
                [document] = json.load(resp)
            assert document["bulkSubscribe"] == {"enabled": True, "maxMessagesCount": 10, "maxAwaitDurationMs": 1000}
        publish(sidecar, "orders", [{"orderId": n} for n in range(25)])
        got = take(events, 25, "orders")
    assert [(s["pubsubname"], s["topic"]) for s in announced] == [(PUBSUB, "orders")]
    assert sorted(e.decoded_data()["orderId"] for e in got) == list(range(25))
    sizes = drain_sizes(batches)
    assert max(sizes) > 1 and max(sizes) <= 10, sizes
    assert all(e.entry_id for e in got) and len({e.id for e in got}) == 25


def drain_sizes(batches: "queue.Queue[List[TopicEvent]]") -> List[int]:
    sizes = []
    while not batches.empty():
        sizes.append(len(batches.get_nowait()))
    return sizes


def test_per_entry_statuses_are_honoured(protocol: str, tmp_path: Path) -> None:
    app = App()
    seen: Counter = Counter()
    lock = threading.Lock()
    retried: "queue.Queue[str]" = queue.Queue()
    dead: "queue.Queue[TopicEvent]" = queue.Queue()

    @app.subscribe(PUBSUB, "orders", dead_letter_topic="orders-dead", bulk=BulkSubscribe(max_messages=10, max_await_ms=500))
    def orders(batch: List[TopicEvent]) -> Dict[str, str]:
        answers = {}
        for event in batch:
            name = event.decoded_data()
            with lock:
                seen[name] += 1
                again = seen[name] > 1
            if name == "retry" and again:
                retried.put(name)
            answers[event.entry_id] = {"retry": "success" if again else "retry", "drop": "drop"}.get(name, "success")
        return answers

    @app.subscribe(PUBSUB, "orders-dead", route="/dead-orders")
    def dead_orders(event: TopicEvent) -> None:
        dead.put(event)

    with behind_a_sidecar(app, protocol, tmp_path) as sidecar:
        publish(sidecar, "orders", ["a", "retry", "drop", "b"])
        take(retried, 1, "redelivered events")
        [letter] = take(dead, 1, "dead letters")
        time.sleep(1.0)  # time for a wrong redelivery of the others to show
    assert letter.decoded_data() == "drop"
    with lock:
        assert dict(seen) == {"a": 1, "retry": 2, "drop": 1, "b": 1}
    assert dead.empty()


def test_an_exception_retries_the_whole_batch(protocol: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = App()
    attempts: "queue.Queue[List[str]]" = queue.Queue()
    done: "queue.Queue[str]" = queue.Queue()
    failed_once = threading.Event()

    @app.subscribe(PUBSUB, "orders", bulk=BulkSubscribe(max_messages=10, max_await_ms=500))
    async def orders(batch: List[TopicEvent]) -> List[str]:
        await asyncio.sleep(0)
        attempts.put([e.decoded_data() for e in batch])
        if not failed_once.is_set():
            failed_once.set()
            raise RuntimeError("the database is down")
        for event in batch:
            done.put(event.decoded_data())
        return ["success"] * len(batch)

    with caplog.at_level(logging.ERROR, logger="dapr_rs"), behind_a_sidecar(app, protocol, tmp_path) as sidecar:
        publish(sidecar, "orders", ["x", "y", "z"])
        got = take(done, 3, "events after the failure")
    assert sorted(got) == ["x", "y", "z"]
    first = attempts.get_nowait()
    assert first, "the failing batch was empty"
    assert "the database is down" in caplog.text and "answering RETRY" in caplog.text
