//! Fetching a session job's jar from `jarURI`: only schemes on the operator's allowlist, and for
//! http(s) never from loopback, link-local, private or metadata addresses (checked on the address
//! actually connected to, so DNS rebinding cannot sneak past the check).

use super::error::{Error, Result};
use crate::api::FlinkSessionJob;
use crate::config::OperatorConfig;
use kube::ResourceExt;
use std::path::PathBuf;
use std::time::Duration;

/// Jars larger than this are refused.
const MAX_JAR_BYTES: usize = 512 * 1024 * 1024;

use crate::validation::is_restricted;

/// Returns a local path holding the job's jar.
pub async fn fetch_jar(
    operator: &OperatorConfig,
    job: &FlinkSessionJob,
    jar_uri: Option<&str>,
) -> Result<PathBuf> {
    let uri = jar_uri
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| Error::Artifact("spec.job.jarURI is required for a session job".into()))?;
    let url = reqwest::Url::parse(uri)
        .map_err(|e| Error::Artifact(format!("jarURI '{uri}' is not a valid URI: {e}")))?;
    let scheme = url.scheme().to_ascii_lowercase();
    if !operator.artifacts_allowed_schemes.contains(&scheme) {
        return Err(Error::Artifact(format!(
            "jarURI scheme '{scheme}' is not in kubernetes.operator.user.artifacts.allowed-schemes {:?}",
            operator.artifacts_allowed_schemes
        )));
    }
    match scheme.as_str() {
        "file" | "local" => {
            let path = PathBuf::from(url.path());
            if tokio::fs::metadata(&path).await.is_err() {
                return Err(Error::Artifact(format!("jar {} does not exist", path.display())));
            }
            Ok(path)
        }
        "http" | "https" => download(operator, job, &url).await,
        other => Err(Error::Artifact(format!(
            "jarURI scheme '{other}' cannot be fetched by the operator"
        ))),
    }
}

async fn download(operator: &OperatorConfig, job: &FlinkSessionJob, url: &reqwest::Url) -> Result<PathBuf> {
    let host = url
        .host_str()
        .ok_or_else(|| Error::Artifact(format!("jarURI '{url}' has no host")))?
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| Error::Artifact(format!("jarURI host '{host}' cannot be resolved: {e}")))?
        .collect();
    let addr = if operator.artifacts_disallow_restricted_hosts {
        if let Some(bad) = addrs.iter().find(|a| is_restricted(a.ip())) {
            return Err(Error::Artifact(format!(
                "jarURI host '{host}' resolves to the restricted address {}",
                bad.ip()
            )));
        }
        addrs.first().copied()
    } else {
        addrs.first().copied()
    }
    .ok_or_else(|| Error::Artifact(format!("jarURI host '{host}' has no address")))?;
    let client = reqwest::Client::builder()
        .resolve(&host, addr)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120).max(operator.flink_client_timeout))
        .build()
        .map_err(|e| Error::Artifact(format!("cannot build the download client: {e}")))?;
    let resp = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| Error::Artifact(format!("cannot download {url}: {e}")))?;
    if !resp.status().is_success() {
        return Err(Error::Artifact(format!(
            "downloading {url} answered HTTP {}",
            resp.status()
        )));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| Error::Artifact(format!("cannot download {url}: {e}")))?;
    if bytes.len() > MAX_JAR_BYTES {
        return Err(Error::Artifact(format!(
            "{url} is larger than {MAX_JAR_BYTES} bytes"
        )));
    }
    let dir = std::env::temp_dir()
        .join("flink-lifecycle-artifacts")
        .join(job.namespace().unwrap_or_default())
        .join(job.name_any());
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| Error::Artifact(format!("cannot create {}: {e}", dir.display())))?;
    let file = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|f| !f.is_empty())
        .unwrap_or("job.jar");
    let path = dir.join(file);
    tokio::fs::write(&path, &bytes)
        .await
        .map_err(|e| Error::Artifact(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}
