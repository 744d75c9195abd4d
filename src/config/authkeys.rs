//! `authkeys` parser (spec §3.1): `auth N` selects the sending key, `N method [key]` lines
//! define keys (all accepted on receive, for rolling key changes).

use std::collections::BTreeMap;
use std::path::Path;

use super::error::Diagnostics;
use super::model::{AuthKey, AuthKeys, AuthMethod};

const CRC_HINT: &str = "authkeys has no trailing comments: '#' after 'crc' is read as a key; \
put the comment on its own line";

/// Parses `authkeys` text. Returns the keys when the file is usable; problems go to `diags`.
pub fn parse(text: &str, file: &Path, diags: &mut Diagnostics) -> Option<AuthKeys> {
    parse_bytes(text.as_bytes(), file, diags)
}

/// C's `isspace` in the C locale: how the original splits an authkeys line (`%d %s %s`).
fn c_space(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Parses `authkeys` as bytes. A key is taken byte for byte, as the original reads it: a key
/// that is not UTF-8 (or holds a non-ASCII space) is kept exactly, so that both nodes sign with
/// the same bytes.
pub fn parse_bytes(bytes: &[u8], file: &Path, diags: &mut Diagnostics) -> Option<AuthKeys> {
    let mut auth: Option<(u8, usize)> = None;
    let mut keys: BTreeMap<u8, AuthKey> = BTreeMap::new();
    let mut key_lines: BTreeMap<u8, usize> = BTreeMap::new();
    let errors_before = diags.errors.len();
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for (i, raw_bytes) in lines.into_iter().enumerate() {
        let n = i + 1;
        let raw_bytes = raw_bytes.strip_suffix(b"\r").unwrap_or(raw_bytes);
        let raw_words: Vec<&[u8]> = raw_bytes.split(c_space).filter(|w| !w.is_empty()).collect();
        let raw_text = String::from_utf8_lossy(raw_bytes);
        let raw: &str = &raw_text;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with('a') {
            match words.as_slice() {
                ["auth", idx, rest @ ..] => match idx.parse::<u8>().ok().filter(|v| *v <= 15) {
                    Some(v) => {
                        if !rest.is_empty() {
                            // The original reads `auth %d` and ignores the rest: so do we.
                            diags.warn(
                                file,
                                n,
                                raw,
                                "text after 'auth N' is ignored".into(),
                                "put comments on their own line",
                            );
                        }
                        if let Some((_, first)) = auth {
                            diags.error(
                                file,
                                n,
                                raw,
                                format!("second auth line (first on line {first})"),
                                "keep one 'auth N' line",
                            );
                        } else {
                            auth = Some((v, n));
                        }
                    }
                    None => diags.error(
                        file,
                        n,
                        raw,
                        format!("invalid auth index '{idx}'"),
                        "auth N with N between 0 and 15",
                    ),
                },
                _ => diags.error(
                    file,
                    n,
                    raw,
                    "invalid auth line".into(),
                    "write 'auth N' with N the index of the key to send with",
                ),
            }
            continue;
        }
        key_line(
            file,
            n,
            raw,
            &words,
            &raw_words,
            &mut keys,
            &mut key_lines,
            diags,
        );
    }
    match auth {
        None => diags.error(
            file,
            0,
            "",
            "missing 'auth N' line".into(),
            "add 'auth 1' naming the key to send with",
        ),
        Some((idx, line)) => match key_lines.get(&idx) {
            None => diags.error(
                file,
                line,
                &format!("auth {idx}"),
                format!("auth {idx} names no key"),
                &format!("add a line '{idx} sha1 SECRET'"),
            ),
            Some(&key_line) if key_line < line => diags.warn(
                file,
                line,
                &format!("auth {idx}"),
                format!("auth {idx} comes after its key (line {key_line})"),
                "heartbeat 3.0.6 refuses this order: put the auth line first",
            ),
            Some(_) => {}
        },
    }
    if let Some(k) = auth.and_then(|(idx, _)| keys.get(&idx))
        && k.method == AuthMethod::Crc
    {
        diags.warn(
            file,
            auth.map(|(_, l)| l).unwrap_or(0),
            "",
            "sending with crc: it authenticates nothing".into(),
            "use sha1 with a long random key",
        );
    }
    if diags.errors.len() > errors_before {
        return None;
    }
    let (send_index, _) = auth?;
    Some(AuthKeys { send_index, keys })
}

#[allow(clippy::too_many_arguments)]
fn key_line(
    file: &Path,
    n: usize,
    raw: &str,
    words: &[&str],
    raw_words: &[&[u8]],
    keys: &mut BTreeMap<u8, AuthKey>,
    key_lines: &mut BTreeMap<u8, usize>,
    diags: &mut Diagnostics,
) {
    let [idx, method, rest @ ..] = words else {
        diags.error(
            file,
            n,
            raw,
            "key line needs an index and a method".into(),
            "N crc|md5|sha1 [KEY]",
        );
        return;
    };
    let Some(idx) = idx.parse::<u8>().ok().filter(|v| *v <= 15) else {
        diags.error(
            file,
            n,
            raw,
            format!("invalid key index '{idx}'"),
            "the index is 0-15",
        );
        return;
    };
    let method = match method.to_ascii_lowercase().as_str() {
        "crc" => AuthMethod::Crc,
        "md5" => AuthMethod::Md5,
        "sha1" => AuthMethod::Sha1,
        _ => {
            diags.error(
                file,
                n,
                raw,
                format!("unknown authentication method '{method}'"),
                "crc, md5 or sha1 (sha1 recommended)",
            );
            return;
        }
    };
    let secret = match (method, rest) {
        (AuthMethod::Crc, []) => {
            diags.warn(
                file,
                n,
                raw,
                "crc authenticates nothing: anyone on the link can forge packets".into(),
                "use sha1 with a long random key",
            );
            Vec::new()
        }
        (AuthMethod::Crc, _) => {
            let hint = if rest[0].starts_with('#') {
                CRC_HINT
            } else {
                "crc takes no key"
            };
            diags.error(file, n, raw, "crc does not use a key".into(), hint);
            return;
        }
        (_, []) => {
            diags.error(
                file,
                n,
                raw,
                format!("method {} needs a key", method_name(method)),
                "N sha1 SECRET (one word, no spaces)",
            );
            return;
        }
        (_, [key, extra @ ..]) => {
            if key.starts_with('#') {
                diags.warn(
                    file,
                    n,
                    raw,
                    "the key starts with '#'".into(),
                    "authkeys has no trailing comments: this is the key, not a comment",
                );
            }
            if !extra.is_empty() && raw_words.len() > 3 {
                diags.warn(
                    file,
                    n,
                    raw,
                    "text after the key is ignored".into(),
                    "a key is one word; put comments on their own line",
                );
            }
            // The bytes as written, split as the original splits them.
            raw_words
                .get(2)
                .map(|k| k.to_vec())
                .unwrap_or_else(|| key.as_bytes().to_vec())
        }
    };
    if let Some(first) = key_lines.get(&idx) {
        diags.error(
            file,
            n,
            raw,
            format!("key {idx} defined twice (first on line {first})"),
            "each index once",
        );
        return;
    }
    key_lines.insert(idx, n);
    keys.insert(idx, AuthKey { method, secret });
}

pub fn method_name(m: AuthMethod) -> &'static str {
    match m {
        AuthMethod::Crc => "crc",
        AuthMethod::Md5 => "md5",
        AuthMethod::Sha1 => "sha1",
    }
}

/// Refuses a key file readable or writable by group or others (spec §3.1, stricter on write).
pub fn check_mode(file: &Path, mode: u32, diags: &mut Diagnostics) {
    if mode & 0o066 != 0 {
        diags.error(
            file,
            0,
            "",
            format!(
                "mode {:03o}: the key file is readable or writable by group or others",
                mode & 0o777
            ),
            &format!("chmod 600 {}", file.display()),
        );
    }
}

#[cfg(test)]
mod byte_keys {
    use super::*;

    fn key_of(bytes: &[u8]) -> Vec<u8> {
        let mut d = Diagnostics::default();
        let k = parse_bytes(bytes, Path::new("authkeys"), &mut d).expect("valid");
        k.keys[&1].secret.clone()
    }

    #[test]
    fn keys_are_kept_byte_for_byte() {
        // Latin-1 bytes (not UTF-8) used to become U+FFFD: both nodes then signed with
        // different keys than a 3.0.6 peer reading the same file.
        assert_eq!(key_of(b"auth 1\n1 sha1 s\xe9cr\xe8t\n"), b"s\xe9cr\xe8t");
        // A non-ASCII space (UTF-8 NBSP) is part of the key for the original's %s.
        assert_eq!(
            key_of("auth 1\n1 md5 a\u{a0}b\n".as_bytes()),
            "a\u{a0}b".as_bytes()
        );
        // CRLF line ends and a vertical tab separate as in C.
        assert_eq!(key_of(b"auth 1\r\n1 sha1\x0bkey\r\n"), b"key");
    }
}
