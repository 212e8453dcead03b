"""DaprClient against no sidecar (errors) and against a fake one (what goes on the wire)."""

from __future__ import annotations

import os
import threading
import time

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from dapr_rs import BulkPublishFailedEntry, DaprClient, DaprError

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.value[0]
DEADLINE_EXCEEDED = grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]


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


def test_wait_for_sidecar_and_publish(sidecar) -> None:
    with DaprClient(sidecar.address) as client:
        client.wait_for_sidecar(5)
        client.publish_event(pubsub_name="order_pub_sub", topic_name="orders", data='{"orderId": 1}', data_content_type="application/json")
        client.publish_event("ps", "bytes", b"\x00\x01")
        client.publish_event("ps", "text", "héllo")
        client.publish_event("ps", "json", {"orderId": 2}, publish_metadata={"rawPayload": True, "ttlInSeconds": 60})
        client.publish_event("ps", "buffer", bytearray(b"ba"), "application/x-custom")
    sent = [(r.pubsub_name, r.topic, r.data, r.data_content_type, dict(r.metadata)) for r in sidecar.published]
    assert sent == [
        ("order_pub_sub", "orders", b'{"orderId": 1}', "application/json", {}),
        ("ps", "bytes", b"\x00\x01", "application/octet-stream", {}),
        ("ps", "text", "héllo".encode(), "text/plain", {}),
        ("ps", "json", b'{"orderId": 2}', "application/json", {"rawPayload": "true", "ttlInSeconds": "60"}),
        ("ps", "buffer", b"ba", "application/x-custom", {}),
    ]


def test_publish_events(sidecar) -> None:
    with DaprClient(sidecar.address) as client:
        resp = client.publish_events("ps", "t", [b"a", "b", {"c": 1}, b"reject me"], publish_metadata={"k": "v"})
    assert resp.failed_entries == [BulkPublishFailedEntry("3", "rejected")]
    (req,) = sidecar.bulk
    assert [(e.entry_id, e.event, e.content_type) for e in req.entries] == [
        ("0", b"a", "application/octet-stream"),
        ("1", b"b", "text/plain"),
        ("2", b'{"c": 1}', "application/json"),
        ("3", b"reject me", "application/octet-stream"),
    ]
    assert dict(req.metadata) == {"k": "v"}


def test_sidecar_errors_keep_code_and_dapr_error_code(sidecar) -> None:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="ERR_PUBSUB_NOT_FOUND", domain="dapr.io"))
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="pubsub nope is not found", details=[info])
    sidecar.fail_with = rpc_status.to_status(status)
    with DaprClient(sidecar.address) as client:
        with pytest.raises(DaprError) as err:
            client.publish_event("nope", "orders", b"1")
    assert err.value.grpc_code == INVALID_ARGUMENT
    assert err.value.error_code == "ERR_PUBSUB_NOT_FOUND"
    assert err.value.message == "pubsub nope is not found"
    assert "ERR_PUBSUB_NOT_FOUND" in str(err.value)


def test_api_token_is_sent(sidecar) -> None:
    with DaprClient(sidecar.address, api_token="s3cret") as client:
        client.publish_event("ps", "t", b"")
    with DaprClient(sidecar.address) as client:
        client.publish_event("ps", "t", b"")
    assert sidecar.tokens == ["s3cret", None]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_clients_work_in_a_forked_child(sidecar) -> None:
    """The runtime, the shared connection and clients made before the fork are all remade in the child."""
    client = DaprClient(sidecar.address)
    client.publish_event("ps", "parent", b"")
    pid = os.fork()
    if pid == 0:  # child: exit code says whether it worked; never return into pytest
        code = 1
        try:
            client.publish_event("ps", "child-old-client", b"")
            DaprClient(sidecar.address).publish_event("ps", "child-new-client", b"")
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
    assert [r.topic for r in sidecar.published] == ["parent", "child-old-client", "child-new-client"]


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
