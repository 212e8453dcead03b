//! Compiles the Dapr-compatible .proto files once, in pure Rust (protox: no system protoc),
//! and keeps the encoded descriptor set for gRPC server reflection.
use prost::Message;
use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "dapr/proto/common/v1/common.proto",
    "dapr/proto/runtime/v1/appcallback.proto",
    "dapr/proto/runtime/v1/pubsub.proto",
    "dapr/proto/runtime/v1/metadata.proto",
    "dapr/proto/runtime/v1/dapr.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("dapr_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .bytes(".dapr.proto.runtime.v1.TopicEventRequest.data")
        .bytes(".dapr.proto.runtime.v1.PublishEventRequest.data")
        .compile_fds(fds)?;
    Ok(())
}
