//! A syntax check of Quartz cron expressions (seconds minutes hours day-of-month month
//! day-of-week [year]), enough to reject what Quartz rejects in autoscaler excluded periods.

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

struct Field {
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Day-of-month / day-of-week accept `?`, `L`, `W`, `#`.
    day: bool,
}

const FIELDS: [Field; 7] = [
    Field {
        min: 0,
        max: 59,
        names: &[],
        day: false,
    },
    Field {
        min: 0,
        max: 59,
        names: &[],
        day: false,
    },
    Field {
        min: 0,
        max: 23,
        names: &[],
        day: false,
    },
    Field {
        min: 1,
        max: 31,
        names: &[],
        day: true,
    },
    Field {
        min: 1,
        max: 12,
        names: &MONTHS,
        day: false,
    },
    Field {
        min: 1,
        max: 7,
        names: &DAYS,
        day: true,
    },
    Field {
        min: 1970,
        max: 2199,
        names: &[],
        day: false,
    },
];

/// Whether `expr` is a Quartz cron expression (6 or 7 fields, one of the day fields `?`).
pub fn is_quartz_cron(expr: &str) -> bool {
    let parts: Vec<&str> = expr.split_whitespace().collect();
    if !(6..=7).contains(&parts.len()) {
        return false;
    }
    if (parts[3] == "?") == (parts[5] == "?") {
        return false;
    }
    parts.iter().zip(FIELDS.iter()).all(|(p, f)| field_ok(p, f))
}

fn value_ok(v: &str, f: &Field) -> bool {
    if let Ok(n) = v.parse::<u32>() {
        return (f.min..=f.max).contains(&n);
    }
    f.names.iter().any(|n| n.eq_ignore_ascii_case(v))
}

fn field_ok(text: &str, f: &Field) -> bool {
    if text == "?" {
        return f.day;
    }
    text.split(',').all(|item| item_ok(item, f))
}

fn item_ok(item: &str, f: &Field) -> bool {
    let (range, step) = match item.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (item, None),
    };
    if let Some(s) = step
        && s.parse::<u32>().map_or(true, |n| n == 0)
    {
        return false;
    }
    if range == "*" {
        return true;
    }
    if f.day {
        let upper = range.to_ascii_uppercase();
        if upper == "L" || upper == "LW" {
            return true;
        }
        if let Some(base) = upper.strip_suffix('L').or_else(|| upper.strip_suffix('W')) {
            return value_ok(base, f);
        }
        if let Some((d, n)) = upper.split_once('#') {
            return value_ok(d, f) && n.parse::<u32>().is_ok_and(|n| (1..=5).contains(&n));
        }
    }
    match range.split_once('-') {
        Some((a, b)) => value_ok(a, f) && value_ok(b, f),
        None => value_ok(range, f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartz_forms() {
        for ok in [
            "0 0 12 * * ?",
            "0 15 10 ? * MON-FRI",
            "0 0/5 14 * * ?",
            "0 15 10 L * ?",
            "0 15 10 ? * 6#3 2030",
        ] {
            assert!(is_quartz_cron(ok), "{ok}");
        }
        for bad in [
            "* * * * *",
            "0 0 12 * * *",
            "0 61 12 * * ?",
            "0 0 12 ? FOO MON",
            "0 0/0 * * * ?",
        ] {
            assert!(!is_quartz_cron(bad), "{bad}");
        }
    }
}
