"""dapr_rs.aio.DaprClient: awaitable calls on the shared runtime, against no sidecar (errors, the
loop never blocked) and a real one (single, bulk and 200 publishes in flight on one client)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import List

import grpc
import pytest

import dapr_rs
from dapr_rs import DaprTimeoutError, SidecarUnavailableError
from dapr_rs.aio import DaprClient

DEADLINE_EXCEEDED = grpc.StatusCode.DEADLINE_EXCEEDED.value[0]


def test_wait_for_sidecar_does_not_block_the_loop(unreachable_address: str) -> None:
    async def main() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.ensure_future(tick())
        start = time.monotonic()
        client = DaprClient(unreachable_address)  # the constructor never connects
        assert time.monotonic() - start < 0.2
        with pytest.raises(DaprTimeoutError) as err:
            await client.wait_for_sidecar(timeout=0.5)
        assert err.value.grpc_code == DEADLINE_EXCEEDED
        assert 0.4 < time.monotonic() - start < 3
        ticker.cancel()
        await client.close()
        return ticks

    assert asyncio.run(main()) > 20, "the event loop stalled while the client waited"


def test_errors_and_closed_client(unreachable_address: str) -> None:
    async def main() -> None:
        async with DaprClient(unreachable_address) as client:
            with pytest.raises(SidecarUnavailableError):
                await client.publish_event("order_pub_sub", "orders", b"1")
            with pytest.raises(dapr_rs.DaprError):
                await client.publish_event("", "orders", b"1")
            with pytest.raises(TypeError):
                await client.publish_event("order_pub_sub", "orders", object())
        with pytest.raises(RuntimeError, match="closed"):
            await client.publish_event("order_pub_sub", "orders", b"1")

    asyncio.run(main())


def test_cancelling_a_call_is_clean(unreachable_address: str) -> None:
    async def main() -> None:
        client = DaprClient(unreachable_address)
        task = asyncio.ensure_future(client.wait_for_sidecar(30))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(DaprTimeoutError):
            await asyncio.wait_for(client.wait_for_sidecar(0.2), 5)  # still usable

    asyncio.run(main())


def test_publish_single_bulk_and_many_in_flight(subscribed) -> None:
    s = subscribed(["one", "bulk", "many"])

    async def main() -> None:
        async with DaprClient(s.address) as client:
            await client.wait_for_sidecar(10)
            await client.publish_event("order_pub_sub", "one", {"orderId": 1}, publish_metadata={"cloudevent.id": "aio-1"})
            result = await client.publish_events("order_pub_sub", "bulk", ["a", b"b", {"c": 3}])
            assert result.failed_entries == []
            # 200 publishes in flight on one client (create_task, as apps do), one connection.
            tasks = [asyncio.create_task(client.publish_event("order_pub_sub", "many", str(i))) for i in range(200)]
            await asyncio.gather(*tasks)

    asyncio.run(main())
    got = s.received(204)  # delivery order across topics is the app's concurrency
    (one,) = [e for e in got if e.topic == "one"]
    assert (one.id, one.decoded_data()) == ("aio-1", {"orderId": 1})
    bulk = [e for e in got if e.topic == "bulk"]
    assert sorted((repr(e.decoded_data()), e.data_content_type) for e in bulk) == [
        ("'a'", "text/plain"),
        ("b'b'", "application/octet-stream"),
        ("{'c': 3}", "application/json"),
    ]
    many = [e for e in got if e.topic == "many"]
    assert sorted(int(e.data) for e in many) == list(range(200))


def test_calls_from_several_loops_and_threads(subscribed) -> None:
    """One client used from two event loops in two threads: each awaitable belongs to its loop."""
    s = subscribed(["loops"])
    client = DaprClient(s.address)
    errors: List[BaseException] = []

    def run(tag: str) -> None:
        async def main() -> None:
            await asyncio.gather(*(client.publish_event("order_pub_sub", "loops", f"{tag}{i}") for i in range(50)))

        try:
            asyncio.run(main())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(e.data.decode() for e in s.received(100)) == sorted(f"{t}{i}" for t in "ab" for i in range(50))
