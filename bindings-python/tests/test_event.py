"""TopicEvent: the v1.Event getters and core's payload decoding."""

import pytest

import dapr_rs
from dapr_rs import TopicEvent, v1


def event(data: bytes, content_type: str) -> TopicEvent:
    return TopicEvent(data=data, data_content_type=content_type)


def test_v1_event_is_the_topic_event() -> None:
    assert v1.Event is TopicEvent is dapr_rs._native.TopicEvent


def test_attributes_and_v1_getters() -> None:
    ev = TopicEvent(
        data=b'{"orderId": 7}',
        data_content_type="application/json",
        id="id-1",
        source="checkout",
        type="com.dapr.event.sent",
        topic="orders",
        pubsub_name="order_pub_sub",
        path="/events/order_pub_sub/orders",
        extensions={"traceparent": "00-abc-def-01", "custom": {"n": [1, 2.5, None, True]}},
    )
    assert (ev.id, ev.source, ev.type, ev.spec_version) == ("id-1", "checkout", "com.dapr.event.sent", "1.0")
    assert (ev.topic, ev.pubsub_name, ev.path) == ("orders", "order_pub_sub", "/events/order_pub_sub/orders")
    assert ev.data == ev.Data() == b'{"orderId": 7}'
    assert isinstance(ev.Data(), bytes)
    assert ev.data_content_type == ev.ContentType() == "application/json"
    assert (ev.EventID(), ev.Source(), ev.EventType(), ev.SpecVersion(), ev.Subject()) == (
        "id-1",
        "checkout",
        "com.dapr.event.sent",
        "1.0",
        "orders",
    )
    assert ev.extensions == ev.Extensions() == {"traceparent": "00-abc-def-01", "custom": {"n": [1, 2.5, None, True]}}
    assert "id-1" in repr(ev)


def test_metadata_is_a_dict_of_strings() -> None:
    assert TopicEvent().metadata == {}
    ev = TopicEvent(metadata={"__key": "order-7", "pubsubname": "ps"})
    assert ev.metadata == {"__key": "order-7", "pubsubname": "ps"}
    ev.metadata["__key"] = "changed"  # a new dict each time: the event stays as delivered
    assert ev.metadata["__key"] == "order-7"


def test_event_is_read_only() -> None:
    ev = TopicEvent(id="x")
    with pytest.raises(AttributeError):
        ev.id = "y"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("content_type", "data", "decoded"),
    [
        ("application/json", b'{"a": [1, "x", null]}', {"a": [1, "x", None]}),
        ("Application/JSON; charset=utf-8", b"42", 42),
        ("application/json", b'"text"', "text"),
        ("application/json", b"{bad", "{bad"),  # not JSON after all: text
        ("text/plain", b"hello", "hello"),
        ("application/xml", b"<a/>", "<a/>"),
        ("application/octet-stream", b"\x00\x01", b"\x00\x01"),
        ("application/cloudevents+json", b'{"k": "v"}', {"k": "v"}),
    ],
)
def test_decoded_data_follows_core_content_type_rules(content_type: str, data: bytes, decoded: object) -> None:
    assert event(data, content_type).decoded_data() == decoded


def test_json_numbers_keep_their_precision() -> None:
    ev = event(b'{"big": 123456789012345678901234567890, "neg": -5, "f": 0.1, "e": 1e400}', "application/json")
    value = ev.decoded_data()
    assert value["big"] == 123456789012345678901234567890
    assert value["neg"] == -5
    assert value["f"] == 0.1
    assert value["e"] == float("inf")


def test_data_json_ignores_the_content_type() -> None:
    assert event(b'{"orderId": 3}', "text/plain").data_json() == {"orderId": 3}
    with pytest.raises(ValueError, match="not JSON"):
        event(b"nope", "application/json").data_json()
