//! The self-signed mode against the in-memory Kubernetes API (kube-fake-client), seeded with the
//! webhook configurations of the rendered `self-signed` overlay: the operator issues a CA and a
//! serving certificate the API server would accept for the webhook Service, stores them in the
//! Secret the RBAC allows, sets caBundle on both configurations, keeps them while valid, rotates
//! before expiry without a moment where the served certificate is untrusted, and repairs a
//! damaged Secret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "install/mod.rs"]
mod install;

use flink_lifecycle::rbac;
use flink_lifecycle::selfsigned::{SelfSignedConfig, ServingCert, reconcile_once, secret};
use install::*;
use jiff::Timestamp;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

fn config(cert_dir: Option<std::path::PathBuf>) -> SelfSignedConfig {
    SelfSignedConfig {
        namespace: "flink-lifecycle".into(),
        secret_name: rbac::SELF_SIGNED_SECRET_NAME.into(),
        service_name: "flink-lifecycle-webhook".into(),
        webhook_configuration: rbac::WEBHOOK_CONFIGURATION_NAME.into(),
        validity: 90 * DAY,
        renew_before: 30 * DAY,
        cert_dir,
        check_interval: Duration::from_secs(300),
    }
}

async fn cluster(with_webhooks: bool) -> kube::Client {
    let mut objects = Vec::new();
    if with_webhooks {
        for o in overlay_objects("self-signed") {
            if kind(&o).ends_with("WebhookConfiguration") {
                objects.push(o);
            }
        }
        assert_eq!(objects.len(), 2);
    }
    kube_fake_client::ClientBuilder::new()
        .with_runtime_objects(objects)
        .build()
        .await
        .unwrap()
}

/// Whether a TLS client trusting `bundle_pem` (as the API server trusts caBundle) accepts
/// `cert_pem` for the webhook Service's name at `at`.
fn trusted(bundle_pem: &str, cert_pem: &str, at: Timestamp) -> bool {
    use rustls::client::danger::ServerCertVerifier;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(bundle_pem.as_bytes()) {
        roots.add(ca.unwrap()).unwrap();
    }
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .unwrap();
    let leaf = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    let name = ServerName::try_from("flink-lifecycle-webhook.flink-lifecycle.svc").unwrap();
    let now = UnixTime::since_unix_epoch(Duration::from_secs(at.as_second() as u64));
    verifier.verify_server_cert(&leaf, &[], &name, &[], now).is_ok()
}

async fn ca_bundles(client: &kube::Client) -> Vec<String> {
    let v: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let m: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let mut out = Vec::new();
    for w in v.get("flink-lifecycle").await.unwrap().webhooks.unwrap() {
        out.push(String::from_utf8(w.client_config.ca_bundle.unwrap().0).unwrap());
    }
    for w in m.get("flink-lifecycle").await.unwrap().webhooks.unwrap() {
        out.push(String::from_utf8(w.client_config.ca_bundle.unwrap().0).unwrap());
    }
    out
}

async fn stored(client: &kube::Client) -> Secret {
    Api::<Secret>::namespaced(client.clone(), "flink-lifecycle")
        .get(rbac::SELF_SIGNED_SECRET_NAME)
        .await
        .unwrap()
}

#[tokio::test]
async fn issues_stores_and_publishes_a_certificate_the_api_server_accepts() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = cluster(true).await;
    let dir = tempfile::tempdir().unwrap();
    let t0: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
    let cert = reconcile_once(&client, &config(Some(dir.path().into())), t0)
        .await
        .unwrap();

    assert!(trusted(&cert.ca_bundle_pem, &cert.cert_pem, t0));
    assert!(!trusted(
        &cert.ca_bundle_pem,
        &cert.cert_pem,
        t0.checked_add(jiff::SignedDuration::from_hours(91 * 24)).unwrap()
    ));
    for bundle in ca_bundles(&client).await {
        assert_eq!(bundle, cert.ca_bundle_pem);
    }
    let s = stored(&client).await;
    assert_eq!(s.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(secret::from_secret(&s).unwrap().cert_pem, cert.cert_pem);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("tls.crt")).unwrap(),
        cert.cert_pem
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("tls.key")).unwrap(),
        cert.key_pem
    );
    // The key is a real private key for the certificate: rustls builds a server config from them.
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
    let chain = vec![CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap()];
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
}

#[tokio::test]
async fn keeps_a_valid_certificate_and_rotates_before_expiry_without_a_gap() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = cluster(true).await;
    let cfg = config(None);
    let t0: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
    let first = reconcile_once(&client, &cfg, t0).await.unwrap();
    let rv = stored(&client).await.metadata.resource_version;

    // A day later nothing changes: same certificate, Secret untouched.
    let t1 = t0.checked_add(jiff::SignedDuration::from_hours(24)).unwrap();
    let again = reconcile_once(&client, &cfg, t1).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(stored(&client).await.metadata.resource_version, rv);

    // 61 days in, less than 30 days are left: a new CA and certificate.
    let t2 = t0.checked_add(jiff::SignedDuration::from_hours(61 * 24)).unwrap();
    let rotated: ServingCert = reconcile_once(&client, &cfg, t2).await.unwrap();
    assert_ne!(rotated.cert_pem, first.cert_pem);
    assert!(rotated.not_after > first.not_after);
    // The published bundle trusts both the certificate still being served and the new one.
    let bundles = ca_bundles(&client).await;
    for bundle in &bundles {
        assert_eq!(bundle, &rotated.ca_bundle_pem);
        assert!(
            trusted(bundle, &first.cert_pem, t2),
            "old certificate untrusted mid-rotation"
        );
        assert!(trusted(bundle, &rotated.cert_pem, t2));
    }
    assert_eq!(
        CertificateDer::pem_slice_iter(rotated.ca_bundle_pem.as_bytes()).count(),
        2
    );
}

#[tokio::test]
async fn repairs_a_damaged_secret_and_tolerates_missing_webhook_configurations() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = cluster(false).await;
    let cfg = config(None);
    let t0: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
    // The webhook configurations are not applied yet (e.g. a later sync wave): still issue.
    let first = reconcile_once(&client, &cfg, t0).await.unwrap();

    let secrets: Api<Secret> = Api::namespaced(client.clone(), "flink-lifecycle");
    let mut damaged = stored(&client).await;
    damaged.data.as_mut().unwrap().remove(secret::TLS_KEY);
    secrets
        .replace(rbac::SELF_SIGNED_SECRET_NAME, &Default::default(), &damaged)
        .await
        .unwrap();
    let repaired = reconcile_once(&client, &cfg, t0).await.unwrap();
    assert_ne!(repaired.cert_pem, first.cert_pem);
    assert!(trusted(&repaired.ca_bundle_pem, &repaired.cert_pem, t0));
    let data = stored(&client).await.data.unwrap();
    let key = String::from_utf8(data[secret::TLS_KEY].0.clone()).unwrap();
    assert_eq!(key, repaired.key_pem);
}

/// The long-running shell reports the certificate once, writes it for the webhook server, and
/// stops on shutdown.
#[tokio::test]
async fn run_loop_reports_the_certificate_once_and_stops_on_shutdown() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = cluster(true).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(Some(dir.path().into()));
    cfg.check_interval = Duration::from_millis(20);
    let seen = Arc::new(std::sync::Mutex::new(Vec::<ServingCert>::new()));
    let sink = seen.clone();
    let shutdown = tokio::time::sleep(Duration::from_millis(300));
    tokio::time::timeout(
        Duration::from_secs(10),
        flink_lifecycle::selfsigned::run(
            client.clone(),
            cfg,
            move |c| sink.lock().unwrap().push(c.clone()),
            shutdown,
        ),
    )
    .await
    .expect("run did not stop on shutdown");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "several checks, one certificate");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("tls.crt")).unwrap(),
        seen[0].cert_pem
    );
    for bundle in ca_bundles(&client).await {
        assert_eq!(bundle, seen[0].ca_bundle_pem);
    }
}

/// `start` has the certificate on disk and trusted before it returns, and its background loop
/// ends with the shutdown signal.
#[tokio::test]
async fn start_issues_before_returning_and_stops_with_shutdown() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = cluster(true).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(Some(dir.path().into()));
    cfg.check_interval = Duration::from_millis(20);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (cert, handle) = flink_lifecycle::selfsigned::start(client.clone(), cfg, async {
        let _ = rx.await;
    })
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("tls.key")).unwrap(),
        cert.key_pem
    );
    for bundle in ca_bundles(&client).await {
        assert_eq!(bundle, cert.ca_bundle_pem);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!handle.is_finished());
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .unwrap()
        .unwrap();
    // The loop's checks kept the same certificate.
    assert_eq!(
        stored(&client).await.data.unwrap()[secret::TLS_CRT].0,
        cert.cert_pem.as_bytes()
    );
}
