//! The serving certificate: read from a directory in Kubernetes TLS Secret layout
//! (`tls.crt` = chain, leaf first; `tls.key`), held in an ArcSwap so a reload never blocks or
//! drops a handshake.

use arc_swap::ArcSwapOption;
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::Arc;

/// File names of a Kubernetes TLS Secret.
pub const CERT_FILE: &str = "tls.crt";
pub const KEY_FILE: &str = "tls.key";

/// Why a certificate pair could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: String },
    #[error("{path}: {message}")]
    BadPem { path: String, message: String },
    #[error("the private key does not fit the certificate or is unsupported: {0}")]
    Key(String),
    #[error("TLS configuration: {0}")]
    Config(String),
    #[error("{path}: the certificate cannot be read as X.509: {message}")]
    BadCertificate { path: String, message: String },
    #[error("{path}: the certificate expired at {not_after} (valid {not_before} to {not_after})")]
    Expired {
        path: String,
        not_before: String,
        not_after: String,
    },
    #[error("{path}: the certificate is not valid before {not_before} (valid {not_before} to {not_after})")]
    NotYetValid {
        path: String,
        not_before: String,
        not_after: String,
    },
}

impl TlsError {
    /// A short, bounded name of the failure, for metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Read { .. } => "unreadable",
            Self::NoCertificate { .. } | Self::BadPem { .. } | Self::BadCertificate { .. } => "unparsable",
            Self::Key(_) => "key_mismatch",
            Self::Config(_) => "config",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
        }
    }

    /// The same error with its file named by its full path under `dir`.
    pub fn in_dir(self, dir: &Path) -> Self {
        let full = |path: String| {
            if Path::new(&path).is_absolute() {
                path
            } else {
                dir.join(path).display().to_string()
            }
        };
        match self {
            Self::NoCertificate { path } => Self::NoCertificate { path: full(path) },
            Self::BadPem { path, message } => Self::BadPem {
                path: full(path),
                message,
            },
            Self::BadCertificate { path, message } => Self::BadCertificate {
                path: full(path),
                message,
            },
            Self::Expired {
                path,
                not_before,
                not_after,
            } => Self::Expired {
                path: full(path),
                not_before,
                not_after,
            },
            Self::NotYetValid {
                path,
                not_before,
                not_after,
            } => Self::NotYetValid {
                path: full(path),
                not_before,
                not_after,
            },
            Self::Key(message) => Self::Key(format!(
                "{} and {}: {message}",
                dir.join(CERT_FILE).display(),
                dir.join(KEY_FILE).display()
            )),
            other => other,
        }
    }
}

/// The raw bytes of a pair, to detect changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairBytes {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

/// Reads both files (following the `..data` symlinks of a Secret volume).
pub fn read_pair(dir: &Path) -> Result<PairBytes, TlsError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })
    };
    Ok(PairBytes {
        cert: read(CERT_FILE)?,
        key: read(KEY_FILE)?,
    })
}

/// Parses and checks a pair: a non-empty chain, a key that matches its leaf, and a leaf that is
/// valid now (notBefore <= now < notAfter).
pub fn parse_pair(bytes: &PairBytes) -> Result<CertifiedKey, TlsError> {
    parse_pair_at(bytes, jiff::Timestamp::now())
}

/// [`parse_pair`] at the instant `now`.
pub fn parse_pair_at(bytes: &PairBytes, now: jiff::Timestamp) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes.cert)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadPem {
            path: CERT_FILE.into(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: CERT_FILE.into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&bytes.key).map_err(|e| TlsError::BadPem {
        path: KEY_FILE.into(),
        message: e.to_string(),
    })?;
    let signing = any_supported_type(&key).map_err(|e| TlsError::Key(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| TlsError::Key(e.to_string()))?;
    let (not_before, not_after) =
        validity(&certified.cert[0]).map_err(|message| TlsError::BadCertificate {
            path: CERT_FILE.into(),
            message,
        })?;
    if now < not_before {
        return Err(TlsError::NotYetValid {
            path: CERT_FILE.into(),
            not_before: not_before.to_string(),
            not_after: not_after.to_string(),
        });
    }
    if now >= not_after {
        return Err(TlsError::Expired {
            path: CERT_FILE.into(),
            not_before: not_before.to_string(),
            not_after: not_after.to_string(),
        });
    }
    Ok(certified)
}

/// One DER element: (tag, contents, rest).
fn der_element(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let (&tag, rest) = input.split_first().ok_or("truncated DER")?;
    let (&first, rest) = rest.split_first().ok_or("truncated DER length")?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err("unsupported DER length".into());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err("truncated DER element".into());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// notBefore and notAfter of an X.509 certificate (RFC 5280 4.1.2.5).
pub fn validity(cert: &[u8]) -> Result<(jiff::Timestamp, jiff::Timestamp), String> {
    let (tag, certificate, _) = der_element(cert)?;
    if tag != 0x30 {
        return Err("not a DER certificate".into());
    }
    let (tag, tbs, _) = der_element(certificate)?;
    if tag != 0x30 {
        return Err("no TBSCertificate".into());
    }
    let mut rest = tbs;
    let (tag, _, after) = der_element(rest)?;
    if tag == 0xa0 {
        rest = after; // [0] version
    }
    for _ in 0..3 {
        // serialNumber, signature, issuer
        rest = der_element(rest)?.2;
    }
    let (tag, validity, _) = der_element(rest)?;
    if tag != 0x30 {
        return Err("no validity".into());
    }
    let (tag_before, before, rest) = der_element(validity)?;
    let (tag_after, after, _) = der_element(rest)?;
    Ok((der_time(tag_before, before)?, der_time(tag_after, after)?))
}

/// UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ).
fn der_time(tag: u8, text: &[u8]) -> Result<jiff::Timestamp, String> {
    let text = std::str::from_utf8(text).map_err(|_| "time is not ASCII".to_string())?;
    let digits = text.strip_suffix('Z').ok_or("time is not in UTC")?;
    let (year, rest) = match (tag, digits.len()) {
        (0x17, 12) => {
            let yy: i16 = digits[..2].parse().map_err(|_| "bad UTCTime")?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        (0x18, 14) => (
            digits[..4].parse().map_err(|_| "bad GeneralizedTime")?,
            &digits[4..],
        ),
        _ => return Err(format!("unsupported time '{text}'")),
    };
    let field = |i: usize| -> Result<i8, String> {
        rest.get(i..i + 2)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("bad time '{text}'"))
    };
    jiff::civil::DateTime::new(year, field(0)?, field(2)?, field(4)?, field(6)?, field(8)?, 0)
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC))
        .map(|z| z.timestamp())
        .map_err(|e| format!("bad time '{text}': {e}"))
}

/// Loads the pair of `dir`.
pub fn load_pair(dir: &Path) -> Result<(PairBytes, CertifiedKey), TlsError> {
    let bytes = read_pair(dir)?;
    let key = parse_pair(&bytes)?;
    Ok((bytes, key))
}

/// The certificate rustls serves; empty until the first good pair is stored.
#[derive(Debug, Default)]
pub struct CertStore {
    current: ArcSwapOption<CertifiedKey>,
}

impl CertStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn store(&self, key: CertifiedKey) {
        self.current.store(Some(Arc::new(key)));
    }

    pub fn is_loaded(&self) -> bool {
        self.current.load().is_some()
    }

    /// DER of the leaf certificate now served.
    pub fn leaf(&self) -> Option<CertificateDer<'static>> {
        self.current.load_full().and_then(|k| k.cert.first().cloned())
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.load_full()
    }
}

/// A rustls server config (ring, TLS 1.2 and 1.3 only, HTTP/1.1) serving from `store`.
pub fn server_config(store: Arc<CertStore>) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
