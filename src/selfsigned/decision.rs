//! The pure decision: does the certificate Secret need (re)issuing at time `now`?

use super::secret::StoredCerts;
use jiff::Timestamp;
use std::time::Duration;

/// Why a new CA and serving certificate are issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssueReason {
    /// No Secret yet.
    Missing,
    /// The Secret lacks a key or its bookkeeping annotations cannot be read.
    Unreadable(String),
    /// The serving certificate does not cover the Service's DNS names (Service renamed).
    NamesChanged,
    /// Less than `renew_before` left (or already expired).
    ExpiresSoon { not_after: Timestamp },
}

/// What to do with the certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The stored certificates are good until `renew_at`.
    Keep {
        renew_at: Timestamp,
    },
    Issue(IssueReason),
}

/// Decides from the stored certificates (None: no Secret), the DNS names the serving certificate
/// must cover, the renewal margin and the current time.
pub fn decide(
    stored: Option<&Result<StoredCerts, String>>,
    dns_names: &[String],
    renew_before: Duration,
    now: Timestamp,
) -> Decision {
    let certs = match stored {
        None => return Decision::Issue(IssueReason::Missing),
        Some(Err(why)) => return Decision::Issue(IssueReason::Unreadable(why.clone())),
        Some(Ok(c)) => c,
    };
    let mut want: Vec<&String> = dns_names.iter().collect();
    want.sort();
    let mut have: Vec<&String> = certs.dns_names.iter().collect();
    have.sort();
    if want != have {
        return Decision::Issue(IssueReason::NamesChanged);
    }
    let margin = jiff::SignedDuration::try_from(renew_before).unwrap_or(jiff::SignedDuration::MAX);
    let renew_at = certs.not_after.checked_sub(margin).unwrap_or(Timestamp::MIN);
    if now >= renew_at {
        return Decision::Issue(IssueReason::ExpiresSoon {
            not_after: certs.not_after,
        });
    }
    Decision::Keep { renew_at }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["svc.ns.svc".into(), "svc.ns.svc.cluster.local".into()]
    }

    fn stored(not_after: &str) -> Result<StoredCerts, String> {
        Ok(StoredCerts {
            ca_bundle_pem: "ca".into(),
            ca_pem: "ca".into(),
            cert_pem: "crt".into(),
            key_pem: "key".into(),
            not_after: not_after.parse().unwrap(),
            dns_names: names().into_iter().rev().collect(),
        })
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn missing_or_unreadable_secret_is_issued() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            decide(None, &names(), DAY, now),
            Decision::Issue(IssueReason::Missing)
        );
        assert_eq!(
            decide(Some(&Err("no tls.key".into())), &names(), DAY, now),
            Decision::Issue(IssueReason::Unreadable("no tls.key".into()))
        );
    }

    #[test]
    fn valid_certificate_is_kept_until_the_renewal_margin() {
        let s = stored("2026-03-01T00:00:00Z");
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            decide(Some(&s), &names(), 30 * DAY, now),
            Decision::Keep {
                renew_at: "2026-01-30T00:00:00Z".parse().unwrap()
            }
        );
        let later: Timestamp = "2026-01-30T00:00:00Z".parse().unwrap();
        assert!(matches!(
            decide(Some(&s), &names(), 30 * DAY, later),
            Decision::Issue(IssueReason::ExpiresSoon { .. })
        ));
        let expired: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        assert!(matches!(
            decide(Some(&s), &names(), DAY, expired),
            Decision::Issue(IssueReason::ExpiresSoon { .. })
        ));
    }

    #[test]
    fn renamed_service_reissues() {
        let s = stored("2030-01-01T00:00:00Z");
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let other = vec!["other.ns.svc".to_string()];
        assert_eq!(
            decide(Some(&s), &other, DAY, now),
            Decision::Issue(IssueReason::NamesChanged)
        );
    }

    #[test]
    fn huge_margin_never_panics() {
        let s = stored("2030-01-01T00:00:00Z");
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert!(matches!(
            decide(Some(&s), &names(), Duration::MAX, now),
            Decision::Issue(_)
        ));
    }
}
