//! Issuing the webhook's CA and serving certificate for the self-signed mode, through the
//! project's one issuing function ([`crate::certs::issue`]).

use super::SelfSignedError;
use jiff::Timestamp;
use std::time::Duration;

/// Clock skew tolerated between this pod and the API server.
const BACKDATE: Duration = Duration::from_secs(300);

/// A freshly issued CA and serving certificate. The CA's key is not kept: the next rotation
/// issues a new CA, so nothing ever signs with this one again.
#[derive(Clone, Debug)]
pub struct Issued {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub not_after: Timestamp,
}

fn shifted(now: Timestamp, by: Duration, forward: bool) -> Result<Timestamp, SelfSignedError> {
    let d = jiff::SignedDuration::try_from(by).map_err(|e| SelfSignedError::Time(e.to_string()))?;
    let t = if forward {
        now.checked_add(d)
    } else {
        now.checked_sub(d)
    };
    t.map_err(|e| SelfSignedError::Time(e.to_string()))
}

/// Issues a CA and a serving certificate for `dns_names`, valid from `now` (backdated for clock
/// skew) for `validity`; the CA expires with the leaf, since each rotation issues a new CA.
pub fn issue(dns_names: &[String], now: Timestamp, validity: Duration) -> Result<Issued, SelfSignedError> {
    let not_after = shifted(now, validity, true)?;
    let certs = crate::certs::issue(
        dns_names,
        crate::certs::Validity {
            not_before: shifted(now, BACKDATE, false)?,
            ca_not_after: not_after,
            leaf_not_after: not_after,
        },
    )
    .map_err(|e| match e {
        crate::certs::CertsError::Generate(e) => SelfSignedError::Issue(e),
        other => SelfSignedError::Time(other.to_string()),
    })?;
    Ok(Issued {
        ca_pem: certs.ca_pem,
        cert_pem: certs.cert_pem,
        key_pem: certs.key_pem,
        not_after,
    })
}
