//! Time values of `ha.cf` (spec §5.1): seconds by default, or `ms` / `us` glued to the number,
//! rounded to the nearest millisecond.

use super::model::Millis;

/// Largest accepted time: about 31 years, far beyond any sensible timer, and safe to multiply.
const MAX_MILLIS: f64 = 1e12;

/// Parses `2`, `1.5`, `1500ms`, `1500msec`, `499us`. Returns a message on failure.
pub fn parse_time(text: &str) -> Result<Millis, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim_start();
    if number.is_empty() || !number.bytes().any(|b| b.is_ascii_digit()) {
        return Err(format!("invalid time '{text}': no number"));
    }
    if number.bytes().filter(|&b| b == b'.').count() > 1 {
        return Err(format!(
            "invalid time '{text}': more than one decimal point"
        ));
    }
    let lower = unit.to_ascii_lowercase();
    let per_unit_ms = match lower.as_str() {
        "" => 1000.0,
        "ms" | "msec" | "msecs" => 1.0,
        "us" | "usec" | "usecs" => 0.001,
        _ => return Err(format!("invalid time unit '{unit}' in '{text}'")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid time '{text}'"))?;
    let ms = (value * per_unit_ms).round();
    if !ms.is_finite() || ms > MAX_MILLIS {
        return Err(format!("time '{text}' is too large"));
    }
    Ok(ms as Millis)
}

/// Formats milliseconds for humans: `2 s`, `1.5 s`, `250 ms`.
pub fn format_millis(ms: Millis) -> String {
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else if ms >= 1000 {
        format!("{} s", (ms as f64) / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        assert_eq!(parse_time("2"), Ok(2000));
        assert_eq!(parse_time("1.5"), Ok(1500));
        assert_eq!(parse_time("1500ms"), Ok(1500));
        assert_eq!(parse_time("1500MSec"), Ok(1500));
        assert_eq!(parse_time("0.1"), Ok(100));
        assert_eq!(parse_time("499us"), Ok(0));
        assert_eq!(parse_time("501us"), Ok(1));
        assert_eq!(parse_time(" 10 ms"), Ok(10));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "ms",
            ".",
            "1.2.3",
            "10s",
            "10 m",
            "5sm",
            "1e9",
            "-1",
            "99999999999999999",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format_millis(2000), "2 s");
        assert_eq!(format_millis(1500), "1.5 s");
        assert_eq!(format_millis(250), "250 ms");
    }
}
