//! The `hb_generation` file (spec §4.1): 16 bytes, the decimal generation right-aligned in 15
//! characters and a LF. Pure logic; the daemon reads and writes the file (O_SYNC, fsync).

/// What a start finds in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Previous {
    /// Absent or empty: the original starts from `time(NULL)`.
    Missing,
    /// Unparsable: the original starts from 0.
    Broken,
    Value(u64),
}

/// Reads the file content (blanks around the number are allowed, as `sscanf` does).
pub fn parse(content: &[u8]) -> Previous {
    let trimmed = content.trim_ascii();
    if trimmed.is_empty() {
        return Previous::Missing;
    }
    if trimmed.len() > 20 || !trimmed.iter().all(u8::is_ascii_digit) {
        return Previous::Broken;
    }
    trimmed
        .iter()
        .try_fold(0u64, |acc, d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .map_or(Previous::Broken, Previous::Value)
}

/// The generation of this start: previous + 1 (`now` when missing, 0 when broken).
pub fn next(previous: Previous, now_unix_secs: u64) -> u64 {
    match previous {
        Previous::Missing => now_unix_secs.saturating_add(1),
        Previous::Broken => 1,
        Previous::Value(v) => v.saturating_add(1),
    }
}

/// The file content for `generation`.
pub fn render(generation: u64) -> String {
    format!("{generation:>15}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_of_the_observed_file() {
        assert_eq!(render(1795411724), "     1795411724\n");
        assert_eq!(render(1795411724).len(), 16);
        assert_eq!(parse(b"     1795411724\n"), Previous::Value(1795411724));
        assert_eq!(next(parse(b"     1795411724\n"), 5), 1795411725);
    }

    #[test]
    fn missing_and_broken() {
        assert_eq!(parse(b""), Previous::Missing);
        assert_eq!(parse(b"  \n"), Previous::Missing);
        assert_eq!(parse(b"12x\n"), Previous::Broken);
        assert_eq!(parse(b"99999999999999999999999\n"), Previous::Broken);
        assert_eq!(next(Previous::Missing, 1000), 1001);
        assert_eq!(next(Previous::Broken, 1000), 1);
    }
}
