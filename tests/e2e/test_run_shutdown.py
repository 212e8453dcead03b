"""`dapr-rs run` given SIGTERM: the deliveries in flight finish while the app still runs, and
only then is the app stopped."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

from sidecar_harness import free_port, http_status, sidecar_binary, write_component

import dapr.ext.grpc  # noqa: F401  (the official App; a missing SDK must fail, not skip)

# The official SDK's gRPC app; its handler takes 2 s, and SIGTERM ends the process at once.
SLOW_APP = textwrap.dedent(
    """
    import sys, time
    from dapr.ext.grpc import App

    started, done = sys.argv[2], sys.argv[3]
    app = App()

    @app.subscribe(pubsub_name="order_pub_sub", topic="orders")
    def orders(event) -> None:
        open(started, "a").write("x\\n")
        time.sleep(2)
        open(done, "a").write(event.Data().decode() + "\\n")

    app.run(int(sys.argv[1]))
    """
)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def healthy(port: int) -> bool:
    try:
        return http_status(f"http://127.0.0.1:{port}/v1.0/healthz") == 204
    except OSError:
        return False


def test_run_lets_deliveries_in_flight_finish_before_stopping_the_app(tmp_path):
    resources = tmp_path / "components"
    resources.mkdir()
    write_component(resources, "order_pub_sub", "pubsub.in-memory")
    started, done = tmp_path / "started", tmp_path / "done"
    app_port, http_port = free_port(), free_port()
    run = subprocess.Popen(
        [
            sidecar_binary(), "run", "--app-id", "checkout", "--app-port", str(app_port), "--app-protocol", "grpc",
            "--resources-path", str(resources), "--dapr-http-port", str(http_port),
            "--graceful-shutdown-seconds", "10",
            "--", sys.executable, "-c", SLOW_APP, str(app_port), str(started), str(done),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: healthy(http_port), 30, "the app is subscribed")
        req = urllib.request.Request(
            f"http://127.0.0.1:{http_port}/v1.0/publish/order_pub_sub/orders",
            data=b'{"orderId": 7}', headers={"Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 204
        wait_for(started.exists, 10, "the delivery reached the app")

        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=20) == 0
        assert done.exists(), "the app was stopped before the delivery in flight finished"
        assert '"orderId": 7' in done.read_text() or '"orderId":7' in done.read_text(), done.read_text()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
