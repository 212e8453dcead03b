"""OpenTelemetry context (opentelemetry-api installed, as in the test environment): a publish takes
the current span's traceparent unless given one, and a handler runs inside its event's context,
an `async def` handler's coroutine too. The end-to-end trace through sidecars is
tests/e2e/test_tracing.py."""

import asyncio

from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from dapr_rs import TopicEvent, _tracing

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def current() -> list:
    sc = trace.get_current_span().get_span_context()
    return [format(sc.trace_id, "032x"), format(sc.span_id, "016x"), sc.is_remote] if sc.is_valid else []


def test_a_publish_continues_the_current_span_unless_given_a_traceparent() -> None:
    assert _tracing.publish_context(None, None) == (None, None), "no span, nothing sent"
    sc = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, is_remote=False, trace_flags=TraceFlags(1))
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(sc)))
    try:
        assert _tracing.publish_context(None, None) == (TRACEPARENT, None)
        assert _tracing.publish_context("00-given", "k=v") == ("00-given", "k=v")
        assert _tracing.publish_context(None, "k=v") == (TRACEPARENT, "k=v")
    finally:
        context.detach(token)


def test_a_handler_runs_in_its_events_context() -> None:
    seen = []
    handler = _tracing.in_event_context(lambda event: seen.append(current()))
    handler(TopicEvent(extensions={"traceparent": TRACEPARENT, "tracestate": "vendor=v1"}))
    assert seen == [["4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True]]
    assert current() == [], "the context is detached once the handler returns"
    handler(TopicEvent())
    assert seen[-1] == [], "an event without a traceparent runs in no trace"


def test_an_async_handler_runs_in_its_events_context_too() -> None:
    async def handler(event):
        await asyncio.sleep(0)
        return current()

    answer = _tracing.in_event_context(handler)(TopicEvent(extensions={"traceparent": TRACEPARENT}))
    assert asyncio.run(answer) == ["4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True]


def test_a_non_callable_is_left_for_registration_to_refuse() -> None:
    assert _tracing.in_event_context(42) == 42
