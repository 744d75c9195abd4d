//! The netstring format (spec §1.4): `###\n`, `LEN:(t)name=value,` per field, `%%%\n`, then the
//! trailer `LEN:N digest,` whose digest covers everything before it.
//!
//! `scan` walks only the length prefixes (no allocation) so the trailer can be verified over the
//! raw bytes before any field is decoded; `parse_fields` then builds the message.

use std::io::Write;

use super::error::DecodeError;
use super::message::{Field, Message, Value};
use super::rules::{name_string, valid_raw_str_value, valid_split_name};
use super::scan::first_of;

pub const START: &[u8] = b"###\n";
pub const END: &[u8] = b"%%%\n";

/// Digits of a length: a packet is at most 262143 bytes, so six digits always suffice.
const MAX_LEN_DIGITS: usize = 6;

/// Where the parts of a netstring packet are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Index just past `%%%\n`: the trailer digest covers `bytes[..signed_end]`.
    pub signed_end: usize,
    /// Payload of the trailer netstring (`N digest`), if present.
    pub trailer: Option<(usize, usize)>,
    /// Number of field netstrings (to size the message once).
    pub fields: usize,
}

/// Reads one netstring at `pos`; returns its payload range and the index after its comma.
fn read_netstring(bytes: &[u8], pos: usize) -> Result<(usize, usize, usize), DecodeError> {
    let rest = bytes.get(pos..).unwrap_or_default();
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(if rest.is_empty() {
            DecodeError::Truncated
        } else {
            DecodeError::BadFraming
        });
    }
    if digits > MAX_LEN_DIGITS {
        return Err(DecodeError::BadFraming);
    }
    let len = rest[..digits]
        .iter()
        .fold(0usize, |acc, d| acc * 10 + usize::from(d - b'0'));
    match rest.get(digits) {
        None => return Err(DecodeError::Truncated),
        Some(b':') => {}
        Some(_) => return Err(DecodeError::BadFraming),
    }
    let start = pos + digits + 1;
    let end = start + len;
    match bytes.get(end) {
        None => Err(DecodeError::Truncated),
        Some(b',') => Ok((start, end, end + 1)),
        Some(_) => Err(DecodeError::BadFraming),
    }
}

/// Checks the framing and locates the signed part and the trailer.
pub fn scan(bytes: &[u8]) -> Result<Layout, DecodeError> {
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
    let mut pos = START.len();
    let mut fields = 0;
    loop {
        let rest = &bytes[pos..];
        if rest.starts_with(END) {
            break;
        }
        if rest.len() < END.len() && END.starts_with(rest) {
            return Err(DecodeError::Truncated);
        }
        let (_, _, next) = read_netstring(bytes, pos)?;
        pos = next;
        fields += 1;
    }
    let signed_end = pos + END.len();
    if signed_end == bytes.len() {
        return Ok(Layout {
            signed_end,
            trailer: None,
            fields,
        });
    }
    let (start, end, next) = read_netstring(bytes, signed_end)?;
    // Nothing may follow the trailer but one NUL (a C-string sender's terminator).
    if next != bytes.len() && &bytes[next..] != b"\0" {
        return Err(DecodeError::BadFraming);
    }
    Ok(Layout {
        signed_end,
        trailer: Some((start, end)),
        fields,
    })
}

/// Decodes the fields of a packet whose layout `scan` returned.
pub fn parse_fields(bytes: &[u8], layout: &Layout) -> Result<Message, DecodeError> {
    let body_end = layout.signed_end - END.len();
    let mut msg = Message {
        fields: Vec::with_capacity(layout.fields),
    };
    let mut pos = START.len();
    while pos < body_end {
        let (start, end, next) = read_netstring(bytes, pos)?;
        decode_field_into(&mut msg.fields, &bytes[start..end])?;
        pos = next;
    }
    Ok(msg)
}

/// `(d)name=value` → a field appended to `fields` (built in place rather than returned through
/// memory). Never panics on any input (the original aborts here, §13 item 1).
fn decode_field_into(fields: &mut Vec<Field>, data: &[u8]) -> Result<(), DecodeError> {
    let (digit, body) = match data {
        [b'(', d, b')', body @ ..] if d.is_ascii_digit() => (*d, body),
        _ => return Err(DecodeError::BadField),
    };
    // One scan to the `=`, stopping early at bytes no name may hold.
    let eq = first_of(body, [b'=', b'\n', 0])
        .filter(|&i| body[i] == b'=')
        .ok_or(DecodeError::BadField)?;
    let (name, value) = (&body[..eq], &body[eq + 1..]);
    if !valid_split_name(name) || value.is_empty() {
        return Err(DecodeError::BadField);
    }
    let name = name_string(name).ok_or(DecodeError::BadField)?;
    let value = match digit {
        b'0' if !valid_raw_str_value(value) => return Err(DecodeError::BadField),
        b'0' => Value::Str(value.to_vec()),
        b'1' => Value::Bin(value.to_vec()),
        _ => return Err(DecodeError::UnsupportedType),
    };
    fields.push(Field { name, value });
    Ok(())
}

/// Whether a field can be sent in a netstring packet (see `rules::valid_raw_str_value`): what
/// `decode_field` accepts, so every decoded netstring message can be encoded again.
pub fn can_carry(field: &Field) -> bool {
    match &field.value {
        Value::Str(v) => valid_raw_str_value(v),
        Value::Bin(v) => !v.is_empty(),
    }
}

/// Appends `LEN:(t)name=value,` for a field, with `value` given separately so the caller can
/// substitute the inner `auth` value.
pub fn write_field(out: &mut Vec<u8>, name: &str, value: &Value) {
    let (digit, bytes) = match value {
        Value::Str(v) => (b'0', v),
        Value::Bin(v) => (b'1', v),
    };
    write_len(out, 3 + name.len() + 1 + bytes.len());
    out.extend_from_slice(&[b':', b'(', digit, b')']);
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    out.extend_from_slice(bytes);
    out.push(b',');
}

/// Appends a netstring of arbitrary payload (the trailer).
pub fn write_netstring(out: &mut Vec<u8>, payload: &[u8]) {
    write_len(out, payload.len());
    out.push(b':');
    out.extend_from_slice(payload);
    out.push(b',');
}

fn write_len(out: &mut Vec<u8>, len: usize) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{len}");
}
