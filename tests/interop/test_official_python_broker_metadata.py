"""The official Dapr Python SDK's gRPC App (`dapr.ext.grpc`, unchanged) behind our sidecar reads a
message's broker metadata as it does behind daprd: from the call's gRPC metadata, which the SDK
gives a `SubscriptionMessage` handler as `metadata()` and a legacy `v1.Event` handler as
`_metadata_<key>` extensions. Kafka here: the record key (`partitionKey`) and a header (every
publish metadata key is one)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid

from sidecar_harness import Sidecar, free_port, write_component

import dapr.ext.grpc  # noqa: F401  (the official App; a missing SDK must fail, not skip)
import dapr_rs

PUBSUB = "kafka_pub_sub"

SUBSCRIBER = textwrap.dedent(
    """
    import json, sys
    from cloudevents.sdk.event import v1
    from dapr.ext.grpc import App, SubscriptionMessage

    port, out, topic = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    app = App()

    def record(kind, metadata):
        with open(out, "a") as f:
            f.write(json.dumps({"kind": kind, "metadata": dict(metadata)}) + "\\n")

    @app.subscribe(pubsub_name="kafka_pub_sub", topic=topic)
    def modern(message: SubscriptionMessage) -> None:
        record("SubscriptionMessage", message.metadata())

    @app.subscribe(pubsub_name="kafka_pub_sub", topic=topic + "-legacy")
    def legacy(event: v1.Event) -> None:
        prefix = "_metadata_"
        record("v1.Event", {k[len(prefix):]: v for k, v in event.Extensions().items() if k.startswith(prefix)})

    app.run(port)
    """
)


def test_official_grpc_app_reads_kafka_metadata_from_our_sidecar(tmp_path, sidecars):
    topic = f"interop-metadata-{uuid.uuid4().hex}"  # topics and a consumer group of this run only
    resources = tmp_path / "components"
    resources.mkdir()
    kafka = {"brokers": "127.0.0.1:9092", "authType": "none", "initialOffset": "oldest", "consumerGroup": topic}
    write_component(resources, PUBSUB, "pubsub.kafka", kafka)
    port, out_file = free_port(), tmp_path / "received.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, str(port), str(out_file), topic])
    try:
        sidecar = Sidecar("official-subscriber", resources, app_port=port, protocol="grpc")
        sidecars.append(sidecar)
        sidecar.wait_http("/v1.0/healthz", 204)
        with dapr_rs.DaprClient(f"127.0.0.1:{sidecar.grpc_port}") as client:
            for t in (topic, topic + "-legacy"):
                client.publish_event(PUBSUB, t, {"orderId": 7}, publish_metadata={"partitionKey": "order-7", "X-Tenant": "acme"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out_file.exists() and len(out_file.read_text().splitlines()) >= 2):
            assert proc.poll() is None, "the official subscriber exited"
            time.sleep(0.05)
        lines = out_file.read_text().splitlines() if out_file.exists() else []
        assert len(lines) == 2, f"the official subscriber got {lines} within 60 s"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    got = {r["kind"]: r["metadata"] for r in map(json.loads, lines)}
    assert set(got) == {"SubscriptionMessage", "v1.Event"}
    for kind, metadata in got.items():
        assert metadata["__key"] == "order-7", (kind, metadata)
        assert metadata["__partition"].isdigit(), (kind, metadata)
        assert metadata["__topic"] in (topic, topic + "-legacy"), (kind, metadata)
        assert metadata["x-tenant"] == "acme", (kind, metadata)
        assert metadata["pubsubname"] == PUBSUB, (kind, metadata)
