"""Streaming subscriptions (no app port) against a real sidecar: sync iterator and asyncio async
iterator, answers and redelivery, handlers (an exception answers RETRY), dead letter, metadata,
closing, refusal, and reconnecting after the sidecar restarts."""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, List

import pytest

import dapr_rs
import dapr_rs.aio
from dapr_rs import DaprClient, DaprError, Subscription, SubscriptionMessage, TopicEventResponse
from sidecar_harness import Sidecar, write_component

PUBSUB = "ps"


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[Sidecar]:
    """A sidecar with no app on the embedded (SQLite) broker, which keeps what is published while
    a stream is away."""
    resources = tmp_path / "components"
    resources.mkdir()
    write_component(resources, PUBSUB, "pubsub.sqlite", {"path": str(tmp_path / "ps.db")})
    s = Sidecar(f"streamer-{uuid.uuid4().hex[:8]}", resources)
    yield s
    s.stop()


def address(s: Sidecar) -> str:
    return f"127.0.0.1:{s.grpc_port}"


def topic() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def take(sub: Subscription, timeout: float = 15.0) -> SubscriptionMessage:
    msg = sub.next_message(timeout)
    assert msg is not None, f"no message on {sub.topic} within {timeout}s"
    return msg


def test_sync_stream_delivers_and_retry_redelivers(durable: Sidecar) -> None:
    t = topic()
    with DaprClient(address(durable)) as client, client.subscribe(PUBSUB, t) as sub:
        assert (sub.pubsub_name, sub.topic, sub.closed) == (PUBSUB, t, False)
        client.publish_event(PUBSUB, t, {"orderId": 1}, publish_metadata={"cloudevent.type": "order.created"})
        client.publish_event(PUBSUB, t, "two")
        client.publish_event(PUBSUB, t, b"\x00\x03")
        first = take(sub)
        assert first.data() == {"orderId": 1}
        assert json.loads(first.raw_data()) == {"orderId": 1}
        assert (first.data_content_type(), first.topic(), first.pubsub_name()) == ("application/json", t, PUBSUB)
        assert (first.type(), first.source(), first.spec_version()) == ("order.created", durable.app_id, "1.0")
        assert first.id() and first.event.id == first.id()
        assert first.extensions()["traceparent"].startswith("00-")  # a CloudEvent extension the sidecar adds
        assert "time" in first.extensions()
        first.respond_success()
        second = take(sub)
        assert second.data() == "two"
        second.respond_retry()  # comes back
        third = take(sub)
        assert third.data() == b"\x00\x03"
        sub.respond(third, TopicEventResponse("success"))
        again = take(sub)
        assert (again.id(), again.data()) == (second.id(), "two")
        sub.respond_success(again)
        assert sub.next_message(0.5) is None  # nothing else: every event was answered
    assert sub.closed


def test_iterating_ends_when_closed_from_another_thread(durable: Sidecar) -> None:
    t = topic()
    client = DaprClient(address(durable))
    sub = client.subscribe(PUBSUB, t)
    got: List[SubscriptionMessage] = []
    done = threading.Event()

    def loop() -> None:
        for message in sub:
            message.respond_success()
            got.append(message)
        done.set()

    threading.Thread(target=loop, daemon=True).start()
    client.publish_event(PUBSUB, t, "a")
    deadline = time.monotonic() + 15
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    sub.close()
    assert done.wait(5), "the for loop did not end after close()"
    assert [m.data() for m in got] == ["a"]
    with pytest.raises(dapr_rs.StreamInactiveError):
        got[0].respond_success()  # a closed subscription answers nothing


def test_subscribe_with_handler_answers_and_an_exception_means_retry(durable: Sidecar, caplog: pytest.LogCaptureFixture) -> None:
    t = topic()
    seen: "queue.Queue[tuple]" = queue.Queue()
    failed_once: List[str] = []

    def handler(message: SubscriptionMessage) -> Any:
        seen.put((message.id(), message.data()))
        if message.data() == "boom" and not failed_once:
            failed_once.append(message.id())
            raise RuntimeError("handler failed")
        if message.data() == "drop":
            return TopicEventResponse("drop")
        return None

    with DaprClient(address(durable)) as client:
        close = client.subscribe_with_handler(PUBSUB, t, handler, dead_letter_topic=f"{t}-dead")
        dead = client.subscribe(PUBSUB, f"{t}-dead")
        try:
            with caplog.at_level(logging.ERROR, logger="dapr_rs"):
                client.publish_event(PUBSUB, t, "boom")
                a = seen.get(timeout=15)
                b = seen.get(timeout=15)
            assert a == b and a[1] == "boom", "the event that raised was redelivered"
            assert "answering RETRY" in caplog.text and "handler failed" in caplog.text
            client.publish_event(PUBSUB, t, "drop")
            assert seen.get(timeout=15)[1] == "drop"
            dropped = take(dead)
            assert dropped.data() == "drop"
            dropped.respond_success()
        finally:
            close()
            dead.close()
        client.publish_event(PUBSUB, t, "after close")
        with pytest.raises(queue.Empty):
            seen.get(timeout=0.5)


def test_stream_metadata_reaches_the_component(durable: Sidecar) -> None:
    """rawPayload on the subscription: the published bytes arrive as they were, not as a CloudEvent."""
    t = topic()
    with DaprClient(address(durable)) as client, client.subscribe(PUBSUB, t, metadata={"rawPayload": True}) as sub:
        client.publish_event(PUBSUB, t, b"raw bytes", publish_metadata={"rawPayload": "true"})
        message = take(sub)
        assert message.raw_data() == b"raw bytes"
        message.respond_success()


def test_a_refused_subscription_raises(durable: Sidecar) -> None:
    with DaprClient(address(durable)) as client:
        with pytest.raises(DaprError) as err:
            client.subscribe("no-such-pubsub", "orders")
    assert err.value.error_code == "ERR_PUBSUB_NOT_FOUND"

    async def aio() -> None:
        with pytest.raises(dapr_rs.PubsubNotFoundError):
            await dapr_rs.aio.DaprClient(address(durable)).subscribe("no-such-pubsub", "orders")

    asyncio.run(aio())


def test_sync_stream_reconnects_after_the_sidecar_restarts(durable: Sidecar) -> None:
    t = topic()
    with DaprClient(address(durable)) as client, client.subscribe(PUBSUB, t) as sub:
        client.publish_event(PUBSUB, t, "before")
        take(sub).respond_success()
        durable.restart()
        client.publish_event(PUBSUB, t, "after")
        message = take(sub, timeout=30)
        assert message.data() == "after"
        message.respond_success()


def test_handler_stream_reconnects_after_the_sidecar_restarts(durable: Sidecar) -> None:
    t = topic()
    seen: "queue.Queue[Any]" = queue.Queue()
    with DaprClient(address(durable)) as client:
        close = client.subscribe_with_handler(PUBSUB, t, lambda m: seen.put(m.data()))
        try:
            client.publish_event(PUBSUB, t, "before")
            assert seen.get(timeout=15) == "before"
            durable.restart()
            client.publish_event(PUBSUB, t, "after")
            assert seen.get(timeout=30) == "after"
        finally:
            close()


def test_aio_stream_async_for_and_async_handler(durable: Sidecar) -> None:
    t, h = topic(), topic()

    async def main() -> None:
        async with dapr_rs.aio.DaprClient(address(durable)) as client:
            sub = await client.subscribe(PUBSUB, t)
            await client.publish_event(PUBSUB, t, {"n": 1})
            await client.publish_event(PUBSUB, t, {"n": 2})
            got = []
            async for message in sub:
                got.append(message.data()["n"])
                await sub.respond_success(message)
                if len(got) == 2:
                    break
            assert sorted(got) == [1, 2]
            assert await sub.next_message(0.3) is None
            await sub.close()
            assert await sub.next_message(1) is None and sub.closed

            handled: "asyncio.Queue[Any]" = asyncio.Queue()
            attempts: List[int] = []

            async def handler(message: SubscriptionMessage) -> str:
                attempts.append(1)
                if len(attempts) == 1:
                    raise ValueError("first attempt fails")
                await handled.put(message.data())
                return "success"

            close = await client.subscribe_with_handler(PUBSUB, h, handler)
            await client.publish_event(PUBSUB, h, "x")
            assert await asyncio.wait_for(handled.get(), 15) == "x"
            assert len(attempts) == 2, "the exception answered RETRY and the event came back"
            await close()

    asyncio.run(main())


def test_aio_stream_reconnects_after_the_sidecar_restarts(durable: Sidecar) -> None:
    t = topic()

    async def main() -> None:
        async with dapr_rs.aio.DaprClient(address(durable)) as client:
            async with await client.subscribe(PUBSUB, t) as sub:
                await client.publish_event(PUBSUB, t, "before")
                m = await sub.next_message(15)
                assert m is not None and m.data() == "before"
                m.respond_success()
                await asyncio.get_running_loop().run_in_executor(None, durable.restart)
                await client.publish_event(PUBSUB, t, "after")
                m = await sub.next_message(30)
                assert m is not None and m.data() == "after"
                m.respond_success()

    asyncio.run(main())


def test_a_handler_may_close_its_own_subscription(durable: Sidecar) -> None:
    """close() from inside the handler answers its event and returns, sync and async, instead of
    waiting for the handler that called it."""
    t, a = topic(), topic()
    with DaprClient(address(durable)) as client:
        closed = threading.Event()
        holder: List[Any] = []

        def handler(message: SubscriptionMessage) -> None:
            holder[0]()
            closed.set()

        holder.append(client.subscribe_with_handler(PUBSUB, t, handler))
        client.publish_event(PUBSUB, t, "stop")
        assert closed.wait(15), "close() from the handler did not return"

    async def main() -> None:
        async with dapr_rs.aio.DaprClient(address(durable)) as client:
            done: "asyncio.Queue[str]" = asyncio.Queue()
            closers: List[Any] = []

            async def handler(message: SubscriptionMessage) -> None:
                await closers[0]()
                await done.put(message.data())

            closers.append(await client.subscribe_with_handler(PUBSUB, a, handler))
            await client.publish_event(PUBSUB, a, "stop")
            assert await asyncio.wait_for(done.get(), 15) == "stop"

    asyncio.run(main())


def test_an_aio_read_that_timed_out_takes_nothing(durable: Sidecar) -> None:
    """`next_message(timeout)` cancels its read when the time is up; the cancelled read must stop
    (runtime.rs aborts the call's task), or it would take the next message and drop it."""
    t = topic()

    async def main() -> None:
        async with dapr_rs.aio.DaprClient(address(durable)) as client:
            async with await client.subscribe(PUBSUB, t) as sub:
                assert await sub.next_message(0.3) is None
                await client.publish_event(PUBSUB, t, "after a timed-out read")
                m = await sub.next_message(15)
                assert m is not None and m.data() == "after a timed-out read"
                await sub.respond_success(m)

    asyncio.run(main())
