//! The `crc` "authentication" of authkeys (spec §3.5): CRC-32, polynomial 0x04C11DB7, initial
//! value 0, MSB-first, no length suffix, final XOR 0xFFFFFFFF. Check value `123456789` → 765e7680.

/// MSB-first lookup table for 0x04C11DB7, built at compile time.
const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04C1_1DB7
            } else {
                c << 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// Incremental CRC state, so the classic text can be fed line by line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Crc32 {
    state: u32,
}

impl Crc32 {
    pub fn new() -> Self {
        Crc32 { state: 0 }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        let mut crc = self.state;
        for &b in bytes {
            crc = (crc << 8) ^ TABLE[(((crc >> 24) as u8) ^ b) as usize];
        }
        self.state = crc;
    }

    pub fn finish(self) -> u32 {
        !self.state
    }
}

/// CRC of a whole buffer.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(bytes);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc32(b"123456789"), 0x765e_7680);
    }

    #[test]
    fn incremental_equals_whole() {
        let mut c = Crc32::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.finish(), crc32(b"123456789"));
    }
}
