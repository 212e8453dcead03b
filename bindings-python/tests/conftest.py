"""Fixtures that drive dapr_rs without a sidecar: the official Dapr SDK's generated gRPC stubs
call our App (as daprd would), and a fake sidecar in Python answers our DaprClient."""

from __future__ import annotations

import socket
from concurrent import futures
from typing import Callable, Iterator, List, Optional

import grpc
import pytest
from dapr.proto.runtime.v1 import appcallback_pb2_grpc, dapr_pb2_grpc, metadata_pb2, pubsub_pb2
from google.protobuf import empty_pb2

import dapr_rs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class FakeSidecar(dapr_pb2_grpc.DaprServicer):
    """The few Dapr RPCs the client uses; records what it was sent."""

    def __init__(self) -> None:
        self.published: List[pubsub_pb2.PublishEventRequest] = []
        self.tokens: List[Optional[str]] = []
        self.bulk: List[pubsub_pb2.BulkPublishRequest] = []
        self.fail_with: Optional[grpc.Status] = None
        self.address = ""

    def PublishEvent(self, request, context):
        self.tokens.append(dict(context.invocation_metadata()).get("dapr-api-token"))
        if self.fail_with is not None:
            context.abort_with_status(self.fail_with)
        self.published.append(request)
        return empty_pb2.Empty()

    def BulkPublishEvent(self, request, context):
        self.bulk.append(request)
        failed = [
            pubsub_pb2.BulkPublishResponseFailedEntry(entry_id=e.entry_id, error="rejected")
            for e in request.entries
            if e.event == b"reject me"
        ]
        return pubsub_pb2.BulkPublishResponse(failedEntries=failed)

    def GetMetadata(self, request, context):
        return metadata_pb2.GetMetadataResponse(id="fake-sidecar")


@pytest.fixture
def sidecar() -> Iterator[FakeSidecar]:
    fake = FakeSidecar()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    dapr_pb2_grpc.add_DaprServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    fake.address = f"127.0.0.1:{port}"
    yield fake
    server.stop(0)
