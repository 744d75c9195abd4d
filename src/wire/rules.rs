//! Field rules shared by both formats and both directions (spec §1.2), so that everything we
//! accept can be re-encoded and everything we encode is accepted by a real peer.

/// Largest datagram the original accepts (256 KiB minus the byte for its terminating NUL).
pub const MAX_PACKET: usize = 262_143;

/// Name of the classic authenticator field.
pub const AUTH_FIELD: &str = "auth";

/// Non-empty, no `=`, LF or NUL, and not ambiguous with a marker line or a type prefix.
pub fn valid_name(name: &[u8]) -> bool {
    !name.iter().any(|&b| b == b'=' || b == b'\n' || b == 0) && valid_split_name(name)
}

/// `valid_name` for a name the decoder cut before the first `=` of a line or field in which no
/// LF or NUL precedes that `=`: only the non-byte rules remain to check.
pub fn valid_split_name(name: &[u8]) -> bool {
    !name.is_empty() && !name.starts_with(b">>>") && !name.starts_with(b"<<<") && name[0] != b'('
}

/// A received name as text, or `None` if it is not UTF-8.
pub fn name_string(name: &[u8]) -> Option<String> {
    std::str::from_utf8(name).ok().map(str::to_owned)
}

/// A string value a classic packet can carry: non-empty, no NUL (C string), no 0x13 (it is the
/// escape of LF and would come back as LF).
pub fn valid_str_value(value: &[u8]) -> bool {
    !value.is_empty() && !value.iter().any(|&b| b == 0 || b == 0x13)
}

/// A string value a netstring packet can carry: non-empty and no NUL (C string). 0x13 travels
/// as itself there (only the classic text uses it as the escape of LF), so a netstring message
/// holding 0x13 decodes and re-encodes as netstring, but cannot be sent as classic.
pub fn valid_raw_str_value(value: &[u8]) -> bool {
    !value.is_empty() && !value.contains(&0)
}

/// Parses an authenticator `"<index> <token>"` (index 0..15, decimal, one or two digits).
pub fn parse_auth_value(value: &[u8]) -> Option<(u8, &[u8])> {
    let space = value.iter().position(|&b| b == b' ')?;
    let (digits, rest) = (&value[..space], &value[space + 1..]);
    if digits.is_empty() || digits.len() > 2 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let index = digits.iter().fold(0u8, |acc, d| acc * 10 + (d - b'0'));
    if index > 15 || rest.is_empty() || rest.contains(&b' ') {
        return None;
    }
    Some((index, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name(b"t"));
        assert!(valid_name(b"srcuuid"));
        for bad in [&b""[..], b"a=b", b"a\nb", b">>>x", b"<<<", b"(1)x", b"a\0"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        for split in [&b""[..], b"t", b">>>x", b"<<<", b"(1)x", b"a(", b"<<x"] {
            assert_eq!(valid_split_name(split), valid_name(split), "{split:?}");
        }
    }

    #[test]
    fn name_text() {
        assert_eq!(name_string(b"srcuuid").as_deref(), Some("srcuuid"));
        assert_eq!(
            name_string("\u{e9}t\u{e9}".as_bytes()).as_deref(),
            Some("\u{e9}t\u{e9}")
        );
        for bad in [&b"\xc3"[..], b"a\xff", b"\xa9x"] {
            assert_eq!(name_string(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn auth_values() {
        assert_eq!(parse_auth_value(b"1 abc"), Some((1, &b"abc"[..])));
        assert_eq!(parse_auth_value(b"15 abc"), Some((15, &b"abc"[..])));
        assert_eq!(parse_auth_value(b"16 abc"), None);
        assert_eq!(parse_auth_value(b"1  abc"), None);
        assert_eq!(parse_auth_value(b"1 "), None);
        assert_eq!(parse_auth_value(b" abc"), None);
        assert_eq!(parse_auth_value(b"x abc"), None);
    }
}
