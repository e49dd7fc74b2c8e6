//! Issuing a CA and the webhook's serving certificate (rcgen, ECDSA P-256).

use super::SelfSignedError;
use jiff::Timestamp;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose,
};
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

fn offset(t: Timestamp) -> Result<time::OffsetDateTime, SelfSignedError> {
    time::OffsetDateTime::from_unix_timestamp(t.as_second()).map_err(|e| SelfSignedError::Time(e.to_string()))
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

/// Issues a CA and a serving certificate for `dns_names`, valid from `now` for `validity`.
pub fn issue(dns_names: &[String], now: Timestamp, validity: Duration) -> Result<Issued, SelfSignedError> {
    let not_before = offset(shifted(now, BACKDATE, false)?)?;
    let not_after_ts = shifted(now, validity, true)?;
    let not_after = offset(not_after_ts)?;

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    let mut ca_dn = DistinguishedName::new();
    ca_dn.push(DnType::CommonName, "flink-lifecycle webhook CA");
    ca_dn.push(DnType::OrganizationName, "flink-lifecycle");
    ca_params.distinguished_name = ca_dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = not_before;
    ca_params.not_after = not_after;
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let ca = Issuer::new(ca_params, ca_key);

    let mut leaf_params = CertificateParams::new(dns_names.to_vec())?;
    let mut leaf_dn = DistinguishedName::new();
    if let Some(first) = dns_names.first() {
        leaf_dn.push(DnType::CommonName, first.as_str());
    }
    leaf_params.distinguished_name = leaf_dn;
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.not_before = not_before;
    leaf_params.not_after = not_after;
    let leaf_key = KeyPair::generate()?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca)?;

    Ok(Issued {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
        not_after: not_after_ts,
    })
}
