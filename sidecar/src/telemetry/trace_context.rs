//! The trace context on the wire, as daprd reads and writes it (D pkg/diagnostics/tracing.go,
//! utils/trace_utils.go): W3C `traceparent` / `tracestate`, and gRPC's binary `grpc-trace-bin`
//! (`00` | `00` + 16-byte trace id | `01` + 8-byte span id | `02` + flags).

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use std::str::FromStr;

/// daprd drops a `tracestate` longer than this.
const MAX_TRACESTATE_LEN: usize = 512;

/// A remote span context from `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`; later versions may
/// add fields) and `tracestate` (dropped when invalid). `None` when `traceparent` is not valid.
pub fn from_w3c(traceparent: &str, tracestate: &str) -> Option<SpanContext> {
    let sections: Vec<&str> = traceparent.trim().split('-').collect();
    let [version, trace, span, flags, ..] = sections[..] else { return None };
    let version = hex_bytes::<1>(version)?[0];
    if version == 0xff || (version == 0 && sections.len() != 4) {
        return None;
    }
    let trace_id = TraceId::from_bytes(hex_bytes::<16>(trace)?);
    let span_id = SpanId::from_bytes(hex_bytes::<8>(span)?);
    // Only the first byte of the flags counts, as daprd reads them.
    let flags = hex_bytes::<1>(flags.get(..2)?)?[0];
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let state = TraceState::from_str(tracestate.trim()).unwrap_or_default();
    Some(SpanContext::new(trace_id, span_id, TraceFlags::new(flags), true, state))
}

/// `00-<trace id>-<span id>-<flags>`.
pub fn traceparent(sc: &SpanContext) -> String {
    format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8())
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

/// Exactly `N` bytes of lowercase hex (Go's `TraceIDFromHex` refuses uppercase).
fn hex_bytes<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn traceparent_round_trips_and_invalid_ones_are_refused() {
        let sc = from_w3c(TP, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7").unwrap();
        assert!(sc.is_sampled() && sc.is_remote());
        assert_eq!(traceparent(&sc), TP);
        assert_eq!(tracestate(&sc), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
        assert_eq!(traceparent(&from_w3c(&TP.replace("-01", "-00"), "").unwrap()), TP.replace("-01", "-00"));
        assert_eq!(tracestate(&from_w3c(TP, "not a tracestate").unwrap()), "", "a bad tracestate is dropped, not the traceparent");
        // A later version may carry more fields.
        assert!(from_w3c(&format!("01{}-extra", &TP[2..]), "").is_some());
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-zz",
            "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert!(from_w3c(bad, "").is_none(), "{bad:?}");
        }
    }

    #[test]
    fn grpc_trace_bin_is_daprds_binary_format() {
        let sc = from_w3c(TP, "").unwrap();
        let bin = to_grpc_trace_bin(&sc);
        let mut expected = vec![0u8, 0];
        expected.extend(hex_bytes::<16>("0af7651916cd43dd8448eb211c80319c").unwrap());
        expected.push(1);
        expected.extend(hex_bytes::<8>("b7ad6b7169203331").unwrap());
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
