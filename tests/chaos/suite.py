"""The chaos suite: for each durable component and fault, streams N messages from a publisher app
through its sidecar to a subscriber app through its sidecar, injects the fault mid-stream, and
counts what the caller was told against what arrived. Any acknowledged message never delivered is
a loss, and any loss makes the run fail.

    python tests/chaos/suite.py [--n 20000] [--components redis,mqtt3] [--faults app-kill] [--short]

(`make chaos` runs the full suite and appends its table to tests/chaos/REPORT.md.)
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # sidecar_harness, when run as a script
    sys.path.insert(0, str(HERE.parent))

from brokers import BrokerProcess, wait_until  # noqa: E402
from components import COMPONENTS, Component  # noqa: E402
from evidence import HEADER, AppendedLines, Ledger, Outcome, table_row  # noqa: E402
from faults import FAULTS, AppProcess, Fault, Stream  # noqa: E402
from sidecar_harness import Sidecar, free_port, write_component  # noqa: E402

PUBSUB = "chaos"
REPORT = HERE / "REPORT.md"


@dataclass(frozen=True)
class Settings:
    n: int = 20_000
    rate: float = 1000.0  # publishes per second while the fault happens (0: full rate)
    threads: int = 4  # publisher threads: publishes in flight at once
    fault_at: float = 0.3  # the fault comes once this share of N is acknowledged
    drain_idle_s: float = 60.0  # after the stream, wait this long without a new delivery at most
    work: Path = Path(tempfile.gettempdir())


SHORT = Settings(n=500, rate=250.0, drain_idle_s=30.0)


class Cleanup:
    """Everything started, stopped in reverse at the end of its scope, and at exit as a last resort
    (a failing case must not leave a broker or sidecar behind)."""

    def __init__(self) -> None:
        self._closers: List[Callable[[], None]] = []
        atexit.register(self.close)

    def add(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    def close(self) -> None:
        while self._closers:
            try:
                self._closers.pop()()
            except Exception as e:  # keep closing the rest
                print(f"chaos: cleanup: {e}", file=sys.stderr)


def poll(ledger: Ledger, published: AppendedLines, delivered: AppendedLines) -> Callable[[], None]:
    return lambda: ledger.read(published, delivered, time.monotonic())


def check_alive(stream: Stream) -> None:
    """An app that died by itself ends the case at once, instead of at a deadline."""
    if stream.sub_app.proc.poll() is not None:
        raise RuntimeError(f"the subscriber app exited with {stream.sub_app.proc.returncode} (see {stream.sub_app.log})")


def start_stream(component: Component, fault: Fault, broker: Optional[BrokerProcess], settings: Settings, case: Path, cleanup: Cleanup) -> Stream:
    """Starts subscriber app + sidecar (subscribed before anything is published, since some brokers
    keep nothing for a subscription that does not exist yet), then publisher sidecar + app."""
    resources = case / "components"
    resources.mkdir(parents=True)
    write_component(resources, PUBSUB, component.type, component.metadata(broker, case))
    suffix = f"{fault.name}-{uuid.uuid4().hex[:8]}"  # unique topic and consumer group per case
    topic, py = f"chaos-{suffix}", sys.executable
    app_port = free_port()
    sub_app = AppProcess([py, str(HERE / "chaos_subscriber.py"), str(app_port), PUBSUB, topic, str(case / "delivered")], case / "subscriber.log")
    cleanup.add(sub_app.kill)
    sub_sidecar = Sidecar(f"sub-{suffix}", resources, app_port=app_port, log=case / "sub-sidecar.log")
    cleanup.add(sub_sidecar.kill)
    sub_sidecar.wait_http("/v1.0/healthz", 204, timeout=60)
    pub_sidecar = Sidecar(f"pub-{suffix}", resources, log=case / "pub-sidecar.log")
    cleanup.add(pub_sidecar.kill)
    rate = 0 if fault.full_rate else settings.rate
    threads = settings.threads * 2 if fault.full_rate else settings.threads
    pub_args = [str(pub_sidecar.grpc_port), PUBSUB, topic, str(settings.n), str(threads), str(rate), str(case / "published")]
    pub_app = AppProcess([py, str(HERE / "chaos_publisher.py"), *pub_args], case / "publisher.log")
    cleanup.add(pub_app.kill)
    db = case / "pubsub.db" if component.broker is None else None
    return Stream(sub_app, sub_sidecar, pub_sidecar, pub_app, broker, db)


def run_case(component: Component, fault: Fault, broker: Optional[BrokerProcess], settings: Settings, case: Path) -> Outcome:
    began = time.monotonic()
    ledger, cleanup = Ledger(), Cleanup()
    published, delivered = AppendedLines(case / "published"), AppendedLines(case / "delivered")
    read = poll(ledger, published, delivered)
    struck: Optional[Tuple[float, float]] = None  # (fault struck, victim back)
    note, error = "", ""
    try:
        stream = start_stream(component, fault, broker, settings, case, cleanup)
        n = settings.n
        stream_s = n / settings.rate if settings.rate and not fault.full_rate else 0

        def before_fault() -> bool:
            read()
            check_alive(stream)
            if stream.pub_app.proc.poll() is not None:
                raise RuntimeError(f"the publisher exited ({stream.pub_app.proc.returncode}) before the fault (see {stream.pub_app.log})")
            if fault.full_rate:  # a full-rate stream may be over in a second: strike as it starts
                return len(ledger.acked) > 0
            return len(ledger.acked) >= settings.fault_at * n and len(ledger.first_delivery) > 0

        wait_until(before_fault, 60 + stream_s, f"{settings.fault_at:.0%} of {n} publishes are acknowledged and deliveries flow")
        note = fault.inject(stream)
        struck = (stream.struck_at, time.time())

        def published_all() -> bool:
            read()
            check_alive(stream)
            return stream.pub_app.proc.poll() is not None

        wait_until(published_all, 120 + 3 * stream_s + n / 100, "the publisher has published all N")
        if stream.pub_app.proc.returncode != 0:
            raise RuntimeError(f"the publisher exited with {stream.pub_app.proc.returncode} (see {stream.pub_app.log})")
        ledger.last_progress = time.monotonic()

        def drained() -> bool:
            read()
            check_alive(stream)
            return not ledger.undelivered() or time.monotonic() - ledger.last_progress > settings.drain_idle_s

        wait_until(drained, 30 * 60, "every acknowledged publish is delivered or none arrives for the drain window")
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
    finally:
        cleanup.close()
        read()
    outcome = Outcome.count(component.name, fault.name, ledger, struck)
    outcome.note, outcome.error, outcome.seconds = note, error, time.monotonic() - began
    return outcome


def run_component(component: Component, faults: Sequence[str], settings: Settings, work: Path) -> List[Outcome]:
    """The component's cases, one after the other, on one private broker of its own."""
    outcomes: List[Outcome] = []
    cleanup = Cleanup()
    try:
        broker = None
        if component.broker is not None:
            broker = component.broker(work / f"{component.name}-broker")
            cleanup.add(broker.close)
            broker.start()
        for name in faults:
            outcome = run_case(component, FAULTS[name], broker, settings, work / f"{component.name}-{name}")
            print(table_row(outcome), end="", flush=True)
            outcomes.append(outcome)
    except Exception as e:  # the broker did not start: every case of the component fails
        outcomes += [Outcome(component.name, f, error=f"{type(e).__name__}: {e}") for f in faults if f not in {o.fault for o in outcomes}]
    finally:
        cleanup.close()
    return outcomes


def run_suite(plan: Sequence[Tuple[Component, Sequence[str]]], settings: Settings) -> List[Outcome]:
    work = Path(tempfile.mkdtemp(prefix="dapr-rs-chaos-", dir=settings.work))
    print(f"chaos: N={settings.n}, evidence and logs under {work}", file=sys.stderr)
    print(HEADER, end="", flush=True)
    return [o for component, faults in plan for o in run_component(component, faults, settings, work)]


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True).stdout.strip()

    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    return f"{git('rev-parse', '--short', 'HEAD')}{dirty}"


def report(outcomes: Sequence[Outcome], settings: Settings, seconds: float) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rate = f"{settings.rate:.0f}/s" if settings.rate else "full rate"
    lost = sum(o.lost for o in outcomes)
    errors = sum(1 for o in outcomes if o.error)
    verdict = "PASS" if lost == 0 and errors == 0 else f"FAIL ({lost} lost, {errors} cases in error)"
    return (
        f"\n## {now}, commit {commit()}: {verdict}\n\n"
        f"N = {settings.n} per case, published at {rate} from {settings.threads} threads "
        f"(the write-lock case at full rate from {2 * settings.threads}); fault at {settings.fault_at:.0%} acknowledged; "
        f"whole run {seconds / 60:.1f} min.\n\n" + HEADER + "".join(table_row(o) for o in outcomes)
    )


def plan_for(components: Optional[str], faults: Optional[str], short: bool) -> List[Tuple[Component, Sequence[str]]]:
    chosen = [c for c in COMPONENTS if components is None or c.name in components.split(",") or c.type in components.split(",")]
    plan: List[Tuple[Component, Sequence[str]]] = []
    for c in chosen:
        names = c.short_faults if short else c.faults
        if faults is not None:
            names = tuple(f for f in names if f in faults.split(","))
        plan.append((c, names))
    return plan


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="N=500 and two faults per component (what `make test` runs)")
    parser.add_argument("--n", type=int, help="messages per case (default 20000; 500 with --short)")
    parser.add_argument("--rate", type=float, help="publishes per second (default 1000; 250 with --short; 0: full rate)")
    parser.add_argument("--components", help="comma-separated, e.g. redis,mqtt3 (default: all)")
    parser.add_argument("--faults", help=f"comma-separated among {', '.join(FAULTS)} (default: all that apply)")
    parser.add_argument("--report", action="store_true", help=f"append the table to {REPORT.relative_to(HERE.parent.parent)}")
    args = parser.parse_args(argv)
    base = SHORT if args.short else Settings()
    settings = Settings(
        n=args.n or base.n,
        rate=base.rate if args.rate is None else args.rate,
        threads=base.threads,
        fault_at=base.fault_at,
        drain_idle_s=base.drain_idle_s,
        work=Path(os.environ.get("CHAOS_WORK_DIR", base.work)),
    )
    began = time.monotonic()
    outcomes = run_suite(plan_for(args.components, args.faults, args.short), settings)
    text = report(outcomes, settings, time.monotonic() - began)
    print(text)
    if args.report:
        with open(REPORT, "a") as f:
            f.write(text)
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
