//! When periodic snapshots are due: `kubernetes.operator.periodic.savepoint.interval` (and the
//! checkpoint key) is a Flink duration (`6 h`) or a Quartz cron expression (`0 0 */6 * * ?`,
//! seconds first, as the reference operator reads it). `0` or empty turns them off.

use std::time::Duration;

use super::duration::parse_flink_duration;

/// What a schedule value must be, for error messages.
pub const SCHEDULE_FORMS: &str = "a duration (an integer with an optional unit: ms, s, min, h, d) or a Quartz cron expression (seconds minutes hours day-of-month month day-of-week [year], `?` in one day field, e.g. `0 0 */6 * * ?`); 0 turns it off";

/// A parsed schedule.
#[derive(Debug, Clone)]
pub enum SnapshotSchedule {
    Every(Duration),
    /// The expression as written, and parsed.
    Cron(String, Box<croner::Cron>),
}

impl PartialEq for SnapshotSchedule {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Every(a), Self::Every(b)) => a == b,
            (Self::Cron(a, _), Self::Cron(b, _)) => a == b,
            _ => false,
        }
    }
}

impl SnapshotSchedule {
    /// The schedule a configuration value sets; `Ok(None)` when it turns snapshots off.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(None);
        }
        if let Some(d) = parse_flink_duration(t) {
            return Ok((!d.is_zero()).then_some(Self::Every(d)));
        }
        let refused = |why: &str| format!("{t:?} is not {SCHEDULE_FORMS}{why}");
        // Quartz's own rules first (6-7 fields, `?` in exactly one day field), as the reference
        // parses it and as admission checks the autoscaler's cron periods; croner computes times.
        if !crate::validation::cron::is_quartz_cron(t) {
            return Err(refused(""));
        }
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .year(croner::parser::Year::Optional)
            .alternative_weekdays(true)
            .build()
            .parse(t)
            .map(|c| Some(Self::Cron(t.to_string(), Box::new(c))))
            .map_err(|e| refused(&format!(": {e}")))
    }

    /// The first time (epoch millis, UTC) after `since_ms` a snapshot is due; `None` when a cron
    /// expression never fires again.
    pub fn next_after(&self, since_ms: i64) -> Option<i64> {
        match self {
            Self::Every(d) => {
                let step = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                Some(since_ms.saturating_add(step))
            }
            Self::Cron(_, cron) => {
                let since = jiff::Timestamp::from_millisecond(since_ms)
                    .ok()?
                    .to_zoned(jiff::tz::TimeZone::UTC);
                let next = cron.find_next_occurrence(&since, false).ok()?;
                Some(next.timestamp().as_millisecond())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn durations_fire_one_interval_after_the_last_snapshot() {
        let s = SnapshotSchedule::parse("30 min").unwrap().unwrap();
        assert_eq!(s.next_after(1_000), Some(1_000 + HOUR / 2));
        assert!(SnapshotSchedule::parse("0").unwrap().is_none());
        assert!(SnapshotSchedule::parse(" ").unwrap().is_none());
    }

    #[test]
    fn quartz_cron_fires_at_its_next_match() {
        // Every 6 hours on the hour; 2026-12-07T04:30:00Z → 06:00:00Z.
        let s = SnapshotSchedule::parse("0 0 */6 * * ?").unwrap().unwrap();
        let since = jiff::Timestamp::from_second(1_796_617_800).unwrap(); // 04:30:00Z
        assert_eq!(since.to_string(), "2026-12-07T04:30:00Z");
        let next = s.next_after(since.as_millisecond()).unwrap();
        assert_eq!(
            jiff::Timestamp::from_millisecond(next).unwrap().to_string(),
            "2026-12-07T06:00:00Z"
        );
    }

    #[test]
    fn a_value_that_is_neither_is_refused_with_both_forms() {
        let e = SnapshotSchedule::parse("every hour").unwrap_err();
        assert!(
            e.contains("duration") && e.contains("Quartz cron") && e.contains("every hour"),
            "{e}"
        );
        // Five fields (no seconds) is a Unix crontab, not Quartz; Quartz wants `?` in one day field.
        assert!(SnapshotSchedule::parse("0 */6 * * *").is_err());
        assert!(SnapshotSchedule::parse("0 0 * * * *").is_err());
        assert!(SnapshotSchedule::parse("0 0 12 ? * MON-FRI").is_ok());
    }
}
