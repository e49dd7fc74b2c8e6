//! Leader election with a coordination.k8s.io Lease, so two operator replicas never act at once.
//! [`decide`] is the pure rule; [`LeaderElector`] is the shell that reads and writes the Lease
//! (with resourceVersion, so two candidates cannot both win the same round).

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What a candidate does with the Lease it read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No Lease yet, or the holder let it expire: take it.
    Acquire,
    /// We hold it: renew it.
    Renew,
    /// Someone else holds a live Lease.
    Follow { holder: String },
}

/// The rule: a Lease is live while `renewTime + leaseDurationSeconds` is in the future.
pub fn decide(lease: Option<&LeaseSpec>, me: &str, now: jiff::Timestamp) -> Decision {
    let Some(spec) = lease else {
        return Decision::Acquire;
    };
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder == me {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::Acquire;
    }
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    let renewed = spec.renew_time.as_ref().map(|t| t.0);
    match renewed {
        Some(t) if t.as_second() + duration > now.as_second() => Decision::Follow { holder },
        _ => Decision::Acquire,
    }
}

/// Keeps (or waits for) the leadership of one Lease.
pub struct LeaderElector {
    pub api: Api<Lease>,
    pub name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_every: Duration,
}

impl LeaderElector {
    fn spec(&self, now: jiff::Timestamp, previous: Option<&LeaseSpec>, taking_over: bool) -> LeaseSpec {
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(i32::try_from(self.lease_duration.as_secs()).unwrap_or(15)),
            acquire_time: if taking_over {
                Some(MicroTime(now))
            } else {
                previous.and_then(|p| p.acquire_time.clone())
            },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(if taking_over { transitions + 1 } else { transitions }),
            ..LeaseSpec::default()
        }
    }

    /// One round: read, decide, write. Returns whether we lead afterwards.
    pub async fn round(&self) -> Result<bool, kube::Error> {
        let now = jiff::Timestamp::now();
        let current = self.api.get_opt(&self.name).await?;
        let decision = decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.identity,
            now,
        );
        let result = match (&decision, current) {
            (Decision::Follow { .. }, _) => return Ok(false),
            (_, None) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.spec(now, None, true)),
                };
                self.api.create(&PostParams::default(), &lease).await.map(|_| ())
            }
            (d, Some(mut lease)) => {
                let taking_over = *d == Decision::Acquire;
                lease.spec = Some(self.spec(now, lease.spec.as_ref(), taking_over));
                // resourceVersion stays set: a concurrent writer makes this a conflict.
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
                    .map(|_| ())
            }
        };
        match result {
            Ok(()) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Runs rounds until `shutdown`; publishes leadership on the returned channel. Leadership
    /// is dropped when a renewal has not succeeded within the lease duration.
    pub fn run(self, shutdown: CancellationToken) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            let mut last_success: Option<tokio::time::Instant> = None;
            loop {
                let leading = match self.round().await {
                    Ok(true) => {
                        last_success = Some(tokio::time::Instant::now());
                        true
                    }
                    Ok(false) => false,
                    Err(e) => {
                        tracing::warn!(error = %e, "leader election: cannot read or write the Lease");
                        last_success.is_some_and(|t| t.elapsed() < self.lease_duration)
                    }
                };
                if !leading {
                    last_success = None;
                }
                let _ = tx.send_if_modified(|v| std::mem::replace(v, leading) != leading);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(self.renew_every) => {}
                }
            }
            // Step down so a successor does not wait for the lease to expire.
            if *tx.borrow() {
                if let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await {
                    if let Some(spec) = lease.spec.as_mut() {
                        spec.holder_identity = None;
                    }
                    let _ = self.api.replace(&self.name, &PostParams::default(), &lease).await;
                }
                let _ = tx.send(false);
            }
        });
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed_secs_ago: i64, now: jiff::Timestamp) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(now - jiff::SignedDuration::from_secs(renewed_secs_ago))),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn the_rule() {
        let now = jiff::Timestamp::now();
        assert_eq!(decide(None, "a", now), Decision::Acquire);
        assert_eq!(decide(Some(&lease("a", 100, now)), "a", now), Decision::Renew);
        assert_eq!(
            decide(Some(&lease("b", 5, now)), "a", now),
            Decision::Follow { holder: "b".into() },
            "a live lease of someone else is respected"
        );
        assert_eq!(
            decide(Some(&lease("b", 16, now)), "a", now),
            Decision::Acquire,
            "expired: taken over"
        );
        assert_eq!(
            decide(Some(&lease("", 1, now)), "a", now),
            Decision::Acquire,
            "released: taken"
        );
    }
}
