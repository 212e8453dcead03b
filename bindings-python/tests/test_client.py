"""DaprClient against no sidecar (errors) and against the real `dapr-rs` sidecar, observed end to end
by a dapr_rs.App subscribed behind it."""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Dict

import grpc
import pytest

from dapr_rs import App, DaprClient, DaprError, TopicEvent
from sidecar_harness import Sidecar, write_component

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.value[0]
DEADLINE_EXCEEDED = grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED.value[0]


def test_wait_for_sidecar_times_out_with_a_dapr_error(unreachable_address: str) -> None:
    client = DaprClient(unreachable_address)
    start = time.monotonic()
    with pytest.raises(DaprError) as err:
        client.wait_for_sidecar(0.3)
    assert 0.25 < time.monotonic() - start < 3
    assert err.value.grpc_code == DEADLINE_EXCEEDED
    assert err.value.error_code is None
    assert "timed out" in err.value.message
    with pytest.raises(DaprError):
        client.wait(0.05)  # the official SDK's name


def test_publish_to_an_unreachable_sidecar_raises(unreachable_address: str) -> None:
    with DaprClient(unreachable_address) as client:
        with pytest.raises(DaprError) as err:
            client.publish_event("order_pub_sub", "orders", b"1")
    assert err.value.grpc_code == UNAVAILABLE
    assert "unavailable" in str(err.value)
    assert isinstance(err.value, Exception)


def test_invalid_arguments_are_dapr_errors(unreachable_address: str) -> None:
    client = DaprClient(unreachable_address)
    with pytest.raises(DaprError) as err:
        client.publish_event("", "orders", b"1")
    assert err.value.grpc_code == INVALID_ARGUMENT
    with pytest.raises(ValueError):
        client.wait_for_sidecar(-1)
    with pytest.raises(DaprError) as err:
        DaprClient("https://example.invalid:443")
    assert err.value.grpc_code == INVALID_ARGUMENT


def test_address_forms_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DaprClient("localhost:1234").endpoint == "http://localhost:1234"
    assert DaprClient("dns:localhost:1234").endpoint == "http://localhost:1234"
    monkeypatch.delenv("DAPR_GRPC_ENDPOINT", raising=False)
    monkeypatch.setenv("DAPR_GRPC_PORT", "50007")
    assert DaprClient().endpoint == "http://127.0.0.1:50007"
    with pytest.raises(ValueError):
        DaprClient(timeout=-2)


def test_context_manager_closes_the_client(unreachable_address: str) -> None:
    with DaprClient(unreachable_address) as client:
        assert isinstance(client, DaprClient)
        assert "closed" not in repr(client)
    assert "closed" in repr(client)
    with pytest.raises(RuntimeError, match="closed"):
        client.publish_event("ps", "t", b"")
    with pytest.raises(RuntimeError, match="closed"):
        with client:
            pass


def test_dapr_error_can_be_raised_from_python() -> None:
    err = DaprError("mine")
    assert (err.grpc_code, err.error_code, err.message) == (grpc.StatusCode.UNKNOWN.value[0], None, "")


def test_wait_for_sidecar_and_publish(subscribed) -> None:
    """Each data type gets its content type; the subscriber sees the CloudEvent the sidecar built."""
    s = subscribed(["orders", "bytes", "text", "json", "buffer"])
    with DaprClient(s.address) as client:
        client.wait_for_sidecar(5)
        client.publish_event(
            pubsub_name="order_pub_sub",
            topic_name="orders",
            data='{"orderId": 1}',
            data_content_type="application/json",
            publish_metadata={"cloudevent.subject": "order-1"},
        )
        client.publish_event("order_pub_sub", "bytes", b"\x00\x01")
        client.publish_event("order_pub_sub", "text", "héllo")
        client.publish_event("order_pub_sub", "json", {"orderId": 2}, publish_metadata={"ttlInSeconds": 60})
        client.publish_event("order_pub_sub", "buffer", bytearray(b"ba"), "application/x-custom")
    got = s.by_topic(5)
    assert {t: e.data_content_type for t, e in got.items()} == {
        "orders": "application/json",
        "bytes": "application/octet-stream",
        "text": "text/plain",
        "json": "application/json",
        "buffer": "application/x-custom",
    }
    assert got["bytes"].data == b"\x00\x01"
    assert got["text"].data == "héllo".encode()
    assert got["buffer"].data == b"ba"
    # JSON travels as a JSON value inside the CloudEvent, so compare it parsed.
    assert json.loads(got["orders"].data) == got["orders"].decoded_data() == {"orderId": 1}
    assert json.loads(got["json"].data) == {"orderId": 2}
    for topic, event in got.items():
        assert (event.source, event.type, event.spec_version) == ("checkout", "com.dapr.event.sent", "1.0")
        assert (event.topic, event.pubsub_name) == (topic, "order_pub_sub")
        assert event.extensions["traceparent"]
    assert got["orders"].extensions["subject"] == "order-1"
    assert "subject" not in got["text"].extensions
    assert "expiration" not in got["orders"].extensions
    sent = datetime.fromisoformat(got["json"].extensions["time"])
    expires = datetime.fromisoformat(got["json"].extensions["expiration"])
    assert expires - sent == timedelta(seconds=60)


def delivered_once(resources: Path, pubsub: str, topic: str, protocol: str, publish_metadata: Dict[str, str], timeout: float) -> TopicEvent:
    """Publishes one event with `publish_metadata` through a real sidecar and returns it as a
    dapr_rs.App handler received it over `protocol`."""
    events: "queue.Queue[TopicEvent]" = queue.Queue()
    app = App()
    app.subscribe(pubsub, topic)(events.put)
    port = app.start(0, listen_address="127.0.0.1", protocol=protocol)
    sidecar = None
    try:
        sidecar = Sidecar(f"metadata-{protocol}", resources, app_port=port, protocol=protocol)
        sidecar.wait_http("/v1.0/healthz", 204)
        with DaprClient(f"127.0.0.1:{sidecar.grpc_port}") as client:
            client.publish_event(pubsub, topic, {"orderId": 7}, publish_metadata=publish_metadata)
        try:
            return events.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no event on {pubsub}/{topic} within {timeout} s")
    finally:
        if sidecar is not None:
            sidecar.stop()
        app.stop()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_the_handler_reads_the_publish_metadata(tmp_path: Path, protocol: str) -> None:
    """The embedded broker keeps a publish's metadata; the handler reads it as event.metadata, as
    daprd delivers it (keys lowercased, pubsubname added, no transport headers)."""
    write_component(tmp_path, "embedded", "pubsub.sqlite", {"path": str(tmp_path / "pubsub.db")})
    event = delivered_once(tmp_path, "embedded", "orders", protocol, {"X-Order-Source": "web"}, timeout=20)
    assert event.metadata == {"x-order-source": "web", "pubsubname": "embedded"}


def test_a_kafka_handler_reads_the_record_key(tmp_path: Path) -> None:
    """Kafka's partitionKey is the record key; the handler reads it as metadata["__key"]."""
    topic = f"py-metadata-{uuid.uuid4().hex}"  # a topic and consumer group of this run only
    kafka = {"brokers": "127.0.0.1:9092", "authType": "none", "initialOffset": "oldest", "consumerGroup": topic}
    write_component(tmp_path, "kafka_pub_sub", "pubsub.kafka", kafka)
    event = delivered_once(tmp_path, "kafka_pub_sub", topic, "grpc", {"partitionKey": "order-7"}, timeout=60)
    assert event.metadata["__key"] == "order-7"
    assert event.metadata["__topic"] == topic
    assert int(event.metadata["__partition"]) >= 0
    assert event.metadata["partitionkey"] == "order-7"  # every publish metadata key is a record header


def test_sidecar_errors_keep_code_and_dapr_error_code(sidecar: Sidecar) -> None:
    """The sidecar's google.rpc.ErrorInfo reason becomes error_code."""
    with DaprClient(f"127.0.0.1:{sidecar.grpc_port}") as client:
        client.publish_event("order_pub_sub", "orders", b"1")  # the pubsub that exists works
        with pytest.raises(DaprError) as err:
            client.publish_event("nope", "orders", b"1")
    assert err.value.grpc_code == INVALID_ARGUMENT
    assert err.value.error_code == "ERR_PUBSUB_NOT_FOUND"
    assert "nope" in err.value.message and "not found" in err.value.message
    assert "ERR_PUBSUB_NOT_FOUND" in str(err.value)


def test_api_token_is_sent(subscribed) -> None:
    s = subscribed(["t"], env={"DAPR_API_TOKEN": "s3cret"})
    with DaprClient(s.address, api_token="s3cret") as client:
        client.publish_event("order_pub_sub", "t", b"with the token")
    (event,) = s.received(1)
    assert event.data == b"with the token"
    for token in (None, "wrong"):
        with DaprClient(s.address, api_token=token) as client:
            with pytest.raises(DaprError) as err:
                client.publish_event("order_pub_sub", "t", b"without")
        assert err.value.grpc_code == UNAUTHENTICATED
    with DaprClient(s.address, api_token="s3cret") as client:
        client.publish_event("order_pub_sub", "t", b"again")
    (event,) = s.received(1)
    assert event.data == b"again"  # the rejected calls published nothing
    time.sleep(0.3)
    assert s.events.empty()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_clients_work_in_a_forked_child(subscribed) -> None:
    """The runtime, the shared connection and clients made before the fork are all remade in the child."""
    s = subscribed(["parent", "child-old-client", "child-new-client"])
    client = DaprClient(s.address)
    client.publish_event("order_pub_sub", "parent", b"p")
    (first,) = s.received(1)  # the client's connection is in use before the fork
    assert first.topic == "parent"
    pid = os.fork()
    if pid == 0:  # child: exit code says whether it worked; never return into pytest
        code = 1
        try:
            client.publish_event("order_pub_sub", "child-old-client", b"o")
            DaprClient(s.address).publish_event("order_pub_sub", "child-new-client", b"n")
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    assert os.waitstatus_to_exitcode(status) == 0
    got = s.by_topic(2)
    assert {t: e.data for t, e in got.items()} == {"child-old-client": b"o", "child-new-client": b"n"}
    client.publish_event("order_pub_sub", "parent", b"p2")  # and the parent's client still works
    assert [e.data for e in s.received(1)] == [b"p2"]


def test_calls_release_the_gil(unreachable_address: str) -> None:
    """Another Python thread keeps running while one waits for the sidecar."""
    ticks = []
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.01)

    t = threading.Thread(target=tick)
    t.start()
    with pytest.raises(DaprError):
        DaprClient(unreachable_address).wait_for_sidecar(0.5)
    stop.set()
    t.join()
    assert len(ticks) > 10


def test_a_cloudevent_shaped_dict_is_published_as_the_envelope(subscribed) -> None:
    """Core's content-type rule: a dict with the CloudEvents required attributes goes as
    application/cloudevents+json, so the sidecar keeps its id, source and type."""
    s = subscribed(["ce", "memoryview"])
    ce = {"specversion": "1.0", "id": "order-9", "source": "shop", "type": "order.created",
          "datacontenttype": "application/json", "data": {"orderId": 9}}
    with DaprClient(s.address) as client:
        client.publish_event("order_pub_sub", "ce", ce)
        client.publish_event("order_pub_sub", "memoryview", memoryview(b"mv"))
    got = s.by_topic(2)
    assert (got["ce"].id, got["ce"].source, got["ce"].type) == ("order-9", "shop", "order.created")
    assert got["ce"].decoded_data() == {"orderId": 9}
    assert (got["memoryview"].data, got["memoryview"].data_content_type) == (b"mv", "application/octet-stream")


def connections_to(port: int) -> int:
    """TCP connections to 127.0.0.1:`port` in any state, closed ones waiting out TIME_WAIT too
    (from /proc: a new connection per call would leave hundreds)."""
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                if int(line.split()[2].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def test_a_blocking_publish_after_a_sidecar_restart_goes_to_the_new_sidecar(sidecar: Sidecar) -> None:
    """The client's connection went away with the sidecar; the next call connects anew rather than
    failing on the dead connection."""
    client = DaprClient(f"127.0.0.1:{sidecar.grpc_port}")
    client.publish_event("order_pub_sub", "orders", "before")
    sidecar.restart()
    client.wait_for_sidecar(20)
    client.publish_event("order_pub_sub", "orders", "after")
    sidecar.restart()
    client.publish_event("order_pub_sub", "orders", "after, without waiting")


def test_an_idle_client_does_not_hold_up_a_sidecar_that_stops(resources: Path) -> None:
    """A sidecar that stops sends its clients GOAWAY and waits, up to its grace period, for their
    connections to close. An idle client's connection must still answer: one whose I/O only runs
    during the client's own calls (a design tried in 0fd445b, for serial speed) held this stop for
    the whole grace period."""
    sidecar = Sidecar("idle-client", resources, args=["--dapr-graceful-shutdown-seconds", "30"])
    try:
        client = DaprClient(f"127.0.0.1:{sidecar.grpc_port}")
        client.publish_event("order_pub_sub", "orders", "then idle")
        started = time.monotonic()
        assert sidecar.stop() == 0
        assert time.monotonic() - started < 10, "the sidecar waited for the idle client's connection"
    finally:
        sidecar.stop()


@pytest.mark.skipif(not os.path.exists("/proc/self/net/tcp"), reason="reads /proc")
def test_a_thousand_publishes_share_one_connection(sidecar: Sidecar) -> None:
    """One client, then a client per message (the quickstart's habit): one connection throughout."""
    address = f"127.0.0.1:{sidecar.grpc_port}"
    client = DaprClient(address)
    for i in range(1000):
        client.publish_event("order_pub_sub", "orders", str(i))
    assert connections_to(sidecar.grpc_port) == 1
    for i in range(300):
        with DaprClient(address) as per_message:
            per_message.publish_event("order_pub_sub", "orders", str(i))
    assert connections_to(sidecar.grpc_port) == 1
