"""The official Python SDK's streaming subscription (`DaprClient.subscribe`), bulk publish
(`publish_events`) and raw-payload publish against our sidecar."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import textwrap

import pytest

from sidecar_harness import Sidecar, write_component

import dapr_rs  # installed by `make python`; a missing binding must fail, not skip

STREAMING_SUBSCRIBER = textwrap.dedent(
    """
    import json, sys
    from dapr.clients import DaprClient

    with DaprClient() as client:
        subscription = client.subscribe(pubsub_name="ps", topic="stream", dead_letter_topic="stream-dlq")
        print("SUBSCRIBED", flush=True)
        seen, retried = [], False
        try:
            while len(seen) < 3:
                message = subscription.next_message()
                if message is None:
                    continue
                order = json.loads(message.data()) if isinstance(message.data(), (bytes, str)) else message.data()
                # The first delivery of order 2 is answered RETRY: it must come back.
                if order["orderId"] == 2 and not retried:
                    retried = True
                    subscription.respond_retry(message)
                    continue
                seen.append(order)
                subscription.respond_success(message)
                print("GOT", message.topic(), message.pubsub_name(), message.source(), json.dumps(order), flush=True)
        finally:
            subscription.close()
    """
)


def test_official_streaming_subscription_receives_answers_and_gets_retries(tmp_path):
    resources = tmp_path / "components"
    resources.mkdir()
    write_component(resources, "ps", "pubsub.sqlite", {"path": str(tmp_path / "ps.db")})
    sidecar = Sidecar("streamer", resources)
    try:
        env = dict(os.environ, **sidecar.env, DAPR_HEALTH_TIMEOUT="20")
        proc = subprocess.Popen([sys.executable, "-c", STREAMING_SUBSCRIBER], env=env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "SUBSCRIBED"
        with dapr_rs.DaprClient(f"127.0.0.1:{sidecar.grpc_port}") as client:
            for order_id in (1, 2, 3):
                client.publish_event("ps", "stream", json.dumps({"orderId": order_id}), data_content_type="application/json")
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        got = [line.split(" ", 4) for line in out.splitlines() if line.startswith("GOT")]
        assert sorted(json.loads(g[4])["orderId"] for g in got) == [1, 2, 3], out
        assert all(g[1:4] == ["stream", "ps", "streamer"] for g in got), out
    finally:
        sidecar.stop()


OFFICIAL_BULK_AND_RAW = textwrap.dedent(
    """
    import json
    from dapr.clients import DaprClient

    with DaprClient() as client:
        resp = client.publish_events(
            pubsub_name="ps", topic_name="bulk",
            data=[json.dumps({"n": i}) for i in range(5)], data_content_type="application/json",
        )
        print("FAILED", len(resp.failed_entries))
        client.publish_event(pubsub_name="ps", topic_name="raw", data=b"\\x00raw\\xff",
                             data_content_type="application/octet-stream", publish_metadata={"rawPayload": "true"})
    """
)


def test_official_bulk_and_raw_publish_reach_our_subscriber(memory_resources):
    received: "queue.Queue" = queue.Queue()
    app = dapr_rs.App()

    @app.subscribe(pubsub_name="ps", topic="bulk")
    def on_bulk(event) -> None:
        received.put(("bulk", event))

    @app.subscribe(pubsub_name="ps", topic="raw", metadata={"rawPayload": "true"})
    def on_raw(event) -> None:
        received.put(("raw", event))

    port = app.start(0, listen_address="127.0.0.1")
    sidecar = Sidecar("subscriber", memory_resources, app_port=port, protocol="grpc")
    try:
        sidecar.wait_http("/v1.0/healthz", 204)
        out = sidecar.run_python(OFFICIAL_BULK_AND_RAW)
        assert "FAILED 0" in out
        bulk, raw = [], []
        for _ in range(6):
            kind, event = received.get(timeout=15)
            (bulk if kind == "bulk" else raw).append(event)
        assert sorted(json.loads(e.Data())["n"] for e in bulk) == [0, 1, 2, 3, 4]
        assert all(e.source == "subscriber" and e.data_content_type == "application/json" for e in bulk)
        # A raw subscription gets the broker bytes in a CloudEvent daprd synthesises.
        assert raw[0].Data() == b"\x00raw\xff"
        assert raw[0].data_content_type == "application/octet-stream"
    finally:
        sidecar.stop()
        app.stop()
