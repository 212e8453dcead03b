"""asyncio flavour of :mod:`dapr_rs`: the same client with awaitable methods, as the official
SDK's ``dapr.aio.clients``. Calls run on dapr-rs's own runtime over the shared connection (no
thread per call); the event loop is only woken to take each result, so many publishes can be in
flight on one client."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Awaitable, Callable, Optional, Sequence

from .. import BulkPublishFailedEntry, BulkPublishResponse, Metadata, _ClientBase, _metadata
from ..subscription import StreamInactiveError, SubscriptionMessage, _StreamView, answer_message

__all__ = ["DaprClient", "Subscription"]

_log = logging.getLogger("dapr_rs")


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
    ) -> None:
        """As :meth:`dapr_rs.DaprClient.publish_event`."""
        await self._client().publish_event_async(pubsub_name, topic_name, data, data_content_type, _metadata(publish_metadata))

    async def publish_events(
        self,
        pubsub_name: str,
        topic_name: str,
        data: Sequence[Any],
        data_content_type: Optional[str] = None,
        publish_metadata: Metadata = None,
    ) -> BulkPublishResponse:
        """As :meth:`dapr_rs.DaprClient.publish_events`."""
        entries = [(str(i), item, data_content_type, None) for i, item in enumerate(data)]
        failed = await self._client().bulk_publish_async(pubsub_name, topic_name, entries, _metadata(publish_metadata))
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
        loop; an exception answers RETRY. Returns the coroutine function that closes it."""
        subscription = await self.subscribe(pubsub_name, topic, metadata, dead_letter_topic)
        task = asyncio.ensure_future(_pump(subscription, handler_fn))

        async def close() -> None:
            await subscription.close()
            if task is not asyncio.current_task():
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


async def _pump(subscription: Subscription, handler: Callable[[SubscriptionMessage], Any]) -> None:
    try:
        async for message in subscription:
            try:
                answer = handler(message)
                if inspect.isawaitable(answer):
                    answer = await answer
            except Exception:
                _log.exception("streaming handler failed on event %s; answering RETRY", message.id())
                answer = "retry"
            if not answer_message(message, answer):
                return
    except StreamInactiveError:
        return
    except Exception:
        _log.exception("streaming subscription to %s/%s ended", subscription.pubsub_name, subscription.topic)
