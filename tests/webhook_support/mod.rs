//! Shared by the webhook tests and the benchmark: a minimal HTTP/1.1-over-rustls keep-alive
//! client, dev certificates, and a running webhook.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use flink_lifecycle::admin::Readiness;
use flink_lifecycle::config::OperatorConfig;
use flink_lifecycle::webhook::{SessionLookup, WebhookArgs, start_webhook};
use prometheus_client::registry::Registry;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;

pub fn install_ring() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Writes a CA + serving pair for localhost/127.0.0.1 into `dir`; returns the CA PEM.
pub fn write_certs(dir: &Path) -> Vec<u8> {
    let certs = flink_lifecycle::certs::generate(
        &["localhost".into(), "127.0.0.1".into()],
        jiff::Zoned::now().date(),
        30,
    )
    .unwrap();
    flink_lifecycle::certs::write_secret_layout(dir, &certs).unwrap();
    certs.ca_pem.into_bytes()
}

pub fn client_config(
    ca_pems: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for pem in ca_pems {
        for cert in CertificateDer::pem_slice_iter(pem) {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive HTTPS connection.
pub struct Client {
    pub stream: TlsStream<TcpStream>,
    buf: Vec<u8>,
}

impl Client {
    pub async fn connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> std::io::Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from("localhost").unwrap();
        let stream = TlsConnector::from(config).connect(name, tcp).await?;
        Ok(Self {
            stream,
            buf: Vec::new(),
        })
    }

    /// The leaf certificate the server presented.
    pub fn server_leaf(&self) -> Vec<u8> {
        self.stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    }

    pub async fn post(&mut self, path: &str, content_type: &str, body: &[u8]) -> std::io::Result<Response> {
        // Head and body in one write, as an HTTP client's buffered writer sends them: written
        // apart, the head went out as its own TLS record and TCP segment, and the server woke
        // up once for it and again for the body.
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        self.stream.write_all(&request).await?;
        self.stream.flush().await?;
        self.read_response().await
    }

    /// Sends raw bytes (for malformed requests) and reads one response.
    pub async fn raw(&mut self, bytes: &[u8]) -> std::io::Result<Response> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        self.read_response().await
    }

    /// Sends raw bytes, tolerating a server that answers and closes before reading them all
    /// (an oversized body), then reads one response.
    pub async fn raw_lenient(&mut self, bytes: &[u8]) -> std::io::Result<Response> {
        for chunk in bytes.chunks(64 * 1024) {
            if self.stream.write_all(chunk).await.is_err() || self.stream.flush().await.is_err() {
                break;
            }
        }
        self.read_response().await
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    async fn read_response(&mut self) -> std::io::Result<Response> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let total = head_end + 4 + length;
        while self.buf.len() < total {
            self.fill().await?;
        }
        let body = self.buf[head_end + 4..total].to_vec();
        self.buf.drain(..total);
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// A webhook served on a loopback port from `tls_dir`.
pub struct Running {
    pub addr: SocketAddr,
    pub readiness: Readiness,
    pub registry: Registry,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

pub async fn start(tls_dir: &Path, operator: OperatorConfig, sessions: Arc<dyn SessionLookup>) -> Running {
    install_ring();
    let readiness = Readiness::new();
    let mut registry = Registry::default();
    let shutdown = CancellationToken::new();
    let args = WebhookArgs::new("127.0.0.1:0".parse().unwrap(), tls_dir.to_path_buf(), false);
    let (addr, task) = start_webhook(
        &args,
        Arc::new(operator),
        sessions,
        &readiness,
        &mut registry,
        shutdown.clone(),
    )
    .await
    .unwrap();
    Running {
        addr,
        readiness,
        registry,
        shutdown,
        task,
    }
}

/// An AdmissionReview v1 request body.
pub fn review(
    uid: &str,
    operation: &str,
    object: &serde_json::Value,
    old: Option<&serde_json::Value>,
) -> Vec<u8> {
    let kind = object["kind"].as_str().unwrap_or("FlinkDeployment");
    let resource = match kind {
        "FlinkSessionJob" => "flinksessionjobs",
        "FlinkStateSnapshot" => "flinkstatesnapshots",
        _ => "flinkdeployments",
    };
    let body = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "flink.apache.org", "version": "v1beta1", "kind": kind},
            "resource": {"group": "flink.apache.org", "version": "v1beta1", "resource": resource},
            "name": object["metadata"]["name"],
            "namespace": object["metadata"]["namespace"],
            "operation": operation,
            "userInfo": {"username": "alice"},
            "object": object,
            "oldObject": old,
            "dryRun": false
        }
    });
    serde_json::to_vec(&body).unwrap()
}
