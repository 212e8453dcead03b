//! The C ABI's requests (bindings-dotnet/native `requests`): whatever bytes a caller passes as a
//! request decode into core's types or fail as an InvalidArgument naming what is wrong; never a
//! panic across the ABI.
#![no_main]
use dapr_rs_core::{Error, ErrorKind};
use dapr_rs_ffi::requests;
use libfuzzer_sys::fuzz_target;

fn refused_as_invalid<T>(decoded: Result<T, Error>) -> Option<T> {
    match decoded {
        Ok(value) => Some(value),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
            None
        }
    }
}

fuzz_target!(|request: &[u8]| {
    if let Some((publish, _trace)) = refused_as_invalid(requests::publish(request)) {
        // Core always names a content type: the request's, or its payload kind's default.
        assert!(!publish.data_content_type.is_empty());
    }
    if let Some(bulk) = refused_as_invalid(requests::bulk_publish(request)) {
        assert!(bulk.entries.iter().all(|e| !e.content_type.is_empty()));
    }
    refused_as_invalid(requests::client_options(request));
    refused_as_invalid(requests::stream_subscription(request));
    if let Some(subscription) = refused_as_invalid(requests::app_subscription(request)) {
        assert!(!subscription.pubsub_name.is_empty() && !subscription.topic.is_empty());
    }
    refused_as_invalid(requests::event_answer(request));
});
