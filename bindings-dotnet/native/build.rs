//! Compiles the bridge's requests (`proto/dapr_rs_bridge.proto`, in pure Rust: protox, no system
//! protoc) and generates the C# `[DllImport]` declarations (`DaprRs.Native.NativeMethods`) from
//! this crate's `extern "C"` functions and `#[repr(C)]` structs, so the C# side can never drift
//! from the Rust side. The declarations are written into the C# source tree
//! (`bindings-dotnet/src/Native/`), where the C# build compiles them; generated, not checked in.

const BRIDGE_PROTO: &str = "proto/dapr_rs_bridge.proto";
const ABI_FILES: [&str; 6] = ["src/abi.rs", "src/runtime.rs", "src/client.rs", "src/delivery.rs", "src/batch.rs", "src/app.rs"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={BRIDGE_PROTO}");
    let fds = protox::compile([BRIDGE_PROTO], ["proto"])?;
    prost_build::Config::new()
        // Payloads become `Bytes`, which core's publish requests take as they are.
        .bytes(["."])
        // `prost::Name`: a malformed request's error names its message.
        .enable_type_names()
        .compile_fds(fds)?;

    let mut builder = csbindgen::Builder::default();
    for file in ABI_FILES {
        println!("cargo:rerun-if-changed={file}");
        builder = builder.input_extern_file(file);
    }
    builder
        .csharp_dll_name("dapr_rs_ffi")
        .csharp_namespace("DaprRs.Native")
        .csharp_class_name("NativeMethods")
        .csharp_class_accessibility("internal")
        // What Mono's mcs (C# 7) accepts: delegates instead of `delegate*`, IntPtr instead of nint.
        .csharp_use_function_pointer(false)
        .csharp_use_nint_types(false)
        .generate_csharp_file("../src/Native/NativeMethods.g.cs")?;
    Ok(())
}
