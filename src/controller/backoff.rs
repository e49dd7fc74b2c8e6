//! Per-object exponential backoff after failed reconciles (the reference's
//! `retry.initial.interval` × `retry.interval.multiplier`, capped).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Cap when `retry.max.interval` is not set.
const DEFAULT_MAX: Duration = Duration::from_secs(300);

/// Objects with failures remembered at once. An object deleted while failing never succeeds, so
/// its entry would otherwise stay for the life of the process; past the bound the counts start
/// over, which only shortens the next retry delays.
const MAX_TRACKED: usize = 65_536;

/// Failure counts per object key, reset by a successful reconcile.
#[derive(Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Records a failure and returns how long to wait before the next attempt.
    pub fn failed(&self, key: &str, initial: Duration, multiplier: f64, max: Option<Duration>) -> Duration {
        let n = self
            .failures
            .lock()
            .map(|mut f| {
                if f.len() >= MAX_TRACKED && !f.contains_key(key) {
                    f.clear();
                }
                let c = f.entry(key.to_string()).or_insert(0);
                *c = c.saturating_add(1);
                *c
            })
            .unwrap_or(1);
        delay(n, initial, multiplier, max.unwrap_or(DEFAULT_MAX))
    }

    /// Forgets the failures of an object.
    pub fn succeeded(&self, key: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(key);
        }
    }
}

/// The delay after the `n`-th consecutive failure (n >= 1).
pub fn delay(n: u32, initial: Duration, multiplier: f64, max: Duration) -> Duration {
    let exp = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
    let secs = initial.as_secs_f64() * multiplier.max(1.0).powi(exp);
    if !secs.is_finite() || secs >= max.as_secs_f64() {
        max
    } else {
        Duration::from_secs_f64(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_geometrically_up_to_the_cap_and_resets() {
        let b = Backoff::default();
        let s = Duration::from_secs;
        let d1 = b.failed("a", s(5), 1.5, Some(s(20)));
        let d2 = b.failed("a", s(5), 1.5, Some(s(20)));
        let d3 = b.failed("a", s(5), 1.5, Some(s(20)));
        let d4 = b.failed("a", s(5), 1.5, Some(s(20)));
        let d5 = b.failed("a", s(5), 1.5, Some(s(20)));
        assert_eq!((d1, d2), (s(5), Duration::from_millis(7500)));
        assert_eq!((d3.as_millis(), d4.as_millis()), (11_250, 16_875));
        assert_eq!(d5, s(20), "capped");
        assert_eq!(b.failed("other", s(5), 1.5, None), s(5), "per object");
        b.succeeded("a");
        assert_eq!(b.failed("a", s(5), 1.5, None), s(5), "reset after success");
    }

    #[test]
    fn remembers_a_bounded_number_of_objects() {
        let b = Backoff::default();
        let s = Duration::from_secs;
        for i in 0..MAX_TRACKED + 10 {
            b.failed(&format!("deleted-{i}"), s(5), 2.0, None);
        }
        let tracked = b.failures.lock().map(|f| f.len()).unwrap_or(usize::MAX);
        assert!(tracked <= MAX_TRACKED, "{tracked} entries");
    }
}
