//! Memory sizes as the reference reads them: Flink syntax first (`2048m` = 2048 MiB, `2g`,
//! `1024 kb`, plain bytes), then a Kubernetes quantity (`2Gi`, `1.5G`, `500Mi`).

const KI: f64 = 1024.0;

/// Parses a memory size into bytes; `None` when neither syntax applies.
pub fn parse_memory_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    parse_flink(t).or_else(|| parse_quantity(t).and_then(to_bytes))
}

fn parse_flink(t: &str) -> Option<u64> {
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits_end == 0 {
        return None;
    }
    let number: u64 = t[..digits_end].parse().ok()?;
    let unit = t[digits_end..].trim().to_ascii_lowercase();
    let multiplier: u64 = match unit.as_str() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kibibytes" => 1 << 10,
        "m" | "mb" | "mebibytes" => 1 << 20,
        "g" | "gb" | "gibibytes" => 1 << 30,
        "t" | "tb" | "tebibytes" => 1 << 40,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

/// A Kubernetes quantity as a plain number (bytes for memory, cores for cpu).
pub fn parse_quantity(t: &str) -> Option<f64> {
    let t = t.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(t.len());
    let number: f64 = t[..split].parse().ok()?;
    let factor = match &t[split..] {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => KI,
        "Mi" => KI * KI,
        "Gi" => KI * KI * KI,
        "Ti" => KI * KI * KI * KI,
        "Pi" => KI * KI * KI * KI * KI,
        "Ei" => KI * KI * KI * KI * KI * KI,
        _ => return None,
    };
    let value = number * factor;
    value.is_finite().then_some(value)
}

fn to_bytes(v: f64) -> Option<u64> {
    // Sizes beyond u64 are not memory anyone has.
    (v >= 0.0 && v < u64::MAX as f64).then(|| v.ceil() as u64)
}

/// Bytes in Flink syntax: whole MiB as `<n>m`, otherwise `<n>b`.
pub fn format_flink_memory(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{}m", bytes >> 20)
    } else {
        format!("{bytes}b")
    }
}

/// Bytes as a Kubernetes quantity: whole MiB as `<n>Mi`, otherwise plain bytes.
pub fn format_quantity_bytes(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{}Mi", bytes >> 20)
    } else {
        bytes.to_string()
    }
}

/// CPU cores as a Kubernetes quantity: whole cores plain, fractions in millicores.
pub fn format_cpu(cores: f64) -> String {
    if cores.fract() == 0.0 {
        format!("{}", cores as i64)
    } else {
        format!("{}m", (cores * 1000.0).round() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_syntax_wins_over_quantities() {
        assert_eq!(parse_memory_bytes("2048m"), Some(2048 << 20));
        assert_eq!(parse_memory_bytes("2g"), Some(2 << 30));
        assert_eq!(parse_memory_bytes("1024 mb"), Some(1 << 30));
        assert_eq!(parse_memory_bytes("4096"), Some(4096));
        assert_eq!(parse_memory_bytes("2Gi"), Some(2 << 30));
        // Flink syntax first (as the reference parses): 1G is one GiB, not 10^9 bytes.
        assert_eq!(parse_memory_bytes("1G"), Some(1 << 30));
        assert_eq!(parse_memory_bytes("1.5Gi"), Some(3 << 29));
        assert_eq!(parse_memory_bytes("lots"), None);
        assert_eq!(parse_memory_bytes(""), None);
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_flink_memory(2048 << 20), "2048m");
        assert_eq!(format_flink_memory(1_000_000_000), "1000000000b");
        assert_eq!(
            parse_memory_bytes(&format_flink_memory(1_000_000_000)),
            Some(1_000_000_000)
        );
        assert_eq!(format_quantity_bytes(1 << 30), "1024Mi");
        assert_eq!(format_cpu(1.0), "1");
        assert_eq!(format_cpu(0.5), "500m");
        assert_eq!(parse_quantity("500m"), Some(0.5));
    }
}
