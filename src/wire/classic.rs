//! The classic text format (spec §1.3): `>>>\n`, one `[(t)]name=value\n` line per field,
//! `<<<\n`, NUL. String values carry LF as 0x13; binary values are base64.
//!
//! The parser is total and bounds-checked. Verification (spec §3.2) hashes the received lines
//! themselves (skipping `auth` lines): since decoding accepts only canonical forms, those bytes
//! are exactly the text the original recomputes, and no structure is built before the
//! authenticator has been checked.
//!
//! [`decode_verified`] walks the lines once: the framing pass remembers where each line and its
//! `=` are (up to [`INDEXED_LINES`] lines, on the stack), the digest is fed the runs of adjacent
//! non-`auth` lines as whole slices, and the fields are then built from the remembered
//! positions. Longer packets fall back to re-scanning, with the same result.

use super::base64;
use super::error::DecodeError;
use super::keyring::KeySource;
use super::message::{Field, Message, Value};
use super::rules::{AUTH_FIELD, name_string, parse_auth_value, valid_split_name, valid_str_value};
use super::scan::first_of;

pub const START: &[u8] = b">>>\n";
pub const END: &[u8] = b"<<<\n";

/// Lines whose positions one framing pass keeps (a status message has about a dozen).
const INDEXED_LINES: usize = 40;

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

/// Where one field line of a received packet is: `bytes[start..=lf]` is the whole line (what
/// the digest covers), `bytes[name..eq]` its name, `bytes[eq + 1..lf]` its value. A `(d)`
/// prefix occupies `bytes[start..name]`.
#[derive(Clone, Copy, Default)]
struct Span {
    start: usize,
    name: usize,
    eq: usize,
    lf: usize,
}

impl Span {
    fn name(self, bytes: &[u8]) -> &[u8] {
        &bytes[self.name..self.eq]
    }

    fn value(self, bytes: &[u8]) -> &[u8] {
        &bytes[self.eq + 1..self.lf]
    }

    /// The type digit of a `(d)` prefix, if any.
    fn type_digit(self, bytes: &[u8]) -> Option<u8> {
        (self.name != self.start).then(|| bytes[self.start + 1])
    }

    fn is_auth(self, bytes: &[u8]) -> bool {
        self.name(bytes) == AUTH_FIELD.as_bytes()
    }
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

impl Iterator for Lines<'_> {
    type Item = Result<Span, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let skip = rest.iter().take_while(|&&b| b == b'\n').count();
        let rest = &rest[skip..];
        let start = self.pos + skip;
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
        self.pos = start + len + 1;
        Some(split_line(&rest[..len], start).inspect_err(|_| self.done = true))
    }
}

/// Splits the line `text` (without its LF), found at `start`, at its first `=`.
fn split_line(text: &[u8], start: usize) -> Result<Span, DecodeError> {
    let prefix = match text {
        [b'(', d, b')', ..] if d.is_ascii_digit() => 3,
        _ => 0,
    };
    let eq = text[prefix..]
        .iter()
        .position(|&b| b == b'=')
        .ok_or(DecodeError::BadField)?;
    Ok(Span {
        start,
        name: start + prefix,
        eq: start + prefix + eq,
        lf: start + text.len(),
    })
}

/// Decodes one line and appends it to `fields` (built in place: returning a `Result<Field>`
/// through memory costs a store-forwarding stall per field). `text`, when given, is the packet up to at least the end of
/// this line, already checked to be UTF-8: the name is then sliced from it instead of being
/// validated on its own (a slice of valid UTF-8 is valid exactly when it starts and ends on
/// character boundaries, which `str::get` checks).
fn decode_line_into(
    fields: &mut Vec<Field>,
    bytes: &[u8],
    text: Option<&str>,
    line: Span,
) -> Result<(), DecodeError> {
    let (name, value) = (line.name(bytes), line.value(bytes));
    // A line holds no LF or NUL and is split at its first `=`.
    if !valid_split_name(name) || value.is_empty() {
        return Err(DecodeError::BadField);
    }
    let name = match text {
        Some(text) => text.get(line.name..line.eq).map(str::to_owned),
        None => name_string(name),
    }
    .ok_or(DecodeError::BadField)?;
    let value = match line.type_digit(bytes) {
        // One copying pass that also undoes the LF escape.
        None => Value::Str(
            value
                .iter()
                .map(|&b| if b == 0x13 { b'\n' } else { b })
                .collect(),
        ),
        Some(b'1') => Value::Bin(base64::decode(value).ok_or(DecodeError::BadField)?),
        // `(0)` is rejected by the original; 2..9 are never used in v1.
        Some(b'0') => return Err(DecodeError::BadField),
        Some(_) => return Err(DecodeError::UnsupportedType),
    };
    fields.push(Field { name, value });
    Ok(())
}

/// Parses a classic packet without authenticating it.
pub fn parse(bytes: &[u8]) -> Result<Message, DecodeError> {
    let mut msg = Message {
        fields: Vec::with_capacity(16),
    };
    for line in Lines::new(bytes)? {
        decode_line_into(&mut msg.fields, bytes, None, line?)?;
    }
    Ok(msg)
}

/// The result of one framing pass: the first `auth` line and, for packets of up to
/// `INDEXED_LINES` lines, where every line is.
struct Layout {
    lines: [Span; INDEXED_LINES],
    /// Number of lines (all of them, even beyond `INDEXED_LINES`).
    count: usize,
    auth: Option<Span>,
}

impl Layout {
    fn new() -> Self {
        Layout {
            lines: [Span::default(); INDEXED_LINES],
            count: 0,
            auth: None,
        }
    }

    /// Checks the whole framing (every error a framing pass can find comes before any
    /// authentication error, as with a separate pass). Fills `self` in place: it is too big to
    /// move around cheaply.
    fn scan(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        for line in Lines::new(bytes)? {
            let line = line?;
            if let Some(slot) = self.lines.get_mut(self.count) {
                *slot = line;
            }
            self.count += 1;
            if self.auth.is_none() && line.is_auth(bytes) {
                self.auth = Some(line);
            }
        }
        Ok(())
    }

    /// The remembered lines, or `None` when there were too many to remember.
    fn indexed(&self) -> Option<&[Span]> {
        self.lines.get(..self.count)
    }
}

/// Feeds the digest whole runs of adjacent lines instead of one line at a time.
struct Coalescer<'a, F: FnMut(&[u8])> {
    bytes: &'a [u8],
    run: Option<(usize, usize)>,
    feed: F,
}

impl<'a, F: FnMut(&[u8])> Coalescer<'a, F> {
    fn new(bytes: &'a [u8], feed: F) -> Self {
        Coalescer {
            bytes,
            run: None,
            feed,
        }
    }

    fn push(&mut self, line: Span) {
        let (start, end) = (line.start, line.lf + 1);
        match &mut self.run {
            Some((_, run_end)) if *run_end == start => *run_end = end,
            run => {
                if let Some((s, e)) = run.replace((start, end)) {
                    (self.feed)(&self.bytes[s..e]);
                }
            }
        }
    }

    fn finish(mut self) {
        if let Some((s, e)) = self.run.take() {
            (self.feed)(&self.bytes[s..e]);
        }
    }
}

/// Checks the first `auth` field against the other lines, with that index's own key.
fn verify_layout(bytes: &[u8], layout: &Layout, keys: KeySource<'_>) -> Result<(), DecodeError> {
    let auth = layout.auth.ok_or(DecodeError::NoAuth)?;
    if auth.type_digit(bytes).is_some() {
        return Err(DecodeError::BadAuth);
    }
    let (index, token) = parse_auth_value(auth.value(bytes)).ok_or(DecodeError::BadAuth)?;
    let mut digest = keys.digester(index)?;
    let mut feed = Coalescer::new(bytes, |run| digest.update(run));
    match layout.indexed() {
        Some(lines) => lines
            .iter()
            .filter(|l| !l.is_auth(bytes))
            .for_each(|&l| feed.push(l)),
        // Framing was checked by `Layout::scan`: this walk sees the same lines.
        None => Lines::new(bytes)?
            .flatten()
            .filter(|l| !l.is_auth(bytes))
            .for_each(|l| feed.push(l)),
    }
    feed.finish();
    if digest.verify(token) {
        Ok(())
    } else {
        Err(DecodeError::BadAuth)
    }
}

/// Authenticates then decodes a classic packet: one framing pass, the digest, then the fields.
pub(crate) fn decode_verified(bytes: &[u8], keys: KeySource<'_>) -> Result<Message, DecodeError> {
    let mut layout = Layout::new();
    layout.scan(bytes)?;
    verify_layout(bytes, &layout, keys)?;
    match layout.indexed() {
        Some(lines) => {
            // One UTF-8 check of all the lines instead of one per name (usually all ASCII).
            let text = lines
                .last()
                .and_then(|last| std::str::from_utf8(&bytes[..=last.lf]).ok());
            let mut msg = Message {
                fields: Vec::with_capacity(lines.len()),
            };
            for &line in lines {
                decode_line_into(&mut msg.fields, bytes, text, line)?;
            }
            Ok(msg)
        }
        None => parse(bytes),
    }
}

/// Whether a string value can be sent (see `rules::valid_str_value`).
pub fn can_carry(field: &Field) -> bool {
    match &field.value {
        Value::Str(v) => valid_str_value(v),
        Value::Bin(v) => !v.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::model::{AuthKey, AuthKeys, AuthMethod, MsgFmt};
    use crate::wire::codec::encode_with_key;

    fn keys() -> AuthKeys {
        let mut keys = BTreeMap::new();
        for (index, method) in [
            (1, AuthMethod::Sha1),
            (2, AuthMethod::Md5),
            (3, AuthMethod::Crc),
        ] {
            let secret = b"somesecret".to_vec();
            keys.insert(index, AuthKey { method, secret });
        }
        AuthKeys {
            send_index: 1,
            keys,
        }
    }

    /// The decoder before the single-pass layout: a framing pass for the first `auth` line, a
    /// second pass feeding every other line to the digest one by one, then a third to parse.
    fn reference_decode(bytes: &[u8], keys: KeySource<'_>) -> Result<Message, DecodeError> {
        let mut auth = None;
        for line in Lines::new(bytes)? {
            let line = line?;
            if auth.is_none() && line.is_auth(bytes) {
                auth = Some(line);
            }
        }
        let auth = auth.ok_or(DecodeError::NoAuth)?;
        if auth.type_digit(bytes).is_some() {
            return Err(DecodeError::BadAuth);
        }
        let (index, token) = parse_auth_value(auth.value(bytes)).ok_or(DecodeError::BadAuth)?;
        let mut digest = keys.digester(index)?;
        for line in Lines::new(bytes)? {
            let line = line?;
            if !line.is_auth(bytes) {
                digest.update(&bytes[line.start..=line.lf]);
            }
        }
        if !digest.verify(token) {
            return Err(DecodeError::BadAuth);
        }
        parse(bytes)
    }

    fn message(fields: usize, extra_auth_every: usize) -> Message {
        let mut m = Message::new("status");
        for i in 0..fields {
            m.push(&format!("f{i}"), format!("v{i}\nnext"));
            if extra_auth_every != 0 && i % extra_auth_every == 0 {
                m.push("auth", "9 not-the-first");
            }
        }
        m.push_bin("srcuuid", [0x66; 16]);
        m
    }

    /// Packets on both sides of `INDEXED_LINES`, with extra `auth` lines and empty lines (both
    /// break the runs fed to the digest), signed with each method.
    fn packets(sizes: &[usize], indexes: &[u8]) -> Vec<Vec<u8>> {
        let keys = keys();
        let mut out = Vec::new();
        for &fields in sizes {
            for auth_every in [0, 4] {
                for &index in indexes {
                    let m = message(fields, auth_every);
                    let key = &keys.keys[&index];
                    let p = encode_with_key(&m, index, key, MsgFmt::Classic).unwrap();
                    out.push(p.clone());
                    // Empty lines after the start marker and in the middle.
                    let mut q = p[..START.len()].to_vec();
                    q.extend_from_slice(b"\n\n");
                    let mid = p.len() / 2;
                    let cut = mid + p[mid..].iter().position(|&b| b == b'\n').unwrap() + 1;
                    q.extend_from_slice(&p[START.len()..cut]);
                    q.push(b'\n');
                    q.extend_from_slice(&p[cut..]);
                    out.push(q);
                }
            }
        }
        out
    }

    #[test]
    fn every_layout_verifies_and_decodes_as_parse() {
        let keys = keys();
        let sizes = [0, 5, INDEXED_LINES - 3, INDEXED_LINES, INDEXED_LINES + 7];
        for p in packets(&sizes, &[1, 2, 3]) {
            let fast = decode_verified(&p, KeySource::Keys(&keys));
            assert_eq!(fast, reference_decode(&p, KeySource::Keys(&keys)));
            assert_eq!(fast.unwrap(), parse(&p).unwrap());
        }
    }

    #[test]
    fn same_verdict_as_the_reference_for_every_one_byte_change() {
        let keys = keys();
        let ring = crate::wire::KeyRing::new(&keys);
        let replacements = [b'\n', 0, b'=', b'x', b'(', b'1', 0x13, 0xc3];
        let mut rejected = 0usize;
        // Small and over-long packets (both paths), sha1 only: the digest is not what differs.
        for p in packets(&[3, INDEXED_LINES + 2], &[1]) {
            for pos in 0..p.len() {
                let mut variants = Vec::new();
                for &r in &replacements {
                    let mut q = p.clone();
                    q[pos] = r;
                    variants.push(q);
                }
                let mut deleted = p.clone();
                deleted.remove(pos);
                variants.push(deleted);
                for q in variants {
                    let expected = reference_decode(&q, KeySource::Keys(&keys));
                    assert_eq!(decode_verified(&q, KeySource::Keys(&keys)), expected);
                    assert_eq!(decode_verified(&q, KeySource::Ring(&ring)), expected);
                    rejected += usize::from(expected.is_err());
                }
            }
        }
        // Most changes must be rejected (a change after `<<<\n` or a no-op is not).
        assert!(rejected > 5_000, "{rejected}");
    }

    /// A classic packet of `lines` (each with its LF), signed with sha1 key 1 whatever they hold.
    fn signed(lines: &[&[u8]]) -> Vec<u8> {
        let keys = keys();
        let mut digest = crate::wire::auth::Digester::new(&keys.keys[&1]);
        let mut p = START.to_vec();
        for line in lines {
            digest.update(line);
            p.extend_from_slice(line);
        }
        p.extend_from_slice(b"auth=1 ");
        p.extend_from_slice(digest.finish().as_bytes());
        p.extend_from_slice(b"\n<<<\n\0");
        p
    }

    #[test]
    fn names_are_checked_as_utf8_with_or_without_the_whole_text() {
        let keys = keys();
        let decode = |p: &[u8]| decode_verified(p, KeySource::Keys(&keys));
        // All valid UTF-8: names are sliced from the checked text.
        let m = decode(&signed(&[b"t=x\n", "\u{e9}t\u{e9}=\u{e9}\n".as_bytes()])).unwrap();
        assert_eq!(m.fields[1].name, "\u{e9}t\u{e9}");
        assert_eq!(m.fields[1].value, Value::Str("\u{e9}".as_bytes().to_vec()));
        // Invalid UTF-8 in a value only: names are checked one by one and pass.
        let m = decode(&signed(&[b"t=x\n", b"\xc3\xa9=\xff\xfe\n"])).unwrap();
        assert_eq!(m.fields[1].name, "\u{e9}");
        // A name cut in the middle of a character, or not UTF-8 at all, is a bad field.
        for bad in [&b"\xc3=v\n"[..], b"a\xc3=v\n", b"\xff=v\n", b"\xa9x=v\n"] {
            let p = signed(&[b"t=x\n", bad]);
            assert_eq!(decode(&p), Err(DecodeError::BadField), "{bad:?}");
            assert_eq!(decode(&p), reference_decode(&p, KeySource::Keys(&keys)));
        }
    }
}
