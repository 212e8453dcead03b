"""Fixtures for the binding's tests. The official Dapr SDK's generated gRPC stubs call our App (as
daprd would, an interop check); client tests run against the real `dapr-rs` sidecar (the shared
harness in tests/sidecar_harness.py), delivering to a real dapr_rs.App."""

from __future__ import annotations

import queue
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import grpc
import pytest
from dapr.proto.runtime.v1 import appcallback_pb2_grpc

import dapr_rs
from sidecar_harness import Sidecar, free_port, write_component

PUBSUB = "order_pub_sub"


@pytest.fixture
def app_port() -> int:
    """A free loopback port for an app to listen on."""
    return free_port()


@pytest.fixture
def unreachable_address() -> str:
    """An address nothing listens on."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def callback() -> Iterator[Callable[[dapr_rs.App], appcallback_pb2_grpc.AppCallbackStub]]:
    """Starts an App on a free port; returns an `AppCallback` client for it (what daprd calls)."""
    apps: List[dapr_rs.App] = []
    channels: List[grpc.Channel] = []

    def connect(app: dapr_rs.App) -> appcallback_pb2_grpc.AppCallbackStub:
        port = app.start(0, listen_address="127.0.0.1")
        apps.append(app)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        channels.append(channel)
        return appcallback_pb2_grpc.AppCallbackStub(channel)

    yield connect
    for channel in channels:
        channel.close()
    for app in apps:
        app.stop()


class Subscribed:
    """A real `dapr-rs` sidecar with a dapr_rs.App (gRPC) behind it, subscribed to `topics` of the
    in-memory pubsub `order_pub_sub`; every event the sidecar delivers is kept in `events`."""

    def __init__(self, resources: Path, app_id: str, topics: Sequence[str], env: Optional[Dict[str, str]]) -> None:
        self.events: "queue.Queue[dapr_rs.TopicEvent]" = queue.Queue()
        self.app = dapr_rs.App()
        for topic in topics:
            self.app.subscribe(PUBSUB, topic)(self.events.put)
        port = self.app.start(0, listen_address="127.0.0.1")
        self.sidecar: Optional[Sidecar] = None
        try:
            self.sidecar = Sidecar(app_id, resources, app_port=port, protocol="grpc", env=env)
            # 204 once the sidecar has the app's subscriptions: in-memory delivers only to those
            # that exist when a message is published.
            self.sidecar.wait_http("/v1.0/healthz", 204)
        except BaseException:
            self.stop()
            raise

    @property
    def address(self) -> str:
        """The sidecar's gRPC API, for DaprClient."""
        assert self.sidecar is not None
        return f"127.0.0.1:{self.sidecar.grpc_port}"

    def received(self, count: int, timeout: float = 20.0) -> List[dapr_rs.TopicEvent]:
        """The next `count` delivered events, in delivery order (fails after `timeout` per event)."""
        got = []
        for _ in range(count):
            try:
                got.append(self.events.get(timeout=timeout))
            except queue.Empty:
                pytest.fail(f"the app received {len(got)} of {count} events: {[(e.topic, e.data) for e in got]}")
        return got

    def by_topic(self, count: int) -> Dict[str, dapr_rs.TopicEvent]:
        """The next `count` events keyed by topic (one event per topic; delivery order across
        topics is the broker's)."""
        got = {e.topic: e for e in self.received(count)}
        assert len(got) == count, "two events on one topic"
        return got

    def stop(self) -> None:
        if self.sidecar is not None:
            self.sidecar.stop()
        self.app.stop()


@pytest.fixture
def resources(tmp_path: Path) -> Path:
    """A resources dir with `order_pub_sub` on the in-memory broker."""
    path = tmp_path / "components"
    path.mkdir()
    write_component(path, PUBSUB, "pubsub.in-memory")
    return path


@pytest.fixture
def subscribed(resources: Path) -> Iterator[Callable[..., Subscribed]]:
    """`subscribed(topics, app_id="checkout", env=None)` starts a Subscribed; stopped at the end."""
    started: List[Subscribed] = []

    def start(topics: Sequence[str], app_id: str = "checkout", env: Optional[Dict[str, str]] = None) -> Subscribed:
        s = Subscribed(resources, app_id, topics, env)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def sidecar(resources: Path) -> Iterator[Sidecar]:
    """A real `dapr-rs` sidecar with no app behind it (app id `orderprocessing`)."""
    s = Sidecar("orderprocessing", resources)
    yield s
    s.stop()
