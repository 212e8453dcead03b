"""gRPC server reflection on our sidecar's API port, read by a real reflection client (PyPI
`grpcio-reflection`, what Python tooling uses; grpcurl and the .NET SDK ask the same service):
it lists the services, resolves `dapr.proto.runtime.v1.Dapr` with its messages, and a call built
only from what reflection returned succeeds."""

from __future__ import annotations

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from sidecar_harness import Sidecar

DAPR_SERVICE = "dapr.proto.runtime.v1.Dapr"


def test_reflection_lists_and_resolves_the_dapr_api(memory_resources):
    sidecar = Sidecar("reflected", memory_resources)
    channel = grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}")
    try:
        database = ProtoReflectionDescriptorDatabase(channel)  # asks grpc.reflection.v1alpha
        services = set(database.get_services())
        # What grpc-go's reflection lists for daprd: the API and both reflection versions.
        assert {DAPR_SERVICE, "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"} <= services, services

        pool = DescriptorPool(database)
        dapr = pool.FindServiceByName(DAPR_SERVICE)
        methods = {m.name: m for m in dapr.methods}
        expected = {"PublishEvent", "BulkPublishEvent", "BulkPublishEventAlpha1", "SubscribeTopicEventsAlpha1", "GetMetadata", "SetMetadata", "Shutdown"}
        assert expected <= set(methods), sorted(methods)
        publish = methods["PublishEvent"]
        assert publish.input_type.full_name == "dapr.proto.runtime.v1.PublishEventRequest"
        assert publish.output_type.full_name == "google.protobuf.Empty"  # resolved from its own file
        fields = {f.name: f.number for f in publish.input_type.fields}
        assert fields == {"pubsub_name": 1, "topic": 2, "data": 3, "data_content_type": 4, "metadata": 5}
        stream = methods["SubscribeTopicEventsAlpha1"]
        assert stream.client_streaming and stream.server_streaming

        # A call made only from the reflected descriptors, as grpcurl does.
        request_class = message_factory.GetMessageClass(publish.input_type)
        empty_class = message_factory.GetMessageClass(publish.output_type)
        call = channel.unary_unary(
            f"/{DAPR_SERVICE}/PublishEvent",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=empty_class.FromString,
        )
        request = request_class(pubsub_name="ps", topic="orders", data=b'{"orderId":1}', data_content_type="application/json")
        assert isinstance(call(request, timeout=10), empty_class)

        # The v1 service (grpcurl, .NET) answers the same list; its messages are v1alpha's on the wire.
        v1 = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        [answer] = list(v1(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10))
        assert {s.name for s in answer.list_services_response.service} == services
    finally:
        channel.close()
        sidecar.stop()
