"""Byte compatibility of our generated pub/sub types with the official Dapr Python SDK (PyPI `dapr`).

The values live once in tests/vectors/proto_messages.json (proto3 JSON). The Rust side is the
`wire_vectors` example of dapr-rs-proto: `dump` prints our encodings, `check FILE` decodes theirs
and compares field for field, `services` / `types` print our descriptors.
"""

import json
import os
import subprocess
from functools import cache
from pathlib import Path

import pytest
from google.protobuf import json_format

# In dapr 1.19.0 pub/sub messages live in pubsub_pb2, metadata in metadata_pb2, app callbacks in
# appcallback_pb2; dapr_pb2 keeps the Dapr service and ShutdownRequest.
from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import appcallback_pb2, dapr_pb2, metadata_pb2, pubsub_pb2

REPO_ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((REPO_ROOT / "tests" / "vectors" / "proto_messages.json").read_text(encoding="utf-8"))
OFFICIAL_MODULES = (common_pb2, appcallback_pb2, pubsub_pb2, metadata_pb2, dapr_pb2)

SERVICE_METHODS = {
    "dapr.proto.runtime.v1.Dapr": [
        "PublishEvent",
        "BulkPublishEventAlpha1",
        "BulkPublishEvent",
        "SubscribeTopicEventsAlpha1",
        "GetMetadata",
        "SetMetadata",
        "Shutdown",
    ],
    "dapr.proto.runtime.v1.AppCallback": [
        "ListTopicSubscriptions",
        "OnTopicEvent",
        "OnBulkTopicEvent",
        "OnInvoke",
        "OnJobEvent",
    ],
    "dapr.proto.runtime.v1.AppCallbackAlpha": ["OnBulkTopicEventAlpha1", "OnJobEventAlpha1"],
    "dapr.proto.runtime.v1.AppCallbackHealthCheck": ["HealthCheck"],
}

# Fields the official messages have and ours deliberately lack (extra fields are skipped on decode).
KNOWN_MISSING_FIELDS = {
    # 1.18+ metadata for MCP servers, workflow access policies and resiliencies: not served by us.
    "dapr.proto.runtime.v1.GetMetadataResponse": {13, 14, 15},
}


def example(*args: str) -> subprocess.CompletedProcess:
    """Runs the example from the repo root, so it builds in the same target dir as `cargo test`."""
    cargo = os.environ.get("CARGO", "cargo")
    command = [cargo, "run", "-q", "-p", "dapr-rs-proto", "--example", "wire_vectors", "--", *args]
    # Generous: the first call may compile the crate on a busy machine.
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=3600)


def run_example(*args: str) -> str:
    done = example(*args)
    assert done.returncode == 0, f"wire_vectors {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@cache
def run_example_json(*args: str) -> dict:
    return json.loads(run_example(*args))


def official_class(vector: str):
    full_name = vector.split("#", 1)[0]
    package, short = full_name.rsplit(".", 1)
    found = [
        getattr(module, short)
        for module in OFFICIAL_MODULES
        if module.DESCRIPTOR.package == package and short in module.DESCRIPTOR.message_types_by_name
    ]
    assert len(found) == 1, f"{full_name}: expected one official class, found {found}"
    return found[0]


def official_message(vector: str):
    return json_format.ParseDict(VECTORS[vector], official_class(vector)())


@pytest.mark.parametrize("vector", sorted(VECTORS))
def test_vector_is_canonical_proto3_json(vector):
    # Catches typos and explicit default values, which would leave a field silently unset.
    assert json_format.MessageToDict(official_message(vector)) == VECTORS[vector]


def test_our_encodings_decode_field_for_field_with_the_official_classes():
    ours = run_example_json("dump")
    assert sorted(ours) == sorted(VECTORS)
    mismatches = []
    for vector, hex_bytes in sorted(ours.items()):
        expected = official_message(vector)
        decoded = official_class(vector).FromString(bytes.fromhex(hex_bytes))
        # Re-encoding also exposes unknown fields, which message equality may not.
        same_bytes = decoded.SerializeToString(deterministic=True) == expected.SerializeToString(deterministic=True)
        if decoded != expected or not same_bytes:
            mismatches.append(f"{vector}:\n  decoded  {json_format.MessageToDict(decoded)}\n  expected {VECTORS[vector]}")
    assert not mismatches, "\n".join(mismatches)


def write_official_encodings(path: Path, vectors) -> None:
    encoded = {v: official_message(v).SerializeToString(deterministic=True).hex() for v in vectors}
    path.write_text(json.dumps(encoded, indent=2), encoding="utf-8")


def test_official_encodings_decode_field_for_field_with_our_types(tmp_path):
    theirs = tmp_path / "official.json"
    write_official_encodings(theirs, VECTORS)
    lines = run_example("check", str(theirs)).splitlines()
    assert sorted(lines) == sorted(f"ok    {v}" for v in VECTORS)


def test_check_reports_mismatched_missing_and_extra_vectors(tmp_path):
    # Guards the guard: a check that passes everything proves nothing.
    vectors = sorted(VECTORS)
    encoded = {v: official_message(v).SerializeToString(deterministic=True).hex() for v in vectors[1:]}
    retry, drop = "dapr.proto.runtime.v1.TopicEventResponse#retry", "dapr.proto.runtime.v1.TopicEventResponse#drop"
    encoded[retry] = encoded[drop]
    encoded["dapr.proto.runtime.v1.TopicEventResponse#unknown"] = ""
    theirs = tmp_path / "broken.json"
    theirs.write_text(json.dumps(encoded), encoding="utf-8")
    done = example("check", str(theirs))
    assert done.returncode == 1, done.stderr
    failed = sorted(line.split()[1].rstrip(":") for line in done.stdout.splitlines() if line.startswith("FAIL"))
    assert failed == sorted([vectors[0], retry, "dapr.proto.runtime.v1.TopicEventResponse#unknown"])


def official_service(full_name: str):
    files = [m.DESCRIPTOR for m in OFFICIAL_MODULES if full_name.rsplit(".", 1)[1] in m.DESCRIPTOR.services_by_name]
    assert len(files) == 1, f"{full_name}: expected one official service, found {len(files)}"
    return files[0].services_by_name[full_name.rsplit(".", 1)[1]]


def test_services_match_the_official_sdk():
    ours = run_example_json("services")
    assert sorted(ours) == sorted(SERVICE_METHODS)
    for service, required in SERVICE_METHODS.items():
        assert set(required) <= set(ours[service]), f"{service} lacks {set(required) - set(ours[service])}"
        official = official_service(service).methods_by_name
        for method, signature in ours[service].items():
            assert method in official, f"{service}.{method} is not an official method"
            theirs = official[method]
            assert signature == {
                "input": theirs.input_type.full_name,
                "output": theirs.output_type.full_name,
                "client_streaming": theirs.client_streaming,
                "server_streaming": theirs.server_streaming,
            }, f"{service}.{method}"


def official_field(f) -> dict:
    nested = f.message_type or f.enum_type
    return {
        "name": f.name,
        "json_name": f.json_name,
        "type": f.type,
        "type_name": nested.full_name if nested else "",
        "repeated": f.is_repeated,
        "has_presence": f.has_presence,
        "oneof": f.containing_oneof.name if f.containing_oneof else None,
    }


def test_every_message_and_enum_matches_the_official_schema():
    ours = run_example_json("types")
    pool = common_pb2.DESCRIPTOR.pool
    problems = []
    for name, message in sorted(ours["messages"].items()):
        descriptor = pool.FindMessageTypeByName(name)
        if descriptor.file.name != message["file"]:
            problems.append(f"{name}: in {message['file']}, official in {descriptor.file.name}")
        official = {str(f.number): official_field(f) for f in descriptor.fields}
        fields = message["fields"]
        for number, field in fields.items():
            if official.get(number) != field:
                problems.append(f"{name} field {number}: ours {field}, official {official.get(number)}")
        missing = {int(n) for n in official} - {int(n) for n in fields}
        if missing != KNOWN_MISSING_FIELDS.get(name, set()):
            problems.append(f"{name}: official fields we lack {sorted(missing)}")
    for name, values in sorted(ours["enums"].items()):
        official = {v.name: v.number for v in pool.FindEnumTypeByName(name).values}
        if official != values:
            problems.append(f"enum {name}: ours {values}, official {official}")
    assert not problems, "\n".join(problems)
