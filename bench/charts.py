"""The charts of a bench run (scripts/bench.sh draws them after each run), beside bench/REPORT.md:

- throughput.png: publish rate per client beside the official SDKs and the floors (tonic's client
  and ours against a do-nothing server), serially and 100 in flight;
- end_to_end.png: end-to-end latency per broker paced at 1,000 events/s (percentiles), and each
  broker's rate with 100 in flight.

It reads the run's report lines (one per line, as REPORT.md lists them) and the latency
distributions end_to_end wrote (latency-<broker>.json). A client line of the form
"<lang> publish, <K> in flight: <client> <R> events/s" is charted without changes here (an
official SDK when its name says "@dapr/dapr" or "official").

    .venv/bin/python bench/charts.py --lines LINES.txt --latency DIR --out bench/charts [--title T]
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Dict, List, Tuple

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

FLOOR, OURS, OFFICIAL = "floor", "dapr-rs", "official SDK"
COLORS = {FLOOR: "#9e9e9e", OURS: "#1f77b4", OFFICIAL: "#ff7f0e"}

Bar = Tuple[str, float, str]  # label, events/s, kind


def number(text: str) -> float:
    return float(text.replace(",", ""))


def client_rates(lines: List[str]) -> Dict[int, List[Bar]]:
    """Bars per in-flight count (1 and 100), in the order the run measured them."""
    bars: Dict[int, List[Bar]] = {1: [], 100: []}

    def add(k: int, label: str, rate: float, kind: str) -> None:
        if k in bars:
            bars[k].append((label, rate, kind))

    for line in lines:
        if m := re.match(r"bare tonic client: \d+ events, (\d+) in flight: ([\d.]+) events/s", line):
            add(int(m[1]), "tonic client → do-nothing server", number(m[2]), FLOOR)
        elif m := re.match(r"core client -> do-nothing server: \d+ events, (\d+) in flight: ([\d.]+) events/s", line):
            add(int(m[1]), "Rust core → do-nothing server", number(m[2]), FLOOR)
        elif m := re.match(r"publish_throughput: \d+ events, (\d+) in flight: ([\d.]+) events/s", line):
            # The first, section 1's; the bench measures the core again before each client.
            if not any(label == "Rust core → sidecar" for label, _, _ in bars.get(int(m[1]), [])):
                add(int(m[1]), "Rust core → sidecar", number(m[2]), OURS)
        elif m := re.match(r"python publish (serial|100 in flight) \((\w+) client\): dapr-rs ([\d,.]+)/s, official dapr SDK ([\d,.]+)/s", line):
            k = 1 if m[1] == "serial" else 100
            add(k, f"Python dapr_rs ({m[2]})", number(m[3]), OURS)
            add(k, f"Python dapr SDK ({m[2]})", number(m[4]), OFFICIAL)
        elif m := re.match(r"(\w+) publish(?: \(([^)]*)\))?, (\d+) in flight: (.*?) ?([\d.]+) events/s", line):
            lang, runtime, k, client = m[1], m[2], int(m[3]), m[4].strip()
            label = " ".join(x for x in [{"node": "Node", "dotnet": ".NET", "jvm": "JVM"}.get(lang, lang), client, f"({runtime})" if runtime else ""] if x)
            official = "@dapr/dapr" in client or "official" in client
            add(k, label, number(m[5]), OFFICIAL if official else OURS)
    return bars


def throughput_chart(lines: List[str], out: Path, title: str) -> None:
    bars = client_rates(lines)
    if not any(bars.values()):
        return
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.42 * max(len(b) for b in bars.values()) + 1.8))
    for ax, (k, rows) in zip(axes, bars.items()):
        rows = rows[::-1]  # first measured on top
        ax.barh([r[0] for r in rows], [r[1] for r in rows], color=[COLORS[r[2]] for r in rows])
        for i, (_, rate, _) in enumerate(rows):
            ax.text(rate, i, f" {rate:,.0f}", va="center", fontsize=8)
        ax.set_title("serially (1 in flight)" if k == 1 else f"{k} in flight")
        ax.set_xlabel("publishes per second")
        ax.margins(x=0.18)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLORS.values()]
    fig.legend(handles, list(COLORS), loc="lower center", ncol=3, frameon=False)
    fig.suptitle(f"Publish throughput per client, one sidecar on pubsub.in-memory — {title}")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(out / "throughput.png", dpi=110)
    plt.close(fig)


def end_to_end_chart(lines: List[str], latency_dir: Path, out: Path, title: str) -> None:
    rates = [
        (m[1], number(m[2]))
        for line in lines
        if (m := re.match(r"(\w+): end_to_end \(100 in flight\): \d+/\d+ delivered, publish [\d.]+/s, delivery ([\d.]+) events/s", line))
    ]
    curves = {p.stem.removeprefix("latency-"): json.loads(p.read_text()) for p in sorted(latency_dir.glob("latency-*.json"))}
    if not rates and not curves:
        return
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    # Percentiles on a "nines" axis, so the tail (p99, p99.9) is as readable as the median.
    nines = lambda p: -math.log10(1 - p / 100)  # noqa: E731
    for broker, dist in curves.items():
        points = [(p, ms) for p, ms in dist["percentiles"] if p < 100]
        lat.plot([nines(p) for p, _ in points], [max(ms, 0.01) for _, ms in points], label=broker)
    ticks = [50, 90, 99, 99.9, 99.99]
    lat.set_xticks([nines(p) for p in ticks], [f"p{p:g}" for p in ticks])
    lat.set_yscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    lat.yaxis.set_minor_locator(matplotlib.ticker.LogLocator(base=10, subs=(2, 5)))
    lat.yaxis.set_major_formatter(plain)
    lat.yaxis.set_minor_formatter(plain)
    lat.set_ylabel("latency, publish to handler (ms)")
    lat.set_title("paced at 1,000 events/s")
    lat.grid(True, which="both", alpha=0.3)
    lat.legend()
    if rates:
        thr.bar([r[0] for r in rates], [r[1] for r in rates], color=COLORS[OURS])
        for i, (_, rate) in enumerate(rates):
            thr.text(i, rate, f"{rate:,.0f}", ha="center", va="bottom", fontsize=8)
        thr.set_ylabel("events delivered per second")
        thr.set_title("100 in flight")
    fig.suptitle(f"End to end: publisher sidecar → broker → subscriber sidecar → app — {title}")
    fig.tight_layout()
    fig.savefig(out / "end_to_end.png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=Path, required=True, help="the run's report lines")
    parser.add_argument("--latency", type=Path, required=True, help="directory of latency-<broker>.json")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    lines = [line.strip().removeprefix("- ") for line in args.lines.read_text().splitlines() if line.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    throughput_chart(lines, args.out, args.title)
    end_to_end_chart(lines, args.latency, args.out, args.title)
    print(f"charts: {', '.join(str(p) for p in sorted(args.out.glob('*.png')))}")


if __name__ == "__main__":
    main()
