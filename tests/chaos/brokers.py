"""Private broker instances for the chaos suite: each listens on free loopback ports and keeps its
data in a directory of its own, so restarting one never disturbs the machine's shared brokers
(6379, 4222, 5672, 1883, 9092) or another engineer's run."""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Callable, Dict, List, Optional

from sidecar_harness import free_port


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Polls `predicate` until it holds; fails naming `what` when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting until {what}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_group(proc: subprocess.Popen, sig: int, timeout: float) -> None:
    """Sends `sig` to the process group `proc` leads (brokers fork helpers), SIGKILL after
    `timeout` seconds; reaps `proc` either way."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # helpers left behind in the group go too
    except ProcessLookupError:
        pass
    proc.wait()


class BrokerProcess:
    """One broker server process in its own process group, logging to `dir/server.log`.
    Subclasses say how to start it and when it is ready."""

    name = "broker"
    start_timeout = 30.0

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None

    def command(self) -> List[str]:
        raise NotImplementedError

    def env(self) -> Dict[str, str]:
        return dict(os.environ)

    def ready(self) -> bool:
        return port_open(self.port)

    def start(self) -> None:
        with open(self.dir / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                self.command(), env=self.env(), cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,
            )
        proc = self.proc

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {proc.returncode} while starting (see {self.dir}/server.log)")
            return self.ready()

        wait_until(up, self.start_timeout, f"{self.name} on port {self.port} is ready")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """A graceful stop by default (what an operator's restart does); SIGKILL after 30 s."""
        if self.proc is not None:
            stop_group(self.proc, sig, 30)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        if self.proc is not None:
            stop_group(self.proc, signal.SIGKILL, 5)


class RedisServer(BrokerProcess):
    """Redis with persistence as production runs it: every write in the append-only file, fsynced
    before the command is answered."""

    name = "redis-server"

    def command(self) -> List[str]:
        return [
            "redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
        ]

    def ready(self) -> bool:
        # The port opens before the append-only file is loaded; until then PING answers -LOADING.
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    @property
    def metadata(self) -> Dict[str, str]:
        return {"redisHost": f"127.0.0.1:{self.port}"}


class NatsServer(BrokerProcess):
    """nats-server with JetStream, its store in the directory (file storage survives restarts)."""

    name = "nats-server"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.monitor_port = free_port()

    def command(self) -> List[str]:
        return [
            "nats-server", "-js", "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor_port),
            "-sd", str(self.dir / "store"),
        ]

    def ready(self) -> bool:
        # /healthz answers 200 only once JetStream has recovered its streams.
        try:
            url = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
            with urllib.request.urlopen(url, timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    @property
    def metadata(self) -> Dict[str, str]:
        return {"natsURL": f"nats://127.0.0.1:{self.port}"}


class Mosquitto(BrokerProcess):
    """Mosquitto with persistence in the directory. Queues per client are unbounded: the default
    (1000 QoS 1 messages) drops what a subscriber's session receives beyond it while its sidecar
    is away, which would be the broker's configured loss, not the sidecar's."""

    name = "mosquitto"

    def command(self) -> List[str]:
        conf = self.dir / "mosquitto.conf"
        conf.write_text(
            # As root, Mosquitto would switch to the mosquitto user, which cannot write its
            # database into this directory: persistence would silently be off.
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser {getpass.getuser()}\n"
            f"persistence true\npersistence_location {self.dir}/\nautosave_interval 1\n"
            "max_queued_messages 0\n"
        )
        return ["mosquitto", "-c", str(conf)]

    @property
    def metadata(self) -> Dict[str, str]:
        return {"url": f"tcp://127.0.0.1:{self.port}"}


class RabbitMqServer(BrokerProcess):
    """A RabbitMQ node of its own: its own node name, AMQP and distribution ports, database, logs,
    Erlang cookie (HOME) and no plugins. Started through the scripts under /usr/lib/rabbitmq/bin
    directly, as the current user (Debian's wrapper would switch to the rabbitmq user)."""

    name = "rabbitmq-server"
    start_timeout = 120.0  # 15 s on an idle 2-core machine; much more when it is busy
    bin_dir = Path("/usr/lib/rabbitmq/bin")

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.dist_port = free_port()
        self.node = f"chaos{self.port}@localhost"
        (self.dir / "enabled_plugins").write_text("[].\n")

    def env(self) -> Dict[str, str]:
        return dict(
            os.environ,
            HOME=str(self.dir),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.dir / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.dir / "advanced.config"),
            RABBITMQ_PID_FILE=str(self.dir / "rabbitmq.pid"),
        )

    def command(self) -> List[str]:
        return [str(self.bin_dir / "rabbitmq-server")]

    def ready(self) -> bool:
        # The port opens before the node accepts logins and declarations.
        if not port_open(self.port):
            return False
        ctl = subprocess.run(
            [str(self.bin_dir / "rabbitmqctl"), "-n", self.node, "await_startup", "--timeout", "10"],
            env=self.env(), capture_output=True, timeout=30,
        )
        return ctl.returncode == 0

    @property
    def metadata(self) -> Dict[str, str]:
        return {"connectionString": f"amqp://guest:guest@127.0.0.1:{self.port}/%2f"}


class KafkaServer(BrokerProcess):
    """An Apache Kafka of its own (KRaft, broker and controller in one JVM) through
    scripts/kafka/run-private.sh, which execs the JVM, so this process is the broker; its log
    segments, fsynced by the broker as Kafka's defaults do, in the directory survive a restart."""

    name = "kafka"
    start_timeout = 120.0  # the JVM: 5-10 s on an idle 2-core machine, more when it is busy
    script_dir = Path(__file__).resolve().parents[2] / "scripts" / "kafka"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.controller_port = free_port()

    def command(self) -> List[str]:
        return [str(self.script_dir / "run-private.sh"), str(self.port), str(self.controller_port), str(self.dir / "data")]

    def ready(self) -> bool:
        # The port opens before the broker serves; `kafka.sh ready` creates (or finds) a topic.
        if not port_open(self.port):
            return False
        probe = subprocess.run(
            [str(self.script_dir / "kafka.sh"), "ready", str(self.port), "20"], capture_output=True, timeout=60,
        )
        return probe.returncode == 0

    @property
    def metadata(self) -> Dict[str, str]:
        return {"brokers": f"127.0.0.1:{self.port}", "authType": "none"}
