//! Parsing of Kubernetes quantities (`500m`, `2Gi`, `1e3`) and Flink memory sizes (`2048m` =
//! 2048 MiB), the way the reference reads `resource.memory` and `resources` (Flink syntax first).

/// A Kubernetes quantity as a number (cpu in cores, memory in bytes). `None` when unparsable.
pub fn parse_quantity(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let (sign, rest) = match t.as_bytes()[0] {
        b'+' => (1.0, &t[1..]),
        b'-' => (-1.0, &t[1..]),
        _ => (1.0, t),
    };
    let number_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => {
            let e: i32 = exp[1..].parse().ok()?;
            10f64.powi(e)
        }
        _ => return None,
    };
    let out = sign * value * multiplier;
    out.is_finite().then_some(out)
}

/// Flink's `MemorySize` syntax: a non-negative integer with an optional binary unit.
pub fn parse_flink_memory(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 0,
        "k" | "kb" | "kibibytes" => 10,
        "m" | "mb" | "mebibytes" => 20,
        "g" | "gb" | "gibibytes" => 30,
        "t" | "tb" | "tebibytes" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

/// A memory string as the reference reads it: Flink syntax first, then a Kubernetes quantity
/// (after normalising `2 gb` → `2G`, `2GI` → `2Gi`); negative sizes are errors.
pub fn parse_memory_bytes(text: &str) -> Result<u64, String> {
    if let Some(bytes) = parse_flink_memory(text) {
        return Ok(bytes);
    }
    let mut normalised: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if normalised.ends_with('B') {
        normalised.pop();
    }
    if normalised.ends_with('I') {
        normalised.pop();
        normalised.push('i');
    }
    match parse_quantity(&normalised) {
        Some(q) if q >= 0.0 => Ok(q.round() as u64),
        Some(_) => Err(format!("'{text}' is negative")),
        None => Err(format!(
            "'{text}' is neither a Flink memory size (e.g. 2048m, 2g) nor a Kubernetes quantity (e.g. 2Gi)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_quantities() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("2Gi"), Some(2.0 * 1024f64.powi(3)));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("-1"), Some(-1.0));
        assert_eq!(parse_quantity(".5"), Some(0.5));
        for bad in ["", "abc", "1.2.3", "2gi", "1 Gi", "Gi"] {
            assert_eq!(parse_quantity(bad), None, "{bad}");
        }
    }

    #[test]
    fn flink_syntax_comes_first() {
        assert_eq!(parse_memory_bytes("2048m"), Ok(2048 << 20));
        assert_eq!(parse_memory_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_memory_bytes("2Gi"), Ok(2 << 30));
        assert_eq!(parse_memory_bytes("2 gb"), Ok(2 << 30));
        assert_eq!(parse_memory_bytes("1024"), Ok(1024));
        assert!(parse_memory_bytes("-1Gi").is_err());
        assert!(parse_memory_bytes("lots").is_err());
    }
}
