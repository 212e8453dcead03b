"""DaprError and its subclasses, each produced by the real failure it names: a pubsub the sidecar
does not have, a topic its scopes forbid, no sidecar, and running out of time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

import dapr_rs
import dapr_rs.aio
from dapr_rs import (
    DaprClient,
    DaprError,
    DaprTimeoutError,
    PubsubNotFoundError,
    SidecarUnavailableError,
    TopicForbiddenError,
)
from sidecar_harness import Sidecar, write_component

PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED.value[0]
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.value[0]
DEADLINE_EXCEEDED = grpc.StatusCode.DEADLINE_EXCEEDED.value[0]


def test_every_subclass_is_a_dapr_error() -> None:
    for cls in (PubsubNotFoundError, TopicForbiddenError, SidecarUnavailableError, DaprTimeoutError):
        assert issubclass(cls, DaprError)
        assert cls.__module__ == "dapr_rs._native"
        assert cls.grpc_code == 2 and cls.error_code is None  # defaults for errors raised from Python


def test_pubsub_not_found(sidecar: Sidecar) -> None:
    with DaprClient(f"127.0.0.1:{sidecar.grpc_port}") as client:
        with pytest.raises(PubsubNotFoundError) as err:
            client.publish_event("nope", "orders", b"1")
        assert err.value.error_code == "ERR_PUBSUB_NOT_FOUND"
        with pytest.raises(PubsubNotFoundError):
            client.publish_events("nope", "orders", [b"1"])


def test_forbidden_topic(tmp_path: Path) -> None:
    resources = tmp_path / "components"
    resources.mkdir()
    write_component(resources, "scoped", "pubsub.in-memory", {"publishingScopes": "scoped-app=allowed"})
    s = Sidecar("scoped-app", resources)
    try:
        with DaprClient(f"127.0.0.1:{s.grpc_port}") as client:
            client.publish_event("scoped", "allowed", b"ok")
            with pytest.raises(TopicForbiddenError) as err:
                client.publish_event("scoped", "secret", b"no")
        assert err.value.error_code == "ERR_PUBSUB_FORBIDDEN"
        assert err.value.grpc_code == PERMISSION_DENIED
        assert "secret" in err.value.message
    finally:
        s.stop()


def test_unavailable_sidecar(unreachable_address: str) -> None:
    with pytest.raises(SidecarUnavailableError) as err:
        DaprClient(unreachable_address).publish_event("order_pub_sub", "orders", b"1")
    assert err.value.grpc_code == UNAVAILABLE

    async def aio() -> None:
        with pytest.raises(SidecarUnavailableError):
            await dapr_rs.aio.DaprClient(unreachable_address).publish_event("order_pub_sub", "orders", b"1")

    asyncio.run(aio())


def test_timeout(unreachable_address: str) -> None:
    with pytest.raises(DaprTimeoutError) as err:
        DaprClient(unreachable_address).wait_for_sidecar(timeout=0.1)
    assert err.value.grpc_code == DEADLINE_EXCEEDED
    assert isinstance(err.value, DaprError)


def test_stream_refusal_is_the_same_mapping(sidecar: Sidecar) -> None:
    with DaprClient(f"127.0.0.1:{sidecar.grpc_port}") as client:
        with pytest.raises(PubsubNotFoundError) as err:
            client.subscribe("nope", "orders")
    assert err.value.error_code == "ERR_PUBSUB_NOT_FOUND"
