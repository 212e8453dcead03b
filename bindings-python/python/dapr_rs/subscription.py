"""Streaming subscriptions: the app pulls events from the sidecar over one gRPC stream (no app
port) and answers each. Names follow the official SDK's ``dapr.clients.grpc.subscription``.

The stream itself (reconnecting after a sidecar restart, answering by event id) is core's; this
module shapes messages and runs handlers."""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any, Callable, Dict, Optional, Type, TypeVar

from ._native import DaprError, TopicEvent, in_topic_handler
from ._native import SubscriptionStream as _NativeStream

__all__ = ["Subscription", "SubscriptionMessage", "StreamInactiveError"]

T = TypeVar("T")
_log = logging.getLogger("dapr_rs")


class StreamInactiveError(DaprError):
    """The subscription was closed (or refused for good), so it can no longer answer."""


class SubscriptionMessage:
    """One event of a streaming subscription. The accessors are methods, as in the official SDK;
    :meth:`data` is the payload decoded by its content type (JSON → value, text → str, else
    bytes). Answer it with :meth:`respond_success`, :meth:`respond_retry`, :meth:`respond_drop`
    or :meth:`respond`."""

    __slots__ = ("_event", "_stream", "_decoded", "_has_decoded")

    def __init__(self, event: TopicEvent, stream: _NativeStream) -> None:
        self._event = event
        self._stream = stream
        self._decoded: Any = None
        self._has_decoded = False

    @property
    def event(self) -> TopicEvent:
        """The event as an App handler gets it."""
        return self._event

    def id(self) -> str:
        return self._event.id

    def source(self) -> str:
        return self._event.source

    def type(self) -> str:
        return self._event.type

    def spec_version(self) -> str:
        return self._event.spec_version

    def data_content_type(self) -> str:
        return self._event.data_content_type

    def topic(self) -> str:
        return self._event.topic

    def pubsub_name(self) -> str:
        return self._event.pubsub_name

    def raw_data(self) -> bytes:
        """The payload bytes as they arrived."""
        return self._event.data

    def extensions(self) -> Dict[str, Any]:
        """Every other CloudEvent attribute (traceparent, time, custom extensions…)."""
        return self._event.extensions

    def data(self) -> Any:
        """The payload decoded by its content type (decoded once)."""
        if not self._has_decoded:
            self._decoded = self._event.decoded_data()
            self._has_decoded = True
        return self._decoded

    def model(self, cls: Type[T]) -> T:
        """The payload loaded into a dataclass or pydantic model (see :meth:`TopicEvent.model`)."""
        return self._event.model(cls)

    def respond(self, status: Any) -> None:
        """Answers this event: ``'success'`` / ``'retry'`` / ``'drop'``, a
        :class:`~dapr_rs.TopicEventResponse` or None (success). Does not wait for the sidecar."""
        _respond(self._stream, self._event.id, status)

    def respond_success(self) -> None:
        self.respond("success")

    def respond_retry(self) -> None:
        self.respond("retry")

    def respond_drop(self) -> None:
        self.respond("drop")

    def __repr__(self) -> str:
        e = self._event
        return f"SubscriptionMessage(id={e.id!r}, topic={e.topic!r}, data_content_type={e.data_content_type!r})"


def _respond(stream: _NativeStream, event_id: str, status: Any) -> None:
    try:
        stream.respond(event_id, status)
    except DaprError as err:
        if stream.closed:
            raise StreamInactiveError(f"the subscription to {stream.pubsub_name}/{stream.topic} is closed") from err
        raise


class _StreamView:
    """What the sync and asyncio subscriptions share: the native stream and its names."""

    def __init__(self, native: _NativeStream) -> None:
        self._native = native

    @property
    def pubsub_name(self) -> str:
        return self._native.pubsub_name

    @property
    def topic(self) -> str:
        return self._native.topic

    @property
    def closed(self) -> bool:
        return self._native.closed


class Subscription(_StreamView):
    """An open streaming subscription: iterate it for :class:`SubscriptionMessage` s (the loop
    ends once it is closed), answer each, and :meth:`close` it (or use it as a context manager).
    It reconnects by itself when the sidecar restarts; events not answered before that are
    redelivered."""

    def __iter__(self) -> "Subscription":
        return self

    def __next__(self) -> SubscriptionMessage:
        event = self._native.next(None)
        if event is None:
            raise StopIteration
        return SubscriptionMessage(event, self._native)

    def next_message(self, timeout: Optional[float] = None) -> Optional[SubscriptionMessage]:
        """The next message, or None after ``timeout`` seconds without one (or once closed)."""
        event = self._native.next(timeout)
        return None if event is None else SubscriptionMessage(event, self._native)

    def respond(self, message: SubscriptionMessage, status: Any) -> None:
        message.respond(status)

    def respond_success(self, message: SubscriptionMessage) -> None:
        message.respond("success")

    def respond_retry(self, message: SubscriptionMessage) -> None:
        message.respond("retry")

    def respond_drop(self, message: SubscriptionMessage) -> None:
        message.respond("drop")

    def close(self) -> None:
        """Ends the subscription; a loop over it stops."""
        self._native.close()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = ", closed" if self.closed else ""
        return f"Subscription(pubsub_name={self.pubsub_name!r}, topic={self.topic!r}{state})"


def message_handler(native: _NativeStream, handler: Callable[[SubscriptionMessage], Any]) -> Callable[[TopicEvent], Any]:
    """``handler`` as core calls it: with each event, shaped as the SubscriptionMessage the
    official SDK passes. What it answers, and RETRY for an exception or an answer that is no
    status, is core's rule."""

    @functools.wraps(handler)
    def call(event: TopicEvent) -> Any:
        return handler(SubscriptionMessage(event, native))

    return call


def run_with_handler(subscription: Subscription, handler: Callable[[SubscriptionMessage], Any]) -> Callable[[], None]:
    """Serves every message of ``subscription`` to ``handler`` (core runs it on a worker thread,
    one event at a time); returns the function that closes the subscription and waits for the
    handler still running (at most core's 5 s grace: then it is given up and its event
    redelivered), unless called from that handler."""
    native = subscription._native

    def serve() -> None:
        try:
            native.serve(message_handler(native, handler))
        except StreamInactiveError:
            return
        except DaprError:
            _log.exception("streaming subscription to %s/%s ended", subscription.pubsub_name, subscription.topic)

    thread = threading.Thread(target=serve, name=f"dapr-rs {subscription.pubsub_name}/{subscription.topic}", daemon=True)
    thread.start()

    def close() -> None:
        subscription.close()
        if threading.current_thread() is not thread and not in_topic_handler():
            thread.join()

    return close
