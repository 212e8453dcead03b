"""dapr-rs's Python client and the official `dapr` SDK side by side, publishing to the same sidecar
in one run (issue #6's targets): serial with the sync client, 100 in flight with the asyncio
client, and a client made per message (the quickstart's habit). Not a test: it prints rates.

    python bench/python/publish.py --grpc-port 50001 --http-port 3500 [--count 20000] [--rates-only]

`--rates-only` prints dapr-rs's serial (sync) and 100-in-flight (asyncio) rates alone, with no
official client and no floor: the bench's interleaved rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Awaitable, Callable, Dict, List

PUBSUB, TOPIC = "order_pub_sub", "bench-python"
IN_FLIGHT = 100


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(run: Callable[[], None], count: int) -> float:
    start = time.perf_counter()
    run()
    return rate(count, time.perf_counter() - start)


def serial(make_client: Callable[[], object], count: int) -> float:
    client = make_client()
    publish = client.publish_event  # type: ignore[attr-defined]
    publish(PUBSUB, TOPIC, b"warm-up")

    def run() -> None:
        for i in range(count):
            publish(PUBSUB, TOPIC, b"x" * 64)

    return timed(run, count)


def per_message(make_client: Callable[[], object], count: int) -> float:
    def run() -> None:
        for _ in range(count):
            with make_client() as client:  # type: ignore[attr-defined]
                client.publish_event(PUBSUB, TOPIC, b"x" * 64)

    return timed(run, count)


def in_flight(make_client: Callable[[], object], count: int) -> float:
    async def main() -> float:
        client = make_client()
        publish: Callable[..., Awaitable[object]] = client.publish_event  # type: ignore[attr-defined]
        await publish(PUBSUB, TOPIC, b"warm-up")
        per_worker = count // IN_FLIGHT

        async def worker() -> None:
            for _ in range(per_worker):
                await publish(PUBSUB, TOPIC, b"x" * 64)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        elapsed = time.perf_counter() - start
        close = getattr(client, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result
        return rate(per_worker * IN_FLIGHT, elapsed)

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--work-us", type=int, default=0, help="the bare core's serial publish, for the floor")
    parser.add_argument("--rates-only", action="store_true", help="dapr-rs's two rates alone")
    args = parser.parse_args()
    # The official SDK reads where its sidecar is (and waits for its HTTP health) from here.
    os.environ.update(DAPR_GRPC_PORT=str(args.grpc_port), DAPR_HTTP_PORT=str(args.http_port), DAPR_RUNTIME_HOST="127.0.0.1")
    os.environ.pop("DAPR_GRPC_ENDPOINT", None)

    import dapr_rs
    import dapr_rs.aio
    from dapr.aio.clients import DaprClient as OfficialAio
    from dapr.clients import DaprClient as OfficialSync

    address = f"127.0.0.1:{args.grpc_port}"
    n = args.count
    if args.rates_only:
        print(f"python publish, 1 in flight: dapr-rs (sync) {serial(lambda: dapr_rs.DaprClient(address), n):.0f} events/s")
        print(f"python publish, {IN_FLIGHT} in flight: dapr-rs (asyncio) {in_flight(lambda: dapr_rs.aio.DaprClient(address), n):.0f} events/s")
        return
    results: Dict[str, List[float]] = {
        "serial (sync client)": [serial(lambda: dapr_rs.DaprClient(address), n), serial(OfficialSync, n // 4)],
        f"{IN_FLIGHT} in flight (asyncio client)": [
            in_flight(lambda: dapr_rs.aio.DaprClient(address), n),
            in_flight(OfficialAio, n // 2),
        ],
        "client per message": [
            per_message(lambda: dapr_rs.DaprClient(address), n // 4),
            per_message(OfficialSync, max(n // 50, 100)),
        ],
    }
    for name, (ours, theirs) in results.items():
        print(f"python publish {name}: dapr-rs {ours:,.0f}/s, official dapr SDK {theirs:,.0f}/s ({ours / theirs:.1f}x)")
    print(floors(n, args.work_us))


def floors(count: int, work_us: int) -> str:
    """The floor under the binding (issue #19): a call into the runtime and back with nothing to
    do, the hand-off each publish makes; blocking calls one at a time, awaited ones 100 in flight
    (as the publish runs above), best of 3. With `work_us`, blocking calls again with a serial
    publish's time of work on the runtime: the caller has gone idle when it completes."""
    from dapr_rs import _native

    def blocking(busy_us: int = 0) -> None:
        for _ in range(count):
            _native._round_trip(busy_us)

    async def awaited() -> None:
        async def worker() -> None:
            for _ in range(count // IN_FLIGHT):
                await _native._round_trip_async()

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))

    def best_us(run: Callable[[], None]) -> float:
        return min(1e6 / timed(run, count) for _ in range(3))

    sync_us, async_us = best_us(blocking), best_us(lambda: asyncio.run(awaited()))
    lines = [
        f"python runtime floor: a call into the runtime and back with nothing to do takes {sync_us:.1f} µs blocking, "
        f"1 in flight; {async_us:.1f} µs a call awaited, {IN_FLIGHT} in flight (best of 3 x {count} calls)"
    ]
    if work_us > 0:
        idle_us = best_us(lambda: blocking(work_us))
        lines.append(
            f"python runtime floor, caller idle: a blocking call the runtime completes after {work_us} µs of work takes "
            f"{idle_us:.1f} µs, {idle_us - work_us:.1f} µs over the work (best of 3 x {count} calls)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
