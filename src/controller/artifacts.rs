//! Fetching a session job's jar from `jarURI`: only schemes on the operator's allowlist, and for
//! http(s) never from loopback, link-local, private or metadata addresses (checked on the address
//! actually connected to, so DNS rebinding cannot sneak past the check).

use super::error::Result;
use crate::api::FlinkSessionJob;
use crate::config::OperatorConfig;
use kube::ResourceExt;
use std::path::PathBuf;
use std::time::Duration;

/// Jars larger than this are refused.
const MAX_JAR_BYTES: usize = 512 * 1024 * 1024;

use crate::validation::is_restricted;

/// Why a session job's jar could not be fetched; each message names the URI, host or file.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("spec.job.jarURI is required for a session job")]
    MissingJarUri,
    #[error("jarURI '{uri}' is not a valid URI: {reason}")]
    InvalidUri { uri: String, reason: String },
    #[error(
        "jarURI scheme '{scheme}' is not in kubernetes.operator.user.artifacts.allowed-schemes {allowed:?}"
    )]
    SchemeNotAllowed { scheme: String, allowed: Vec<String> },
    #[error("jar {} does not exist", path.display())]
    MissingLocalJar { path: PathBuf },
    #[error("jarURI scheme '{scheme}' cannot be fetched by the operator")]
    SchemeNotFetchable { scheme: String },
    #[error("jarURI '{url}' has no host")]
    NoHost { url: String },
    #[error("jarURI host '{host}' cannot be resolved: {reason}")]
    Unresolvable { host: String, reason: String },
    #[error("jarURI host '{host}' resolves to the restricted address {ip}")]
    RestrictedAddress { host: String, ip: std::net::IpAddr },
    #[error("jarURI host '{host}' has no address")]
    NoAddress { host: String },
    #[error("cannot build the download client: {0}")]
    Client(String),
    #[error("cannot download {url}: {reason}")]
    Download { url: String, reason: String },
    #[error("downloading {url} answered HTTP {status}")]
    HttpStatus { url: String, status: u16 },
    #[error("{url} is larger than {MAX_JAR_BYTES} bytes")]
    TooLarge { url: String },
    #[error("cannot write {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
}

/// Returns a local path holding the job's jar.
pub async fn fetch_jar(
    operator: &OperatorConfig,
    job: &FlinkSessionJob,
    jar_uri: Option<&str>,
) -> Result<PathBuf> {
    let uri = jar_uri
        .filter(|u| !u.trim().is_empty())
        .ok_or(ArtifactError::MissingJarUri)?;
    let url = reqwest::Url::parse(uri).map_err(|e| ArtifactError::InvalidUri {
        uri: uri.to_string(),
        reason: e.to_string(),
    })?;
    let scheme = url.scheme().to_ascii_lowercase();
    if !operator.artifacts_allowed_schemes.contains(&scheme) {
        return Err(ArtifactError::SchemeNotAllowed {
            scheme,
            allowed: operator.artifacts_allowed_schemes.clone(),
        }
        .into());
    }
    match scheme.as_str() {
        "file" | "local" => {
            let path = PathBuf::from(url.path());
            if tokio::fs::metadata(&path).await.is_err() {
                return Err(ArtifactError::MissingLocalJar { path }.into());
            }
            Ok(path)
        }
        "http" | "https" => download(operator, job, &url).await,
        other => Err(ArtifactError::SchemeNotFetchable {
            scheme: other.to_string(),
        }
        .into()),
    }
}

async fn download(operator: &OperatorConfig, job: &FlinkSessionJob, url: &reqwest::Url) -> Result<PathBuf> {
    let host = url
        .host_str()
        .ok_or_else(|| ArtifactError::NoHost { url: url.to_string() })?
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| ArtifactError::Unresolvable {
            host: host.clone(),
            reason: e.to_string(),
        })?
        .collect();
    let addr = if operator.artifacts_disallow_restricted_hosts {
        if let Some(bad) = addrs.iter().find(|a| is_restricted(a.ip())) {
            return Err(ArtifactError::RestrictedAddress { host, ip: bad.ip() }.into());
        }
        addrs.first().copied()
    } else {
        addrs.first().copied()
    }
    .ok_or_else(|| ArtifactError::NoAddress { host: host.clone() })?;
    let client = reqwest::Client::builder()
        .resolve(&host, addr)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120).max(operator.flink_client_timeout))
        .build()
        .map_err(|e| ArtifactError::Client(e.to_string()))?;
    let resp = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| ArtifactError::Download {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
    if !resp.status().is_success() {
        return Err(ArtifactError::HttpStatus {
            url: url.to_string(),
            status: resp.status().as_u16(),
        }
        .into());
    }
    let bytes = resp.bytes().await.map_err(|e| ArtifactError::Download {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    if bytes.len() > MAX_JAR_BYTES {
        return Err(ArtifactError::TooLarge { url: url.to_string() }.into());
    }
    let dir = std::env::temp_dir()
        .join("flink-lifecycle-artifacts")
        .join(job.namespace().unwrap_or_default())
        .join(job.name_any());
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ArtifactError::Write {
            path: dir.clone(),
            reason: e.to_string(),
        })?;
    let file = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|f| !f.is_empty())
        .unwrap_or("job.jar");
    let path = dir.join(file);
    tokio::fs::write(&path, &bytes)
        .await
        .map_err(|e| ArtifactError::Write {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    Ok(path)
}
