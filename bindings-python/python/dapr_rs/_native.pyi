"""The native core of dapr_rs (hand-written stubs). Use the `dapr_rs` facade instead."""

from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar

from typing_extensions import final

_T = TypeVar("_T")

__all__ = [
    "DaprClient",
    "App",
    "TopicEvent",
    "HttpSubscriptions",
    "HttpDelivery",
    "SubscriptionStream",
    "DaprError",
    "PubsubNotFoundError",
    "TopicForbiddenError",
    "InvalidArgumentError",
    "SidecarUnavailableError",
    "DaprTimeoutError",
    "__version__",
]

__version__: str


class DaprError(Exception):
    """A Dapr call failed."""

    grpc_code: int
    """The gRPC status code (e.g. 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED, 3 INVALID_ARGUMENT)."""
    error_code: Optional[str]
    """The Dapr errorCode (e.g. 'ERR_PUBSUB_NOT_FOUND') when the sidecar sent one."""
    message: str
    """The message without the code decorations of str(error)."""

class PubsubNotFoundError(DaprError):
    """The sidecar has no pubsub component of that name."""

class TopicForbiddenError(DaprError):
    """The pubsub component's scopes do not allow this app to use the topic."""

class InvalidArgumentError(DaprError):
    """A bad argument, found by dapr-rs or by the sidecar (gRPC INVALID_ARGUMENT)."""

class SidecarUnavailableError(DaprError):
    """The sidecar could not be reached (not started, wrong address, gone)."""

class DaprTimeoutError(DaprError):
    """The call (or the wait for the sidecar) ran out of time."""

@final
class TopicEvent:
    """One delivered event (a CloudEvent), read-only. Made by hand (tests), every string defaults
    to "" except spec_version ("1.0")."""

    def __new__(
        cls,
        *,
        data: Optional[bytes] = None,
        data_content_type: str = ...,
        id: str = ...,
        source: str = ...,
        type: str = ...,
        spec_version: str = ...,
        topic: str = ...,
        pubsub_name: str = ...,
        path: str = ...,
        extensions: Optional[Mapping[str, Any]] = None,
        metadata: Optional[Mapping[str, str]] = None,
        entry_id: str = ...,
    ) -> "TopicEvent": ...
    @property
    def id(self) -> str: ...
    @property
    def entry_id(self) -> str:
        """The entry's id in a bulk delivery; "" otherwise."""
    @property
    def source(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def spec_version(self) -> str: ...
    @property
    def data_content_type(self) -> str: ...
    @property
    def data(self) -> bytes:
        """The payload bytes."""
    @property
    def topic(self) -> str: ...
    @property
    def pubsub_name(self) -> str: ...
    @property
    def path(self) -> str:
        """The matched route (empty when the subscription has no routes)."""
    @property
    def extensions(self) -> Dict[str, Any]:
        """Every other CloudEvent attribute (traceparent, time, custom extensions…)."""
    @property
    def metadata(self) -> Dict[str, str]:
        """The broker message's metadata as the sidecar delivered it (e.g. pubsubname, Kafka's
        __key / __partition / headers, a publish's metadata); empty when streamed."""
    @property
    def traceparent(self) -> str:
        """The CloudEvent's W3C traceparent ("" when none)."""
    @property
    def tracestate(self) -> str:
        """The CloudEvent's tracestate ("" when none)."""
    @property
    def raw_data(self) -> bytes:
        """The payload bytes (the official SDK's name)."""
    def model(self, cls: Type[_T]) -> _T:
        """The decoded payload loaded into a dataclass, a pydantic model or any class."""
    def decoded_data(self) -> Any:
        """The payload by its content type: JSON → parsed value, text → str, else bytes."""
    def data_json(self) -> Any:
        """The payload parsed as JSON whatever its content type; ValueError if it is not JSON."""
    # cloudevents v1.Event getters
    def Data(self) -> bytes: ...
    def EventID(self) -> str: ...
    def Source(self) -> str: ...
    def EventType(self) -> str: ...
    def SpecVersion(self) -> str: ...
    def ContentType(self) -> str: ...
    def Subject(self) -> str:
        """The topic."""
    def Extensions(self) -> Dict[str, Any]: ...

@final
class DaprClient:
    def __new__(cls, address: Optional[str] = None, api_token: Optional[str] = None, timeout_s: Optional[float] = None) -> "DaprClient": ...
    @property
    def endpoint(self) -> str: ...
    def publish_event(
        self,
        pubsub_name: str,
        topic_name: str,
        data: Any,
        data_content_type: Optional[str] = None,
        publish_metadata: Optional[Dict[str, str]] = None,
        traceparent: Optional[str] = None,
        tracestate: Optional[str] = None,
    ) -> None:
        """Without data_content_type: str → text/plain, bytes-like → application/octet-stream, a
        CloudEvent-shaped dict → application/cloudevents+json, else json.dumps → application/json."""
    def bulk_publish(
        self,
        pubsub_name: str,
        topic_name: str,
        entries: Sequence[Tuple[str, Any, Optional[str], Optional[Dict[str, str]]]],
        publish_metadata: Optional[Dict[str, str]] = None,
        traceparent: Optional[str] = None,
        tracestate: Optional[str] = None,
    ) -> List[Tuple[str, str]]:
        """Entries are (entry_id, data, content_type, metadata); returns failed (entry_id, error)."""
    def wait_for_sidecar(self, timeout_s: float) -> None: ...
    def shutdown(self) -> None: ...
    def publish_event_async(
        self,
        pubsub_name: str,
        topic_name: str,
        data: Any,
        data_content_type: Optional[str] = None,
        publish_metadata: Optional[Dict[str, str]] = None,
        traceparent: Optional[str] = None,
        tracestate: Optional[str] = None,
    ) -> Awaitable[None]: ...
    def bulk_publish_async(
        self,
        pubsub_name: str,
        topic_name: str,
        entries: Sequence[Tuple[str, Any, Optional[str], Optional[Dict[str, str]]]],
        publish_metadata: Optional[Dict[str, str]] = None,
        traceparent: Optional[str] = None,
        tracestate: Optional[str] = None,
    ) -> Awaitable[List[Tuple[str, str]]]: ...
    def wait_for_sidecar_async(self, timeout_s: float) -> Awaitable[None]: ...
    def subscribe(
        self,
        pubsub_name: str,
        topic: str,
        dead_letter_topic: Optional[str] = None,
        metadata: Optional[Dict[str, str]] = None,
    ) -> SubscriptionStream: ...
    def subscribe_async(
        self,
        pubsub_name: str,
        topic: str,
        dead_letter_topic: Optional[str] = None,
        metadata: Optional[Dict[str, str]] = None,
    ) -> Awaitable[SubscriptionStream]: ...

@final
class SubscriptionStream:
    """A streaming subscription (core's SubscriptionStream)."""

    def next(self, timeout_s: Optional[float] = None) -> Optional[TopicEvent]:
        """The next event; None once closed or after timeout_s without one."""
    def next_async(self) -> Awaitable[Optional[TopicEvent]]: ...
    def serve(self, handler: Callable[[TopicEvent], Any]) -> None:
        """Runs handler on every event until closed, answering by core's rule; blocks."""
    def serve_async(self, handler: Callable[[TopicEvent], Any]) -> Awaitable[None]: ...
    def respond(self, id: str, answer: Any) -> None:
        """answer: None, 'success' / 'retry' / 'drop', a TopicEventResponse or a status enum member."""
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def pubsub_name(self) -> str: ...
    @property
    def topic(self) -> str: ...

def in_topic_handler() -> bool:
    """Whether this thread is running a topic handler."""

def _round_trip(busy_us: int = 0) -> None:
    """The bench's floor: a task with nothing to do but `busy_us` of CPU, run on the runtime and waited for."""

def _round_trip_async(busy_us: int = 0) -> Awaitable[None]:
    """The bench's floor for awaitables: a future with nothing to do but `busy_us` of CPU."""

def run_cli(argv: list[str]) -> int:
    """Runs the ``dapr-rs`` command line ``argv`` (``argv[0]`` the program); its exit code."""

@final
class App:
    def __init__(self) -> None: ...
    def register(
        self,
        pubsub_name: str,
        topic: str,
        handler: Callable[[TopicEvent], Any],
        dead_letter_topic: Optional[str] = None,
        metadata: Optional[Dict[str, str]] = None,
        match_expr: Optional[str] = None,
        priority: int = 0,
        route: Optional[str] = None,
        bulk: Optional[Tuple[int, int]] = None,
    ) -> None:
        """With ``bulk`` (max messages, max await ms) the handler gets a list of events and answers
        one status, a list of statuses in order, or a dict entry_id → status (left out: RETRY)."""
    def start(self, port: int, protocol: str = "grpc", host: str = "0.0.0.0") -> int:
        """Serves in the background; returns the bound port."""
    def run(self, port: int, protocol: str = "grpc", host: str = "0.0.0.0") -> None:
        """Serves until stop() or a signal handler raises (the server is stopped first)."""
    def stop(self) -> None: ...
    @property
    def port(self) -> Optional[int]: ...

@final
class HttpSubscriptions:
    """Core's HTTP app rules for an app whose own web framework serves the sidecar (dapr_rs.ext);
    APP_API_TOKEN is read when it is made."""

    def __init__(self) -> None: ...
    def add(
        self,
        pubsub_name: str,
        topic: str,
        handler: Callable[[TopicEvent], Any],
        dead_letter_topic: Optional[str] = None,
        metadata: Optional[Dict[str, str]] = None,
        match_expr: Optional[str] = None,
        priority: int = 0,
        route: Optional[str] = None,
        bulk: Optional[Tuple[int, int]] = None,
    ) -> str:
        """Returns the route to serve the subscription at. With ``bulk`` (max messages, max await
        ms) the sidecar delivers batches: answer them with ``HttpDelivery.reply_batch``."""
    def subscribe_reply(self, headers: Sequence[Tuple[bytes, bytes]]) -> Tuple[int, str, bytes]:
        """The answer to GET /dapr/subscribe: (status, content type, body)."""
    def read_delivery(self, route: str, headers: Sequence[Tuple[bytes, bytes]], body: bytes) -> HttpDelivery: ...

@final
class HttpDelivery:
    """One delivery call read by core: its events, or the reply refusing it."""

    @property
    def events(self) -> List[TopicEvent]: ...
    def reply(self, answers: Sequence[Any]) -> Tuple[int, str, bytes]:
        """The reply once the handler answered each event (its return value or exception)."""
    def reply_batch(self, answer: Any) -> Tuple[int, str, bytes]:
        """The reply once a bulk handler, given ``events`` as one list, answered (its return value
        or exception), by core's batch rule."""
