//! The one place where the core turns messages into bytes and back.
//!
//! TEMPORARY: until branch `wire` lands, this is a minimal unauthenticated classic codec with the
//! same signatures as `wire::encode` / `wire::decode_verified`, so that the simulation can run.
//! It is replaced by calls into `crate::wire` as soon as that module is merged.

use crate::config::{AuthKeys, MsgFmt};
use crate::wire::{Message, Value};

/// Why a datagram was dropped before reaching the protocol logic (label for drop counters).
pub type DropKind = &'static str;

/// Signs and frames a message.
pub fn encode(msg: &Message, _keys: &AuthKeys, _fmt: MsgFmt) -> Option<Vec<u8>> {
    let mut out = b">>>\n".to_vec();
    for f in &msg.fields {
        match &f.value {
            Value::Str(v) => {
                out.extend_from_slice(f.name.as_bytes());
                out.push(b'=');
                out.extend_from_slice(v);
            }
            Value::Bin(v) => {
                out.extend_from_slice(b"(1)");
                out.extend_from_slice(f.name.as_bytes());
                out.push(b'=');
                for b in v {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
            }
        }
        out.push(b'\n');
    }
    out.extend_from_slice(b"<<<\n");
    Some(out)
}

/// Authenticates and parses a datagram.
pub fn decode(bytes: &[u8], _keys: &AuthKeys) -> Result<Message, DropKind> {
    let text = std::str::from_utf8(bytes).map_err(|_| "malformed")?;
    let body = text.strip_prefix(">>>\n").ok_or("bad_framing")?;
    let mut msg = Message::default();
    for line in body.split('\n') {
        if line == "<<<" {
            return Ok(msg);
        }
        let (name, value) = line.split_once('=').ok_or("bad_field")?;
        if let Some(name) = name.strip_prefix("(1)") {
            let mut raw = Vec::new();
            let b = value.as_bytes();
            for pair in b.chunks(2) {
                let s = std::str::from_utf8(pair).map_err(|_| "bad_field")?;
                raw.push(u8::from_str_radix(s, 16).map_err(|_| "bad_field")?);
            }
            msg.push_bin(name, raw);
        } else {
            msg.push(name, value);
        }
    }
    Err("truncated")
}
