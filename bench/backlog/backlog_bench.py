"""Backlog drain benchmark (issue #13): for each broker and topic count K, N messages published over
K topics while a Python App subscriber and its sidecar are away, then drained by them. Reports the
drain rate, the subscriber sidecar's peak RSS (VmHWM), duplicates, and the idle CPU of the sidecar
and its app over the seconds after the drain (in % of one core). Not a test: it prints a markdown
table (and writes it to --report PATH). The drain is tests/backlog/backlog_drain.py's, which
tests/backlog/test_backlog.py runs with assertions.

    .venv/bin/python bench/backlog/backlog_bench.py [--brokers sqlite,redis] [--topics 1,100,1000] [--messages 20000]

Real brokers are the machine's (scripts/start-brokers.sh): redis, jetstream, rabbitmq, mqtt3.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "backlog")]

from backlog_drain import BROKERS, MIB, Backlog, DrainResult, drain_backlog, subscriber_command  # noqa: E402

HEADER = (
    "| broker | topics | messages | arrived | drain (s) | msgs/s | duplicates | peak RSS (MiB) | idle CPU sidecar (%) | idle CPU app (%) |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
)


def _number(value: Optional[float], digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table_row(r: DrainResult) -> str:
    cells = [
        r.broker, str(r.topics), str(r.messages), str(r.arrived), _number(r.drain_s, 1), _number(r.rate, 0),
        str(r.duplicates), f"{r.peak_rss / MIB:.0f}", _number(r.idle_cpu_sidecar, 1), _number(r.idle_cpu_app, 1),
    ]
    return "| " + " | ".join(cells) + " |\n"


def error_row(broker: str, topics: int, messages: int, error: str) -> str:
    cells = [broker, str(topics), str(messages), f"error: {error.splitlines()[0]}"] + [""] * 6
    return "| " + " | ".join(cells) + " |\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default="sqlite,redis", help=f"comma-separated among {', '.join(BROKERS)} (default sqlite,redis)")
    parser.add_argument("--topics", default="1,100,1000", help="topic counts K, comma-separated (default 1,100,1000)")
    parser.add_argument("--messages", type=int, default=20000, help="messages per run (default 20000)")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="how long idle CPU is measured after the drain (default 10)")
    parser.add_argument("--report", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    brokers = args.brokers.split(",")
    unknown = [b for b in brokers if b not in BROKERS]
    if unknown:
        parser.error(f"unknown broker {', '.join(unknown)}: choose among {', '.join(BROKERS)}")
    topic_counts = [int(k) for k in args.topics.split(",")]

    work = Path(tempfile.mkdtemp(prefix="dapr-rs-backlog-"))
    print(f"backlog bench: N={args.messages}, logs under {work}", file=sys.stderr)
    command = subscriber_command("python", work)
    rows: List[str] = []
    for broker in brokers:
        for k in topic_counts:
            backlog = Backlog(messages=args.messages, topics=k, idle_cpu_s=args.idle_seconds)
            run_dir = work / f"{broker}-{k}"
            run_dir.mkdir()
            try:
                result = drain_backlog("python", BROKERS[broker], command, backlog, run_dir)
            except Exception as e:  # a broker that is down fails its rows, not the bench
                print(f"backlog {broker}, {k} topics: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                rows.append(error_row(broker, k, args.messages, f"{type(e).__name__}: {e}"))
            else:
                print(result.summary(), file=sys.stderr, flush=True)
                rows.append(table_row(result))

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    report = (
        f"## Backlog drain, {now}\n\n"
        f"{args.messages} messages published over K topics while the subscriber (Python App, gRPC) was away, then drained; "
        f"drain = subscriber sidecar start to the last id; idle CPU over {args.idle_seconds:.0f} s after the drain, in % of one core.\n\n"
        + HEADER + "".join(rows)
    )
    print(report, end="")
    if args.report:
        args.report.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
