//! The certificate Secret: its layout, and conversions to and from [`StoredCerts`].
//!
//! Data keys: `ca.crt` (current CA), `ca-bundle.crt` (current + previous CA: what `caBundle`
//! holds), `tls.crt`, `tls.key`. Annotations record what the decision needs without parsing
//! X.509: the expiry and the DNS names of the serving certificate.

use super::Issued;
use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;
use std::collections::BTreeMap;

pub const CA_CRT: &str = "ca.crt";
pub const CA_BUNDLE: &str = "ca-bundle.crt";
pub const TLS_CRT: &str = "tls.crt";
pub const TLS_KEY: &str = "tls.key";
pub const ANNOTATION_NOT_AFTER: &str = "flink-lifecycle.io/not-after";
pub const ANNOTATION_DNS_NAMES: &str = "flink-lifecycle.io/dns-names";

/// The certificates as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCerts {
    pub ca_pem: String,
    pub ca_bundle_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub not_after: Timestamp,
    pub dns_names: Vec<String>,
}

fn text(data: &BTreeMap<String, ByteString>, key: &str) -> Result<String, String> {
    let bytes = data.get(key).ok_or_else(|| format!("no {key}"))?;
    let s = String::from_utf8(bytes.0.clone()).map_err(|_| format!("{key} is not PEM text"))?;
    if !s.contains("-----BEGIN ") {
        return Err(format!("{key} is not PEM"));
    }
    Ok(s)
}

/// Reads the certificates from a Secret; an error says what is wrong with it.
pub fn from_secret(secret: &Secret) -> Result<StoredCerts, String> {
    let data = secret.data.as_ref().ok_or("no data")?;
    let annotations = secret.metadata.annotations.as_ref().ok_or("no annotations")?;
    let not_after = annotations
        .get(ANNOTATION_NOT_AFTER)
        .ok_or_else(|| format!("no {ANNOTATION_NOT_AFTER} annotation"))?
        .parse::<Timestamp>()
        .map_err(|e| format!("{ANNOTATION_NOT_AFTER}: {e}"))?;
    let dns_names = annotations
        .get(ANNOTATION_DNS_NAMES)
        .ok_or_else(|| format!("no {ANNOTATION_DNS_NAMES} annotation"))?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    Ok(StoredCerts {
        ca_pem: text(data, CA_CRT)?,
        ca_bundle_pem: text(data, CA_BUNDLE)?,
        cert_pem: text(data, TLS_CRT)?,
        key_pem: text(data, TLS_KEY)?,
        not_after,
        dns_names,
    })
}

/// The caBundle after a rotation: the new CA, then the previous one (still trusted until the
/// next rotation, so a serving certificate signed by it keeps working meanwhile).
pub fn rotated_bundle(new_ca_pem: &str, previous: Option<&StoredCerts>) -> String {
    let mut bundle = new_ca_pem.trim_end().to_string();
    bundle.push('\n');
    if let Some(prev) = previous
        && prev.ca_pem.trim() != new_ca_pem.trim()
    {
        bundle.push_str(prev.ca_pem.trim_end());
        bundle.push('\n');
    }
    bundle
}

/// The Secret holding freshly issued certificates. `resource_version` (of the Secret being
/// replaced) makes the update fail instead of overwriting a concurrent rotation.
pub fn to_secret(
    name: &str,
    namespace: &str,
    issued: &Issued,
    ca_bundle_pem: &str,
    dns_names: &[String],
    resource_version: Option<String>,
) -> Secret {
    let data = BTreeMap::from([
        (CA_CRT.to_string(), ByteString(issued.ca_pem.clone().into_bytes())),
        (
            CA_BUNDLE.to_string(),
            ByteString(ca_bundle_pem.as_bytes().to_vec()),
        ),
        (
            TLS_CRT.to_string(),
            ByteString(issued.cert_pem.clone().into_bytes()),
        ),
        (
            TLS_KEY.to_string(),
            ByteString(issued.key_pem.clone().into_bytes()),
        ),
    ]);
    let annotations = BTreeMap::from([
        (ANNOTATION_NOT_AFTER.to_string(), issued.not_after.to_string()),
        (ANNOTATION_DNS_NAMES.to_string(), dns_names.join(",")),
    ]);
    let labels = BTreeMap::from([
        (
            "app.kubernetes.io/part-of".to_string(),
            "flink-lifecycle".to_string(),
        ),
        (
            "app.kubernetes.io/managed-by".to_string(),
            "flink-lifecycle".to_string(),
        ),
    ]);
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            annotations: Some(annotations),
            labels: Some(labels),
            resource_version,
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".to_string()),
        data: Some(data),
        ..Secret::default()
    }
}
