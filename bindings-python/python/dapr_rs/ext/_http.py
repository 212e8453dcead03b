"""What the FastAPI and Flask ``DaprApp`` share: the subscriptions core keeps
(``_native.HttpSubscriptions``), and ``subscribe``, which registers one and has the framework
serve its route."""

from __future__ import annotations

import abc
import inspect
from typing import Any, Callable, Optional, TypeVar

from .. import BulkSubscribe, Metadata, Rule, _metadata, _tracing
from .._native import HttpSubscriptions

Handler = TypeVar("Handler", bound=Callable[..., Any])


def _takes_one_event(func: Callable[..., Any], what: str = "one TopicEvent") -> None:
    """A handler is called with one TopicEvent (a bulk one with a list of them): refuse, when it is
    registered, one that cannot be."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return  # not callable (core refuses it) or no signature to read (some builtins)
    try:
        signature.bind(None)
    except TypeError:
        name = getattr(func, "__qualname__", repr(func))
        raise TypeError(f"a topic handler is called with {what}; {name}{signature} cannot take it") from None


class SubscribingApp(abc.ABC):
    """A web framework's ``DaprApp``: ``subscribe`` registers a subscription with core, then
    :meth:`_serve` has the framework route its deliveries to core and the handler."""

    def __init__(self) -> None:
        self._subscriptions = HttpSubscriptions()

    def subscribe(
        self,
        pubsub: str,
        topic: str,
        metadata: Metadata = None,
        route: Optional[str] = None,
        dead_letter_topic: Optional[str] = None,
        *,
        rule: Optional[Rule] = None,
        bulk: Optional[BulkSubscribe] = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator: the sidecar delivers events of ``pubsub``/``topic`` (matching ``rule``, if
        given) to the decorated function, POSTing them to ``route`` (``/events/<pubsub>/<topic>``
        by default). ``metadata`` goes to the pubsub component (e.g. ``rawPayload``); dropped
        events go to ``dead_letter_topic``. The function gets a :class:`dapr_rs.TopicEvent` (a
        bulk delivery's events each on its own) and returns None, ``'success'`` / ``'retry'`` /
        ``'drop'`` or a :class:`dapr_rs.TopicEventResponse`; raising answers RETRY.

        With ``bulk``, the sidecar delivers batches and the function gets each as a list of
        :class:`dapr_rs.TopicEvent` (each with its ``entry_id``), as an ``App`` bulk handler does:
        it answers one status for the whole batch, a list of statuses in the batch's order, or a
        dict of ``entry_id`` to status (an entry left out is RETRY); raising answers RETRY for
        every event."""
        if bulk is not None and not isinstance(bulk, BulkSubscribe):
            raise TypeError(f"bulk must be a BulkSubscribe, not {type(bulk).__name__}")

        def decorator(func: Handler) -> Handler:
            _takes_one_event(func, "one TopicEvent" if bulk is None else "a list of TopicEvent")
            # Run in its event's trace context when OpenTelemetry is installed, as App handlers are.
            traced = _tracing.in_event_context(func)
            path = self._subscriptions.add(
                pubsub,
                topic,
                traced,
                dead_letter_topic,
                _metadata(metadata),
                rule.match if rule else None,
                rule.priority if rule else 0,
                route,
                (bulk.max_messages, bulk.max_await_ms) if bulk else None,
            )
            self._serve(path, traced, inspect.iscoroutinefunction(func), bulk is not None)
            return func

        return decorator

    @abc.abstractmethod
    def _serve(self, path: str, handler: Callable[..., Any], is_async: bool, batch: bool) -> None:
        """Has the framework POST route ``path`` to ``handler`` (an ``async def`` one if
        ``is_async``), given a delivery's events one by one, or as one list if ``batch``."""
