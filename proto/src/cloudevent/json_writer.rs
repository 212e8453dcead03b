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

    pub(super) fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(b',');
        }
        write_json_string(&mut self.0, key);
        self.0.push(b':');
    }

    pub(super) fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        write_json_string(&mut self.0, value);
    }

    /// `json` must be one valid JSON value.
    pub(super) fn raw(&mut self, key: &str, json: &[u8]) {
        self.key(key);
        self.0.extend_from_slice(json);
    }

    pub(super) fn base64(&mut self, key: &str, bytes: &[u8]) {
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
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
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
