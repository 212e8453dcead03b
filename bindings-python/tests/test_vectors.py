"""The shared vectors of tests/vectors/ through this binding's public API: content types and
envelopes published through a real sidecar and received by a dapr_rs.App, handler answers as
daprd's OnTopicEvent call gets them, errors as the exceptions raised, routing as the handler each
event reaches. The expectations are the vectors'; nothing here restates a rule."""

from __future__ import annotations

import base64
import json
import queue
import re
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from dapr.proto.runtime.v1 import appcallback_pb2

from dapr_rs import (
    App,
    DaprClient,
    DaprError,
    DaprTimeoutError,
    InvalidArgumentError,
    PubsubNotFoundError,
    Rule,
    SidecarUnavailableError,
    TopicEvent,
    TopicEventResponse,
    TopicForbiddenError,
)
from sidecar_harness import Sidecar, free_port, write_component

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors"
LANGUAGE = "python"
Status = appcallback_pb2.TopicEventResponse.TopicEventResponseStatus


def load(name: str) -> Dict[str, Any]:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


CONTENT_TYPES = load("content_types.json")
ENVELOPES = load("envelopes.json")
ANSWERS = load("handler_answers.json")
ERRORS = load("errors.json")
ROUTING = load("routing.json")


def named(cases: List[Dict[str, Any]]) -> Dict[str, Any]:
    """pytest parameters: one test per case, named by the vector."""
    return {"argvalues": cases, "ids": [c["name"] for c in cases]}


def for_python(case: Dict[str, Any]) -> bool:
    return LANGUAGE in case.get("languages", [LANGUAGE])


def bytes_of(form: Dict[str, Any]) -> bytes:
    """The bytes of a data form: utf8, base64, or json (as Python's json writes it)."""
    if "utf8" in form:
        return form["utf8"].encode()
    if "base64" in form:
        return base64.b64decode(form["base64"])
    return json.dumps(form["json"]).encode()


def assert_data(actual: bytes, form: Dict[str, Any], what: str) -> None:
    """`utf8` and `base64` byte for byte; `json` as the value the bytes hold."""
    if "json" in form:
        assert json.loads(actual) == form["json"], what
    else:
        assert actual == bytes_of(form), f"{what}: {actual!r}"


def assert_attributes(actual: Dict[str, Any], expected: Dict[str, Any], shapes: Dict[str, str], what: str) -> None:
    """Each expected attribute exactly, by {"shape"} or {"same_as"}; no attribute more."""
    assert sorted(actual) == sorted(expected), f"{what}: attributes {actual}"
    for key, want in expected.items():
        got = actual[key]
        if isinstance(want, dict) and "shape" in want:
            assert isinstance(got, str) and re.search(shapes[want["shape"]], got), f"{what}: {key}={got!r} is no {want['shape']}"
        elif isinstance(want, dict) and "same_as" in want:
            assert got == actual[want["same_as"]], f"{what}: {key} must equal {want['same_as']}"
        else:
            assert got == want, f"{what}: {key}"


def attributes_of(event: TopicEvent) -> Dict[str, Any]:
    """The CloudEvent attributes an event carries (data aside): its fields, and its extensions. A
    TopicEvent has "" for an attribute the CloudEvent lacked, so empty ones count as absent."""
    fields = {
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "specversion": event.spec_version,
        "datacontenttype": event.data_content_type,
    }
    return {**{k: v for k, v in fields.items() if v != ""}, **event.extensions}


class Inboxes:
    """Events the app received, one queue per topic; each wait has a deadline and says what it waited for."""

    def __init__(self) -> None:
        self._queues: Dict[str, "queue.Queue[Tuple[str, TopicEvent]]"] = {}

    def handler(self, topic: str, label: str = "") -> Callable[[TopicEvent], None]:
        q = self._queues.setdefault(topic, queue.Queue())
        return lambda event: q.put((label, event))

    def take(self, topic: str, timeout: float = 20.0) -> Tuple[str, TopicEvent]:
        try:
            return self._queues[topic].get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"nothing reached topic {topic} within {timeout}s")

    def left(self, topic: str) -> List[Tuple[str, TopicEvent]]:
        q, items = self._queues[topic], []
        while not q.empty():
            items.append(q.get_nowait())
        return items


class Bench:
    """A dapr_rs.App (gRPC) behind a real sidecar on the in-memory broker, and a client of it."""

    def __init__(self, directory: Path, app_id: str, pubsub: str, app: App) -> None:
        resources = directory / "components"
        resources.mkdir()
        write_component(resources, pubsub, "pubsub.in-memory")
        self.app = app
        port = app.start(0, listen_address="127.0.0.1")
        self.sidecar: Optional[Sidecar] = None
        try:
            self.sidecar = Sidecar(app_id, resources, app_port=port, protocol="grpc")
            self.sidecar.wait_http("/v1.0/healthz", 204)  # the app's subscriptions run
            self.client = DaprClient(f"127.0.0.1:{self.sidecar.grpc_port}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.sidecar is not None:
            self.client.close()
            self.sidecar.stop()
        self.app.stop()


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str, str, App], Bench]]:
    """`bench(app_id, pubsub, app)` starts a Bench; all stop when the module's tests are done."""
    started: List[Bench] = []

    def start(app_id: str, pubsub: str, app: App) -> Bench:
        started.append(Bench(tmp_path_factory.mktemp(app_id), app_id, pubsub, app))
        return started[-1]

    yield start
    for b in started:
        b.stop()


# ---- content types ----

PUBSUB = "order_pub_sub"
CT_PLAIN, CT_RAW = "content-types", "content-types-raw"
RAW = {"rawPayload": "true"}


@pytest.fixture(scope="module")
def content_type_bench(bench) -> Tuple[Bench, Inboxes]:
    inboxes, app = Inboxes(), App()
    app.subscribe(PUBSUB, CT_PLAIN)(inboxes.handler(CT_PLAIN))
    app.subscribe(PUBSUB, CT_RAW, metadata=RAW)(inboxes.handler(CT_RAW))
    return bench("checkout", PUBSUB, app), inboxes


def value_of(value: Dict[str, Any]) -> Any:
    """The Python value a case publishes: the JSON value as Python holds it, or bytes."""
    return value["json"] if "json" in value else base64.b64decode(value["bytes"])


@pytest.mark.parametrize("case", **named(CONTENT_TYPES["cases"]))
def test_content_type(content_type_bench, case: Dict[str, Any]) -> None:
    b, inboxes = content_type_bench
    expected = {**case, **case.get("by_language", {}).get(LANGUAGE, {})}
    sent = expected["sent"]
    delivered = expected.get("delivered", sent)
    data, content_type = value_of(case["value"]), case.get("content_type")

    # Published raw to a raw subscriber, the bytes arrive exactly as core sent them.
    b.client.publish_event(PUBSUB, CT_RAW, data, data_content_type=content_type, publish_metadata=RAW)
    _, raw = inboxes.take(CT_RAW)
    assert_data(raw.data, sent["data"], "bytes sent")

    b.client.publish_event(PUBSUB, CT_PLAIN, data, data_content_type=content_type)
    _, event = inboxes.take(CT_PLAIN)
    assert event.data_content_type == delivered["content_type"]
    assert_data(event.data, delivered["data"], "data delivered")
    got = attributes_of(event)
    for name, value in delivered.get("attributes", {}).items():
        assert got[name] == value, name


# ---- envelopes ----


@pytest.fixture(scope="module")
def envelope_bench(bench) -> Tuple[Bench, Inboxes]:
    context = ENVELOPES["context"]
    inboxes, app = Inboxes(), App()
    raw_by_topic = {c["publish"].get("topic", context["topic"]): c.get("subscriber", {}).get("rawPayload", False) for c in ENVELOPES["cases"]}
    for topic, raw in raw_by_topic.items():
        app.subscribe(context["pubsub_name"], topic, metadata=RAW if raw else None)(inboxes.handler(topic))
    return bench(context["app_id"], context["pubsub_name"], app), inboxes


@pytest.mark.parametrize("case", **named(ENVELOPES["cases"]))
def test_envelope(envelope_bench, case: Dict[str, Any]) -> None:
    b, inboxes = envelope_bench
    context, publish = ENVELOPES["context"], case["publish"]
    topic = publish.get("topic", context["topic"])
    b.client.publish_event(
        context["pubsub_name"],
        topic,
        bytes_of(publish["data"]),
        data_content_type=publish["content_type"],
        publish_metadata=publish.get("metadata"),
    )
    _, event = inboxes.take(topic)
    expected = {k: v for k, v in case["envelope"].items() if k not in ("data", "data_base64")}
    assert_attributes(attributes_of(event), expected, ENVELOPES["shapes"], case["name"])
    assert_data(event.data, case["delivered_data"], "data delivered")


# ---- handler answers ----


def handler_for(case: Dict[str, Any]) -> Callable[[TopicEvent], Any]:
    """A handler giving the case's answer in Python's forms."""
    answer = case["answer"]

    def answer_now() -> Any:
        if "nothing" in answer:
            return None
        if "status" in answer:
            return TopicEventResponse(answer["status"])
        if "word" in answer:
            return answer["word"]
        if "value" in answer:
            return answer["value"]
        if "throws" in answer:
            raise RuntimeError(answer["throws"])
        raise AssertionError(f"{case['name']}: no Python form for {answer}")

    if case.get("async"):

        async def async_handler(event: TopicEvent) -> Any:
            return answer_now()

        return async_handler
    return lambda event: answer_now()


ANSWER_CASES = [c for c in ANSWERS["cases"] if for_python(c)]


@pytest.mark.parametrize("case", **named(ANSWER_CASES))
def test_handler_answer(callback, case: Dict[str, Any]) -> None:
    app = App()
    app.subscribe(PUBSUB, "answers", route="/answers")(handler_for(case))
    request = appcallback_pb2.TopicEventRequest(
        id="answer-1", source="checkout", type="com.dapr.event.sent", spec_version="1.0",
        data_content_type="text/plain", data=b"x", topic="answers", pubsub_name=PUBSUB, path="/answers",
    )  # fmt: skip
    status = callback(app).OnTopicEvent(request).status
    expected = case.get("status_by_language", {}).get(LANGUAGE, {}).get("status", case["status"])
    assert Status.Name(status) == expected


# ---- errors ----

# The class this binding raises for each of core's ErrorKind names.
KIND_CLASSES = {
    "pubsub_not_found": PubsubNotFoundError,
    "topic_forbidden": TopicForbiddenError,
    "sidecar_unavailable": SidecarUnavailableError,
    "timeout": DaprTimeoutError,
    "invalid_argument": InvalidArgumentError,
    "other": DaprError,
}


@pytest.fixture(scope="module")
def error_sidecars(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """`address(setup)`: the gRPC address of a sidecar started (once) as `sidecars[setup]` says;
    for "none", an address nothing listens on."""
    started: Dict[str, Sidecar] = {}

    def address(setup: str) -> str:
        if setup == "none":
            return f"127.0.0.1:{free_port()}"
        if setup not in started:
            spec = ERRORS["sidecars"][setup]
            resources = tmp_path_factory.mktemp(setup)
            for c in spec["components"]:
                write_component(resources, c["name"], c["type"], c["metadata"])
            started[setup] = Sidecar(ERRORS["app_id"], resources, env=spec["env"])
        return f"127.0.0.1:{started[setup].grpc_port}"

    yield address
    for s in started.values():
        s.stop()


ERROR_CASES = [c for c in ERRORS["cases"] if LANGUAGE not in c.get("skip_by_language", {})]


@pytest.mark.parametrize("case", **named(ERROR_CASES))
def test_error(error_sidecars, case: Dict[str, Any]) -> None:
    cause, raised = case["cause"], case["raised"]
    with DaprClient(error_sidecars(cause["sidecar"]), api_token=cause.get("api_token")) as client:
        with pytest.raises(DaprError) as err:
            if "publish" in cause:
                p = cause["publish"]
                client.publish_event(
                    p["pubsub_name"], p["topic"], bytes_of(p["data"]),
                    data_content_type=p["content_type"], publish_metadata=p.get("metadata"),
                )  # fmt: skip
            else:
                client.wait_for_sidecar(timeout=cause["wait_for_sidecar"]["timeout_ms"] / 1000)
    assert type(err.value) is KIND_CLASSES[raised["kind"]], repr(err.value)
    assert err.value.grpc_code == raised["grpc_code"]
    assert err.value.error_code == raised["error_code"]


# ---- routing ----

RULE_SETS = [s for s in ROUTING["rule_sets"] if for_python(s)]
# After the last routed event arrived, how long an event no rule matched has to show up anyway.
STRAY_WAIT_S = 0.5


@pytest.fixture(scope="module")
def routing_bench(bench) -> Tuple[Bench, Inboxes]:
    inboxes, app = Inboxes(), App()
    for rule_set in RULE_SETS:
        rules = rule_set["rules"]
        for priority, rule in enumerate(rules):
            handler = inboxes.handler(rule_set["topic"], rule["path"])
            if rule["match"]:
                app.subscribe(ROUTING["pubsub_name"], rule_set["topic"], rule=Rule(rule["match"], priority), route=rule["path"])(handler)
            else:
                assert priority == len(rules) - 1, "a binding's default route comes last"
                app.subscribe(ROUTING["pubsub_name"], rule_set["topic"], route=rule["path"])(handler)
    return bench(ROUTING["app_id"], ROUTING["pubsub_name"], app), inboxes


@pytest.mark.parametrize("rule_set", **named(RULE_SETS))
def test_routing(routing_bench, rule_set: Dict[str, Any]) -> None:
    b, inboxes = routing_bench
    topic, events = rule_set["topic"], rule_set["events"]
    # Those no rule matches go first, so one that arrived anyway shows before the wait ends.
    for case in sorted(events, key=lambda c: c["path"] is not None):
        b.client.publish_event(ROUTING["pubsub_name"], topic, case["event"], data_content_type="application/cloudevents+json")
    routed = [c for c in events if c["path"] is not None]
    got = dict((event.id, path) for path, event in (inboxes.take(topic) for _ in routed))
    time.sleep(STRAY_WAIT_S)
    got.update((event.id, path) for path, event in inboxes.left(topic))
    assert got == {c["event"]["id"]: c["path"] for c in routed}
