//! The trace context on the wire, as daprd reads and writes it (D pkg/diagnostics/tracing.go,
//! utils/trace_utils.go), as OpenTelemetry span contexts: W3C `traceparent` (its text is
//! `dapr_rs_proto::trace_context`'s) / `tracestate`, and gRPC's binary `grpc-trace-bin` (`00` |
//! `00` + 16-byte trace id | `01` + 8-byte span id | `02` + flags).

use dapr_rs_proto::trace_context::Traceparent;
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use std::str::FromStr;

/// daprd drops a `tracestate` longer than this.
const MAX_TRACESTATE_LEN: usize = 512;

/// A remote span context from `traceparent` (as [`Traceparent::parse`] reads it) and
/// `tracestate` (dropped when invalid). `None` when `traceparent` is not valid.
pub fn from_w3c(traceparent: &str, tracestate: &str) -> Option<SpanContext> {
    let tp = Traceparent::parse(traceparent)?;
    let state = TraceState::from_str(tracestate.trim()).unwrap_or_default();
    Some(SpanContext::new(TraceId::from_bytes(tp.trace_id), SpanId::from_bytes(tp.span_id), TraceFlags::new(tp.flags), true, state))
}

/// `00-<trace id>-<span id>-<flags>`.
pub fn traceparent(sc: &SpanContext) -> String {
    Traceparent { trace_id: sc.trace_id().to_bytes(), span_id: sc.span_id().to_bytes(), flags: sc.trace_flags().to_u8() }.to_string()
}

/// The `tracestate` header of `sc`; empty when it has none or it is too long to send.
pub fn tracestate(sc: &SpanContext) -> String {
    let header = sc.trace_state().header();
    if header.len() > MAX_TRACESTATE_LEN { String::new() } else { header }
}

/// `grpc-trace-bin`: 29 bytes.
pub fn to_grpc_trace_bin(sc: &SpanContext) -> [u8; 29] {
    let mut b = [0u8; 29];
    b[2..18].copy_from_slice(&sc.trace_id().to_bytes());
    b[18] = 1;
    b[19..27].copy_from_slice(&sc.span_id().to_bytes());
    b[27] = 2;
    b[28] = sc.trace_flags().to_u8();
    b
}

/// A remote span context from `grpc-trace-bin` (no tracestate travels in it). As daprd's
/// `SpanContextFromBinary`: version 0 and a trace id are required; span id and flags optional.
pub fn from_grpc_trace_bin(b: &[u8]) -> Option<SpanContext> {
    let (&version, mut rest) = b.split_first()?;
    if version != 0 || rest.len() < 17 || rest[0] != 0 {
        return None;
    }
    let trace_id = TraceId::from_bytes(rest[1..17].try_into().ok()?);
    rest = &rest[17..];
    let mut span_id = SpanId::INVALID;
    if rest.len() >= 9 && rest[0] == 1 {
        span_id = SpanId::from_bytes(rest[1..9].try_into().ok()?);
        rest = &rest[9..];
    }
    let flags = if rest.len() >= 2 && rest[0] == 2 { rest[1] } else { 0 };
    let sc = SpanContext::new(trace_id, span_id, TraceFlags::new(flags), true, TraceState::default());
    sc.is_valid().then_some(sc)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn a_w3c_context_round_trips_with_its_tracestate() {
        let sc = from_w3c(TP, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7").unwrap();
        assert!(sc.is_sampled() && sc.is_remote());
        assert_eq!(traceparent(&sc), TP);
        assert_eq!(tracestate(&sc), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
        assert_eq!(traceparent(&from_w3c(&TP.replace("-01", "-00"), "").unwrap()), TP.replace("-01", "-00"));
        assert_eq!(tracestate(&from_w3c(TP, "not a tracestate").unwrap()), "", "a bad tracestate is dropped, not the traceparent");
        // Which traceparents are valid is proto's (`Traceparent::parse`); an invalid one has no context.
        assert!(from_w3c("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", "k=v").is_none());
    }

    #[test]
    fn grpc_trace_bin_is_daprds_binary_format() {
        let sc = from_w3c(TP, "").unwrap();
        let bin = to_grpc_trace_bin(&sc);
        let tp = Traceparent::parse(TP).unwrap();
        let mut expected = vec![0u8, 0];
        expected.extend(tp.trace_id);
        expected.push(1);
        expected.extend(tp.span_id);
        expected.extend([2, 1]);
        assert_eq!(bin.to_vec(), expected);
        let back = from_grpc_trace_bin(&bin).unwrap();
        assert_eq!(traceparent(&back), TP);
        assert!(back.is_remote());
        // Span id and flags are optional on the way in; without a span id there is no parent.
        assert!(from_grpc_trace_bin(&bin[..18]).is_none());
        assert_eq!(from_grpc_trace_bin(&bin[..27]).unwrap().trace_flags(), TraceFlags::default());
        for bad in [&[][..], &[1u8; 29][..], &bin[..10]] {
            assert!(from_grpc_trace_bin(bad).is_none(), "{bad:?}");
        }
    }
}
