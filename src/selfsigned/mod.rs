//! Self-signed webhook certificates, for installs without cert-manager.
//!
//! The operator keeps a CA and a serving certificate for the webhook Service in one Secret,
//! reissues both before they expire (or when the Service's DNS names change), writes the serving
//! pair where the webhook server reads it, and keeps the `caBundle` of its Validating and Mutating
//! WebhookConfigurations current.
//!
//! Functional core: [`decide`] (does the Secret need (re)issuing at `now`?), [`issue`] (a new CA
//! and serving certificate), [`secret`] (Secret <-> certificates), [`ca_bundle_patch`] (the JSON
//! patch that makes a webhook configuration trust the bundle). Imperative shell: [`reconcile_once`]
//! and [`run`], which the `run` command calls when `--self-signed` is set.
//!
//! Rotation never breaks admission: a new CA is issued together with its serving certificate, and
//! the `caBundle` carries the new and the previous CA until the next rotation, so the API server
//! trusts the old serving certificate until the pod swaps to the new one, and the new one from
//! the moment it is served.

mod args;
mod decision;
mod issue;
pub mod secret;
mod shell;
mod webhook_patch;

pub use args::SelfSignedArgs;
pub use decision::{Decision, IssueReason, decide};
pub use issue::{Issued, issue};
pub use secret::StoredCerts;
pub use shell::{ServingCert, reconcile_once, run, start};
pub use webhook_patch::ca_bundle_patch;

use std::time::Duration;

/// What the self-signed certificate manager needs to know.
#[derive(Clone, Debug, PartialEq)]
pub struct SelfSignedConfig {
    /// The operator's namespace (Secret and Service live here).
    pub namespace: String,
    /// Secret holding the certificates.
    pub secret_name: String,
    /// The webhook Service the API server calls.
    pub service_name: String,
    /// Name of the Validating and the Mutating WebhookConfiguration to keep current.
    pub webhook_configuration: String,
    /// Lifetime of a newly issued CA and serving certificate.
    pub validity: Duration,
    /// Reissue when less than this is left.
    pub renew_before: Duration,
    /// Where to write `tls.crt` / `tls.key` for the webhook server (None: don't write files).
    pub cert_dir: Option<std::path::PathBuf>,
    /// How often the shell re-checks the Secret and the webhook configurations.
    pub check_interval: Duration,
}

impl SelfSignedConfig {
    /// The DNS names the API server may use for the Service (it checks SANs, never the CN).
    pub fn dns_names(&self) -> Vec<String> {
        let base = format!("{}.{}.svc", self.service_name, self.namespace);
        vec![
            self.service_name.clone(),
            format!("{}.{}", self.service_name, self.namespace),
            base.clone(),
            format!("{base}.cluster.local"),
        ]
    }
}

/// Why the self-signed certificates could not be managed.
#[derive(Debug, thiserror::Error)]
pub enum SelfSignedError {
    #[error("cannot issue certificate: {0}")]
    Issue(#[from] rcgen::Error),
    #[error("certificate validity out of range: {0}")]
    Time(String),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("stored certificates unreadable: {0}")]
    Unreadable(String),
    #[error("cannot encode a webhook configuration: {0}")]
    Json(#[from] serde_json::Error),
    #[error("Secret {0} changed concurrently; retrying on the next check")]
    Conflict(String),
}
