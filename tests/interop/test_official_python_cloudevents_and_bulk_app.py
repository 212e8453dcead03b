"""The official Python SDK (`dapr` from PyPI, unchanged) publishing its own CloudEvents through our
sidecar with both its clients (sync and asyncio: the SDK publishes over gRPC only, it has no HTTP
publish), and its `dapr.ext.grpc.App` taking a bulk subscription."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import textwrap
import time

from sidecar_harness import Sidecar, free_port

import dapr_rs  # installed by `make python`; a missing binding must fail, not skip

CLOUDEVENT_PUBLISHER = textwrap.dedent(
    """
    import asyncio, json
    from dapr.clients import DaprClient
    from dapr.aio.clients import DaprClient as AsyncDaprClient

    def event(n, via):
        return json.dumps({"specversion": "1.0", "id": f"{via}-{n}", "source": "legacy-system",
                           "type": "order.created", "datacontenttype": "application/json",
                           "subject": f"order-{n}", "data": {"orderId": n}})

    with DaprClient() as client:
        # cloudevent.* overrides do not apply to a CloudEvent the caller built itself.
        client.publish_event(pubsub_name="ps", topic_name="ce", data=event(1, "sync"),
                             data_content_type="application/cloudevents+json",
                             publish_metadata={"cloudevent.source": "ignored"})

    async def publish_async():
        async with AsyncDaprClient() as client:
            await client.publish_event(pubsub_name="ps", topic_name="ce", data=event(2, "aio"),
                                       data_content_type="application/cloudevents+json",
                                       publish_metadata={"ttlInSeconds": "60"})
    asyncio.run(publish_async())
    """
)


def test_official_clients_publish_their_own_cloudevents(memory_resources):
    received: "queue.Queue" = queue.Queue()
    app = dapr_rs.App()

    @app.subscribe(pubsub_name="ps", topic="ce")
    def on_event(event) -> None:
        received.put(event)

    port = app.start(0, listen_address="127.0.0.1")
    sidecar = Sidecar("subscriber", memory_resources, app_port=port, protocol="grpc")
    try:
        sidecar.wait_http("/v1.0/healthz", 204)
        out = sidecar.run_python(CLOUDEVENT_PUBLISHER)
        events = {}
        for _ in range(2):
            event = received.get(timeout=15)
            events[event.id] = event
        assert sorted(events) == ["aio-2", "sync-1"]
        for n, event in ((1, events["sync-1"]), (2, events["aio-2"])):
            # The caller's attributes are kept as they were...
            assert event.source == "legacy-system"
            assert event.type == "order.created"
            assert event.spec_version == "1.0"
            assert event.data_content_type == "application/json"
            assert json.loads(event.Data()) == {"orderId": n}
            assert event.extensions["subject"] == f"order-{n}"
            # ...and what daprd adds to a passed-through CloudEvent is there.
            assert event.topic == "ce" and event.pubsub_name == "ps"
            assert event.extensions["traceparent"].startswith("00-")
        assert "expiration" not in events["sync-1"].extensions
        assert events["aio-2"].extensions["expiration"], "ttlInSeconds sets expiration on a passed-through CloudEvent"
    finally:
        sidecar.stop()
        app.stop()


# The SDK's `App.subscribe` has no bulk option: an app gets bulk deliveries from a declarative
# Subscription with `bulkSubscribe`, routed to the path of one of its handlers.
BULK_SUBSCRIPTION = textwrap.dedent(
    """
    apiVersion: dapr.io/v2alpha1
    kind: Subscription
    metadata:
      name: bulk-orders
    spec:
      pubsubname: ps
      topic: orders
      routes:
        default: bulk-orders
      deadLetterTopic: orders-dead
      bulkSubscribe:
        enabled: true
        maxMessagesCount: 10
        maxAwaitDurationMs: 500
    scopes:
    - checkout
    """
)

BULK_APP = textwrap.dedent(
    """
    import json, sys
    from dapr.ext.grpc import App, SubscriptionMessage, TopicEventResponse

    out_path, port = sys.argv[1], int(sys.argv[2])
    app = App()

    def record(entry):
        with open(out_path, 'a') as f:
            f.write(json.dumps(entry) + '\\n')

    # Counts the bulk calls the SDK's own servicer handles (OnBulkTopicEvent, or its Alpha1 twin).
    handle_bulk = app._servicer._handle_bulk_topic_event
    def counting_bulk(request, context):
        record({'bulk_call': len(request.entries), 'topic': request.topic})
        return handle_bulk(request, context)
    app._servicer._handle_bulk_topic_event = counting_bulk

    retried = set()

    @app.subscribe(pubsub_name='ps', topic='bulk-orders')
    def on_order(event: SubscriptionMessage):
        order = event.data()
        record({'order': order['n'], 'id': event.id(), 'topic': event.topic(), 'source': event.source()})
        if order['n'] == 2:
            return TopicEventResponse('drop')
        if order['n'] == 3 and 3 not in retried:
            retried.add(3)
            return TopicEventResponse('retry')
        return TopicEventResponse('success')

    @app.subscribe(pubsub_name='ps', topic='orders-dead')
    def on_dead(event: SubscriptionMessage):
        record({'dead': event.data()['n'], 'id': event.id()})

    app.run(port)
    """
)


def test_official_grpc_app_takes_a_bulk_subscription_with_per_entry_answers(memory_resources, tmp_path):
    (memory_resources / "bulk-subscription.yaml").write_text(BULK_SUBSCRIPTION)
    out_file = tmp_path / "received.jsonl"
    port = free_port()
    app = subprocess.Popen([sys.executable, "-c", BULK_APP, str(out_file), str(port)])
    sidecar = None
    try:
        sidecar = Sidecar("checkout", memory_resources, app_port=port, protocol="grpc")
        sidecar.wait_http("/v1.0/healthz", 204)
        with dapr_rs.DaprClient(f"127.0.0.1:{sidecar.grpc_port}") as client:
            for n in range(5):
                client.publish_event("ps", "orders", json.dumps({"n": n}), data_content_type="application/json")

        def lines():
            return [json.loads(line) for line in out_file.read_text().splitlines()] if out_file.exists() else []

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (len([x for x in lines() if "order" in x]) >= 6 and any("dead" in x for x in lines())):
            time.sleep(0.05)
        time.sleep(0.5)  # anything further would be a wrong extra delivery
        got = lines()
        orders = sorted(x["order"] for x in got if "order" in x)
        assert orders == [0, 1, 2, 3, 3, 4], got  # 3 answered RETRY once, then SUCCESS
        assert all(x["topic"] == "orders" and x["source"] == "checkout" for x in got if "order" in x), got
        dead = [x for x in got if "dead" in x]
        assert [d["dead"] for d in dead] == [2], got  # DROP sends the entry to the dead-letter topic
        dropped_id = next(x["id"] for x in got if x.get("order") == 2)
        assert dead[0]["id"] == dropped_id, got
        # The five events came in bulk calls on the subscribed topic, not one call each; the
        # RETRY entry came back alone in a further call.
        calls = [x for x in got if "bulk_call" in x]
        assert all(c["topic"] == "orders" for c in calls), got
        assert sum(c["bulk_call"] for c in calls) == 6, got
        assert max(c["bulk_call"] for c in calls) > 1, got
        assert calls[-1]["bulk_call"] == 1, got
    finally:
        if sidecar:
            sidecar.stop()
        app.terminate()
        app.wait(timeout=10)
