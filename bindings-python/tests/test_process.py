"""Whole programs in a subprocess: Ctrl-C and SIGTERM while App.run() blocks, and the pub/sub
quickstart samples (the subscriber driven as daprd would, the publisher through a real sidecar)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, List, Optional

import grpc
import pytest
from dapr.proto.runtime.v1 import appcallback_pb2, appcallback_pb2_grpc
from google.protobuf import empty_pb2

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "pub_sub" / "python"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _default_sigint() -> None:
    # As in a terminal: a shell without job control starts background commands with SIGINT
    # ignored (`make test &`), and Python installs no KeyboardInterrupt handler for an ignored SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(code_or_path: str, env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    args = [sys.executable, code_or_path] if code_or_path.endswith(".py") else [sys.executable, "-c", code_or_path]
    return subprocess.Popen(
        args, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint
    )


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"exited early: {proc.communicate()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the app never listened")


def run_app_until(sig: signal.Signals, port: int) -> subprocess.CompletedProcess:
    """Runs an app in a child process until it gets `sig`."""
    script = textwrap.dedent(
        f"""
        from dapr_rs import App
        app = App()
        app.subscribe("ps", "t")(lambda event: None)
        app.run({port}, listen_address="127.0.0.1")
        print("run returned", flush=True)
        """
    )
    proc = spawn(script)
    wait_listening(port, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=10)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_ctrl_c_stops_run_with_keyboard_interrupt(app_port: int) -> None:
    done = run_app_until(signal.SIGINT, app_port)
    assert "KeyboardInterrupt" in done.stderr
    assert "run returned" not in done.stdout
    assert done.returncode != 0


def test_sigterm_stops_run_gracefully(app_port: int) -> None:
    done = run_app_until(signal.SIGTERM, app_port)
    assert done.returncode == 0, done.stderr
    assert "run returned" in done.stdout


def drive_checkout_sample(sample: str, port: int, orders: List[bytes]) -> str:
    """Runs a checkout sample expecting `orders`, delivers each as daprd would (gRPC, after
    ListTopicSubscriptions); each must be answered SUCCESS and the sample must then exit 0.
    Returns its stderr (Python's logging)."""
    proc = spawn(str(SAMPLES / sample), {"APP_PORT": str(port), "EXPECTED_ORDERS": str(len(orders))})
    try:
        wait_listening(port, proc)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = appcallback_pb2_grpc.AppCallbackStub(channel)
            (sub,) = stub.ListTopicSubscriptions(empty_pb2.Empty()).subscriptions
            assert (sub.pubsub_name, sub.topic) == ("order_pub_sub", "orders")
            for n, data in enumerate(orders, 1):
                req = appcallback_pb2.TopicEventRequest(
                    id=f"o-{n}",
                    data=data,
                    data_content_type="application/json",
                    topic="orders",
                    pubsub_name="order_pub_sub",
                    path=sub.routes.default,
                )
                assert stub.OnTopicEvent(req, timeout=5).status == appcallback_pb2.TopicEventResponse.SUCCESS
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    return err


def test_checkout_service_sample_exits_after_the_expected_orders(app_port: int) -> None:
    err = drive_checkout_sample("CheckoutService.py", app_port, [b"1", b"2", b"3"])
    assert [line.split("INFO:root:")[1] for line in err.splitlines() if "Subscriber received" in line] == [
        "Subscriber received: 1",
        "Subscriber received: 2",
        "Subscriber received: 3",
    ]


def test_order_processing_service_sample_publishes_the_orders(subscribed) -> None:
    """The publisher sample against a real sidecar; a subscribed App behind it gets the orders."""
    s = subscribed(["orders"])
    env = {"DAPR_GRPC_PORT": str(s.sidecar.grpc_port), "DAPR_GRPC_ENDPOINT": "", "ORDER_COUNT": "3", "PUBLISH_INTERVAL_MS": "10"}
    proc = spawn(str(SAMPLES / "OrderProcessingService.py"), env)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    got = sorted((e.data, e.data_content_type, e.source, e.topic, e.pubsub_name) for e in s.received(3))
    assert got == [
        (b"1", "application/json", "checkout", "orders", "order_pub_sub"),
        (b"2", "application/json", "checkout", "orders", "order_pub_sub"),
        (b"3", "application/json", "checkout", "orders", "order_pub_sub"),
    ]
    assert "INFO:root:Published data: 3" in err


def test_checkout_service_async_sample_runs_its_async_handler(app_port: int) -> None:
    err = drive_checkout_sample("CheckoutServiceAsync.py", app_port, [b'{"orderId": 1}', b'{"orderId": 2}'])
    assert "Subscriber received: {'orderId': 2}" in err


def test_order_processing_service_async_sample_publishes_the_orders(subscribed) -> None:
    s = subscribed(["orders"])
    env = {"DAPR_GRPC_PORT": str(s.sidecar.grpc_port), "DAPR_GRPC_ENDPOINT": "", "ORDER_COUNT": "5"}
    proc = spawn(str(SAMPLES / "OrderProcessingServiceAsync.py"), env)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert sorted(e.decoded_data()["orderId"] for e in s.received(5)) == [1, 2, 3, 4, 5]
    assert "Published 5 orders" in err


def test_checkout_service_streaming_sample_needs_no_app_port(sidecar) -> None:
    from dapr_rs import DaprClient

    env = {"DAPR_GRPC_PORT": str(sidecar.grpc_port), "DAPR_GRPC_ENDPOINT": "", "EXPECTED_ORDERS": "3"}
    proc = spawn(str(SAMPLES / "CheckoutServiceStreaming.py"), env)
    try:
        # in-memory delivers only to subscriptions that exist: publish until the sample has had 3.
        with DaprClient(f"127.0.0.1:{sidecar.grpc_port}") as client:
            deadline = time.monotonic() + 30
            order = 0
            while proc.poll() is None and time.monotonic() < deadline:
                order += 1
                client.publish_event("order_pub_sub", "orders", {"orderId": order})
                time.sleep(0.1)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert len([line for line in err.splitlines() if "Subscriber received: {'orderId':" in line]) == 3
