//! `flink-lifecycle certs`: a private CA and a serving certificate signed by it, written in the
//! layout of a Kubernetes TLS Secret (`tls.crt`, `tls.key`) plus `ca.crt` for the webhook
//! configurations' `caBundle`. For `make run`, tests and installs without cert-manager.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// PEM texts of a generated CA and serving pair.
#[derive(Clone, Debug)]
pub struct GeneratedCerts {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    #[error("at least one DNS name (or IP address) is needed for the serving certificate")]
    NoNames,
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("certificate validity out of range: {0}")]
    Time(String),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error(
        "{path} already exists: not replacing the CA (every caBundle that trusts it would break); \
         pass --force to write a new one"
    )]
    CaExists { path: String },
}

/// The CA file of the Secret layout, next to `tls.crt` and `tls.key`.
pub const CA_FILE: &str = "ca.crt";

/// Refuses to go on when `dir` holds a CA already, unless `force`.
pub fn refuse_existing_ca(dir: &Path, force: bool) -> Result<(), CertsError> {
    let path = dir.join(CA_FILE);
    // symlink_metadata: a dangling link named ca.crt is still something we would overwrite.
    if !force && std::fs::symlink_metadata(&path).is_ok() {
        return Err(CertsError::CaExists {
            path: path.display().to_string(),
        });
    }
    Ok(())
}

/// When the certificates of one [`issue`] are valid.
#[derive(Clone, Copy, Debug)]
pub struct Validity {
    pub not_before: jiff::Timestamp,
    pub ca_not_after: jiff::Timestamp,
    pub leaf_not_after: jiff::Timestamp,
}

fn rcgen_time(t: jiff::Timestamp) -> Result<time::OffsetDateTime, CertsError> {
    time::OffsetDateTime::from_unix_timestamp(t.as_second()).map_err(|e| CertsError::Time(e.to_string()))
}

/// The one place this project issues certificates (`flink-lifecycle certs` and the operator's
/// self-signed mode): a CA that may sign only leaves, and an ECDSA P-256 serving certificate for
/// `names` (DNS names or IP addresses) signed by it.
pub fn issue(names: &[String], validity: Validity) -> Result<GeneratedCerts, CertsError> {
    let Some(first) = names.first() else {
        return Err(CertsError::NoNames);
    };
    let not_before = rcgen_time(validity.not_before)?;
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "flink-lifecycle webhook CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "flink-lifecycle");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before;
    ca.not_after = rcgen_time(validity.ca_not_after)?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(names.to_vec())?;
    leaf.distinguished_name = DistinguishedName::new();
    leaf.distinguished_name.push(DnType::CommonName, first.clone());
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before;
    leaf.not_after = rcgen_time(validity.leaf_not_after)?;
    let cert = leaf.signed_by(&key, &issuer)?;

    Ok(GeneratedCerts {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// `flink-lifecycle certs`: valid from the start of yesterday (clock skew) for `days` days; the
/// CA lives ten times as long, so a new serving pair can be issued under the same trust.
pub fn generate(names: &[String], today: jiff::civil::Date, days: u16) -> Result<GeneratedCerts, CertsError> {
    let start = today.yesterday().unwrap_or(today);
    let at = |d: jiff::civil::Date| -> Result<jiff::Timestamp, CertsError> {
        d.to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| CertsError::Time(e.to_string()))
    };
    let after = |n: i64| today.checked_add(jiff::Span::new().days(n)).unwrap_or(today);
    issue(
        names,
        Validity {
            not_before: at(start)?,
            ca_not_after: at(after(i64::from(days) * 10))?,
            leaf_not_after: at(after(i64::from(days)))?,
        },
    )
}

/// Writes `tls.crt`, `tls.key` (mode 0600) and `ca.crt` into `dir` and returns their paths.
pub fn write_secret_layout(dir: &Path, certs: &GeneratedCerts) -> Result<Vec<PathBuf>, CertsError> {
    let write = |name: &str, text: &str, private: bool| -> Result<PathBuf, CertsError> {
        let path = dir.join(name);
        let err = |source| CertsError::Write {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        std::fs::write(&path, text).map_err(err)?;
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        }
        #[cfg(not(unix))]
        let _ = private;
        Ok(path)
    };
    Ok(vec![
        write(crate::tls::CERT_FILE, &certs.cert_pem, false)?,
        write(crate::tls::KEY_FILE, &certs.key_pem, true)?,
        write(CA_FILE, &certs.ca_pem, false)?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pair_loads_as_a_serving_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let certs = generate(
            &["webhook.ns.svc".into(), "127.0.0.1".into()],
            jiff::civil::date(2026, 11, 23),
            365,
        )
        .unwrap();
        let files = write_secret_layout(dir.path(), &certs).unwrap();
        assert_eq!(files.len(), 3);
        let (_, key) = crate::tls::load_pair(dir.path()).unwrap();
        assert_eq!(key.cert.len(), 1);
        assert!(matches!(
            generate(&[], jiff::civil::date(2026, 1, 1), 1),
            Err(CertsError::NoNames)
        ));
    }

    #[test]
    fn an_existing_ca_is_kept_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        refuse_existing_ca(dir.path(), false).unwrap();
        std::fs::write(dir.path().join(CA_FILE), "x").unwrap();
        let err = refuse_existing_ca(dir.path(), false).unwrap_err();
        assert!(err.to_string().contains("ca.crt already exists"), "{err}");
        refuse_existing_ca(dir.path(), true).unwrap();
    }
}
