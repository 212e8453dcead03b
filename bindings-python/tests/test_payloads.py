"""Typed payloads: dataclasses and pydantic models published as JSON, the content type inferred for
every kind of value (core's rule: tests/vectors too), and event data loaded back into models."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, List, Optional

import pydantic
import pytest

from dapr_rs import DaprClient, TopicEvent


@dataclasses.dataclass
class Item:
    sku: str
    quantity: int


@dataclasses.dataclass
class Order:
    order_id: int
    items: List[Item]
    note: Optional[str] = None


class PydanticOrder(pydantic.BaseModel):
    order_id: int
    items: List[Item]
    note: Optional[str] = None


ORDER_JSON = {"order_id": 7, "items": [{"sku": "apple", "quantity": 2}], "note": None}


@pytest.mark.parametrize(
    "data, content_type",
    [
        (b"\x00\x01", "application/octet-stream"),
        (bytearray(b"ba"), "application/octet-stream"),
        (memoryview(b"mv"), "application/octet-stream"),
        ("text", "text/plain"),
        ("", "text/plain"),
        ({"a": 1}, "application/json"),
        ([1, "two"], "application/json"),
        (42, "application/json"),
        (4.5, "application/json"),
        (True, "application/json"),
        (None, "application/json"),
        (Order(7, [Item("apple", 2)]), "application/json"),
        (PydanticOrder(order_id=7, items=[Item("apple", 2)]), "application/json"),
        ({"specversion": "1.0", "id": "i", "source": "s", "type": "t"}, "application/cloudevents+json"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_inferred_content_types(subscribed, data: Any, content_type: str) -> None:
    s = subscribed(["payload"])
    with DaprClient(s.address) as client:
        client.publish_event("order_pub_sub", "payload", data)
    (event,) = s.received(1)
    if content_type == "application/cloudevents+json":
        assert (event.id, event.source, event.type) == ("i", "s", "t")
        return
    assert event.data_content_type == content_type
    if content_type == "application/json" and data is not None:  # a null payload arrives as no data
        expected = ORDER_JSON if isinstance(data, (Order, PydanticOrder)) else data
        assert event.decoded_data() == expected


def test_models_survive_the_round_trip(subscribed) -> None:
    s = subscribed(["dc", "pd"])
    order = Order(7, [Item("apple", 2)])
    with DaprClient(s.address) as client:
        client.publish_event("order_pub_sub", "dc", order)
        client.publish_event("order_pub_sub", "pd", PydanticOrder(order_id=7, items=[Item("apple", 2)]))
        result = client.publish_events("order_pub_sub", "dc", [order, order])
        assert result.failed_entries == []
    got = s.received(4)
    dcs = [e for e in got if e.topic == "dc"]
    (pd,) = [e for e in got if e.topic == "pd"]
    assert len(dcs) == 3
    for e in dcs:
        loaded = e.model(Order)
        assert isinstance(loaded, Order) and loaded.order_id == 7
        assert loaded.items == [{"sku": "apple", "quantity": 2}]  # a dataclass takes members shallowly
    loaded_pd = pd.model(PydanticOrder)
    assert loaded_pd == PydanticOrder(order_id=7, items=[Item("apple", 2)])  # pydantic validates nested fields


def test_model_helper_without_a_sidecar() -> None:
    event = TopicEvent(data=json.dumps(ORDER_JSON).encode(), data_content_type="application/json")
    assert event.model(PydanticOrder).items[0] == Item("apple", 2)
    assert event.model(dict) == ORDER_JSON
    text = TopicEvent(data=b"hello", data_content_type="text/plain")
    assert text.model(str) == "hello"
    with pytest.raises(TypeError, match="needs a JSON object"):
        text.model(Order)
    with pytest.raises(TypeError, match="no field"):
        TopicEvent(data=b'{"order_id": 1, "items": [], "extra": 1}', data_content_type="application/json").model(Order)
    with pytest.raises(pydantic.ValidationError):
        TopicEvent(data=b'{"order_id": "x"}', data_content_type="application/json").model(PydanticOrder)


def test_unpublishable_values_name_their_type(unreachable_address: str) -> None:
    client = DaprClient(unreachable_address)
    with pytest.raises(TypeError, match="cannot publish a set"):
        client.publish_event("order_pub_sub", "orders", {1, 2})
    with pytest.raises(TypeError, match="cannot publish a object"):
        client.publish_event("order_pub_sub", "orders", {"nested": object()})
    with pytest.raises(TypeError, match="cannot publish a type"):
        client.publish_event("order_pub_sub", "orders", Order)  # the class, not an instance
