//! Bounded exponential backoff for idempotent reads.

use std::time::Duration;

/// Retries of idempotent GETs. The client timeout bounds the whole call including retries, so a
/// retry is only attempted when its backoff still fits before the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, including the first (1 = no retry).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    pub fn no_retry() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The pause after failed attempt number `attempt` (1-based): initial × 2^(attempt-1),
    /// capped at `max_backoff`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

/// HTTP statuses worth retrying for a read: a gateway in between, or a JobManager that is
/// starting or electing a leader ("Service temporarily unavailable").
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 502..=504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(4), Duration::from_millis(800));
        assert_eq!(p.backoff(5), Duration::from_secs(1));
        assert_eq!(p.backoff(200), Duration::from_secs(1));
    }

    #[test]
    fn only_gateway_and_unavailable_statuses_are_transient() {
        assert!(is_transient_status(503));
        assert!(is_transient_status(502));
        assert!(!is_transient_status(500));
        assert!(!is_transient_status(404));
        assert!(!is_transient_status(400));
    }
}
