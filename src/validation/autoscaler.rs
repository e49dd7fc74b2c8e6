//! Autoscaler option rules (reference §2.6), checked only when the autoscaler is enabled in the
//! effective configuration. Legacy `kubernetes.operator.job.autoscaler.*` keys are fallbacks.

use super::cron::is_quartz_cron;
use super::error::{Rule, reject};
use super::keys::conf_location;
use crate::config::{format_flink_duration, parse_flink_duration};
use std::collections::BTreeMap;
use std::time::Duration;

const PREFIX: &str = "job.autoscaler.";
const LEGACY_PREFIX: &str = "kubernetes.operator.job.autoscaler.";
const DEFAULT_TARGET: f64 = 0.7;
const DEFAULT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The value of `job.autoscaler.<suffix>` (or its legacy spelling) and the key it came from.
fn get<'a>(conf: &'a BTreeMap<String, String>, suffix: &str) -> Option<(String, &'a str)> {
    [PREFIX, LEGACY_PREFIX].iter().find_map(|p| {
        let key = format!("{p}{suffix}");
        conf.get(&key).map(|v| (key, v.trim()))
    })
}

fn flag(conf: &BTreeMap<String, String>, suffix: &str) -> bool {
    get(conf, suffix).is_some_and(|(_, v)| v.eq_ignore_ascii_case("true"))
}

/// Whether the autoscaler is on for this resource.
pub fn autoscaler_enabled(conf: &BTreeMap<String, String>) -> bool {
    flag(conf, "enabled")
}

fn number(conf: &BTreeMap<String, String>, suffix: &str) -> Result<Option<f64>, super::ValidationError> {
    match get(conf, suffix) {
        None => Ok(None),
        Some((key, v)) => match v.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Some(n)),
            _ => Err(super::ValidationError::new(
                conf_location(&key),
                format!("invalid value '{v}' in the autoscaler config {key}"),
                "Write a decimal number, e.g. 0.7",
            )),
        },
    }
}

fn in_range(conf: &BTreeMap<String, String>, suffix: &str, min: f64, max: f64) -> Rule {
    let Some(n) = number(conf, suffix)? else {
        return Ok(());
    };
    if n < min || n > max {
        let upper = if max.is_infinite() {
            "+Infinity".to_string()
        } else {
            max.to_string()
        };
        return reject(
            conf_location(&format!("{PREFIX}{suffix}")),
            format!("the autoscaler option {PREFIX}{suffix} is {n}, outside the range [{min}, {upper}]"),
            format!("Set it to a value between {min} and {upper}"),
        );
    }
    Ok(())
}

/// Checks the autoscaler options of the effective configuration `conf`; `reconcile_interval`
/// is the operator's reconcile interval for this resource.
pub fn validate_autoscaler(conf: &BTreeMap<String, String>, reconcile_interval: Duration) -> Rule {
    if !autoscaler_enabled(conf) {
        return Ok(());
    }
    in_range(conf, "scale-down.max-factor", 0.0, f64::INFINITY)?;
    in_range(conf, "scale-up.max-factor", 0.0, f64::INFINITY)?;
    in_range(conf, "utilization.target", 0.0, 1.0)?;
    in_range(conf, "target.utilization.boundary", 0.0, f64::INFINITY)?;
    let target = number(conf, "utilization.target")?.unwrap_or(DEFAULT_TARGET);
    in_range(conf, "utilization.max", target, 1.0)?;
    in_range(conf, "utilization.min", 0.0, target)?;
    in_range(conf, "memory.gc-pressure.threshold", 0.0, 1.0)?;
    in_range(conf, "memory.heap-usage.threshold", 0.0, 1.0)?;
    if flag(conf, "observed-scalability.enabled") {
        in_range(conf, "observed-scalability.coefficient-min", 0.01, 1.0)?;
    }
    if flag(conf, "scaling.effectiveness.detection.enabled") {
        in_range(conf, "scaling.effectiveness.threshold", 0.0, 1.0)?;
    }
    if flag(conf, "memory.tuning.enabled") {
        in_range(conf, "memory.tuning.overhead", 0.0, 1.0)?;
    }
    if let Some((key, periods)) = get(conf, "excluded.periods") {
        for period in periods.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            if !is_excluded_period(period) {
                return reject(
                    conf_location(&key),
                    format!(
                        "excluded period '{period}' is neither a daily range nor a Quartz cron expression"
                    ),
                    "Write periods as HH:mm-HH:mm (start before end), a Quartz cron (e.g. * * 9-11 ? * MON-FRI), \
                     or 'HH:mm-HH:mm && <cron>', separated by ';'",
                );
            }
        }
    }
    let window = match get(conf, "metrics.window") {
        None => DEFAULT_WINDOW,
        Some((key, v)) => match parse_flink_duration(v) {
            Some(d) => d,
            None => {
                return reject(
                    conf_location(&key),
                    format!("'{v}' is not a duration"),
                    format!("Write {}", crate::config::DURATION_FORMS),
                );
            }
        },
    };
    if window < reconcile_interval {
        return reject(
            conf_location(&format!("{PREFIX}metrics.window")),
            format!(
                "the autoscaler metric window ({}) is smaller than the operator reconcile interval ({})",
                format_flink_duration(window),
                format_flink_duration(reconcile_interval)
            ),
            "Increase job.autoscaler.metrics.window or lower kubernetes.operator.reconcile.interval",
        );
    }
    Ok(())
}

fn is_excluded_period(period: &str) -> bool {
    match period.split_once("&&") {
        Some((a, b)) => {
            let (a, b) = (a.trim(), b.trim());
            (is_daily_range(a) && is_quartz_cron(b)) || (is_quartz_cron(a) && is_daily_range(b))
        }
        None => is_daily_range(period) || is_quartz_cron(period),
    }
}

fn is_daily_range(text: &str) -> bool {
    let minutes = |t: &str| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60 && t.trim().len() == 5).then_some(h * 60 + m)
    };
    let Some((start, end)) = text.split_once('-') else {
        return false;
    };
    matches!((minutes(start), minutes(end)), (Some(s), Some(e)) if s < e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut c: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        c.insert("job.autoscaler.enabled".into(), "true".into());
        c
    }

    #[test]
    fn periods() {
        assert!(is_excluded_period("09:00-11:30"));
        assert!(!is_excluded_period("11:00-09:00"));
        assert!(is_excluded_period("* * 9-11 ? * MON-FRI"));
        assert!(is_excluded_period("09:00-11:00 && * * * ? * SAT"));
        assert!(!is_excluded_period("sometimes"));
    }

    #[test]
    fn ranges_and_window() {
        let minute = Duration::from_secs(60);
        assert!(validate_autoscaler(&conf(&[]), minute).is_ok());
        assert!(validate_autoscaler(&conf(&[("job.autoscaler.utilization.target", "1.5")]), minute).is_err());
        assert!(validate_autoscaler(&conf(&[("job.autoscaler.utilization.max", "0.5")]), minute).is_err());
        assert!(validate_autoscaler(&conf(&[("job.autoscaler.scale-up.max-factor", "x")]), minute).is_err());
        assert!(validate_autoscaler(&conf(&[("job.autoscaler.metrics.window", "30 s")]), minute).is_err());
        assert!(
            validate_autoscaler(
                &conf(&[("kubernetes.operator.job.autoscaler.utilization.target", "-1")]),
                minute
            )
            .is_err()
        );
        let mut off = conf(&[("job.autoscaler.utilization.target", "9")]);
        off.insert("job.autoscaler.enabled".into(), "false".into());
        assert!(validate_autoscaler(&off, minute).is_ok());
    }
}
