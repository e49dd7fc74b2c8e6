//! Durations in Flink's syntax: an integer and an optional unit (`500ms`, `60 s`, `5 min`, `2m`,
//! `1h`, `1d`); no unit means milliseconds.

use std::time::Duration;

/// The accepted forms, quoted in error messages.
pub const DURATION_FORMS: &str =
    "an integer with an optional unit: ms, s, min (or m), h, d, e.g. `500ms`, `60 s`, `5 min`, `1h`";

/// Parses a Flink duration string.
pub fn parse_flink_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let nanos_per: u128 = match unit.as_str() {
        "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => 1,
        "µs" | "us" | "micro" | "micros" | "microsecond" | "microseconds" => 1_000,
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1_000_000,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000_000_000,
        "h" | "hour" | "hours" => 3_600_000_000_000,
        "d" | "day" | "days" => 86_400_000_000_000,
        _ => return None,
    };
    let nanos = u128::from(n).checked_mul(nanos_per)?;
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    // The remainder is below one second, so it fits in u32.
    let sub = u32::try_from(nanos % 1_000_000_000).ok()?;
    Some(Duration::new(secs, sub))
}

/// Formats a duration the way Flink prints it back (largest exact unit).
pub fn format_flink_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0 ms".to_string();
    }
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("min", 60_000),
        ("s", 1_000),
    ] {
        if ms.is_multiple_of(size) {
            return format!("{} {unit}", ms / size);
        }
    }
    format!("{ms} ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flink_forms() {
        let cases = [
            ("5 min", 300),
            ("5min", 300),
            ("2m", 120),
            ("60 s", 60),
            ("60s", 60),
            ("1h", 3600),
            ("1 d", 86_400),
            ("24 h", 86_400),
            ("10 seconds", 10),
        ];
        for (text, secs) in cases {
            assert_eq!(
                parse_flink_duration(text),
                Some(Duration::from_secs(secs)),
                "{text}"
            );
        }
        assert_eq!(parse_flink_duration("250"), Some(Duration::from_millis(250)));
        assert_eq!(parse_flink_duration("250 ms"), Some(Duration::from_millis(250)));
    }

    #[test]
    fn rejects_what_flink_rejects() {
        for bad in ["", "min", "5 fortnights", "-1s", "1.5s", "5 m s"] {
            assert_eq!(parse_flink_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_back() {
        assert_eq!(format_flink_duration(Duration::from_secs(300)), "5 min");
        assert_eq!(format_flink_duration(Duration::from_millis(1500)), "1500 ms");
    }
}
