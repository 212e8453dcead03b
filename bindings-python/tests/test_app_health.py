"""The sidecar's app health check (`--enable-app-health-check`) against the binding's App: apps
start unhealthy and get no events until a probe succeeds, so an App that did not answer the probe
would never receive one."""

from __future__ import annotations

import json
import queue
from pathlib import Path

import pytest

from dapr_rs import App, DaprClient, TopicEvent
from sidecar_harness import Sidecar, write_component


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_an_app_under_the_health_check_gets_its_events(tmp_path: Path, protocol: str) -> None:
    write_component(tmp_path, "embedded", "pubsub.sqlite", {"path": str(tmp_path / "pubsub.db")})
    events: "queue.Queue[TopicEvent]" = queue.Queue()
    app = App()
    app.subscribe("embedded", "orders")(events.put)
    port = app.start(0, listen_address="127.0.0.1", protocol=protocol)
    sidecar = None
    try:
        probe = ["--enable-app-health-check", "--app-health-probe-interval", "1", "--app-health-threshold", "1"]
        sidecar = Sidecar(f"health-{protocol}", tmp_path, app_port=port, protocol=protocol, args=probe)
        sidecar.wait_http("/v1.0/healthz", 204)
        with DaprClient(f"127.0.0.1:{sidecar.grpc_port}") as client:
            client.publish_event("embedded", "orders", {"orderId": 1})
        try:
            event = events.get(timeout=20)
        except queue.Empty:
            pytest.fail("no event within 20 s: the sidecar never found the app healthy")
        assert json.loads(event.data) == {"orderId": 1}
    finally:
        if sidecar is not None:
            sidecar.stop()
        app.stop()
