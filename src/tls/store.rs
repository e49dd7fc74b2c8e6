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

/// Parses and checks a pair: a non-empty chain and a key that matches its leaf.
pub fn parse_pair(bytes: &PairBytes) -> Result<CertifiedKey, TlsError> {
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
    Ok(certified)
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
