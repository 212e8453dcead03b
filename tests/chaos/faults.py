"""The faults the chaos suite injects into a running stream. Each does its damage and brings the
victim back, then returns a note for the report; the suite measures the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

from brokers import BrokerProcess, stop_group
from sidecar_harness import Sidecar

# How long a sidecar may take to exit after SIGTERM: its grace period (the default 5 s) plus margin.
SIGTERM_EXIT_S = 5 + 10


class AppProcess:
    """A chaos app (publisher or subscriber) in its own process group, logging to a file."""

    def __init__(self, argv: List[str], log: Path) -> None:
        self.argv, self.log = argv, log
        self.start()

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)

    def kill(self) -> None:
        stop_group(self.proc, signal.SIGKILL, 5)


@dataclass
class Stream:
    """The processes of one case: publisher app → its sidecar → broker → sidecar → subscriber app."""

    sub_app: AppProcess
    sub_sidecar: Sidecar
    pub_sidecar: Sidecar
    pub_app: AppProcess
    broker: Optional[BrokerProcess]
    db_path: Optional[Path]  # pubsub.sqlite's file, when that is the component
    struck_at: float = 0.0  # when the fault's signal went out (time.time())

    def strike(self) -> None:
        self.struck_at = time.time()


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[Stream], str]
    # The publisher publishes as fast as it can instead of at the suite's rate.
    full_rate: bool = False


def kill_subscriber_app(s: Stream) -> str:
    s.strike()
    s.sub_app.kill()
    s.sub_app.start()
    return ""


def kill_subscriber_sidecar(s: Stream) -> str:
    s.strike()
    s.sub_sidecar.kill()
    s.sub_sidecar.start()
    return ""


def kill_publisher_sidecar(s: Stream) -> str:
    s.strike()
    s.pub_sidecar.kill()
    s.pub_sidecar.start()
    return ""


def terminate_subscriber_sidecar(s: Stream) -> str:
    """SIGTERM; a sidecar that outlives its grace period (plus margin) is noted and killed, so the
    suite goes on and the report says so."""
    began = time.monotonic()
    s.strike()
    s.sub_sidecar.proc.send_signal(signal.SIGTERM)
    try:
        code = s.sub_sidecar.proc.wait(timeout=SIGTERM_EXIT_S)
        note = f"exited {code} {time.monotonic() - began:.1f} s after SIGTERM"
    except subprocess.TimeoutExpired:
        s.sub_sidecar.kill()
        note = f"HUNG: still running {SIGTERM_EXIT_S} s after SIGTERM, killed"
    s.sub_sidecar.start()
    return note


def restart_broker(s: Stream) -> str:
    assert s.broker is not None, "broker-restart needs a private broker"
    began = time.monotonic()
    s.strike()
    s.broker.restart()
    return f"broker down and back in {time.monotonic() - began:.1f} s"


def holds_wal_write_lock(pid: int, shm_inode: int) -> bool:
    """Whether `pid` holds SQLite's WAL write lock: a POSIX write lock on byte 120 of the -shm
    file (WALINDEX_LOCK_OFFSET + WAL_WRITE_LOCK), as /proc/locks lists it."""
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            # "1: POSIX  ADVISORY  WRITE 4242 08:01:131 120 120"; "->" marks a waiter.
            if "->" in fields or len(fields) < 8:
                continue
            _, kind, _, mode, owner, device_inode, start = fields[:7]
            if kind == "POSIX" and mode == "WRITE" and owner == str(pid) and start == "120" and device_inode.endswith(f":{shm_inode}"):
                return True
    return False


def kill_publisher_sidecar_holding_write_lock(s: Stream) -> str:
    """kill -9 of the publisher's sidecar at the moment /proc/locks shows it holding the WAL write
    lock (it publishes at full rate, so it takes that lock many times a second)."""
    assert s.db_path is not None, "write-lock-kill is for pubsub.sqlite"
    shm_inode = os.stat(f"{s.db_path}-shm").st_ino
    pid = s.pub_sidecar.proc.pid
    deadline = time.monotonic() + 10
    caught = False
    while time.monotonic() < deadline and not caught:
        caught = holds_wal_write_lock(pid, shm_inode)
    s.strike()
    s.pub_sidecar.kill()
    s.pub_sidecar.start()
    return "killed holding the WAL write lock" if caught else "write lock not seen held within 10 s; killed while publishing"


FAULTS: Dict[str, Fault] = {
    f.name: f
    for f in (
        Fault("app-kill", kill_subscriber_app),
        Fault("sub-sidecar-kill", kill_subscriber_sidecar),
        Fault("pub-sidecar-kill", kill_publisher_sidecar),
        Fault("sub-sidecar-term", terminate_subscriber_sidecar),
        Fault("broker-restart", restart_broker),
        Fault("write-lock-kill", kill_publisher_sidecar_holding_write_lock, full_rate=True),
    )
}
