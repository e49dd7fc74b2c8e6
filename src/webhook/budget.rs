//! A memory budget for admission request bodies across all connections: a body is read only
//! while its declared length (or the largest accepted body, when it declares none) fits in the
//! budget, so slow or large senders cannot make the process that also runs the controllers
//! hold unbounded memory. Small reviews, the normal case, do not count against it.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of request bodies held at once by requests larger than [`SMALL_BODY_BYTES`].
pub const MAX_BODY_BYTES_IN_FLIGHT: usize = 24 * 1024 * 1024;
/// Bodies up to this size are read without counting against the budget (connections are
/// capped, so they are bounded too): a flood of large bodies never delays an ordinary review.
pub const SMALL_BODY_BYTES: usize = 64 * 1024;
/// Time allowed to receive a whole body once the headers arrived.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for budget before it is answered 429.
pub const BUDGET_WAIT: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    total: usize,
    /// Bodies up to this size do not count against the budget.
    pub small: usize,
    /// Time allowed to receive a whole body once the headers arrived.
    pub read_timeout: Duration,
}

impl Default for BodyBudget {
    fn default() -> Self {
        Self::new(MAX_BODY_BYTES_IN_FLIGHT)
    }
}

/// Budget held by one request until its answer is sent.
#[derive(Debug)]
pub struct Reservation(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl BodyBudget {
    pub fn new(total: usize) -> Self {
        Self {
            bytes: Arc::new(Semaphore::new(total)),
            total,
            small: SMALL_BODY_BYTES,
            read_timeout: BODY_READ_TIMEOUT,
        }
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// Bytes reserved by requests being read or answered now.
    pub fn in_flight(&self) -> usize {
        self.total.saturating_sub(self.bytes.available_permits())
    }

    /// Reserves `len` bytes, waiting at most [`BUDGET_WAIT`]; `None` when over budget.
    pub async fn reserve(&self, len: usize) -> Option<Reservation> {
        if len <= self.small {
            return Some(Reservation(None));
        }
        let n = u32::try_from(len.min(self.total)).ok()?;
        let permit = tokio::time::timeout(BUDGET_WAIT, self.bytes.clone().acquire_many_owned(n))
            .await
            .ok()?
            .ok()?;
        Some(Reservation(Some(permit)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn large_bodies_share_the_budget_and_small_ones_pass() {
        let budget = BodyBudget::new(5 * 1024 * 1024);
        let a = budget
            .reserve(3 * 1024 * 1024)
            .await
            .expect("first large body fits");
        assert_eq!(budget.in_flight(), 3 * 1024 * 1024);
        assert!(
            budget.reserve(3 * 1024 * 1024).await.is_none(),
            "a second one does not fit"
        );
        assert!(
            budget.reserve(4096).await.is_some(),
            "a small review always passes"
        );
        drop(a);
        assert_eq!(budget.in_flight(), 0);
        assert!(
            budget.reserve(3 * 1024 * 1024).await.is_some(),
            "freed budget is reused"
        );
    }
}
