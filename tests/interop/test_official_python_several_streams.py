"""Several streaming subscriptions on one topic of one sidecar, opened by the official Python SDK
(`DaprClient.subscribe`), as daprd allows since 1.16 (contract §1.3): each stream is a STREAMING
subscription of its own, every event reaches a stream, and closing one leaves the other receiving."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time

from sidecar_harness import Sidecar

import dapr_rs  # installed by `make python`; a missing binding must fail, not skip

TWO_STREAMS = textwrap.dedent(
    """
    import sys, threading
    from dapr.clients import DaprClient
    from dapr.common.pubsub.subscription import StreamInactiveError

    client = DaprClient()
    output = threading.Lock()

    def say(line):
        with output:  # the two readers must not interleave their lines
            print(line, flush=True)

    streams = {name: client.subscribe(pubsub_name="ps", topic="orders") for name in ("A", "B")}

    def read(name, subscription):
        while True:
            try:
                message = subscription.next_message()
            except StreamInactiveError:
                return
            if message is None:
                continue
            say(f"GOT {name} {message.data()['orderId']}")
            subscription.respond_success(message)

    readers = [threading.Thread(target=read, args=item, daemon=True) for item in streams.items()]
    for reader in readers:
        reader.start()
    say("SUBSCRIBED")
    for command in sys.stdin:
        name = command.split()[1]
        streams[name].close()
        say(f"CLOSED {name}")
    """
)


def streaming_subscriptions(sidecar: Sidecar) -> list:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{sidecar.http_port}/v1.0/metadata", timeout=5) as resp:
        metadata = json.load(resp)
    return [s for s in metadata.get("subscriptions", []) if s.get("type") == "STREAMING"]


def test_two_streams_on_one_topic_share_its_events_and_outlive_each_other(memory_resources):
    sidecar = Sidecar("streamer", memory_resources)
    env = dict(os.environ, **sidecar.env, DAPR_HEALTH_TIMEOUT="20")
    proc = subprocess.Popen(
        [sys.executable, "-c", TWO_STREAMS], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.strip()) for line in proc.stdout], daemon=True).start()

    def expect(prefix: str) -> str:
        line = lines.get(timeout=20)
        assert line.startswith(prefix), f"expected {prefix!r}, got {line!r}"
        return line

    def received(count: int) -> list:
        got = [expect("GOT").split() for _ in range(count)]
        return [(stream, int(order_id)) for _, stream, order_id in got]

    try:
        expect("SUBSCRIBED")
        subs = streaming_subscriptions(sidecar)
        assert [(s["pubsubname"], s["topic"]) for s in subs] == [("ps", "orders")] * 2, subs

        with dapr_rs.DaprClient(f"127.0.0.1:{sidecar.grpc_port}") as client:

            def publish(ids):
                for order_id in ids:
                    client.publish_event("ps", "orders", json.dumps({"orderId": order_id}), data_content_type="application/json")

            publish(range(1, 7))
            first = received(6)
            assert sorted(order_id for _, order_id in first) == [1, 2, 3, 4, 5, 6], first

            proc.stdin.write("close A\n")
            proc.stdin.flush()
            expect("CLOSED A")
            deadline = time.monotonic() + 10
            while len(streaming_subscriptions(sidecar)) != 1:
                assert time.monotonic() < deadline, streaming_subscriptions(sidecar)
                time.sleep(0.05)

            publish(range(7, 11))
            after = received(4)
            assert sorted(after) == [("B", 7), ("B", 8), ("B", 9), ("B", 10)], after
    finally:
        proc.stdin.close()
        proc.terminate()
        proc.wait(timeout=10)
        sidecar.stop()
