"""The official Dapr Python SDK reads our sidecar's metadata: `DaprClient().get_metadata()` and
`set_metadata()`, and the SDK's own generated `GetMetadata` classes for what `get_metadata()` does
not surface (subscriptions with their rules and type, the app connection)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from sidecar_harness import Sidecar, free_port, write_component

import dapr.ext.grpc  # noqa: F401  (the official App; a missing SDK must fail, not skip)

SUBSCRIBER = textwrap.dedent(
    """
    import sys
    from dapr.ext.grpc import App, Rule

    app = App()

    @app.subscribe(pubsub_name="order_pub_sub", topic="orders", dead_letter_topic="orders-dead")
    def orders(event) -> None:
        pass

    @app.subscribe(pubsub_name="order_pub_sub", topic="orders", rule=Rule('event.type == "widget"', 1))
    def widgets(event) -> None:
        pass

    app.run(int(sys.argv[1]))
    """
)

READER = textwrap.dedent(
    """
    import json
    import grpc
    from dapr.clients import DaprClient
    from dapr.proto.runtime.v1 import dapr_pb2_grpc, metadata_pb2

    with DaprClient() as client:
        client.set_metadata("team", "payments")
        md = client.get_metadata()
        parsed = {
            "application_id": md.application_id,
            "registered_components": [
                {"name": c.name, "type": c.type, "version": c.version, "capabilities": list(c.capabilities)}
                for c in md.registered_components
            ],
            "extended_metadata": md.extended_metadata,
            "active_actors_count": md.active_actors_count,
        }
    # get_metadata() drops subscriptions and the app connection: read them with the SDK's classes.
    with grpc.insecure_channel(f"127.0.0.1:{__import__('os').environ['DAPR_GRPC_PORT']}") as channel:
        raw = dapr_pb2_grpc.DaprStub(channel).GetMetadata(metadata_pb2.GetMetadataRequest())
    parsed["subscriptions"] = [
        {
            "pubsub_name": s.pubsub_name,
            "topic": s.topic,
            "rules": [[r.match, r.path] for r in s.rules.rules],
            "dead_letter_topic": s.dead_letter_topic,
            "type": metadata_pb2.PubsubSubscriptionType.Name(s.type),
        }
        for s in raw.subscriptions
    ]
    a = raw.app_connection_properties
    parsed["app_connection_properties"] = {
        "port": a.port, "protocol": a.protocol, "channel_address": a.channel_address,
        "max_concurrency": a.max_concurrency, "has_health": a.HasField("health"),
    }
    print(json.dumps(parsed))
    """
)


def test_official_sdk_parses_our_metadata(tmp_path, sidecars):
    resources = tmp_path / "components"
    resources.mkdir()
    write_component(resources, "order_pub_sub", "pubsub.in-memory")
    port = free_port()
    app = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, str(port)])
    try:
        sidecar = Sidecar("checkout", resources, app_port=port, protocol="grpc", args=["--app-max-concurrency", "7"])
        sidecars.append(sidecar)
        sidecar.wait_http("/v1.0/healthz", 204)
        env = dict(os.environ, **sidecar.env, DAPR_HEALTH_TIMEOUT="20")
        out = subprocess.run([sys.executable, "-c", READER], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        md = json.loads(out.stdout)

        assert md["application_id"] == "checkout"
        assert md["registered_components"] == [
            {"name": "order_pub_sub", "type": "pubsub.in-memory", "version": "v1", "capabilities": []}
        ]
        assert md["extended_metadata"]["team"] == "payments"
        assert md["extended_metadata"]["daprRuntimeVersion"]
        assert md["active_actors_count"] == {}
        assert md["subscriptions"] == [
            {
                "pubsub_name": "order_pub_sub",
                "topic": "orders",
                # dapr-ext-grpc announces the rule only; it sends no default route.
                "rules": [['event.type == "widget"', "widgets"]],
                "dead_letter_topic": "orders-dead",
                "type": "PROGRAMMATIC",
            }
        ]
        assert md["app_connection_properties"] == {
            "port": port, "protocol": "grpc", "channel_address": "127.0.0.1", "max_concurrency": 7, "has_health": False,
        }

        # The HTTP endpoint says the same in daprd's JSON shape.
        with urllib.request.urlopen(f"http://127.0.0.1:{sidecar.http_port}/v1.0/metadata", timeout=5) as resp:
            http = json.load(resp)
        assert http["extended"]["team"] == "payments"
        assert http["subscriptions"] == [
            {
                "pubsubname": "order_pub_sub",
                "topic": "orders",
                "rules": [{"match": 'event.type == "widget"', "path": "widgets"}],
                "deadLetterTopic": "orders-dead",
                "type": "PROGRAMMATIC",
            }
        ]
        assert http["appConnectionProperties"] == {
            "port": port, "protocol": "grpc", "channelAddress": "127.0.0.1", "maxConcurrency": 7,
        }
    finally:
        app.terminate()
        app.wait(timeout=10)
