"""OpenTelemetry context, when ``opentelemetry-api`` is installed (an optional dependency, imported
on first use): a publish given no ``traceparent`` continues the current span, and a handler runs
inside its event's trace context (the CloudEvent's ``traceparent``/``tracestate``), so the spans it
opens join the publisher's trace. Without the package nothing changes. W3C trace context only, as
Dapr speaks it, whatever global propagator the program set.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., Any])

_UNSET: Any = object()
_api: Any = _UNSET  # (opentelemetry.context, a W3C propagator), or None without opentelemetry-api


def _opentelemetry() -> Any:
    global _api
    if _api is _UNSET:
        try:
            from opentelemetry import context
            from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        except ImportError:
            _api = None
        else:
            _api = (context, TraceContextTextMapPropagator())
    return _api


def publish_context(traceparent: Optional[str], tracestate: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    """The trace a publish continues: the one given, else the current OpenTelemetry span's."""
    api = _opentelemetry()
    if traceparent is not None or api is None:
        return traceparent, tracestate
    carrier: Dict[str, str] = {}
    api[1].inject(carrier)
    return carrier.get("traceparent"), tracestate if tracestate is not None else carrier.get("tracestate")


def in_event_context(handler: Handler) -> Handler:
    """``handler`` (given a TopicEvent, or a streaming SubscriptionMessage) run inside its event's
    trace context; an ``async def`` handler's coroutine runs inside it too."""
    if _opentelemetry() is None or not callable(handler):
        return handler  # a non-callable is refused where it is registered, as without OpenTelemetry

    @functools.wraps(handler)
    def call(arg: Any, *args: Any, **kwargs: Any) -> Any:
        event = getattr(arg, "event", arg)
        traceparent = getattr(event, "traceparent", "")
        if not traceparent:
            return handler(arg, *args, **kwargs)
        context, propagator = _opentelemetry()
        ctx = propagator.extract({"traceparent": traceparent, "tracestate": getattr(event, "tracestate", "")})
        token = context.attach(ctx)
        try:
            answer = handler(arg, *args, **kwargs)
        finally:
            context.detach(token)
        if inspect.iscoroutine(answer):
            return _attached(answer, ctx)
        return answer

    return call  # type: ignore[return-value]


async def _attached(answer: Awaitable[Any], ctx: Any) -> Any:
    context = _opentelemetry()[0]
    token = context.attach(ctx)
    try:
        return await answer
    finally:
        context.detach(token)
