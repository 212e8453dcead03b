"""Tracing end to end (issue 16): a publisher app opens an OpenTelemetry span and publishes through
its sidecar; the subscriber sidecar delivers to a dapr-rs App. Both sidecars read a `Configuration`
(`--config`) that exports to a small OTLP/gRPC receiver run by this test. One trace runs from the
publisher's span through the publisher sidecar's publish span and the subscriber sidecar's
`pubsub/<topic>` span to the handler, which runs inside the event's context. Also: samplingRate
"0" exports nothing, and a collector that is down slows neither publishes nor shutdown."""

from __future__ import annotations

import http.server
import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from sidecar_harness import Sidecar, free_port, wait_until

TOPIC = "orders"
PUBSUB = "order_pub_sub"
EXPLICIT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CLIENT = trace_pb2.Span.SPAN_KIND_CLIENT

# The subscriber: the binding's App; its handler records what trace it sees.
SUBSCRIBER = textwrap.dedent(
    """
    import json, sys
    from opentelemetry import trace
    from dapr_rs import App

    port, protocol, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    app = App()

    @app.subscribe(pubsub_name="order_pub_sub", topic="orders")
    def orders(event):
        sc = trace.get_current_span().get_span_context()
        current = [format(sc.trace_id, "032x"), format(sc.span_id, "016x")] if sc.is_valid else None
        line = {"n": event.decoded_data()["n"], "traceparent": event.traceparent, "tracestate": event.tracestate, "current": current}
        with open(out, "a") as f:
            f.write(json.dumps(line) + "\\n")

    app.run(port, protocol=protocol)
    """
)

# The publisher: one publish inside its own span (the binding takes the span's context), one
# with an explicit traceparent outside any span.
PUBLISHER = textwrap.dedent(
    f"""
    import json
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from dapr_rs import DaprClient

    trace.set_tracer_provider(TracerProvider())
    tracer = trace.get_tracer("publisher")
    with DaprClient() as client:
        client.wait_for_sidecar(20)
        with tracer.start_as_current_span("checkout") as span:
            sc = span.get_span_context()
            client.publish_event("{PUBSUB}", "{TOPIC}", {{"n": 1}})
        client.publish_event("{PUBSUB}", "{TOPIC}", {{"n": 2}}, traceparent="{EXPLICIT}", tracestate="vendor=v1")
    print(json.dumps([format(sc.trace_id, "032x"), format(sc.span_id, "016x")]))
    """
)


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace collector that keeps every span it is sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list = []

    def Export(self, request, context):  # noqa: N802 (the generated servicer's name)
        with self._lock:
            for rs in request.resource_spans:
                service = next((a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), "")
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        self._spans.append(
                            {
                                "service": service,
                                "name": s.name,
                                "kind": s.kind,
                                "trace_id": s.trace_id.hex(),
                                "span_id": s.span_id.hex(),
                                "parent": s.parent_span_id.hex(),
                                "attributes": {a.key: a.value.string_value for a in s.attributes},
                                "status": s.status.code,
                            }
                        )
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list:
        with self._lock:
            return list(self._spans)


@pytest.fixture
def collector():
    receiver = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield receiver, port
    finally:
        server.stop(0)


def configuration(path: Path, port: int, rate: str, protocol: str = "grpc") -> Path:
    path.write_text(
        textwrap.dedent(
            f"""
            apiVersion: dapr.io/v1alpha1
            kind: Configuration
            metadata:
              name: tracing
            spec:
              tracing:
                samplingRate: "{rate}"
                otel:
                  endpointAddress: "127.0.0.1:{port}"
                  isSecure: false
                  protocol: {protocol}
                  headers: ["x-tenant=blue"]
              metrics:
                enabled: true
            """
        )
    )
    return path


def http_publish(sidecar: Sidecar, n: int, traceparent: str = "") -> dict:
    headers = {"Content-Type": "application/json"}
    if traceparent:
        headers["traceparent"] = traceparent
    req = urllib.request.Request(
        f"http://127.0.0.1:{sidecar.http_port}/v1.0/publish/{PUBSUB}/{TOPIC}",
        data=json.dumps({"n": n}).encode(), headers=headers, method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204
        return dict(resp.headers)


class Subscriber:
    """The binding's App in its own process, behind its own sidecar."""

    def __init__(self, tmp_path: Path, resources: Path, protocol: str, config: Path):
        self.out = tmp_path / "handled.jsonl"
        port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, str(port), protocol, str(self.out)])
        self.sidecar = Sidecar("subscriber", resources, app_port=port, protocol=protocol, args=["--config", str(config)])

    def handled(self, count: int) -> dict:
        def lines():
            if not self.out.exists():
                return None
            found = [json.loads(line) for line in self.out.read_text().splitlines()]
            return found if len(found) >= count else None

        return {line["n"]: line for line in wait_until(lines, 30, f"the handler saw {count} events")}

    def stop(self) -> None:
        self.sidecar.stop()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def one(spans: list, **match) -> dict:
    found = [s for s in spans if all(s[k] == v for k, v in match.items())]
    assert len(found) == 1, f"expected one span with {match}, found {found} among {spans}"
    return found[0]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_one_trace_from_the_publisher_through_both_sidecars_to_the_handler(tmp_path, sqlite_resources, collector, protocol):
    receiver, port = collector
    config = configuration(tmp_path / "config.yaml", port, "1")
    subscriber = Subscriber(tmp_path, sqlite_resources, protocol, config)
    publisher = Sidecar("publisher", sqlite_resources, args=["--config", str(config)])
    try:
        subscriber.sidecar.wait_http("/v1.0/healthz", 204)
        trace_id, app_span = json.loads(publisher.run_python(PUBLISHER))
        # A third publish over HTTP: its response carries the API span's traceparent.
        http_parent = "00-11112222333344445555666677778888-9999aaaabbbbcccc-01"
        response = http_publish(publisher, 3, http_parent)
        handled = subscriber.handled(3)
    finally:
        # Stopping flushes the spans not exported yet (the batch delay is 5 s).
        publisher.stop()
        subscriber.stop()
    spans = wait_until(lambda: (s := receiver.spans()) and len([x for x in s if x["name"] == f"pubsub/{TOPIC}"]) >= 3 and s, 15, "spans arrive")

    for n, (parent_trace, parent_span, api) in {
        1: (trace_id, app_span, "/dapr.proto.runtime.v1.Dapr/PublishEvent"),
        2: (EXPLICIT[3:35], EXPLICIT[36:52], "/dapr.proto.runtime.v1.Dapr/PublishEvent"),
        3: (http_parent[3:35], http_parent[36:52], f"/v1.0/publish/{PUBSUB}/{TOPIC}"),
    }.items():
        published = one(spans, trace_id=parent_trace, name=api)
        assert published["service"] == "publisher" and published["kind"] == CLIENT, published
        assert published["parent"] == parent_span, "the publish span is a child of the caller's span"
        attributes = published["attributes"]
        assert attributes["messaging.system"] == "pubsub" and attributes["messaging.destination.name"] == TOPIC, attributes
        assert attributes["dapr.api"] == (api if n < 3 else f"POST {api}"), attributes
        assert attributes["dapr.protocol"] == ("grpc" if n < 3 else "http"), attributes
        if n < 3:
            assert attributes["rpc.service"] == "Dapr", attributes
        else:
            assert attributes["dapr.status_code"] == "204", attributes

        delivered = one(spans, trace_id=parent_trace, name=f"pubsub/{TOPIC}")
        assert delivered["service"] == "subscriber" and delivered["kind"] == CLIENT, delivered
        assert delivered["parent"] == published["span_id"], "the delivery span is a child of the publish span"
        assert delivered["attributes"]["messaging.destination.name"] == TOPIC, delivered
        assert delivered["status"] != trace_pb2.Status.STATUS_CODE_ERROR, delivered

        # The event carries the publish span (as daprd's CloudEvent does), and the handler runs in it.
        seen = handled[n]
        assert seen["traceparent"][:-2] == f"00-{parent_trace}-{published['span_id']}-", seen
        assert int(seen["traceparent"][-2:], 16) & 1, f"sampled: {seen}"
        assert seen["current"] == [parent_trace, published["span_id"]], seen
    assert handled[2]["tracestate"] == "vendor=v1", "the caller's tracestate travels with the trace"
    assert response["traceparent"] == handled[3]["traceparent"], "the HTTP answer names the API span"


def test_sampling_rate_zero_exports_nothing_and_copies_the_callers_traceparent(tmp_path, sqlite_resources, collector):
    receiver, port = collector
    config = configuration(tmp_path / "config.yaml", port, "0")
    subscriber = Subscriber(tmp_path, sqlite_resources, "grpc", config)
    publisher = Sidecar("publisher", sqlite_resources, args=["--config", str(config)])
    try:
        subscriber.sidecar.wait_http("/v1.0/healthz", 204)
        response = http_publish(publisher, 1, EXPLICIT)
        handled = subscriber.handled(1)
    finally:
        publisher.stop()
        subscriber.stop()
    assert handled[1]["traceparent"] == EXPLICIT, "tracing off: the caller's traceparent reaches the handler as it was"
    assert "traceparent" not in {k.lower() for k in response}
    time.sleep(1)
    assert receiver.spans() == []


@pytest.mark.parametrize("collector_state", ["refusing", "silent"])
def test_a_collector_that_is_down_slows_neither_publishes_nor_shutdown(tmp_path, sqlite_resources, collector_state):
    # "silent" accepts connections (the kernel's backlog) and never answers: exports hang until
    # their timeout, which shutdown must not wait for.
    with __import__("socket").socket() as silent:
        silent.bind(("127.0.0.1", 0))
        if collector_state == "silent":
            silent.listen(64)
        port = silent.getsockname()[1]
        config = configuration(tmp_path / "config.yaml", port, "1")
        grace = 2.0
        publisher = Sidecar("publisher", sqlite_resources, args=["--config", str(config), "--dapr-graceful-shutdown-seconds", str(grace)])
        try:
            started = time.monotonic()
            for n in range(200):
                http_publish(publisher, n)
            took = time.monotonic() - started
            assert took < 10, f"200 publishes took {took:.1f}s with the collector {collector_state}"
            # Long enough for the batch task to be exporting (and stuck, when silent).
            time.sleep(6)
            stopping = time.monotonic()
            publisher.proc.send_signal(signal.SIGTERM)
            code = publisher.proc.wait(timeout=30)
            stopped_in = time.monotonic() - stopping
        finally:
            publisher.stop()
    assert code == 0
    assert stopped_in < grace + 1.5, f"the sidecar took {stopped_in:.1f}s to stop (grace {grace}s) with the collector {collector_state}"


def test_spans_reach_an_otlp_http_collector(tmp_path, sqlite_resources):
    """`protocol: http`: OTLP/HTTP protobuf POSTed to /v1/traces, with the configured headers."""
    received: list = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            names = [s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
            received.append((self.path, self.headers.get("Content-Type"), self.headers.get("x-tenant"), names))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = configuration(tmp_path / "config.yaml", server.server_address[1], "1", protocol="http")
        publisher = Sidecar("publisher", sqlite_resources, args=["--config", str(config)])
        try:
            http_publish(publisher, 1, EXPLICIT)
        finally:
            publisher.stop()
        wait_until(lambda: received, 15, "an export arrives")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    path, content_type, tenant, names = received[0]
    assert (path, content_type, tenant) == ("/v1/traces", "application/x-protobuf", "blue"), received
    assert f"/v1.0/publish/{PUBSUB}/{TOPIC}" in [n for _, _, _, names in received for n in names], received
