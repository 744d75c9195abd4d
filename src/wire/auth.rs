//! Signing and verifying with one authkeys entry (spec §3.5): HMAC-SHA1, HMAC-MD5 or CRC-32,
//! rendered as lowercase hex (crc without leading zeros). Digests are fed incrementally so the
//! classic text never has to be assembled in memory; verification compares in constant time.

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;

use super::crc::Crc32;
use crate::config::model::{AuthKey, AuthMethod};

/// A digest rendered as the original prints it: at most 40 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexDigest {
    buf: [u8; 40],
    len: usize,
}

impl HexDigest {
    fn from_bytes(bytes: &[u8]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut d = HexDigest {
            buf: [0; 40],
            len: 0,
        };
        for &b in bytes.iter().take(20) {
            d.buf[d.len] = HEX[usize::from(b >> 4)];
            d.buf[d.len + 1] = HEX[usize::from(b & 15)];
            d.len += 2;
        }
        d
    }

    fn from_crc(crc: u32) -> Self {
        // `%x`: no leading zeros, at least one digit.
        let full = HexDigest::from_bytes(&crc.to_be_bytes());
        let skip = full.buf[..7].iter().take_while(|&&c| c == b'0').count();
        let mut d = HexDigest {
            buf: [0; 40],
            len: 8 - skip,
        };
        d.buf[..d.len].copy_from_slice(&full.buf[skip..8]);
        d
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl std::fmt::Debug for HexDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An in-progress digest with one key.
#[derive(Clone)]
pub enum Digester {
    Crc(Crc32),
    Md5(Hmac<Md5>),
    Sha1(Hmac<Sha1>),
}

impl Digester {
    /// Starts a digest with `key`. HMAC accepts keys of any length (long ones are hashed first,
    /// as RFC 2104 and the original do).
    pub fn new(key: &AuthKey) -> Self {
        match key.method {
            AuthMethod::Crc => Digester::Crc(Crc32::new()),
            AuthMethod::Md5 => match Hmac::<Md5>::new_from_slice(&key.secret) {
                Ok(m) => Digester::Md5(m),
                // Unreachable for HMAC (any key length is valid); fall back to the empty key.
                Err(_) => Digester::Md5(Hmac::<Md5>::new(&Default::default())),
            },
            AuthMethod::Sha1 => match Hmac::<Sha1>::new_from_slice(&key.secret) {
                Ok(m) => Digester::Sha1(m),
                Err(_) => Digester::Sha1(Hmac::<Sha1>::new(&Default::default())),
            },
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Digester::Crc(c) => c.update(bytes),
            Digester::Md5(m) => m.update(bytes),
            Digester::Sha1(m) => m.update(bytes),
        }
    }

    /// The digest as the original renders it.
    pub fn finish(self) -> HexDigest {
        match self {
            Digester::Crc(c) => HexDigest::from_crc(c.finish()),
            Digester::Md5(m) => HexDigest::from_bytes(&m.finalize().into_bytes()),
            Digester::Sha1(m) => HexDigest::from_bytes(&m.finalize().into_bytes()),
        }
    }

    /// Whether `token` (the hex text from the packet) is this digest. HMACs are checked with
    /// `Mac::verify_slice` (constant time) after strict lowercase-hex decoding; crc (no secret)
    /// by a constant-time compare of its rendering.
    pub fn verify(self, token: &[u8]) -> bool {
        match self {
            Digester::Crc(c) => ct_eq(HexDigest::from_crc(c.finish()).as_bytes(), token),
            Digester::Md5(m) => match decode_lower_hex::<16>(token) {
                Some(tag) => m.verify_slice(&tag).is_ok(),
                None => false,
            },
            Digester::Sha1(m) => match decode_lower_hex::<20>(token) {
                Some(tag) => m.verify_slice(&tag).is_ok(),
                None => false,
            },
        }
    }
}

/// Digest of one buffer.
pub fn sign(key: &AuthKey, bytes: &[u8]) -> HexDigest {
    let mut d = Digester::new(key);
    d.update(bytes);
    d.finish()
}

/// Constant-time check of `token` against the digest of `bytes`.
pub fn verify(key: &AuthKey, bytes: &[u8], token: &[u8]) -> bool {
    let mut d = Digester::new(key);
    d.update(bytes);
    d.verify(token)
}

/// Exactly `2 * N` lowercase hex digits (the original compares text, so `A` never matches `a`).
/// Table-driven without early exit: one pass, and no branch on the token's content.
fn decode_lower_hex<const N: usize>(token: &[u8]) -> Option<[u8; N]> {
    if token.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(token.chunks_exact(2)) {
        let (hi, lo) = (
            HEX_VALUE[usize::from(pair[0])],
            HEX_VALUE[usize::from(pair[1])],
        );
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    (bad & NOT_HEX == 0).then_some(out)
}

/// Marks a byte that is not a lowercase hex digit in `HEX_VALUE`.
const NOT_HEX: u8 = 0x80;

/// Value of each lowercase hex digit; `NOT_HEX` for every other byte.
const HEX_VALUE: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Length-revealing but otherwise constant-time equality.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(method: AuthMethod, secret: &[u8]) -> AuthKey {
        AuthKey {
            method,
            secret: secret.to_vec(),
        }
    }

    #[test]
    fn crc_renders_without_leading_zeros() {
        assert_eq!(HexDigest::from_crc(0x0d59c7e9).as_str(), "d59c7e9");
        assert_eq!(HexDigest::from_crc(0).as_str(), "0");
        assert_eq!(HexDigest::from_crc(0x765e7680).as_str(), "765e7680");
    }

    #[test]
    fn rfc2202_hmac_sha1_and_md5() {
        let k = key(AuthMethod::Sha1, b"Jefe");
        let d = sign(&k, b"what do ya want for nothing?");
        assert_eq!(d.as_str(), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
        assert!(verify(&k, b"what do ya want for nothing?", d.as_bytes()));
        let k = key(AuthMethod::Md5, b"Jefe");
        let d = sign(&k, b"what do ya want for nothing?");
        assert_eq!(d.as_str(), "750c783e6ab0b503eaa86e310a5db738");
    }

    #[test]
    fn hex_tokens_decode_only_in_lowercase() {
        assert_eq!(decode_lower_hex::<2>(b"0fa9"), Some([0x0f, 0xa9]));
        assert_eq!(decode_lower_hex::<2>(b"ffff"), Some([0xff, 0xff]));
        for bad in [
            &b"0fA9"[..],
            b"0fa",
            b"0fa90",
            b"0fg9",
            b" fa9",
            b"0f\x809",
            b"0f:9",
        ] {
            assert_eq!(decode_lower_hex::<2>(bad), None, "{bad:?}");
        }
        for b in 0..=255u8 {
            let lower_hex = b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
            assert_eq!(
                decode_lower_hex::<1>(&[b, b'0']).is_some(),
                lower_hex,
                "{b}"
            );
            assert_eq!(
                decode_lower_hex::<1>(&[b'0', b]).is_some(),
                lower_hex,
                "{b}"
            );
        }
    }

    #[test]
    fn verify_rejects_uppercase_and_wrong_length() {
        let k = key(AuthMethod::Sha1, b"Jefe");
        let msg = b"what do ya want for nothing?";
        assert!(!verify(
            &k,
            msg,
            b"EFFCDF6AE5EB2FA2D27416D5F184DF9C259A7C79"
        ));
        assert!(!verify(&k, msg, b"effcdf6ae5eb2fa2d27416d5f184df9c259a7c7"));
        assert!(!verify(
            &k,
            msg,
            b"effcdf6ae5eb2fa2d27416d5f184df9c259a7c78"
        ));
    }
}
