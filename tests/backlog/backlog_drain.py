"""A backlog drain, end to end: while a subscriber app and its sidecar are away, a publisher sidecar
puts N messages on K topics; then the app (Python, Node or C#) and its sidecar start and the
backlog is delivered. Counts what arrived, the duplicates, the subscriber sidecar's peak RSS and,
for the benchmark, its idle CPU afterwards.

Shared by tests/backlog/test_backlog.py and bench/backlog/backlog_bench.py. The subscriber apps
(backlog_subscriber.py / .js / BacklogSubscriber.cs) take the same arguments:
APP_PORT PUBSUB TOPIC_PREFIX TOPIC_COUNT DELIVERIES_FILE, subscribe to PREFIX-0 … PREFIX-(K-1),
and append "<topic> <data>" to DELIVERIES_FILE before answering SUCCESS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

from chaos.brokers import BrokerProcess, Mosquitto, NatsServer, RabbitMqServer, port_open, stop_group, wait_until
from chaos.evidence import AppendedLines
from sidecar_harness import ROOT, Sidecar, free_port, write_component

HERE = Path(__file__).resolve().parent
PUBSUB = "backlog"
LANGUAGES = ("python", "node", "csharp")
MIB = 1024 * 1024

# Entries per bulk publish, and bulk publishes in flight at once on the asyncio client.
BULK_SIZE = 100
PUBLISHES_IN_FLIGHT = 32
# The drain gives up when no new id arrived for this long (a stalled sidecar fails in a minute,
# not at the deadline).
STALL_S = 60.0
POLL_S = 0.1


@dataclass(frozen=True)
class Broker:
    """A component the backlog runs on: embedded, the machine's Redis (as the other tests use it), or
    a private server of its own started for the run (tests/chaos/brokers.py), so a run leaves
    nothing in the machine's brokers and Mosquitto keeps more than 1000 messages for an absent
    subscriber."""

    name: str
    type: str
    # The component's metadata, given the private server's address metadata ({} without one) and
    # the run's directory.
    metadata: Callable[[Dict[str, str], Path], Dict[str, str]]
    server: Optional[Callable[[Path], BrokerProcess]] = None
    machine_port: Optional[int] = None  # the machine's broker it needs, if any
    # False when the broker keeps nothing for a subscription that never existed (RabbitMQ's queue,
    # MQTT's session): the subscriber then subscribes once and goes away before the publishes.
    keeps_backlog_for_new_subscribers: bool = True
    # Deletes what a run left in the machine's broker, given its topics.
    forget: Optional[Callable[[Sequence[str]], None]] = None

    @contextlib.contextmanager
    def component(self, work: Path, topics: Sequence[str]) -> Iterator[Dict[str, str]]:
        """The component's metadata while its broker runs; afterwards the private server is gone,
        and what the run left in the machine's broker is deleted."""
        if self.machine_port is not None and not port_open(self.machine_port):
            raise RuntimeError(f"{self.type} needs the machine's broker on 127.0.0.1:{self.machine_port} (scripts/start-brokers.sh starts it)")
        server = self.server(work / f"{self.name}-server") if self.server else None
        try:
            if server is not None:
                server.start()
            yield self.metadata(dict(server.metadata) if server else {}, work)  # type: ignore[attr-defined]
        finally:
            if server is not None:
                server.close()
            if self.forget is not None:
                self.forget(topics)


def _delete_redis_streams(topics: Sequence[str]) -> None:
    # Stream = topic in Dapr's layout; one DEL for them all.
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "DEL", *topics], capture_output=True, timeout=30)


# Each broker's default settings, except where keeping a backlog needs otherwise.
BROKERS: Dict[str, Broker] = {
    b.name: b
    for b in [
        Broker("sqlite", "pubsub.sqlite", lambda _, d: {"path": str(d / "pubsub.db")}),
        Broker("redis", "pubsub.redis", lambda _, __: {"redisHost": "127.0.0.1:6379"}, machine_port=6379, forget=_delete_redis_streams),
        Broker("jetstream", "pubsub.jetstream", lambda server, _: server, NatsServer),
        Broker(
            "rabbitmq",
            "pubsub.rabbitmq",
            # The app's queues outlive its sidecar, and hold persistent messages.
            lambda server, _: {**server, "deletedWhenUnused": "false", "deliveryMode": "2"},
            RabbitMqServer,
            keeps_backlog_for_new_subscribers=False,
        ),
        Broker(
            "mqtt3",
            "pubsub.mqtt3",
            # A persistent session keeps the app's messages while its sidecar is away.
            lambda server, _: {**server, "qos": "1", "cleanSession": "false"},
            Mosquitto,
            keeps_backlog_for_new_subscribers=False,
        ),
    ]
}


@dataclass(frozen=True)
class Backlog:
    messages: int = 20_000
    topics: int = 1_000
    drain_timeout_s: float = 240.0
    straggler_s: float = 2.0  # after the last id, how long duplicates may still come
    idle_cpu_s: float = 0.0  # after the drain, measure the idle CPU this long (0: not at all)


@dataclass
class DrainResult:
    language: str
    broker: str
    messages: int
    topics: int
    arrived: int = 0  # distinct ids delivered
    deliveries: int = 0  # every delivery the app recorded
    unexpected: int = 0  # distinct deliveries of an id never published on that topic
    drain_s: Optional[float] = None  # sidecar start to the last id; None when not all arrived
    waited_s: float = 0.0  # sidecar start to the end of the wait, drained or not
    peak_rss: int = 0  # the subscriber sidecar's VmHWM, bytes
    idle_cpu_sidecar: Optional[float] = None  # % of one core
    idle_cpu_app: Optional[float] = None

    @property
    def duplicates(self) -> int:
        return self.deliveries - self.arrived - self.unexpected

    @property
    def rate(self) -> Optional[float]:
        return self.messages / self.drain_s if self.drain_s else None

    def summary(self) -> str:
        if self.drain_s is not None:
            drained = f"drained in {self.drain_s:.1f} s ({self.rate:.0f}/s)"
        else:
            drained = f"NOT drained: {self.arrived} arrived in {self.waited_s:.0f} s"
        unexpected = f", {self.unexpected} unexpected" if self.unexpected else ""
        return (
            f"backlog {self.language}/{self.broker}: {self.messages} msgs over {self.topics} topics {drained}, "
            f"{self.duplicates} duplicates{unexpected}, peak RSS {self.peak_rss / MIB:.0f} MiB"
        )


def topic_names(prefix: str, count: int) -> List[str]:
    """The topics a subscriber app subscribes to given PREFIX and COUNT (each app spells them so)."""
    return [f"{prefix}-{i}" for i in range(count)]


def expected_deliveries(topics: Sequence[str], messages: int) -> Dict[str, List[str]]:
    """Topic -> the ids published on it: id i goes to topic i mod K."""
    by_topic: Dict[str, List[str]] = {t: [] for t in topics}
    for i in range(messages):
        by_topic[topics[i % len(topics)]].append(str(i))
    return by_topic


def subscriber_command(language: str, build_dir: Path) -> List[str]:
    """The command that starts the subscriber app of `language` (built into `build_dir` when it
    needs building); the app's arguments follow it."""
    if language == "python":
        return [sys.executable, str(HERE / "backlog_subscriber.py")]
    if language == "node":
        return ["node", str(HERE / "backlog_subscriber.js")]
    if language == "csharp":
        return ["mono", str(_build_csharp_subscriber(build_dir))]
    raise ValueError(f"no subscriber app in {language!r}")


def _build_csharp_subscriber(build_dir: Path) -> Path:
    """Compiled with mcs against the DaprRs assembly `make dotnet` built, the native library beside
    it (as scripts/quickstart.sh does for the C# quickstart)."""
    exe = build_dir / "BacklogSubscriber.exe"
    if exe.exists():
        return exe
    build_dir.mkdir(parents=True, exist_ok=True)
    for name in ("DaprRs.dll", "libdapr_rs_ffi.so"):
        built = ROOT / "bindings-dotnet" / "bin" / name
        if not built.is_file():
            raise RuntimeError(f"{built} is missing: run `make dotnet`")
        shutil.copy(built, build_dir / name)
    out = subprocess.run(
        ["mcs", "-nologo", "-langversion:7", f"-r:{build_dir / 'DaprRs.dll'}", f"-out:{exe}", str(HERE / "BacklogSubscriber.cs")],
        capture_output=True, text=True, timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"mcs failed:\n{out.stdout}{out.stderr}")
    return exe


async def _publish(address: str, by_topic: Dict[str, List[str]]) -> None:
    import dapr_rs.aio  # only the process that publishes needs the binding

    client = dapr_rs.aio.DaprClient(address, timeout=60)
    await client.wait_for_sidecar(30)
    in_flight = asyncio.Semaphore(PUBLISHES_IN_FLIGHT)

    async def publish(topic: str, ids: List[str]) -> None:
        async with in_flight:
            response = await client.publish_events(PUBSUB, topic, ids, data_content_type="text/plain")
        if response.failed_entries:
            raise RuntimeError(f"{len(response.failed_entries)} of {len(ids)} publishes to {topic} failed: {response.failed_entries[0].error}")

    chunks = [(t, ids[i : i + BULK_SIZE]) for t, ids in by_topic.items() for i in range(0, len(ids), BULK_SIZE)]
    await asyncio.gather(*(publish(t, ids) for t, ids in chunks))
    await client.close()


def publish_backlog(resources: Path, app_id: str, by_topic: Dict[str, List[str]], log: Path) -> None:
    """Publishes every id through a publisher sidecar of its own, stopped once all are acknowledged."""
    publisher = Sidecar(app_id, resources, log=log)
    try:
        asyncio.run(_publish(f"127.0.0.1:{publisher.grpc_port}", by_topic))
    finally:
        publisher.stop()


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


class Subscriber:
    """A subscriber app and its sidecar (`--app-protocol grpc`); the app starts first, and the sidecar
    once the app listens."""

    def __init__(self, command: List[str], app_id: str, resources: Path, prefix: str, topics: int, deliveries: Path, work: Path) -> None:
        self.app_log = work / f"{app_id}-app.log"
        self.sidecar_log = work / f"{app_id}-sidecar.log"
        self.sidecar: Optional[Sidecar] = None
        app_port = free_port()
        with open(self.app_log, "ab") as log:
            self.app = subprocess.Popen(
                [*command, str(app_port), PUBSUB, prefix, str(topics), str(deliveries)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
        try:

            def listening() -> bool:
                self.check_alive()
                return port_open(app_port)

            wait_until(listening, 60, f"the subscriber app listens on {app_port}", interval=POLL_S)
            self.started_at = time.monotonic()
            self.sidecar = Sidecar(app_id, resources, app_port=app_port, log=self.sidecar_log)
        except BaseException:
            self.stop()
            raise

    def check_alive(self) -> None:
        """An app or sidecar that died ends the wait at once, with its log."""
        if self.app.poll() is not None:
            raise RuntimeError(f"the subscriber app exited with {self.app.returncode} ({self.app_log}):\n{_log_tail(self.app_log)}")
        if self.sidecar is not None and self.sidecar.proc.poll() is not None:
            raise RuntimeError(f"the subscriber sidecar exited with {self.sidecar.proc.returncode} ({self.sidecar_log}):\n{_log_tail(self.sidecar_log)}")

    def stop(self) -> None:
        """The sidecar (gracefully), then the app; both reaped."""
        if self.sidecar is not None:
            self.sidecar.stop()
        stop_group(self.app, signal.SIGTERM, 5)


def peak_rss(pid: int) -> int:
    """VmHWM (peak resident set) of a live process, in bytes; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # after "pid (comm)"; utime and stime are fields 14, 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu_percent(pids: Sequence[int], seconds: float) -> List[float]:
    """Each process's CPU over `seconds` of wall time, in % of one core."""
    before, began = [cpu_seconds(p) for p in pids], time.monotonic()
    time.sleep(seconds)
    after, wall = [cpu_seconds(p) for p in pids], time.monotonic() - began
    return [100 * (a - b) / wall for a, b in zip(after, before)]


class DeliveryCount:
    """What the subscriber app recorded, read as it grows, against what was published."""

    def __init__(self, path: Path, by_topic: Dict[str, List[str]], result: DrainResult) -> None:
        self._lines = AppendedLines(path)
        self._expected = {f"{t} {i}" for t, ids in by_topic.items() for i in ids}
        self._seen: set = set()
        self._result = result
        self.last_progress = time.monotonic()

    def read(self) -> None:
        for line in self._lines.new_lines():
            self._result.deliveries += 1
            if line in self._seen:
                continue
            self._seen.add(line)
            if line in self._expected:
                self._result.arrived += 1
                self.last_progress = time.monotonic()
            else:
                self._result.unexpected += 1


def drain_backlog(language: str, broker: Broker, command: List[str], backlog: Backlog, work: Path) -> DrainResult:
    """One run: the backlog published while the subscriber is away, then drained by it. Logs and
    the deliveries file stay in `work`. Raises when the plumbing fails (a process died, a publish
    failed); a drain that does not finish is a result, not an error."""
    run = uuid.uuid4().hex[:8]  # topics and app ids unique per run: a broker may keep older runs' data
    prefix, sub_app_id = f"backlog-{run}", f"backlog-sub-{run}"
    topics = topic_names(prefix, backlog.topics)
    by_topic = expected_deliveries(topics, backlog.messages)
    resources = work / "components"
    resources.mkdir(parents=True, exist_ok=True)
    deliveries = work / "deliveries"
    result = DrainResult(language, broker.name, backlog.messages, backlog.topics)

    def start_subscriber() -> Subscriber:
        return Subscriber(command, sub_app_id, resources, prefix, backlog.topics, deliveries, work)

    with broker.component(work, topics) as metadata:
        write_component(resources, PUBSUB, broker.type, metadata)
        if not broker.keeps_backlog_for_new_subscribers:
            primed = start_subscriber()
            try:
                primed.sidecar.wait_http("/v1.0/healthz", 204, timeout=60)  # type: ignore[union-attr]
            finally:
                primed.stop()
        publish_backlog(resources, f"backlog-pub-{run}", by_topic, work / "publisher-sidecar.log")
        subscriber = start_subscriber()
        try:
            count = DeliveryCount(deliveries, by_topic, result)
            sidecar_pid = subscriber.sidecar.proc.pid  # type: ignore[union-attr]

            def drained() -> bool:
                count.read()
                result.peak_rss = max(result.peak_rss, peak_rss(sidecar_pid))
                subscriber.check_alive()
                if time.monotonic() - count.last_progress > STALL_S:
                    raise TimeoutError(f"no new id arrived for {STALL_S:.0f}s")
                return result.arrived == backlog.messages

            try:
                wait_until(drained, backlog.drain_timeout_s, f"all {backlog.messages} ids arrived", interval=POLL_S)
                result.drain_s = time.monotonic() - subscriber.started_at
            except TimeoutError:
                pass
            result.waited_s = time.monotonic() - subscriber.started_at
            time.sleep(backlog.straggler_s)
            count.read()
            subscriber.check_alive()
            if backlog.idle_cpu_s > 0:
                result.idle_cpu_sidecar, result.idle_cpu_app = idle_cpu_percent([sidecar_pid, subscriber.app.pid], backlog.idle_cpu_s)
            result.peak_rss = max(result.peak_rss, peak_rss(sidecar_pid))
        finally:
            subscriber.stop()
    return result
