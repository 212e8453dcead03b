//! The value types that cross the ABI: Rust-owned byte buffers, errors with the exception class
//! core picked for them, and the reader of a caller's encoded request.

use dapr_rs_core::{Error, ErrorKind, Result};

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

/// Which exception class an error becomes: core's [`ErrorKind`], numbered for the ABI (C#'s
/// generated `DaprErrorKind`).
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaprErrorKind {
    Other = 0,
    PubsubNotFound = 1,
    TopicForbidden = 2,
    InvalidArgument = 3,
    SidecarUnavailable = 4,
    Timeout = 5,
}

impl From<ErrorKind> for DaprErrorKind {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::PubsubNotFound => Self::PubsubNotFound,
            ErrorKind::TopicForbidden => Self::TopicForbidden,
            ErrorKind::InvalidArgument => Self::InvalidArgument,
            ErrorKind::SidecarUnavailable => Self::SidecarUnavailable,
            ErrorKind::Timeout => Self::Timeout,
            ErrorKind::Other => Self::Other,
        }
    }
}

/// A failed call: the exception class core decided on (`kind`), the gRPC status code
/// (`StatusCode` numbering), the Dapr `errorCode` (empty when the sidecar sent none, e.g.
/// `ERR_PUBSUB_NOT_FOUND`) and a message for people.
#[repr(C)]
pub struct DaprError {
    pub kind: DaprErrorKind,
    pub grpc_code: i32,
    pub error_code: DaprBuffer,
    pub message: DaprBuffer,
}

impl DaprError {
    pub(crate) fn boxed(err: &Error) -> *mut DaprError {
        Box::into_raw(Box::new(Self {
            kind: err.kind().into(),
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

/// The caller's encoded request: `len` bytes at `ptr` (any pointer when `len` is 0).
///
/// # Safety
/// `ptr` is null or points at `len` readable bytes, which stay unchanged during the call.
pub(crate) unsafe fn request_bytes<'a>(ptr: *const u8, len: i32) -> Result<&'a [u8]> {
    match len {
        ..0 => Err(Error::InvalidArgument(format!("the request length is negative ({len})"))),
        0 => Ok(&[]),
        _ if ptr.is_null() => Err(Error::InvalidArgument(format!("the request is a null pointer with length {len}"))),
        // SAFETY: the caller's contract.
        _ => Ok(unsafe { std::slice::from_raw_parts(ptr, len as usize) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_of_a_negative_length_or_at_null_is_an_invalid_argument() {
        // SAFETY: no byte is read in these cases.
        unsafe {
            assert!(request_bytes(std::ptr::null(), 0).unwrap().is_empty());
            let negative = request_bytes(std::ptr::null(), -1).unwrap_err();
            assert_eq!(negative.kind(), ErrorKind::InvalidArgument);
            assert!(negative.to_string().contains("negative"), "{negative}");
            let null = request_bytes(std::ptr::null(), 3).unwrap_err();
            assert!(null.to_string().contains("null pointer"), "{null}");
        }
    }

    #[test]
    fn an_error_crosses_with_the_kind_core_decided() {
        let timeout = Error::Timeout { endpoint: "http://127.0.0.1:1".into(), after: std::time::Duration::from_millis(5) };
        let error = DaprError::boxed(&timeout);
        // SAFETY: just boxed, freed once below.
        unsafe {
            assert_eq!((*error).kind, DaprErrorKind::Timeout);
            assert_eq!((*error).grpc_code, 4);
            assert_eq!((*error).error_code.len, 0);
            dapr_rs_error_free(error);
        }
    }
}
