//! Tolerant decoding of Flink's JSON: numbers may arrive as numbers, numeric strings, `"NaN"`,
//! `null` or not at all. All of these are data, never a decoding error.

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
#[allow(dead_code)] // `Other` only absorbs values of any other type
enum Lenient {
    Int(i64),
    Float(f64),
    Text(String),
    Other(serde_json::Value),
}

/// An integer, or `None` for `null`, `"NaN"`, non-numeric strings, or values of another type.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Lenient>::deserialize(d)? {
        Some(Lenient::Int(v)) => Some(v),
        Some(Lenient::Float(v)) if v.is_finite() => Some(v as i64),
        Some(Lenient::Text(s)) => parse_i64(&s),
        _ => None,
    })
}

/// A float, or `None` for `null`, `"NaN"`, non-numeric strings or values of another type.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Lenient>::deserialize(d)? {
        Some(Lenient::Int(v)) => Some(v as f64),
        Some(Lenient::Float(v)) => Some(v).filter(|v| v.is_finite()),
        Some(Lenient::Text(s)) => s.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
        _ => None,
    })
}

/// A string, or `None` for `null` or a value of another type (numbers are rendered as text).
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Lenient>::deserialize(d)? {
        Some(Lenient::Text(s)) => Some(s),
        Some(Lenient::Int(v)) => Some(v.to_string()),
        Some(Lenient::Float(v)) => Some(v.to_string()),
        _ => None,
    })
}

/// A list that may be `null` or missing (both read as empty).
pub fn vec_or_null<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A Flink metric value (always a string on the wire) as an integer; `"NaN"` and floats with a
/// fraction are not counts.
pub fn parse_i64(s: &str) -> Option<i64> {
    let s = s.trim();
    s.parse::<i64>().ok().or_else(|| {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && v.fract() == 0.0)
            .map(|v| v as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug, Default)]
    struct Probe {
        #[serde(default, deserialize_with = "opt_i64")]
        int: Option<i64>,
        #[serde(default, deserialize_with = "opt_f64")]
        float: Option<f64>,
        #[serde(default, deserialize_with = "opt_string")]
        text: Option<String>,
    }

    fn probe(json: &str) -> Probe {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn numbers_in_every_shape_flink_uses() {
        assert_eq!(probe(r#"{"int": 5}"#).int, Some(5));
        assert_eq!(probe(r#"{"int": "7"}"#).int, Some(7));
        assert_eq!(probe(r#"{"int": 3.0}"#).int, Some(3));
        assert_eq!(probe(r#"{"int": "NaN"}"#).int, None);
        assert_eq!(probe(r#"{"int": null}"#).int, None);
        assert_eq!(probe(r#"{}"#).int, None);
        assert_eq!(probe(r#"{"int": {"a": 1}}"#).int, None);
        assert_eq!(probe(r#"{"float": "NaN"}"#).float, None);
        assert_eq!(probe(r#"{"float": 0.5}"#).float, Some(0.5));
        assert_eq!(probe(r#"{"float": "2.5"}"#).float, Some(2.5));
        assert_eq!(probe(r#"{"text": 12}"#).text.as_deref(), Some("12"));
        assert_eq!(probe(r#"{"text": [1]}"#).text, None);
    }

    #[test]
    fn metric_strings_parse_as_counts() {
        assert_eq!(parse_i64("3"), Some(3));
        assert_eq!(parse_i64(" 4.0 "), Some(4));
        assert_eq!(parse_i64("4.5"), None);
        assert_eq!(parse_i64("NaN"), None);
        assert_eq!(parse_i64(""), None);
    }
}
