"""asyncio flavour of :mod:`dapr_rs`: the same client with awaitable methods, as the official
SDK's ``dapr.aio.clients``. Calls run on dapr-rs's own runtime over the shared connection (no
thread per call); the event loop is only woken to take each result, so many publishes can be in
flight on one client."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import logging
from typing import Any, Awaitable, Callable, Optional, Sequence, Set

from .. import BulkPublishFailedEntry, BulkPublishResponse, BulkSubscribe, Metadata, _ClientBase, _metadata, _tracing
from .._native import TopicEvent, in_topic_handler
from ..subscription import StreamInactiveError, SubscriptionMessage, _StreamView, message_handler

__all__ = ["BulkSubscribe", "DaprClient", "Subscription"]

_log = logging.getLogger("dapr_rs")
# How often a worker waiting for an async handler checks that the subscriber's loop still runs.
_LOOP_CHECK_S = 1.0


class DaprClient(_ClientBase):
    """An asyncio client for the Dapr sidecar; options as :class:`dapr_rs.DaprClient`. Making
    one never blocks the event loop (it connects on the first call). Use ``async with`` or
    ``await client.close()``."""

    async def publish_event(
        self,
        pubsub_name: str,
        topic_name: str,
        data: Any,
        data_content_type: Optional[str] = None,
        publish_metadata: Metadata = None,
        *,
        traceparent: Optional[str] = None,
        tracestate: Optional[str] = None,
    ) -> None:
        """As :meth:`dapr_rs.DaprClient.publish_event`."""
        trace = _tracing.publish_context(traceparent, tracestate)
        await self._client().publish_event_async(pubsub_name, topic_name, data, data_content_type, _metadata(publish_metadata), *trace)

    async def publish_events(
        self,
        pubsub_name: str,
        topic_name: str,
        data: Sequence[Any],
        data_content_type: Optional[str] = None,
        publish_metadata: Metadata = None,
        *,
        traceparent: Optional[str] = None,
        tracestate: Optional[str] = None,
    ) -> BulkPublishResponse:
        """As :meth:`dapr_rs.DaprClient.publish_events`."""
        entries = [(str(i), item, data_content_type, None) for i, item in enumerate(data)]
        trace = _tracing.publish_context(traceparent, tracestate)
        failed = await self._client().bulk_publish_async(pubsub_name, topic_name, entries, _metadata(publish_metadata), *trace)
        return BulkPublishResponse([BulkPublishFailedEntry(entry_id, error) for entry_id, error in failed])

    async def wait_for_sidecar(self, timeout_s: float = 60.0, *, timeout: Optional[float] = None) -> None:
        """Returns once the sidecar answers; :class:`~dapr_rs.DaprTimeoutError` after ``timeout_s``
        seconds (or ``timeout=``)."""
        await self._client().wait_for_sidecar_async(timeout_s if timeout is None else timeout)

    async def wait(self, timeout_s: float) -> None:
        """The official SDK's name for :meth:`wait_for_sidecar`."""
        await self.wait_for_sidecar(timeout_s)

    async def subscribe(
        self,
        pubsub_name: str,
        topic: str,
        metadata: Metadata = None,
        dead_letter_topic: Optional[str] = None,
    ) -> "Subscription":
        """Opens a streaming subscription: ``async for`` its messages and answer each."""
        native = await self._client().subscribe_async(pubsub_name, topic, dead_letter_topic, _metadata(metadata))
        return Subscription(native)

    async def subscribe_with_handler(
        self,
        pubsub_name: str,
        topic: str,
        handler_fn: Callable[[SubscriptionMessage], Any],
        metadata: Metadata = None,
        dead_letter_topic: Optional[str] = None,
    ) -> Callable[[], Awaitable[None]]:
        """Streams ``topic`` to ``handler_fn`` (``async def`` or plain) in a task of the running
        loop (a plain function on a worker thread); an exception answers RETRY. Returns the coroutine function that closes it."""
        subscription = await self.subscribe(pubsub_name, topic, metadata, dead_letter_topic)
        handlers: Set["asyncio.Future[Any]"] = set()
        on_loop = _on_loop(asyncio.get_running_loop(), _tracing.in_event_context(handler_fn), handlers)
        task = asyncio.ensure_future(_serve(subscription, message_handler(subscription._native, on_loop)))

        async def close() -> None:
            await subscription.close()
            # From inside the handler, waiting for the handlers would wait for itself.
            if asyncio.current_task() not in handlers and not in_topic_handler():
                await task

        return close

    async def close(self) -> None:
        """Ends this client; the connection stays for other clients of the same address."""
        self._native = None

    async def __aenter__(self) -> "DaprClient":
        self._client()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "" if self._native is not None else ", closed"
        return f"aio.DaprClient(endpoint={self._endpoint!r}{state})"


class Subscription(_StreamView):
    """An open streaming subscription, as :class:`dapr_rs.Subscription` but ``async for``."""

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> SubscriptionMessage:
        event = await self._native.next_async()
        if event is None:
            raise StopAsyncIteration
        return SubscriptionMessage(event, self._native)

    async def next_message(self, timeout: Optional[float] = None) -> Optional[SubscriptionMessage]:
        """The next message, or None after ``timeout`` seconds without one (or once closed)."""
        try:
            event = await asyncio.wait_for(self._native.next_async(), timeout)
        except asyncio.TimeoutError:
            return None
        return None if event is None else SubscriptionMessage(event, self._native)

    async def respond(self, message: SubscriptionMessage, status: Any) -> None:
        message.respond(status)

    async def respond_success(self, message: SubscriptionMessage) -> None:
        message.respond("success")

    async def respond_retry(self, message: SubscriptionMessage) -> None:
        message.respond("retry")

    async def respond_drop(self, message: SubscriptionMessage) -> None:
        message.respond("drop")

    async def close(self) -> None:
        self._native.close()

    async def __aenter__(self) -> "Subscription":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = ", closed" if self.closed else ""
        return f"aio.Subscription(pubsub_name={self.pubsub_name!r}, topic={self.topic!r}{state})"


def _on_loop(loop: asyncio.AbstractEventLoop, handler: Callable[[SubscriptionMessage], Any], running: Set["asyncio.Future[Any]"]) -> Callable[[SubscriptionMessage], Any]:
    """``handler`` as core's worker thread calls it: an ``async def`` handler's coroutine runs on
    the subscriber's own event loop (where its clients and queues live), and the worker waits
    for it, giving up once that loop has stopped."""

    @functools.wraps(handler)
    def call(message: SubscriptionMessage) -> Any:
        answer = handler(message)
        if not inspect.isawaitable(answer):
            return answer
        future = asyncio.run_coroutine_threadsafe(_awaited(answer, running), loop)
        while True:
            try:
                return future.result(timeout=_LOOP_CHECK_S)
            except concurrent.futures.TimeoutError:
                if loop.is_closed() or not loop.is_running():
                    future.cancel()
                    raise RuntimeError("the event loop of the subscription stopped while its handler ran")

    return call


async def _awaited(answer: Awaitable[Any], running: Set["asyncio.Future[Any]"]) -> Any:
    task = asyncio.current_task()
    if task is not None:
        running.add(task)
    try:
        return await answer
    finally:
        if task is not None:
            running.discard(task)


async def _serve(subscription: Subscription, handler: Callable[[TopicEvent], Any]) -> None:
    try:
        await subscription._native.serve_async(handler)
    except StreamInactiveError:
        return
    except Exception:
        _log.exception("streaming subscription to %s/%s ended", subscription.pubsub_name, subscription.topic)
