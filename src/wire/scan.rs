//! Word-at-a-time byte search: the decoders look for a few delimiter bytes in every line or
//! field, and doing it 8 bytes per step keeps verification of a flood cheap.

const LOW: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Index of the first byte of `bytes` equal to any of `needles`.
pub fn first_of<const N: usize>(bytes: &[u8], needles: [u8; N]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        let mut hits = 0u64;
        for n in needles {
            let x = v ^ (LOW * u64::from(n));
            // Flags the lowest zero byte exactly (higher flags may be borrow artefacts).
            hits |= x.wrapping_sub(LOW) & !x & HIGH;
        }
        if hits != 0 {
            return Some(base + (hits.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|b| needles.contains(b))
        .map(|i| base + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_a_plain_search() {
        let mut state = 0x1234_5678_u32;
        for len in 0..80 {
            for _ in 0..50 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        // Letters, delimiters, and bytes one bit away from one (borrow false positives).
                        [b'a', b'=', b'\n', 0, 0x01, 0x0b, 0x3c, 0x80, 0xff]
                            [(state >> 16) as usize % 9]
                    })
                    .collect();
                let plain = bytes.iter().position(|&b| b == b'\n' || b == 0);
                assert_eq!(first_of(&bytes, [b'\n', 0]), plain, "{bytes:?}");
                let plain = bytes
                    .iter()
                    .position(|&b| b == b'=' || b == b'\n' || b == 0);
                assert_eq!(first_of(&bytes, [b'=', b'\n', 0]), plain, "{bytes:?}");
            }
        }
    }
}
