//! Standard base64 (RFC 4648 alphabet, `=` padding, no line breaks) for binary fields of the
//! classic format (spec §1.3). Decoding accepts only the canonical form, so the bytes a receiver
//! hashes are exactly those a re-encoding would produce.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Length of the encoding of `n` bytes.
pub fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Appends the encoding of `input` to `out`.
pub fn encode_into(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(encoded_len(input.len()));
    let mut chunks = input.chunks_exact(3);
    for c in &mut chunks {
        let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        out.extend_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = (u32::from(a) << 16) | (u32::from(b) << 8);
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                ALPHABET[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
}

/// The encoding of `input` as a new buffer.
pub fn encode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(input, &mut out);
    out
}

/// Sextet of each alphabet character; `INVALID` for every other byte.
const SEXTETS: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};
const INVALID: u8 = 0xff;

fn sextet(c: u8) -> Option<u32> {
    match SEXTETS[usize::from(c)] {
        INVALID => None,
        v => Some(u32::from(v)),
    }
}

/// Decodes canonical base64; `None` for a bad length, character, padding or non-zero pad bits.
pub fn decode(input: &[u8]) -> Option<Vec<u8>> {
    if !input.len().is_multiple_of(4) {
        return None;
    }
    let Some((body, last)) = input.split_last_chunk::<4>() else {
        return Some(Vec::new());
    };
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    // Quads before the last hold no padding; invalid characters are collected and checked once.
    let mut bad = 0u8;
    for q in body.chunks_exact(4) {
        let s = [q[0], q[1], q[2], q[3]].map(|c| SEXTETS[usize::from(c)]);
        bad |= s[0] | s[1] | s[2] | s[3];
        let n = s.iter().fold(0u32, |n, &v| (n << 6) | u32::from(v & 63));
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    // Valid sextets are below 64; `INVALID` is not.
    if bad > 63 {
        return None;
    }
    let pad = match (last[2], last[3]) {
        (b'=', b'=') => 2,
        (_, b'=') => 1,
        _ => 0,
    };
    let a = sextet(last[0])?;
    let b = sextet(last[1])?;
    let c = if pad == 2 { 0 } else { sextet(last[2])? };
    let d = if pad >= 1 { 0 } else { sextet(last[3])? };
    let n = (a << 18) | (b << 12) | (c << 6) | d;
    match pad {
        0 => out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]),
        1 => {
            if n & 0xff != 0 {
                return None;
            }
            out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8]);
        }
        _ => {
            if n & 0xffff != 0 {
                return None;
            }
            out.push((n >> 16) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        let cases: [(&[u8], &[u8]); 7] = [
            (b"", b""),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"foob", b"Zm9vYg=="),
            (b"fooba", b"Zm9vYmE="),
            (b"foobar", b"Zm9vYmFy"),
        ];
        for (plain, enc) in cases {
            assert_eq!(encode(plain), enc);
            assert_eq!(decode(enc).unwrap(), plain);
        }
    }

    #[test]
    fn uuid_of_the_spec() {
        let uuid = [
            0x27, 0x60, 0x5e, 0x78, 0xc4, 0xe2, 0x41, 0x4d, 0xa7, 0x79, 0x48, 0xaa, 0x93, 0x5a,
            0x80, 0xc7,
        ];
        assert_eq!(encode(&uuid), b"J2BeeMTiQU2neUiqk1qAxw==");
    }

    /// The straightforward decoder this one replaced: quad by quad, checking every character.
    fn reference_decode(input: &[u8]) -> Option<Vec<u8>> {
        if !input.len().is_multiple_of(4) {
            return None;
        }
        let mut out = Vec::new();
        let quads = input.len() / 4;
        for (i, q) in input.chunks_exact(4).enumerate() {
            let last = i + 1 == quads;
            let pad = match (q[2], q[3]) {
                (b'=', b'=') if last => 2,
                (_, b'=') if last => 1,
                _ => 0,
            };
            let a = sextet(q[0])?;
            let b = sextet(q[1])?;
            let c = if pad == 2 { 0 } else { sextet(q[2])? };
            let d = if pad >= 1 { 0 } else { sextet(q[3])? };
            let n = (a << 18) | (b << 12) | (c << 6) | d;
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            if (pad == 1 && n & 0xff != 0) || (pad == 2 && n & 0xffff != 0) {
                return None;
            }
            out.extend_from_slice(&bytes[..3 - pad]);
        }
        Some(out)
    }

    #[test]
    fn agrees_with_the_reference_on_every_one_byte_change() {
        let alphabet_and_more = [b'A', b'z', b'0', b'+', b'/', b'=', b'\n', b'-', 0, 0xff];
        for len in 0..12usize {
            let plain: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let enc = encode(&plain);
            assert_eq!(decode(&enc).unwrap(), plain);
            for pos in 0..enc.len() {
                for &b in &alphabet_and_more {
                    let mut m = enc.clone();
                    m[pos] = b;
                    assert_eq!(decode(&m), reference_decode(&m), "{m:?}");
                }
            }
        }
    }

    #[test]
    fn rejects_non_canonical() {
        assert!(decode(b"Zh==").is_none()); // pad bits set
        assert!(decode(b"Zm9=").is_none());
        assert!(decode(b"Zg=").is_none());
        assert!(decode(b"Z===").is_none());
        assert!(decode(b"Zg==Zg==").is_none()); // padding in the middle
        assert!(decode(b"Zm9v\n").is_none());
    }
}
