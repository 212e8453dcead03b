"""DaprClient.publish_events (bulk publish) against the real `dapr-rs` sidecar: every item arrives in
its own CloudEvent at a dapr_rs.App; entries the broker refuses come back in failed_entries; every
item continues the caller's trace (given, or the current OpenTelemetry span's), sync and asyncio."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path

import grpc
import pytest
from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from dapr_rs import BulkPublishResponse, DaprClient, DaprError, aio
from sidecar_harness import Sidecar, write_component

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]
GIVEN_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_TRACE = "0af7651916cd43dd8448eb211c80319c"
GIVEN = {"traceparent": f"00-{GIVEN_TRACE}-00f067aa0ba902b7-01", "tracestate": "vendor=v1"}


def test_publish_events_delivers_each_item_in_its_own_cloudevent(subscribed) -> None:
    s = subscribed(["orders"])
    items = [{"orderId": 1}, "text item", b"\x00\xff", [1, 2, 3]]
    with DaprClient(s.address) as client:
        resp = client.publish_events("order_pub_sub", "orders", items, publish_metadata={"cloudevent.subject": "bulk", "ttlInSeconds": 60})
    assert isinstance(resp, BulkPublishResponse)
    assert resp.failed_entries == []
    got = s.received(len(items))
    by_type = {e.data_content_type: [] for e in got}
    for event in got:
        by_type[event.data_content_type].append(event)
    assert sorted((json.loads(e.data) for e in by_type["application/json"]), key=str) == sorted([{"orderId": 1}, [1, 2, 3]], key=str)
    assert [e.data for e in by_type["text/plain"]] == [b"text item"]
    assert [e.data for e in by_type["application/octet-stream"]] == [b"\x00\xff"]
    assert len({e.id for e in got}) == len(items), "one CloudEvent per item"
    for event in got:
        assert (event.source, event.type, event.topic, event.pubsub_name) == ("checkout", "com.dapr.event.sent", "orders", "order_pub_sub")
        # Request metadata applies to every entry.
        assert event.extensions["subject"] == "bulk"
        sent = datetime.fromisoformat(event.extensions["time"])
        assert datetime.fromisoformat(event.extensions["expiration"]) - sent == timedelta(seconds=60)
    time.sleep(0.3)
    assert s.events.empty()


def test_publish_events_with_one_content_type_and_raw_payload(subscribed) -> None:
    s = subscribed(["raw"])
    with DaprClient(s.address) as client:
        resp = client.publish_events("order_pub_sub", "raw", ["<a/>", "<b/>"], data_content_type="application/xml")
        assert resp.failed_entries == []
        got = s.received(2)
        assert sorted(e.data for e in got) == [b"<a/>", b"<b/>"]
        assert {e.data_content_type for e in got} == {"application/xml"}
        # rawPayload: the broker holds the bytes themselves, which our (non-raw) subscriber cannot
        # read as CloudEvents; so the raw bulk publish goes to a topic nobody subscribes to.
        assert client.publish_events("order_pub_sub", "unread", [b"raw"], publish_metadata={"rawPayload": True}).failed_entries == []


def test_publish_events_errors_are_dapr_errors(sidecar: Sidecar) -> None:
    with DaprClient(f"127.0.0.1:{sidecar.grpc_port}") as client:
        with pytest.raises(DaprError) as err:
            client.publish_events("nope", "orders", ["x"])
        assert err.value.grpc_code == INVALID_ARGUMENT
        assert err.value.error_code == "ERR_PUBSUB_NOT_FOUND"
        with pytest.raises(DaprError) as err:
            client.publish_events("order_pub_sub", "orders", ["x"], publish_metadata={"rawPayload": "sometimes"})
        assert err.value.error_code == "ERR_PUBSUB_REQUEST_METADATA"
        assert client.publish_events("order_pub_sub", "orders", []).failed_entries == []


def test_entries_the_broker_refuses_come_back_as_failed_entries(tmp_path: Path) -> None:
    resources = tmp_path / "components"
    resources.mkdir()
    db = tmp_path / "pubsub.db"
    write_component(resources, "order_pub_sub", "pubsub.sqlite", {"path": str(db)})
    sidecar = Sidecar("checkout", resources)
    try:
        # A real broker that refuses some messages: a trigger rejects payloads containing "reject".
        with sqlite3.connect(db, timeout=5) as conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN instr(CAST(NEW.data AS TEXT), 'reject') > 0 "
                "BEGIN SELECT RAISE(ABORT, 'refused by the broker'); END"
            )
        with DaprClient(f"127.0.0.1:{sidecar.grpc_port}") as client:
            resp = client.publish_events("order_pub_sub", "orders", ["keep 0", "reject 1", "keep 2", "reject 3"])
        assert sorted(f.entry_id for f in resp.failed_entries) == ["1", "3"]
        assert all("refused by the broker" in f.error for f in resp.failed_entries)
        with sqlite3.connect(db, timeout=5) as conn:
            stored = [json.loads(row[0])["data"] for row in conn.execute("SELECT data FROM messages WHERE topic = 'orders'")]
        assert sorted(stored) == ["keep 0", "keep 2"]
    finally:
        sidecar.stop()


def traces(events) -> dict:
    """Each event's payload → (trace id of its traceparent, its tracestate)."""
    return {e.decoded_data(): (e.traceparent.split("-")[1], e.tracestate) for e in events}


@contextlib.contextmanager
def current_span(trace_id: str):
    """A current OpenTelemetry span of `trace_id`, as an instrumented caller has."""
    sc = SpanContext(int(trace_id, 16), 0x00F067AA0BA902B7, is_remote=False, trace_flags=TraceFlags(1))
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(sc)))
    try:
        yield
    finally:
        context.detach(token)


def test_publish_events_continue_the_given_trace_else_the_current_span(subscribed) -> None:
    s = subscribed(["traced"])
    with DaprClient(s.address) as client:
        given = client.publish_events("order_pub_sub", "traced", ["g0", "g1"], **GIVEN)
        with current_span(SPAN_TRACE):
            current = client.publish_events("order_pub_sub", "traced", ["c0", "c1"])
        assert given.failed_entries == current.failed_entries == []
        got = traces(s.received(4))
        client.publish_events("order_pub_sub", "traced", ["none"])
        (untraced,) = s.received(1)
    assert got == {
        "g0": (GIVEN_TRACE, "vendor=v1"),
        "g1": (GIVEN_TRACE, "vendor=v1"),
        "c0": (SPAN_TRACE, ""),
        "c1": (SPAN_TRACE, ""),
    }
    assert untraced.traceparent.split("-")[1] not in (GIVEN_TRACE, SPAN_TRACE), "no span, no trace given: the sidecar starts one"


def test_aio_publish_events_continue_the_given_trace_else_the_current_span(subscribed) -> None:
    s = subscribed(["traced-aio"])

    async def main() -> None:
        async with aio.DaprClient(s.address) as client:
            given = await client.publish_events("order_pub_sub", "traced-aio", ["g0", "g1"], **GIVEN)
            with current_span(SPAN_TRACE):
                current = await client.publish_events("order_pub_sub", "traced-aio", ["c0", "c1"])
            assert given.failed_entries == current.failed_entries == []

    asyncio.run(main())
    assert traces(s.received(4)) == {
        "g0": (GIVEN_TRACE, "vendor=v1"),
        "g1": (GIVEN_TRACE, "vendor=v1"),
        "c0": (SPAN_TRACE, ""),
        "c1": (SPAN_TRACE, ""),
    }
