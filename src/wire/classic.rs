//! The classic text format (spec §1.3): `>>>\n`, one `[(t)]name=value\n` line per field,
//! `<<<\n`, NUL. String values carry LF as 0x13; binary values are base64.
//!
//! The parser is total and bounds-checked. Verification (spec §3.2) hashes the received lines
//! themselves (skipping `auth` lines): since decoding accepts only canonical forms, those bytes
//! are exactly the text the original recomputes, and no structure is built before the
//! authenticator has been checked.

use super::base64;
use super::error::DecodeError;
use super::keyring::KeySource;
use super::message::{Field, Message, Value};
use super::rules::{AUTH_FIELD, parse_auth_value, valid_name, valid_str_value};
use super::scan::first_of;

pub const START: &[u8] = b">>>\n";
pub const END: &[u8] = b"<<<\n";

/// Appends one field line (with its LF), as sent and as hashed.
pub fn write_line(out: &mut Vec<u8>, field: &Field) {
    match &field.value {
        Value::Str(v) => {
            out.extend_from_slice(field.name.as_bytes());
            out.push(b'=');
            out.extend(v.iter().map(|&b| if b == b'\n' { 0x13 } else { b }));
        }
        Value::Bin(v) => {
            out.extend_from_slice(b"(1)");
            out.extend_from_slice(field.name.as_bytes());
            out.push(b'=');
            base64::encode_into(v, out);
        }
    }
    out.push(b'\n');
}

/// One field line of a received packet, split but not yet decoded.
struct Line<'a> {
    /// The whole line including its LF (what the digest covers).
    raw: &'a [u8],
    /// The type digit of a `(d)` prefix, if any.
    type_digit: Option<u8>,
    name: &'a [u8],
    value: &'a [u8],
}

/// Iterates over the field lines between `>>>\n` and `<<<\n`; yields an error (then stops) on
/// bad framing. Empty lines are skipped, as the original does.
struct Lines<'a> {
    bytes: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() < START.len() {
            return Err(if START.starts_with(bytes) {
                DecodeError::Truncated
            } else {
                DecodeError::BadFraming
            });
        }
        if !bytes.starts_with(START) {
            return Err(DecodeError::BadFraming);
        }
        Ok(Lines {
            bytes,
            pos: START.len(),
            done: false,
        })
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<Line<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let skip = rest.iter().take_while(|&&b| b == b'\n').count();
        let rest = &rest[skip..];
        self.pos += skip;
        if rest.starts_with(END) {
            self.done = true;
            return None;
        }
        // One scan for the LF ending the line; a NUL before it ends the packet for the
        // original, so the `<<<` marker is then missing.
        let Some(len) = first_of(rest, [b'\n', 0]) else {
            self.done = true;
            return Some(Err(DecodeError::Truncated));
        };
        if rest[len] == 0 {
            self.done = true;
            return Some(Err(DecodeError::Truncated));
        }
        let raw = &rest[..=len];
        let text = &rest[..len];
        self.pos += len + 1;
        Some(split_line(raw, text).inspect_err(|_| self.done = true))
    }
}

fn split_line<'a>(raw: &'a [u8], text: &'a [u8]) -> Result<Line<'a>, DecodeError> {
    let (type_digit, body) = match text {
        [b'(', d, b')', body @ ..] if d.is_ascii_digit() => (Some(*d), body),
        _ => (None, text),
    };
    let eq = body
        .iter()
        .position(|&b| b == b'=')
        .ok_or(DecodeError::BadField)?;
    Ok(Line {
        raw,
        type_digit,
        name: &body[..eq],
        value: &body[eq + 1..],
    })
}

/// Decodes one line into a field.
fn decode_line(line: &Line<'_>) -> Result<Field, DecodeError> {
    if !valid_name(line.name) || line.value.is_empty() {
        return Err(DecodeError::BadField);
    }
    let name = std::str::from_utf8(line.name)
        .map_err(|_| DecodeError::BadField)?
        .to_string();
    let value = match line.type_digit {
        None => {
            let mut v = line.value.to_vec();
            if v.contains(&0x13) {
                v.iter_mut()
                    .filter(|b| **b == 0x13)
                    .for_each(|b| *b = b'\n');
            }
            Value::Str(v)
        }
        Some(b'1') => Value::Bin(base64::decode(line.value).ok_or(DecodeError::BadField)?),
        // `(0)` is rejected by the original; 2..9 are never used in v1.
        Some(b'0') => return Err(DecodeError::BadField),
        Some(_) => return Err(DecodeError::UnsupportedType),
    };
    Ok(Field { name, value })
}

/// Parses a classic packet without authenticating it.
pub fn parse(bytes: &[u8]) -> Result<Message, DecodeError> {
    let mut msg = Message {
        fields: Vec::with_capacity(16),
    };
    for line in Lines::new(bytes)? {
        msg.fields.push(decode_line(&line?)?);
    }
    Ok(msg)
}

/// Checks the first `auth` field against the other lines, with that index's own key.
pub(crate) fn verify(bytes: &[u8], keys: KeySource<'_>) -> Result<(), DecodeError> {
    // Pass 1: framing, and the first `auth` line.
    let mut auth: Option<&[u8]> = None;
    let mut auth_is_string = false;
    for line in Lines::new(bytes)? {
        let line = line?;
        if auth.is_none() && line.name == AUTH_FIELD.as_bytes() {
            auth = Some(line.value);
            auth_is_string = line.type_digit.is_none();
        }
    }
    let value = auth.ok_or(DecodeError::NoAuth)?;
    if !auth_is_string {
        return Err(DecodeError::BadAuth);
    }
    let (index, token) = parse_auth_value(value).ok_or(DecodeError::BadAuth)?;
    // Pass 2: digest every other line as received.
    let mut digest = keys.digester(index)?;
    for line in Lines::new(bytes)? {
        let line = line?;
        if line.name != AUTH_FIELD.as_bytes() {
            digest.update(line.raw);
        }
    }
    if digest.verify(token) {
        Ok(())
    } else {
        Err(DecodeError::BadAuth)
    }
}

/// Whether a string value can be sent (see `rules::valid_str_value`).
pub fn can_carry(field: &Field) -> bool {
    match &field.value {
        Value::Str(v) => valid_str_value(v),
        Value::Bin(v) => !v.is_empty(),
    }
}
