"""Dapr pub/sub for Python, on the dapr-rs Rust core.

The API follows the official Dapr Python SDK, so the pub/sub quickstart runs with only its
imports changed::

    from dapr_rs import App, DaprClient, v1

Everything that speaks the Dapr protocol lives in Rust (``dapr_rs._native``); this module only
shapes Python values: payload encoding, decorators, and graceful SIGTERM handling for ``App.run``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, TypeVar, Union

from . import _tracing, v1
from ._native import App as _NativeApp
from ._native import DaprClient as _NativeClient
from ._native import (
    DaprError,
    DaprTimeoutError,
    InvalidArgumentError,
    PubsubNotFoundError,
    SidecarUnavailableError,
    TopicEvent,
    TopicForbiddenError,
    __version__,
)
from .subscription import StreamInactiveError, Subscription, SubscriptionMessage, run_with_handler

__all__ = [
    "App",
    "BulkPublishFailedEntry",
    "BulkPublishResponse",
    "BulkSubscribe",
    "DaprClient",
    "DaprError",
    "DaprTimeoutError",
    "InvalidArgumentError",
    "PubsubNotFoundError",
    "Rule",
    "SidecarUnavailableError",
    "StreamInactiveError",
    "Subscription",
    "SubscriptionMessage",
    "TopicEvent",
    "TopicForbiddenError",
    "TopicEventResponse",
    "TopicEventResponseStatus",
    "__version__",
    "v1",
]

Handler = TypeVar("Handler", bound=Callable[[TopicEvent], Any])
Metadata = Optional[Mapping[str, Any]]

# The gRPC app port the official SDK listens on when neither an argument nor APP_PORT names one.
_DEFAULT_APP_PORT = 3010
_DEFAULT_LISTEN_ADDRESS = "0.0.0.0"


class TopicEventResponseStatus(Enum):
    """What a handler answers (values as in ``TopicEventResponse.TopicEventResponseStatus``)."""

    success = 0
    retry = 1
    drop = 2


class TopicEventResponse:
    """A handler's answer: ``'success'`` (ack), ``'retry'`` (redeliver) or ``'drop'``
    (discard, to the dead-letter topic if one is set). Returning None means success."""

    __slots__ = ("_status",)

    def __init__(self, status: Union[str, TopicEventResponseStatus]) -> None:
        if isinstance(status, str):
            try:
                status = TopicEventResponseStatus[status.lower()]
            except KeyError:
                raise ValueError(f"status must be 'success', 'retry' or 'drop', not {status!r}") from None
        if not isinstance(status, TopicEventResponseStatus):
            raise ValueError(f"status must be a str or TopicEventResponseStatus, not {type(status).__name__}")
        self._status = status

    @property
    def status(self) -> TopicEventResponseStatus:
        return self._status

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TopicEventResponse) and other._status is self._status

    def __hash__(self) -> int:
        return hash(self._status)

    def __repr__(self) -> str:
        return f"TopicEventResponse({self._status.name!r})"


@dataclass(frozen=True)
class Rule:
    """A routing rule: events matching the CEL expression ``match`` go to the handler; rules of
    one topic are tried by ascending ``priority``."""

    match: str
    priority: int


@dataclass(frozen=True)
class BulkSubscribe:
    """Bulk delivery of a subscription: the sidecar sends its events in batches of at most
    ``max_messages`` events, waiting at most ``max_await_ms`` milliseconds for one to fill
    (0 takes the sidecar's default: 100 events, 1000 ms)."""

    max_messages: int = 0
    max_await_ms: int = 0

    def __post_init__(self) -> None:
        if self.max_messages < 0 or self.max_await_ms < 0:
            raise ValueError(f"bulk limits must not be negative: {self}")


@dataclass(frozen=True)
class BulkPublishFailedEntry:
    entry_id: str
    error: str


@dataclass(frozen=True)
class BulkPublishResponse:
    """Entries the sidecar could not publish; entry ids are the indexes of the data as strings."""

    failed_entries: List[BulkPublishFailedEntry] = field(default_factory=list)


def _metadata(metadata: Metadata) -> Optional[Dict[str, str]]:
    """Metadata values as the strings Dapr expects (``True`` → ``'true'``)."""
    if not metadata:
        return None
    return {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in metadata.items()}


class _ClientBase:
    """What the sync and asyncio clients share: the native client (None once closed) and its address."""

    def __init__(self, address: Optional[str] = None, *, api_token: Optional[str] = None, timeout: Optional[float] = None) -> None:
        self._native: Optional[_NativeClient] = _NativeClient(address, api_token, timeout)
        self._endpoint = self._native.endpoint

    @property
    def endpoint(self) -> str:
        """The sidecar endpoint, e.g. ``http://127.0.0.1:50001``."""
        return self._endpoint

    def _client(self) -> _NativeClient:
        if self._native is None:
            raise RuntimeError("this DaprClient is closed")
        return self._native


class DaprClient(_ClientBase):
    """A client for the Dapr sidecar. Clients for one address share one connection, so a client
    per message (``with DaprClient() as client:``) is cheap. Every call blocks the calling thread
    with the GIL released, and raises :class:`DaprError` when it fails.

    ``address`` (``host:port``, ``http://host:port``, ``dns:host:port``) defaults to
    ``DAPR_GRPC_ENDPOINT``, else ``DAPR_RUNTIME_HOST``:``DAPR_GRPC_PORT`` (127.0.0.1:50001);
    ``api_token`` to ``DAPR_API_TOKEN``; ``timeout`` (seconds per call) to
    ``DAPR_API_TIMEOUT_SECONDS``, else none.
    """

    def publish_event(
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
        """Publishes one event. ``data`` may be bytes, str, a JSON value (dict, list, number…), a
        dataclass or a pydantic model; without ``data_content_type`` it is sent as
        application/octet-stream, text/plain or application/json respectively
        (application/cloudevents+json for a dict shaped as a CloudEvent, which the sidecar
        passes through). ``publish_metadata`` e.g. ``{'rawPayload': 'true'}``, or
        ``{'cloudevent.id': '…'}`` to set CloudEvent attributes. ``traceparent``/``tracestate``
        (W3C) are the trace the publish continues; with ``opentelemetry-api`` installed they
        default to the current span's."""
        trace = _tracing.publish_context(traceparent, tracestate)
        self._client().publish_event(pubsub_name, topic_name, data, data_content_type, _metadata(publish_metadata), *trace)

    def publish_events(
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
        """Publishes many events in one call (each encoded as by :meth:`publish_event`); returns
        the entries that failed, ids being their indexes in ``data``. Every event continues the
        trace ``traceparent``/``tracestate``, by default the current span's, as :meth:`publish_event`."""
        entries = [(str(i), item, data_content_type, None) for i, item in enumerate(data)]
        trace = _tracing.publish_context(traceparent, tracestate)
        failed = self._client().bulk_publish(pubsub_name, topic_name, entries, _metadata(publish_metadata), *trace)
        return BulkPublishResponse([BulkPublishFailedEntry(entry_id, error) for entry_id, error in failed])

    def wait_for_sidecar(self, timeout_s: float = 60.0, *, timeout: Optional[float] = None) -> None:
        """Blocks until the sidecar answers; :class:`DaprTimeoutError` after ``timeout_s`` seconds
        (or ``timeout=``)."""
        self._client().wait_for_sidecar(timeout_s if timeout is None else timeout)

    def wait(self, timeout_s: float) -> None:
        """The official SDK's name for :meth:`wait_for_sidecar`."""
        self.wait_for_sidecar(timeout_s)

    def shutdown(self) -> None:
        """Asks the sidecar to shut down."""
        self._client().shutdown()

    def subscribe(
        self,
        pubsub_name: str,
        topic: str,
        metadata: Metadata = None,
        dead_letter_topic: Optional[str] = None,
    ) -> Subscription:
        """Opens a streaming subscription (no app port): iterate it for messages and answer
        each. Returns once the sidecar accepted it; raises :class:`DaprError` if it refused."""
        native = self._client().subscribe(pubsub_name, topic, dead_letter_topic, _metadata(metadata))
        return Subscription(native)

    def subscribe_with_handler(
        self,
        pubsub_name: str,
        topic: str,
        handler_fn: Callable[[SubscriptionMessage], Any],
        metadata: Metadata = None,
        dead_letter_topic: Optional[str] = None,
    ) -> Callable[[], None]:
        """Streams ``topic`` to ``handler_fn`` on a thread of its own; the handler answers as an
        App handler does (None, a status word or a :class:`TopicEventResponse`), and an
        exception answers RETRY. Returns the function that closes the subscription."""
        return run_with_handler(self.subscribe(pubsub_name, topic, metadata, dead_letter_topic), _tracing.in_event_context(handler_fn))

    def close(self) -> None:
        """Ends this client; the connection stays for other clients of the same address."""
        self._native = None

    def __enter__(self) -> "DaprClient":
        self._client()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "" if self._native is not None else ", closed"
        return f"DaprClient(endpoint={self._endpoint!r}{state})"


class _Terminated(BaseException):
    """Raised by run()'s SIGTERM handler to stop the app like Ctrl-C, then return normally."""


@contextlib.contextmanager
def _sigterm_stops_gracefully() -> Iterator[None]:
    """While the app runs, SIGTERM (``dapr stop``, ``docker stop``) stops it gracefully instead
    of killing the process, unless the program installed its own handler."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def on_sigterm(signum: int, frame: object) -> None:
        raise _Terminated()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


class App:
    """A Dapr app that subscribes to topics: register handlers with :meth:`subscribe`, then
    :meth:`run`. The sidecar reaches it over gRPC (``--app-protocol grpc``, the default here) or
    HTTP (``protocol='http'``). Handlers run on worker threads; each gets a :class:`TopicEvent`
    and returns None (success), a :class:`TopicEventResponse` or ``'success'``/``'retry'``/``'drop'``.
    A handler that raises is logged (logger ``dapr_rs``) and answered RETRY. A bulk subscription's
    handler gets a list of events instead (see :meth:`subscribe`).
    """

    def __init__(self) -> None:
        self._native = _NativeApp()

    def subscribe(
        self,
        pubsub_name: str,
        topic: str,
        metadata: Metadata = None,
        dead_letter_topic: Optional[str] = None,
        rule: Optional[Rule] = None,
        *,
        route: Optional[str] = None,
        bulk: Optional[BulkSubscribe] = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator: route events of ``pubsub_name``/``topic`` (matching ``rule``, if given) to the
        decorated function. ``metadata`` goes to the pubsub component (e.g. ``rawPayload``).

        With ``bulk``, the sidecar delivers batches and the function gets a list of
        :class:`TopicEvent` (each with its ``entry_id``). It answers one status for the whole
        batch, a list of statuses in the batch's order, or a dict of ``entry_id`` to status (an
        entry left out is RETRY); raising answers RETRY for every event."""
        if bulk is not None and not isinstance(bulk, BulkSubscribe):
            raise TypeError(f"bulk must be a BulkSubscribe, not {type(bulk).__name__}")

        def decorator(func: Handler) -> Handler:
            self._native.register(
                pubsub_name,
                topic,
                _tracing.in_event_context(func),
                dead_letter_topic,
                _metadata(metadata),
                rule.match if rule else None,
                rule.priority if rule else 0,
                route,
                (bulk.max_messages, bulk.max_await_ms) if bulk else None,
            )
            return func

        return decorator

    def start(self, app_port: Optional[int] = None, listen_address: Optional[str] = None, *, protocol: str = "grpc") -> int:
        """Starts serving in the background and returns the bound port. ``app_port`` 0 picks a
        free port; None means ``APP_PORT`` from the environment, else 3010. ``listen_address``
        defaults to 0.0.0.0 (every IPv4 interface)."""
        return self._native.start(_app_port(app_port), protocol, listen_address or _DEFAULT_LISTEN_ADDRESS)

    def run(self, app_port: Optional[int] = None, listen_address: Optional[str] = None, *, protocol: str = "grpc") -> None:
        """Serves (as :meth:`start`) until :meth:`stop` (e.g. from a handler), Ctrl-C
        (KeyboardInterrupt, after stopping gracefully) or SIGTERM (stops gracefully, then returns)."""
        with _sigterm_stops_gracefully():
            try:
                self._native.run(_app_port(app_port), protocol, listen_address or _DEFAULT_LISTEN_ADDRESS)
            except _Terminated:
                pass  # the native run() has already stopped the server

    def stop(self) -> None:
        """Stops serving and waits for deliveries in flight; called from a handler, it only asks
        the server to stop, and :meth:`run` returns once that handler is done."""
        self._native.stop()

    @property
    def port(self) -> Optional[int]:
        """The port being served, or None when not serving."""
        return self._native.port

    def __repr__(self) -> str:
        return repr(self._native)


def _app_port(port: Optional[int]) -> int:
    if port is not None:
        return port
    return int(os.environ.get("APP_PORT") or _DEFAULT_APP_PORT)
