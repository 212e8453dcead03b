//! The C ABI's argument decoding (bindings-dotnet/native `abi`): `(ptr, len)` pairs read as bytes,
//! UTF-8 text (required or optional), metadata JSON, and the payload-kind byte of a publish,
//! decoded as `dapr_rs_client_publish` decodes its arguments.
#![no_main]

use arbitrary::Arbitrary;
use dapr_rs_core::PublishPayload;
use dapr_rs_ffi::abi;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Arg {
    bytes: Vec<u8>,
    /// "Not given" is a negative length, which the caller may pair with any pointer.
    absent: bool,
}

impl Arg {
    fn ptr_len(&self) -> (*const u8, i32) {
        if self.absent { (std::ptr::null(), -1) } else { (self.bytes.as_ptr(), i32::try_from(self.bytes.len()).unwrap()) }
    }
}

#[derive(Debug, Arbitrary)]
struct Publish {
    pubsub: Arg,
    topic: Arg,
    data: Arg,
    data_kind: i32,
    content_type: Arg,
    metadata: Arg,
}

fuzz_target!(|p: Publish| {
    // SAFETY: every pointer points at its Arg's bytes, which live for the whole call.
    unsafe {
        let (ptr, len) = p.pubsub.ptr_len();
        match abi::required_str(ptr, len, "pubsub name") {
            Ok(s) => assert_eq!(s.as_bytes(), p.pubsub.bytes.as_slice()),
            Err(_) => assert!(p.pubsub.absent || std::str::from_utf8(&p.pubsub.bytes).is_err()),
        }
        let (ptr, len) = p.topic.ptr_len();
        let _ = abi::str_arg(ptr, len, "topic");
        let (ptr, len) = p.content_type.ptr_len();
        if let Ok(ct) = abi::optional_str(ptr, len, "content type") {
            assert_eq!(ct.is_none(), p.content_type.absent || p.content_type.bytes.is_empty());
        }
        let (ptr, len) = p.metadata.ptr_len();
        if let Ok(md) = abi::metadata_arg(ptr, len) {
            if p.metadata.absent || p.metadata.bytes.is_empty() {
                assert!(md.is_empty());
            }
        }
        let (ptr, len) = p.data.ptr_len();
        let data = abi::bytes_arg(ptr, len);
        assert_eq!(data.is_none(), p.data.absent);
        let data = data.unwrap_or_default();
        if let Ok(payload) = abi::payload(data, p.data_kind) {
            // The payload carries the caller's bytes unchanged, whatever its kind.
            assert!((0..=2).contains(&p.data_kind));
            let (bytes, content_type) = payload.into_data(None);
            assert_eq!(bytes.as_ref(), data);
            assert!(!content_type.is_empty());
        } else {
            assert!(p.data_kind == abi::DATA_TEXT || !(0..=2).contains(&p.data_kind));
        }
        let _ = PublishPayload::json(data.to_vec());
    }
});
