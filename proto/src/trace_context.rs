//! The W3C `traceparent` as daprd reads and writes it (D pkg/diagnostics/utils/trace_utils.go):
//! `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`. The one place that parses and formats
//! it: the publisher's envelope generates one, the sidecar's tracing reads and writes its spans'.

use std::fmt;

/// A valid `traceparent`: neither id is all zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traceparent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// Trace flags (`01`: sampled).
    pub flags: u8,
}

impl Traceparent {
    /// A `traceparent` as daprd accepts it: lowercase hex (Go's `TraceIDFromHex` refuses
    /// uppercase), version `ff` refused, version `00` with exactly four fields (a later version
    /// may add fields), only the first byte of the flags read, ids not all zeros.
    pub fn parse(traceparent: &str) -> Option<Self> {
        let sections: Vec<&str> = traceparent.trim().split('-').collect();
        let [version, trace, span, flags, ..] = sections[..] else { return None };
        let version = hex_bytes::<1>(version)?[0];
        if version == 0xff || (version == 0 && sections.len() != 4) {
            return None;
        }
        let parsed = Self { trace_id: hex_bytes(trace)?, span_id: hex_bytes(span)?, flags: hex_bytes::<1>(flags.get(..2)?)?[0] };
        (parsed.trace_id != [0; 16] && parsed.span_id != [0; 8]).then_some(parsed)
    }

    /// A new trace, not sampled (flags `00`), for a publish that arrived without one.
    pub fn random() -> Self {
        let (trace, span) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let mut span_id = [0; 8];
        span_id.copy_from_slice(&span.as_bytes()[..8]);
        Self { trace_id: *trace.as_bytes(), span_id, flags: 0 }
    }

    /// The header's text, written with a table: a publish that arrives without a traceparent
    /// gets a new one, and `write!` per byte made that thousands of instructions a publish.
    fn encode(&self) -> [u8; TRACEPARENT_LEN] {
        let mut out = [b'-'; TRACEPARENT_LEN];
        let mut at = 0;
        for field in [&[0][..], &self.trace_id, &self.span_id, &[self.flags]] {
            put_hex(&mut out[at..at + 2 * field.len()], field);
            at += 2 * field.len() + 1;
        }
        out
    }
}

/// Version, trace id, span id and flags in hex, with a `-` between each two: 55 bytes.
const TRACEPARENT_LEN: usize = 2 * (1 + 16 + 8 + 1) + 3;

/// `bytes` as lowercase hex into `out`, two digits a byte.
fn put_hex(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
}

/// Version `00`, whatever version it was read from (as daprd writes it).
impl fmt::Display for Traceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.encode()).map_err(|_| fmt::Error)?)
    }
}

/// A fresh W3C traceparent for a publish that arrived without one.
pub fn new_traceparent() -> String {
    Traceparent::random().to_string()
}

/// Exactly `N` bytes of lowercase hex.
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
    fn a_traceparent_round_trips_and_invalid_ones_are_refused() {
        let tp = Traceparent::parse(TP).unwrap();
        assert_eq!(tp.trace_id[..2], [0x0a, 0xf7]);
        assert_eq!(tp.span_id[7], 0x31);
        assert_eq!(tp.flags, 1);
        assert_eq!(tp.to_string(), TP);
        assert_eq!(Traceparent::parse(&format!(" {TP}\t")), Some(tp), "surrounding whitespace is trimmed");
        // A later version may carry more fields; it is written back as version 00.
        assert_eq!(Traceparent::parse(&format!("01{}-extra", &TP[2..])).unwrap().to_string(), TP);
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
            assert!(Traceparent::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_new_traceparent_is_a_valid_unsampled_one() {
        let tp = new_traceparent();
        assert!(tp.len() == 55 && tp.starts_with("00-") && tp.ends_with("-00"), "{tp}");
        assert_eq!(Traceparent::parse(&tp).unwrap().to_string(), tp);
        assert_ne!(new_traceparent()[3..35], tp[3..35], "a new trace each time");
    }
}
