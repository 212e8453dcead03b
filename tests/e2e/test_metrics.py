"""`/metrics` of a publisher's and a subscriber's sidecar after known traffic, read by Prometheus'
own text parser (prometheus_client): daprd's metric names and labels, with exact counts."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, FrozenSet, Iterator, Tuple

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dapr_rs import App, DaprClient, DaprError, TopicEventResponse
from sidecar_harness import Sidecar, wait_until

PUBSUB = "order_pub_sub"
TOPIC = "orders"
NAMESPACE = "metrics-ns"
Series = Dict[FrozenSet[Tuple[str, str]], float]


def scrape(port: int, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return resp.read().decode()


class Scrape:
    """One scrape, parsed; series are looked up under daprd's exact names."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}

    def counter(self, name: str) -> Series:
        """The series of counter `name`; none when nothing was recorded (as daprd exports none)."""
        # The parser files a counter's samples under `<family>_total` ...
        family = self.families.get(name[: -len("_total")] if name.endswith("_total") else name)
        if family is None:
            assert f" {name}" not in self.text, self.text
            return {}
        # ... while the exposition names it exactly so, with no `_total` added.
        assert f"# TYPE {name} counter\n" in self.text, f"no counter {name}:\n{self.text}"
        return {frozenset(s.labels.items()): s.value for s in family.samples if s.name in (name, name + "_total")}

    def histogram_counts(self, name: str) -> Series:
        assert f"# TYPE {name} histogram\n" in self.text, f"no histogram {name}:\n{self.text}"
        return {frozenset(s.labels.items()): s.value for s in self.families[name].samples if s.name == name + "_count"}

    def gauge(self, name: str) -> float:
        (sample,) = [s for s in self.families[name].samples if s.name == name]
        return sample.value


def proc_stat(pid: int) -> Dict[str, int]:
    """utime, stime and starttime of /proc/<pid>/stat (proc(5) fields 14, 15, 22)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return {"utime": int(fields[11]), "stime": int(fields[12]), "starttime": int(fields[19])}


def boot_time() -> int:
    with open("/proc/stat") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("btime "))


def series(**labels: str) -> FrozenSet[Tuple[str, str]]:
    return frozenset(labels.items())


class Subscriber:
    """A dapr_rs.App (gRPC) on `orders`: events marked `retry-once` are answered RETRY the first
    time, `drop` ones DROP, the others SUCCESS; `settled` holds the numbers of those it is done with."""

    def __init__(self) -> None:
        self.app = App()
        self.attempts: Dict[int, int] = {}
        self.settled: set = set()
        self.lock = threading.Lock()
        self.app.subscribe(PUBSUB, TOPIC)(self.handle)
        self.port = self.app.start(0, listen_address="127.0.0.1")

    def handle(self, event) -> TopicEventResponse:
        body = event.decoded_data()
        n, kind = body["n"], body["kind"]
        with self.lock:
            self.attempts[n] = self.attempts.get(n, 0) + 1
            if kind == "retry-once" and self.attempts[n] == 1:
                return TopicEventResponse("retry")
            self.settled.add(n)
        return TopicEventResponse("drop" if kind == "drop" else "success")


@pytest.fixture
def resources(tmp_path: Path) -> Path:
    """The embedded broker both sidecars share, and a component that fails where ignoreErrors lets
    the sidecar go on."""
    resources = tmp_path / "components"
    resources.mkdir()
    (resources / "pubsub.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: order_pub_sub\nspec:\n  type: pubsub.sqlite\n"
        f"  version: v1\n  metadata:\n  - name: path\n    value: \"{tmp_path / 'pubsub.db'}\"\n"
    )
    (resources / "broken.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: broken\nspec:\n  type: pubsub.nonexistent\n"
        "  version: v1\n  ignoreErrors: true\n"
    )
    return resources


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    s = Subscriber()
    yield s
    s.app.stop()


def test_both_sidecars_count_the_traffic_under_daprds_names(resources: Path, subscriber: Subscriber, sidecars: list) -> None:
    sub = Sidecar("metrics-sub", resources, app_port=subscriber.port, protocol="grpc", env={"NAMESPACE": NAMESPACE})
    sidecars.append(sub)
    sub.wait_http("/v1.0/healthz", 204)  # the app's subscription runs
    started = time.time()
    pub = Sidecar("metrics-pub", resources)
    sidecars.append(pub)
    ready = time.time()

    # 6 single publishes (5 over gRPC, 1 over HTTP) and 1 bulk publish of 4 entries; 2 events are
    # answered RETRY once, 1 DROP; and 2 publishes to a pubsub that does not exist.
    kinds = {1: "plain", 2: "plain", 3: "plain", 4: "retry-once", 5: "retry-once", 6: "drop"}
    with DaprClient(f"127.0.0.1:{pub.grpc_port}") as client:
        for n in (1, 2, 4, 5, 6):
            client.publish_event(PUBSUB, TOPIC, {"n": n, "kind": kinds[n]})
        failed = client.publish_events(PUBSUB, TOPIC, [{"n": n, "kind": "plain"} for n in (7, 8, 9, 10)])
        assert failed.failed_entries == []
        with pytest.raises(DaprError):
            client.publish_event("nope", TOPIC, {"n": 0, "kind": "plain"})
    request = urllib.request.Request(
        f"http://127.0.0.1:{pub.http_port}/v1.0/publish/{PUBSUB}/{TOPIC}",
        data=json.dumps({"n": 3, "kind": "plain"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 204
    request = urllib.request.Request(f"http://127.0.0.1:{pub.http_port}/v1.0/publish/nope/{TOPIC}", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 404

    wait_until(lambda: len(subscriber.settled) == 10, 20.0, "the app settled all 10 events")
    assert subscriber.attempts == {n: 2 if n in (4, 5) else 1 for n in range(1, 11)}

    # The subscriber's sidecar records each answer after the app gave it: poll until every one of
    # the 12 attempts is in, then the counts must be exactly these.
    ingress = {
        series(app_id="metrics-sub", component=PUBSUB, namespace=NAMESPACE, process_status="success", status="success", topic=TOPIC): 9.0,
        series(app_id="metrics-sub", component=PUBSUB, namespace=NAMESPACE, process_status="retry", status="retry", topic=TOPIC): 2.0,
        # The app's own DROP: process_status=drop, status=success (as daprd records it).
        series(app_id="metrics-sub", component=PUBSUB, namespace=NAMESPACE, process_status="drop", status="success", topic=TOPIC): 1.0,
    }
    wait_until(
        lambda: sum(Scrape(scrape(sub.metrics_port)).counter("dapr_component_pubsub_ingress_count").values()) >= 12,
        20.0,
        "12 ingress records are on the subscriber's sidecar",
    )
    time.sleep(0.3)  # nothing more may come
    s = Scrape(scrape(sub.metrics_port))
    assert s.counter("dapr_component_pubsub_ingress_count") == ingress
    assert s.histogram_counts("dapr_component_pubsub_ingress_latencies") == ingress
    assert s.counter("dapr_component_pubsub_egress_count") == {}
    assert s.counter("dapr_runtime_component_loaded") == {series(app_id="metrics-sub"): 1.0}
    assert s.counter("dapr_runtime_component_init_total") == {series(app_id="metrics-sub", component="pubsub.sqlite"): 1.0}
    assert s.counter("dapr_runtime_component_init_fail_total") == {
        series(app_id="metrics-sub", component="pubsub.nonexistent", reason="creation", componentName="broken"): 1.0
    }
    # Nothing called its gRPC API; its HTTP API got the harness's health checks only.
    assert s.counter("dapr_grpc_io_server_completed_rpcs") == {}
    http = s.counter("dapr_http_server_request_count")
    assert http[series(app_id="metrics-sub", method="GET", path="/v1.0/healthz/outbound", status="204")] == 1.0
    assert http[series(app_id="metrics-sub", method="GET", path="/v1.0/healthz", status="204")] == 1.0
    assert {dict(k)["path"] for k in http} == {"/v1.0/healthz/outbound", "/v1.0/healthz"}

    p = Scrape(scrape(pub.metrics_port))
    egress = {series(app_id="metrics-pub", component=PUBSUB, namespace="", success="true", topic=TOPIC): 6.0}
    assert p.counter("dapr_component_pubsub_egress_count") == egress
    assert p.histogram_counts("dapr_component_pubsub_egress_latencies") == egress
    bulk = {series(app_id="metrics-pub", component=PUBSUB, namespace="", success="true", topic=TOPIC): 1.0}
    assert p.counter("dapr_component_pubsub_egress_bulk_count") == bulk
    assert p.histogram_counts("dapr_component_pubsub_egress_bulk_latencies") == bulk
    assert p.counter("dapr_component_pubsub_egress_bulk_event_count") == {
        series(app_id="metrics-pub", component=PUBSUB, namespace="", success="true", topic=TOPIC): 4.0
    }
    assert p.counter("dapr_component_pubsub_ingress_count") == {}
    assert p.counter("dapr_runtime_component_init_fail_total") == {
        series(app_id="metrics-pub", component="pubsub.nonexistent", reason="creation", componentName="broken"): 1.0
    }

    dapr = "/dapr.proto.runtime.v1.Dapr/"
    grpc = {
        series(app_id="metrics-pub", grpc_server_method=dapr + "PublishEvent", grpc_server_status="OK"): 5.0,
        series(app_id="metrics-pub", grpc_server_method=dapr + "BulkPublishEvent", grpc_server_status="OK"): 1.0,
        # grpc-go's name of the code, as daprd's interceptor records it.
        series(app_id="metrics-pub", grpc_server_method=dapr + "PublishEvent", grpc_server_status="InvalidArgument"): 1.0,
    }
    assert p.counter("dapr_grpc_io_server_completed_rpcs") == grpc
    assert p.histogram_counts("dapr_grpc_io_server_server_latency") == grpc
    http = {
        series(app_id="metrics-pub", method="GET", path="/v1.0/healthz/outbound", status="204"): 1.0,
        series(app_id="metrics-pub", method="POST", path=f"/v1.0/publish/{PUBSUB}/{TOPIC}", status="204"): 1.0,
        series(app_id="metrics-pub", method="POST", path=f"/v1.0/publish/nope/{TOPIC}", status="404"): 1.0,
    }
    assert p.counter("dapr_http_server_request_count") == http
    assert p.histogram_counts("dapr_http_server_latency") == http
    assert p.counter("dapr_http_server_response_count") == http

    # Process metrics: the publisher's own process, as /proc tells it (USER_HZ 100, as procfs reads it).
    pid = pub.proc.pid
    before = proc_stat(pid)
    p = Scrape(scrape(pub.metrics_port))
    after = proc_stat(pid)
    cpu = p.counter("process_cpu_seconds_total")[frozenset()]
    assert (before["utime"] + before["stime"]) / 100 <= cpu <= (after["utime"] + after["stime"]) / 100
    start = p.gauge("process_start_time_seconds")
    assert started - 2 <= start <= ready + 2
    assert abs(start - (boot_time() + before["starttime"] / 100)) < 0.001
    assert p.gauge("process_resident_memory_bytes") > 1_000_000
    assert p.gauge("process_open_fds") >= 3

    # daprd's exporter answers on any path.
    assert "dapr_component_pubsub_egress_count{" in scrape(pub.metrics_port, "/")


class NotFoundApp:
    """An HTTP app that subscribes `lost` (dead letters to `lost-dead`) to a route it does not
    serve: every delivery is answered 404, and counted in `posts`."""

    def __init__(self) -> None:
        self.posts = 0
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/dapr/subscribe":
                    return self.reply(404, b"")
                subs = [{"pubsubname": PUBSUB, "topic": "lost", "route": "/not-here", "deadLetterTopic": "lost-dead"}]
                self.reply(200, json.dumps(subs).encode())

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                app.posts += 1
                self.reply(404, b"no such route")

            def reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def dead_letters(sidecar: Sidecar) -> list:
    with urllib.request.urlopen(f"http://127.0.0.1:{sidecar.http_port}/v1.0-alpha1/dapr-rs/deadletters", timeout=5) as resp:
        return json.load(resp)["deadLetters"]


def test_an_app_without_the_handler_counts_a_drop_not_a_success(resources: Path, sidecars: list) -> None:
    """daprd counts an HTTP 404 and a gRPC Unimplemented `process_status=drop, status=drop`
    (the app's own DROP is `status=success`); the 404 goes to the dead-letter topic, the
    Unimplemented is acknowledged without it."""
    (resources / "unserved.yaml").write_text(
        "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata:\n  name: unserved\nspec:\n"
        f"  pubsubname: {PUBSUB}\n  topic: unserved\n  routes:\n    default: /unserved\n  deadLetterTopic: unserved-dead\n"
        "scopes:\n  - metrics-unimpl\n"
    )
    not_found = NotFoundApp()
    bare = grpc.server(ThreadPoolExecutor(max_workers=2))  # serves no AppCallback: every call is Unimplemented
    bare_port = bare.add_insecure_port("127.0.0.1:0")
    bare.start()
    try:
        http_sub = Sidecar("metrics-404", resources, app_port=not_found.port, protocol="http")
        sidecars.append(http_sub)
        grpc_sub = Sidecar("metrics-unimpl", resources, app_port=bare_port, protocol="grpc")
        sidecars.append(grpc_sub)
        for sub in (http_sub, grpc_sub):
            sub.wait_http("/v1.0/healthz", 204)  # its subscriptions run
        with DaprClient(f"127.0.0.1:{http_sub.grpc_port}") as client:
            client.publish_event(PUBSUB, "lost", {"n": 1, "kind": "plain"})
            client.publish_event(PUBSUB, "unserved", {"n": 2, "kind": "plain"})

        for sub, topic in ((http_sub, "lost"), (grpc_sub, "unserved")):
            dropped = {series(app_id=sub.app_id, component=PUBSUB, namespace="", process_status="drop", status="drop", topic=topic): 1.0}
            wait_until(
                lambda: sum(Scrape(scrape(sub.metrics_port)).counter("dapr_component_pubsub_ingress_count").values()) >= 1,
                20.0,
                f"the drop is on {sub.app_id}'s sidecar",
            )
            time.sleep(0.3)  # nothing more may come: a drop is not retried
            s = Scrape(scrape(sub.metrics_port))
            assert s.counter("dapr_component_pubsub_ingress_count") == dropped
            assert s.histogram_counts("dapr_component_pubsub_ingress_latencies") == dropped
        assert not_found.posts == 1, "a 404 is not retried"
        (lost,) = dead_letters(http_sub)
        assert (lost["topic"], lost["deadLetterTopic"]) == ("lost", "lost-dead"), lost
        assert dead_letters(grpc_sub) == [], "daprd sends an Unimplemented to no dead-letter topic"
    finally:
        bare.stop(None)
        not_found.stop()


def test_with_metrics_off_nothing_listens_on_the_metrics_port(resources: Path, sidecars: list) -> None:
    quiet = Sidecar("metrics-off", resources, args=["--enable-metrics=false"])
    sidecars.append(quiet)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", quiet.metrics_port)) != 0, "something answers on the metrics port"
    # The sidecar itself works.
    with DaprClient(f"127.0.0.1:{quiet.grpc_port}") as client:
        client.publish_event(PUBSUB, TOPIC, {"n": 0, "kind": "plain"})
