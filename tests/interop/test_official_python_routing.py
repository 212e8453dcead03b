"""The official Python SDK's `dapr.ext.grpc.App`, unchanged, behind our sidecar: routing rules
(`@app.subscribe(..., rule=Rule(...))`) and a dead-letter topic, with its own client publishing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from sidecar_harness import Sidecar, free_port

SUBSCRIBER = textwrap.dedent(
    """
    import json, sys
    from dapr.ext.grpc import App, Rule, SubscriptionMessage, TopicEventResponse

    out_path, port = sys.argv[1], int(sys.argv[2])
    app = App()

    def record(label, event):
        with open(out_path, 'a') as f:
            f.write(json.dumps({'label': label, 'id': event.id(), 'type': event.type(),
                                'topic': event.topic(), 'data': event.data(),
                                'original_topic': event.extensions().get('topic')}) + '\\n')

    @app.subscribe(pubsub_name='order_pub_sub', topic='orders', dead_letter_topic='orders-dead',
                   rule=Rule('event.type == "widget"', 1))
    def on_widget(event: SubscriptionMessage):
        record('widget', event)

    @app.subscribe(pubsub_name='order_pub_sub', topic='orders',
                   rule=Rule('event.type == "gadget" || event.data.priority > 5', 2))
    def on_gadget_or_urgent(event: SubscriptionMessage):
        record('gadget-or-urgent', event)
        # Gadgets are refused: DROP sends them to the dead-letter topic.
        return TopicEventResponse('drop' if event.type() == 'gadget' else 'success')

    @app.subscribe(pubsub_name='order_pub_sub', topic='orders-dead')
    def on_dead(event: SubscriptionMessage):
        record('dead', event)

    app.run(port)
    """
)

PUBLISHER = textwrap.dedent(
    """
    import json, sys
    from dapr.clients import DaprClient
    with DaprClient() as client:
        for item in json.loads(sys.argv[1]):
            client.publish_event(
                pubsub_name='order_pub_sub', topic_name='orders',
                data=json.dumps(item['data']), data_content_type='application/json',
                publish_metadata={'cloudevent.id': item['id'], 'cloudevent.type': item['type']},
            )
    """
)


def test_official_grpc_app_with_routing_rules_and_dead_letter_topic(sqlite_resources, sidecars, tmp_path):
    port = free_port()
    out_file = tmp_path / "received.jsonl"
    app = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, str(out_file), str(port)])
    try:
        subscriber = Sidecar("checkout", sqlite_resources, app_port=port, protocol="grpc")
        sidecars.append(subscriber)
        subscriber.wait_http("/v1.0/healthz", 204)
        events = [
            {"id": "w-1", "type": "widget", "data": {"priority": 9}},  # both rules match: the first wins
            {"id": "g-1", "type": "gadget", "data": {"priority": 1}},  # second rule, answers DROP
            {"id": "u-1", "type": "order", "data": {"priority": 7}},  # second rule, by a data field
            {"id": "x-1", "type": "order", "data": {"priority": 1}},  # no rule: dead-lettered
        ]
        env = dict(os.environ, **subscriber.env, DAPR_HEALTH_TIMEOUT="20")
        out = subprocess.run(
            [sys.executable, "-c", PUBLISHER, json.dumps(events)], env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr

        deadline = time.monotonic() + 20
        got = []
        while time.monotonic() < deadline:
            if out_file.exists():
                got = [json.loads(line) for line in out_file.read_text().splitlines()]
                if len(got) >= 5:
                    break
            time.sleep(0.05)
        time.sleep(0.5)  # anything further would be a wrong extra delivery
        got = [json.loads(line) for line in out_file.read_text().splitlines()]
        assert sorted((e["label"], e["id"]) for e in got) == [
            ("dead", "g-1"),
            ("dead", "x-1"),
            ("gadget-or-urgent", "g-1"),
            ("gadget-or-urgent", "u-1"),
            ("widget", "w-1"),
        ], got
        for dead in (e for e in got if e["label"] == "dead"):
            # The dead-letter topic carries the original CloudEvent.
            original = next(ev for ev in events if ev["id"] == dead["id"])
            assert dead["type"] == original["type"]
            assert dead["data"] == original["data"]
            assert dead["topic"] == "orders-dead" and dead["original_topic"] == "orders"
    finally:
        app.terminate()
        app.wait(timeout=10)
