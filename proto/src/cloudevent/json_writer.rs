//! A JSON object written key by key straight to bytes, for the envelope's hot path.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Writes one JSON object; the caller gives the keys in order.
pub(super) struct JsonObjectWriter(Vec<u8>);

impl JsonObjectWriter {
    pub(super) fn with_capacity(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity);
        buf.push(b'{');
        Self(buf)
    }

    /// Keys are the envelope's own attribute names, which need no escapes: written as they are.
    pub(super) fn key(&mut self, key: &'static str) {
        debug_assert!(!needs_escape(key.as_bytes()), "{key}");
        if self.0.len() > 1 {
            self.0.push(b',');
        }
        self.0.push(b'"');
        self.0.extend_from_slice(key.as_bytes());
        self.0.extend_from_slice(b"\":");
    }

    pub(super) fn str(&mut self, key: &'static str, value: &str) {
        self.key(key);
        write_json_string(&mut self.0, value);
    }

    /// `json` must be one valid JSON value.
    pub(super) fn raw(&mut self, key: &'static str, json: &[u8]) {
        self.key(key);
        self.0.extend_from_slice(json);
    }

    pub(super) fn base64(&mut self, key: &'static str, bytes: &[u8]) {
        self.key(key);
        self.0.push(b'"');
        let start = self.0.len();
        self.0.resize(start + base64::encoded_len(bytes.len(), true).expect("a payload's base64 length fits in usize"), 0);
        BASE64.encode_slice(bytes, &mut self.0[start..]).expect("the buffer has the encoded length");
        self.0.push(b'"');
    }

    pub(super) fn finish(mut self) -> Vec<u8> {
        self.0.push(b'}');
        self.0
    }
}

/// A JSON string literal; bytes that need no escape (nearly all) are copied in runs.
pub(super) fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if !needs_escape(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !must_escape(b) {
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
        }
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// Whether any byte of `bytes` must be escaped in a JSON string (nearly every string of an
/// envelope has none): eight bytes at a time, the rest one by one.
fn needs_escape(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    let found = words.by_ref().any(|word| {
        let mut eight = [0; 8];
        eight.copy_from_slice(word);
        word_needs_escape(u64::from_le_bytes(eight))
    });
    found || words.remainder().iter().copied().any(must_escape)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether a byte of `x` is a control character, `"` or `\` (the bit tricks of "Bit Twiddling
/// Hacks": a byte below `n` sets its high bit in `(x - n) & !x`; a byte equal to `c` is a zero
/// byte of `x ^ c`).
fn word_needs_escape(x: u64) -> bool {
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x;
    let has = |c: u8| below(x ^ (ONES * u64::from(c)), 1);
    (below(x, 0x20) | has(b'"') | has(b'\\')) & HIGH_BITS != 0
}

fn must_escape(b: u8) -> bool {
    MUST_ESCAPE[usize::from(b)]
}

/// Control characters, `"` and `\`.
const MUST_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};
