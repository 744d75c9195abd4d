//! The public codec: `decode_verified`, `decode_unverified`, `encode` (spec §1, §3).
//!
//! Decoding authenticates before building any structure: for netstring the trailer is checked
//! over the raw bytes, for classic the `auth` line against the other raw lines. Each key index is
//! verified with its own method and key (the original's netstring path uses its own sending key,
//! spec §13 item 4). Encoding produces classic packets byte for byte as 2.1.3 does, or netstring
//! packets as 3.0.6 does (inner classic `auth` field plus trailer), so any real peer accepts both.

use super::auth::{Digester, HexDigest};
use super::classic;
use super::error::{DecodeError, EncodeError};
use super::keyring::KeySource;
use super::message::{Field, Message, Value};
use super::netstring;
use super::rules::{AUTH_FIELD, MAX_PACKET, parse_auth_value, valid_name};
use crate::config::model::{AuthKey, AuthKeys, MsgFmt};

/// The framing of a received packet (the same choice as `msgfmt`).
pub type Format = MsgFmt;

/// Which framing `bytes` claims, from its first byte.
fn sniff(bytes: &[u8]) -> Result<Format, DecodeError> {
    if bytes.len() > MAX_PACKET {
        return Err(DecodeError::TooLarge);
    }
    match bytes.first() {
        Some(b'>') => Ok(MsgFmt::Classic),
        Some(b'#') => Ok(MsgFmt::Netstring),
        Some(_) => Err(DecodeError::BadFraming),
        None => Err(DecodeError::Truncated),
    }
}

/// Authenticates then decodes a received datagram.
pub fn decode_verified(bytes: &[u8], keys: &AuthKeys) -> Result<Message, DecodeError> {
    decode_with(bytes, KeySource::Keys(keys))
}

impl super::keyring::KeyRing {
    /// Same as `wire::decode_verified`, without re-keying the HMAC for every packet.
    pub fn decode_verified(&self, bytes: &[u8]) -> Result<Message, DecodeError> {
        decode_with(bytes, KeySource::Ring(self))
    }
}

pub(crate) fn decode_with(bytes: &[u8], keys: KeySource<'_>) -> Result<Message, DecodeError> {
    match sniff(bytes)? {
        MsgFmt::Classic => classic::decode_verified(bytes, keys),
        MsgFmt::Netstring => {
            let layout = netstring::scan(bytes)?;
            let (start, end) = layout.trailer.ok_or(DecodeError::NoAuth)?;
            let (index, token) =
                parse_auth_value(&bytes[start..end]).ok_or(DecodeError::BadAuth)?;
            let mut digest = keys.digester(index)?;
            digest.update(&bytes[..layout.signed_end]);
            if !digest.verify(token) {
                return Err(DecodeError::BadAuth);
            }
            netstring::parse_fields(bytes, &layout)
        }
    }
}

/// Decodes without authenticating (tools, tests, packet dumps). A netstring trailer, if any,
/// must be well-framed but is not checked.
pub fn decode_unverified(bytes: &[u8]) -> Result<(Message, Format), DecodeError> {
    let fmt = sniff(bytes)?;
    let msg = match fmt {
        MsgFmt::Classic => classic::parse(bytes)?,
        MsgFmt::Netstring => netstring::parse_fields(bytes, &netstring::scan(bytes)?)?,
    };
    Ok((msg, fmt))
}

/// Signs with the `auth N` key and frames. The `auth` field is computed over every other field
/// (classic rendering, in order) and replaces the first `auth` field in place, or is appended.
pub fn encode(msg: &Message, keys: &AuthKeys, fmt: MsgFmt) -> Result<Vec<u8>, EncodeError> {
    let key = keys.send_key().ok_or(EncodeError::NoSendKey)?;
    encode_with_key(msg, keys.send_index, key, fmt)
}

/// `encode` with an explicit key (tests, key roll-over tools).
pub fn encode_with_key(
    msg: &Message,
    index: u8,
    key: &AuthKey,
    fmt: MsgFmt,
) -> Result<Vec<u8>, EncodeError> {
    check_fields(msg, fmt)?;
    let auth_value = classic_auth_value(msg, index, key);
    let auth = Value::Str(auth_value);
    let out = match fmt {
        MsgFmt::Classic => {
            let mut out = Vec::with_capacity(256);
            out.extend_from_slice(classic::START);
            for_each_with_auth(msg, &auth, |f| classic::write_line(&mut out, f));
            out.extend_from_slice(classic::END);
            out.push(0);
            out
        }
        MsgFmt::Netstring => {
            let mut out = Vec::with_capacity(320);
            out.extend_from_slice(netstring::START);
            for_each_with_auth(msg, &auth, |f| {
                netstring::write_field(&mut out, &f.name, &f.value)
            });
            out.extend_from_slice(netstring::END);
            let trailer = sign_value(index, &{
                let mut d = Digester::new(key);
                d.update(&out);
                d.finish()
            });
            netstring::write_netstring(&mut out, &trailer);
            out
        }
    };
    if out.len() > MAX_PACKET {
        return Err(EncodeError::TooLarge);
    }
    Ok(out)
}

/// Refuses what a real peer would reject (spec §1.2) or what `fmt` cannot carry: the same rules
/// the decoder of that format applies, so whatever it accepts can be re-encoded.
fn check_fields(msg: &Message, fmt: MsgFmt) -> Result<(), EncodeError> {
    for f in &msg.fields {
        if !valid_name(f.name.as_bytes()) {
            return Err(EncodeError::BadName);
        }
        let v = match &f.value {
            Value::Str(v) | Value::Bin(v) => v,
        };
        if v.is_empty() {
            return Err(EncodeError::EmptyValue);
        }
        let carried = match fmt {
            MsgFmt::Classic => classic::can_carry(f),
            MsgFmt::Netstring => netstring::can_carry(f),
        };
        if !carried {
            return Err(EncodeError::BadValue);
        }
    }
    Ok(())
}

/// `"<index> <digest>"` over the classic text of every non-`auth` field (spec §3.2).
fn classic_auth_value(msg: &Message, index: u8, key: &AuthKey) -> Vec<u8> {
    let mut digest = Digester::new(key);
    let mut line = Vec::with_capacity(64);
    for f in msg.fields.iter().filter(|f| f.name != AUTH_FIELD) {
        line.clear();
        classic::write_line(&mut line, f);
        digest.update(&line);
    }
    sign_value(index, &digest.finish())
}

fn sign_value(index: u8, digest: &HexDigest) -> Vec<u8> {
    let mut v = Vec::with_capacity(44);
    v.extend_from_slice(index.to_string().as_bytes());
    v.push(b' ');
    v.extend_from_slice(digest.as_bytes());
    v
}

/// Calls `emit` for every field in order, substituting the first `auth` field's value with
/// `auth` (or appending an `auth` field when there is none).
fn for_each_with_auth(msg: &Message, auth: &Value, mut emit: impl FnMut(&Field)) {
    let mut placed = false;
    for f in &msg.fields {
        if !placed && f.name == AUTH_FIELD {
            placed = true;
            emit(&Field {
                name: AUTH_FIELD.to_string(),
                value: auth.clone(),
            });
        } else {
            emit(f);
        }
    }
    if !placed {
        emit(&Field {
            name: AUTH_FIELD.to_string(),
            value: auth.clone(),
        });
    }
}
