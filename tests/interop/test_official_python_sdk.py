"""The official Dapr Python SDK (`dapr` from PyPI), unchanged, against our sidecar: its client
publishes through dapr-rs, and subscribers (ours and its own `dapr.ext.grpc.App`) receive."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from sidecar_harness import Sidecar, free_port

import dapr_rs  # installed by `make python`; a missing binding must fail, not skip

OFFICIAL_PUBLISHER = textwrap.dedent(
    """
    import json, sys
    from dapr.clients import DaprClient  # waits on /v1.0/healthz/outbound in its constructor
    with DaprClient() as client:
        for order_id in map(int, sys.argv[1:]):
            client.publish_event(
                pubsub_name="order_pub_sub",
                topic_name="orders",
                data=json.dumps({"orderId": order_id}),
                data_content_type="application/json",
                publish_metadata={"cloudevent.subject": f"order-{order_id}"},
            )
    # Errors come back as the SDK's own exception type, with our status and message.
    try:
        client = DaprClient()
        client.publish_event(pubsub_name="nope", topic_name="orders", data="x")
    except Exception as e:
        print("ERROR", type(e).__name__, e)
    """
)


def start_subscriber_and_publisher(resources, sidecars, app_port: int) -> Sidecar:
    """The quickstart's two sidecars: checkout (delivering to `app_port`, ready once subscribed)
    and orderprocessing; returns the publisher's."""
    subscriber = Sidecar("checkout", resources, app_port=app_port, protocol="grpc")
    sidecars.append(subscriber)
    subscriber.wait_http("/v1.0/healthz", 204)
    publisher = Sidecar("orderprocessing", resources)
    sidecars.append(publisher)
    return publisher


def run_official_publisher(sidecar: Sidecar, ids) -> str:
    env = dict(os.environ, **sidecar.env, DAPR_HEALTH_TIMEOUT="20")
    out = subprocess.run(
        [sys.executable, "-c", OFFICIAL_PUBLISHER, *map(str, ids)], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_official_client_publishes_and_our_subscriber_receives(sqlite_resources, sidecars):
    received: "queue.Queue" = queue.Queue()
    app = dapr_rs.App()

    @app.subscribe(pubsub_name="order_pub_sub", topic="orders")
    def on_order(event) -> None:
        received.put(event)

    port = free_port()
    app.start(port)
    try:
        publisher = start_subscriber_and_publisher(sqlite_resources, sidecars, port)

        out = run_official_publisher(publisher, [1, 2, 3])
        assert "ERROR" in out and "nope" in out and "INVALID_ARGUMENT" in out.upper(), out

        got = {}
        for _ in range(3):
            event = received.get(timeout=15)
            got[json.loads(event.Data())["orderId"]] = event
        assert sorted(got) == [1, 2, 3]
        event = got[2]
        assert event.source == "orderprocessing"
        assert event.type == "com.dapr.event.sent"
        assert event.spec_version == "1.0"
        assert event.data_content_type == "application/json"
        assert event.topic == "orders" and event.pubsub_name == "order_pub_sub"
        assert event.extensions["subject"] == "order-2"
        assert event.extensions["traceparent"]
    finally:
        app.stop()


def test_official_grpc_app_receives_from_our_sidecar(sqlite_resources, sidecars, tmp_path):
    """dapr.ext.grpc.App (the quickstart's subscriber, unchanged) behind our sidecar."""
    port = free_port()
    out_file = tmp_path / "received.txt"
    subscriber_code = textwrap.dedent(
        f"""
        from cloudevents.sdk.event import v1
        from dapr.ext.grpc import App
        import json

        app = App()

        @app.subscribe(pubsub_name='order_pub_sub', topic='orders')
        def mytopic(event: v1.Event) -> None:
            data = json.loads(event.Data())
            with open({str(out_file)!r}, 'a') as f:
                f.write(str(data) + ' ' + event.Source() + '\\n')

        app.run({port})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", subscriber_code])
    try:
        publisher = start_subscriber_and_publisher(sqlite_resources, sidecars, port)
        with dapr_rs.DaprClient(address=f"127.0.0.1:{publisher.grpc_port}") as client:
            for order_id in (7, 8):
                client.publish_event(pubsub_name="order_pub_sub", topic_name="orders", data=json.dumps(order_id), data_content_type="application/json")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if out_file.exists() and len(out_file.read_text().splitlines()) >= 2:
                break
            time.sleep(0.05)
        assert sorted(out_file.read_text().splitlines()) == ["7 orderprocessing", "8 orderprocessing"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
