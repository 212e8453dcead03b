//! A JS payload as core's [`PublishPayload`]: the facade passes a string (text, or JSON text it
//! serialized with `JSON.stringify`) or a Buffer; core decides the content type.

use dapr_rs_core::PublishPayload;
use napi::bindgen_prelude::{Buffer, Either};

pub fn to_payload(data: Either<String, Buffer>, is_json: bool) -> PublishPayload {
    match data {
        Either::A(text) if is_json => PublishPayload::json(text),
        Either::A(text) => PublishPayload::Text(text),
        Either::B(buffer) => PublishPayload::Bytes(bytes::Bytes::copy_from_slice(&buffer)),
    }
}
