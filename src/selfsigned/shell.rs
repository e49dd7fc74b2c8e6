//! The imperative shell: read the Secret, decide, issue and store, patch the webhook
//! configurations' caBundle, write the serving pair for the webhook server.

use super::secret::{self, StoredCerts};
use super::{Decision, SelfSignedConfig, SelfSignedError, decide, issue};
use jiff::Timestamp;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use std::future::Future;
use std::path::Path;

/// The serving certificate in force after a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServingCert {
    pub cert_pem: String,
    pub key_pem: String,
    /// What the webhook configurations' caBundle now holds.
    pub ca_bundle_pem: String,
    /// When the next rotation is due.
    pub not_after: Timestamp,
}

fn conflict_or(e: kube::Error, name: &str) -> SelfSignedError {
    match &e {
        kube::Error::Api(s) if s.code == 409 => SelfSignedError::Conflict(name.to_string()),
        _ => SelfSignedError::Kube(e),
    }
}

/// Brings the certificate Secret (issuing or rotating it when [`decide`] says so), the caBundle
/// of both webhook configurations and, if configured, the files in `cert_dir` up to date at
/// `now`. A webhook configuration that does not exist yet is left for a later check.
pub async fn reconcile_once(
    client: &kube::Client,
    cfg: &SelfSignedConfig,
    now: Timestamp,
) -> Result<ServingCert, SelfSignedError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &cfg.namespace);
    let existing = secrets.get_opt(&cfg.secret_name).await?;
    let stored = existing.as_ref().map(secret::from_secret);
    let names = cfg.dns_names();
    let certs: StoredCerts = match (decide(stored.as_ref(), &names, cfg.renew_before, now), &stored) {
        (Decision::Keep { .. }, Some(Ok(certs))) => certs.clone(),
        (decision, _) => {
            tracing::info!(secret = %cfg.secret_name, ?decision, "issuing webhook CA and serving certificate");
            let issued = issue(&names, now, cfg.validity)?;
            let previous = stored.as_ref().and_then(|s| s.as_ref().ok());
            let bundle = secret::rotated_bundle(&issued.ca_pem, previous);
            let rv = existing
                .as_ref()
                .and_then(|s| s.metadata.resource_version.clone());
            let new = secret::to_secret(&cfg.secret_name, &cfg.namespace, &issued, &bundle, &names, rv);
            let pp = PostParams::default();
            let written = match existing {
                None => secrets.create(&pp, &new).await,
                Some(_) => secrets.replace(&cfg.secret_name, &pp, &new).await,
            }
            .map_err(|e| conflict_or(e, &cfg.secret_name))?;
            secret::from_secret(&written).map_err(SelfSignedError::Unreadable)?
        }
    };
    // Trust first, serve second: the API server must trust the new CA before the pod serves a
    // certificate signed by it.
    patch_ca_bundle::<ValidatingWebhookConfiguration>(client, cfg, &certs.ca_bundle_pem).await?;
    patch_ca_bundle::<MutatingWebhookConfiguration>(client, cfg, &certs.ca_bundle_pem).await?;
    if let Some(dir) = &cfg.cert_dir {
        write_if_changed(&dir.join(secret::TLS_KEY), &certs.key_pem)?;
        write_if_changed(&dir.join(secret::TLS_CRT), &certs.cert_pem)?;
    }
    Ok(ServingCert {
        cert_pem: certs.cert_pem,
        key_pem: certs.key_pem,
        ca_bundle_pem: certs.ca_bundle_pem,
        not_after: certs.not_after,
    })
}

async fn patch_ca_bundle<K>(
    client: &kube::Client,
    cfg: &SelfSignedConfig,
    bundle_pem: &str,
) -> Result<(), SelfSignedError>
where
    K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::all(client.clone());
    let Some(current) = api.get_opt(&cfg.webhook_configuration).await? else {
        tracing::warn!(name = %cfg.webhook_configuration, kind = %K::kind(&K::DynamicType::default()), "webhook configuration not found yet");
        return Ok(());
    };
    let value = serde_json::to_value(&current)?;
    if let Some(patch) = super::ca_bundle_patch(&value, bundle_pem) {
        api.patch(
            &cfg.webhook_configuration,
            &PatchParams::default(),
            &Patch::<()>::Json(patch),
        )
        .await?;
        tracing::info!(name = %cfg.webhook_configuration, "caBundle updated");
    }
    Ok(())
}

/// Writes `text` to `path` through a temp file and a rename (the reader never sees half a PEM),
/// unless the file already holds it.
fn write_if_changed(path: &Path, text: &str) -> Result<(), SelfSignedError> {
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    let err = |source| SelfSignedError::Write {
        path: path.display().to_string(),
        source,
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Checks every `cfg.check_interval` until `shutdown` resolves, calling `on_change` with the
/// serving certificate whenever it differs from the last one (first check included). Errors are
/// logged and retried at the next check: the webhook keeps serving the certificate it has.
pub async fn run(
    client: kube::Client,
    cfg: SelfSignedConfig,
    mut on_change: impl FnMut(&ServingCert) + Send,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut last: Option<ServingCert> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        match reconcile_once(&client, &cfg, Timestamp::now()).await {
            Ok(cert) if last.as_ref() != Some(&cert) => {
                on_change(&cert);
                last = Some(cert);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "self-signed certificate check failed"),
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(cfg.check_interval) => {}
        }
    }
}

/// What `run` calls at startup when `--self-signed` is set: one check before the webhook server
/// starts (so `tls.crt`/`tls.key` exist when it loads them, and the caBundle trusts them), then
/// the rotation loop in the background until `shutdown`. An error of the first check is returned:
/// the webhook cannot serve without a certificate.
pub async fn start(
    client: kube::Client,
    cfg: SelfSignedConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(ServingCert, tokio::task::JoinHandle<()>), SelfSignedError> {
    let first = reconcile_once(&client, &cfg, Timestamp::now()).await?;
    let initial = first.clone();
    let mut last = Some(first.clone());
    let handle = tokio::spawn(async move {
        let mut shutdown = std::pin::pin!(shutdown);
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(cfg.check_interval) => {}
        }
        run(
            client,
            cfg,
            move |cert| {
                if last.as_ref() != Some(cert) {
                    tracing::info!(not_after = %cert.not_after, "webhook serving certificate rotated");
                    last = Some(cert.clone());
                }
            },
            shutdown,
        )
        .await;
    });
    Ok((initial, handle))
}
