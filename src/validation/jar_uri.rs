//! Session-job `jarURI` rules (reference §2.5 #4): the operator downloads the jar itself, so the
//! scheme must be allowlisted and an http(s) host must not point into the cluster's own networks.
//! DNS is behind [`HostResolver`] so the rule stays pure; the shells pass a real resolver.

use super::error::{Rule, reject};
use crate::config::OperatorConfig;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const LOCATION: &str = "spec.job.jarURI";

/// Resolves a host name to its addresses (`Err` = cannot be resolved, with the reason).
pub trait HostResolver {
    fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, String>;
}

/// Resolves nothing and says so: for `validate --no-dns` (the restricted-host rule then applies
/// to literal addresses only).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDns;

impl HostResolver for NoDns {
    fn resolve(&self, _: &str) -> Result<Vec<IpAddr>, String> {
        Err("DNS disabled".into())
    }
}

/// The answers of an earlier lookup (the webhook resolves asynchronously, then validates).
#[derive(Clone, Debug, Default)]
pub struct ResolvedHosts(pub HashMap<String, Result<Vec<IpAddr>, String>>);

impl HostResolver for ResolvedHosts {
    fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        self.0
            .get(host)
            .cloned()
            .unwrap_or_else(|| Err("no DNS answer available".into()))
    }
}

/// Blocking lookup through the system resolver (the imperative shell of this rule).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl HostResolver for SystemResolver {
    fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        use std::net::ToSocketAddrs;
        (host, 0)
            .to_socket_addrs()
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .map_err(|e| e.to_string())
    }
}

/// The host the operator would contact for `jar_uri`, when the restricted-host rule applies and
/// the host is a name (not a literal address): what a shell must resolve before validating.
pub fn host_to_resolve(jar_uri: &str, operator: &OperatorConfig) -> Option<String> {
    if !operator.artifacts_disallow_restricted_hosts {
        return None;
    }
    let url = url::Url::parse(jar_uri).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    match url.host()? {
        url::Host::Domain(d) => Some(d.to_string()),
        _ => None,
    }
}

/// Checks a session job's `jarURI` against the operator-level artifact settings.
pub fn validate_jar_uri(jar_uri: &str, operator: &OperatorConfig, resolver: &dyn HostResolver) -> Rule {
    let allowed = operator.artifacts_allowed_schemes.join(", ");
    let url = match url::Url::parse(jar_uri) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return reject(
                LOCATION,
                format!("'{jar_uri}' has no scheme"),
                format!(
                    "Write a full URI with one of the allowed schemes [{allowed}], e.g. https://repo.example.com/job.jar"
                ),
            );
        }
        Err(e) => {
            return reject(
                LOCATION,
                format!("'{jar_uri}' is not a valid URI: {e}"),
                "Write a full URI, e.g. https://repo.example.com/job.jar (percent-encode spaces)",
            );
        }
    };
    let scheme = url.scheme().to_ascii_lowercase();
    if !operator.artifacts_allowed_schemes.contains(&scheme) {
        return reject(
            LOCATION,
            format!("scheme '{scheme}' is not in the allowlist [{allowed}]"),
            "Use an allowed scheme, or have the operator admin extend kubernetes.operator.user.artifacts.allowed-schemes",
        );
    }
    if !operator.artifacts_disallow_restricted_hosts || !matches!(scheme.as_str(), "http" | "https") {
        return Ok(());
    }
    let addresses = match url.host() {
        None => {
            return reject(
                LOCATION,
                "an http(s) jarURI must include a host",
                "Write https://<host>/<path>",
            );
        }
        Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
        Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
        Some(url::Host::Domain(name)) => match resolver.resolve(name) {
            Ok(a) if !a.is_empty() => a,
            // Not resolved (offline without DNS, or the name does not resolve now): admitted, as
            // the reference admits it. The name may resolve later (a repository set up after the
            // job), and the download checks the address it connects to; the webhook warns.
            Ok(_) | Err(_) => return Ok(()),
        },
    };
    let host = url.host_str().unwrap_or_default();
    if let Some(bad) = addresses.iter().find(|a| is_restricted(**a)) {
        return reject(
            LOCATION,
            format!(
                "jarURI host '{host}' resolves to the restricted address {bad} (loopback, link-local, private, wildcard or multicast)"
            ),
            "Serve the jar from a public artifact repository, or have the operator admin set \
             kubernetes.operator.user.artifacts.disallow-restricted-hosts: false",
        );
    }
    Ok(())
}

/// Loopback, link-local, site-local/private, unspecified and multicast addresses.
pub fn is_restricted(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_restricted_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_restricted_v4(v4),
            None => is_restricted_v6(v6),
        },
    }
}

fn is_restricted_v4(ip: Ipv4Addr) -> bool {
    ip.is_loopback() || ip.is_link_local() || ip.is_private() || ip.is_unspecified() || ip.is_multicast()
}

fn is_restricted_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local fec0::/10
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7, today's private range
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restricted_ranges() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "fec0::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::",
        ] {
            assert!(is_restricted(bad.parse().unwrap()), "{bad}");
        }
        for ok in ["8.8.8.8", "172.32.0.1", "2001:4860::8888", "151.101.0.1"] {
            assert!(!is_restricted(ok.parse().unwrap()), "{ok}");
        }
    }
}
