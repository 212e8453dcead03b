//! The value types that cross the ABI: Rust-owned byte buffers, errors, and the readers of the
//! caller's `(ptr, len)` arguments.

use dapr_rs_core::{Error, Result};
use std::collections::HashMap;

/// Bytes Rust allocated; only `dapr_rs_buffer_free` (or the owner's free) releases them.
#[repr(C)]
pub struct DaprBuffer {
    pub ptr: *mut u8,
    pub len: i32,
}

impl DaprBuffer {
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        let boxed = bytes.into_boxed_slice();
        let len = i32::try_from(boxed.len()).unwrap_or(i32::MAX);
        Self { len, ptr: Box::into_raw(boxed) as *mut u8 }
    }

    pub(crate) fn boxed(bytes: Vec<u8>) -> *mut DaprBuffer {
        Box::into_raw(Box::new(Self::new(bytes)))
    }

    /// Releases the bytes (the struct itself is the caller's, or a field of a boxed one).
    fn release(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: ptr/len came from `Box<[u8]>` in `new` and are released once (then nulled).
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr, self.len as usize)) });
            self.ptr = std::ptr::null_mut();
            self.len = 0;
        }
    }
}

/// A failed call: the gRPC status code (`StatusCode` numbering), the Dapr `errorCode` (empty when
/// the sidecar sent none, e.g. `ERR_PUBSUB_NOT_FOUND`) and a message for people.
#[repr(C)]
pub struct DaprError {
    pub grpc_code: i32,
    pub error_code: DaprBuffer,
    pub message: DaprBuffer,
}

impl DaprError {
    pub(crate) fn boxed(err: &Error) -> *mut DaprError {
        Box::into_raw(Box::new(Self {
            grpc_code: err.grpc_code() as i32,
            error_code: DaprBuffer::new(err.error_code().unwrap_or_default().as_bytes().to_vec()),
            message: DaprBuffer::new(err.to_string().into_bytes()),
        }))
    }

    pub(crate) fn from_result(result: Result<()>) -> *mut DaprError {
        match result {
            Ok(()) => std::ptr::null_mut(),
            Err(e) => Self::boxed(&e),
        }
    }
}

/// Frees a buffer returned by a call (null is ignored).
///
/// # Safety
/// `buffer` is null or a pointer this library returned and has not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_buffer_free(buffer: *mut DaprBuffer) {
    if !buffer.is_null() {
        // SAFETY: boxed by `DaprBuffer::boxed`, freed once by the caller's contract.
        unsafe { Box::from_raw(buffer) }.release();
    }
}

/// Frees an error (null is ignored).
///
/// # Safety
/// `error` is null or a pointer this library returned and has not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_error_free(error: *mut DaprError) {
    if !error.is_null() {
        // SAFETY: boxed by `DaprError::boxed`, freed once by the caller's contract.
        let mut error = unsafe { Box::from_raw(error) };
        error.error_code.release();
        error.message.release();
    }
}

/// The caller's bytes, or `None` for a negative length.
///
/// # Safety
/// `ptr` points at `len` readable bytes when `len > 0`.
pub unsafe fn bytes_arg<'a>(ptr: *const u8, len: i32) -> Option<&'a [u8]> {
    match len {
        ..0 => None,
        0 => Some(&[]),
        // SAFETY: the caller's contract.
        _ => Some(unsafe { std::slice::from_raw_parts(ptr, len as usize) }),
    }
}

/// The caller's UTF-8 text, or `None` for a negative length; `what` names it in the error.
///
/// # Safety
/// As [`bytes_arg`].
pub unsafe fn str_arg<'a>(ptr: *const u8, len: i32, what: &str) -> Result<Option<&'a str>> {
    // SAFETY: forwarded contract.
    match unsafe { bytes_arg(ptr, len) } {
        None => Ok(None),
        Some(b) => std::str::from_utf8(b).map(Some).map_err(|_| Error::InvalidArgument(format!("{what} is not valid UTF-8"))),
    }
}

/// Required text: "not given" is an error naming `what`.
///
/// # Safety
/// As [`bytes_arg`].
pub unsafe fn required_str(ptr: *const u8, len: i32, what: &str) -> Result<String> {
    // SAFETY: forwarded contract.
    unsafe { str_arg(ptr, len, what) }?.map(str::to_owned).ok_or_else(|| Error::InvalidArgument(format!("{what} is required")))
}

/// Optional text: "not given" and empty are both `None`.
///
/// # Safety
/// As [`bytes_arg`].
pub unsafe fn optional_str(ptr: *const u8, len: i32, what: &str) -> Result<Option<String>> {
    // SAFETY: forwarded contract.
    Ok(unsafe { str_arg(ptr, len, what) }?.filter(|s| !s.is_empty()).map(str::to_owned))
}

/// Metadata as the JSON text of an object of strings; "not given" is empty.
///
/// # Safety
/// As [`bytes_arg`].
pub unsafe fn metadata_arg(ptr: *const u8, len: i32) -> Result<HashMap<String, String>> {
    // SAFETY: forwarded contract.
    match unsafe { bytes_arg(ptr, len) } {
        None | Some([]) => Ok(HashMap::new()),
        Some(json) => serde_json::from_slice(json)
            .map_err(|e| Error::InvalidArgument(format!("metadata must be a JSON object of string values: {e}"))),
    }
}

/// The payload kinds of the ABI, both ways: what a caller publishes, and how core decoded a
/// delivered event's data (C#'s `DataKind`).
pub const DATA_BYTES: i32 = 0;
pub const DATA_TEXT: i32 = 1;
pub const DATA_JSON: i32 = 2;

/// The payload kinds a caller can pass; core's [`dapr_rs_core::PublishPayload`] picks the
/// content type from it when the caller names none.
pub fn payload(data: &[u8], kind: i32) -> Result<dapr_rs_core::PublishPayload> {
    use dapr_rs_core::PublishPayload;
    // One copy out of the caller's buffer, whatever the kind.
    match kind {
        DATA_BYTES => Ok(PublishPayload::Bytes(bytes::Bytes::copy_from_slice(data))),
        DATA_TEXT => std::str::from_utf8(data)
            .map(|text| PublishPayload::Text(text.to_owned()))
            .map_err(|_| Error::InvalidArgument("text data is not valid UTF-8".into())),
        DATA_JSON => Ok(PublishPayload::json(bytes::Bytes::copy_from_slice(data))),
        other => Err(Error::InvalidArgument(format!("unknown data kind {other}; expected 0 (bytes), 1 (text) or 2 (JSON)"))),
    }
}
