//! `errors.json`, the sidecar's side: each Dapr errorCode's HTTP status and gRPC code as proto's
//! table gives them, and the gRPC status an `ApiError` becomes carrying that errorCode. What a running
//! sidecar answers, and what core raises for it, is cli/tests/error_vectors.rs.

use crate::support::{cases, load};
use dapr_rs_proto::error_code::{ErrorCode, from_grpc_status};
use dapr_rs_sidecar::error::ApiError;

/// `INVALID_ARGUMENT` as tonic spells the code: `InvalidArgument`.
fn tonic_name(grpc_name: &str) -> String {
    grpc_name.split('_').map(|w| w[..1].to_owned() + &w[1..].to_ascii_lowercase()).collect()
}

#[test]
fn each_error_code_has_the_statuses_the_vector_says() {
    let vectors = load("errors.json");
    let mut checked = 0;
    for case in cases(&vectors, "cases") {
        let name = case["name"].as_str().unwrap();
        let Some(answer) = case["sidecar"].as_object() else { continue };
        let code = ErrorCode::parse(answer["error_code"].as_str().unwrap()).unwrap_or_else(|| panic!("{name}: unknown errorCode"));
        assert_eq!(code.http_status() as u64, answer["http_status"].as_u64().unwrap(), "{name}: HTTP status");
        assert_eq!(code.grpc_code() as i64, answer["grpc_code"].as_i64().unwrap(), "{name}: gRPC code");
        assert_eq!(format!("{:?}", code.grpc_code()), tonic_name(answer["grpc_name"].as_str().unwrap()), "{name}: the gRPC code's name");

        let status = tonic::Status::from(ApiError::new(code, name));
        assert_eq!(status.code(), code.grpc_code(), "{name}");
        assert_eq!(from_grpc_status(&status).as_deref(), Some(code.as_str()), "{name}: the errorCode a gRPC answer carries");
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} cases have a sidecar answer");
}
