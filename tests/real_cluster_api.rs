//! The real-cluster tier: the install, the examples, the status write-ahead log, the operator's
//! controllers (with only the manifests' RBAC) and admission, each checked against a REAL
//! kube-apiserver + kube-controller-manager + etcd on 127.0.0.1 (`tests/cluster/`, see its
//! README), or the cluster of `$E2E_KUBECONFIG`. No kubelet runs: Pods stay Pending, no Flink
//! runs, and every request goes to 127.0.0.0/8.
//!
//! One test runs the sections in order on one control plane (each section needs the previous
//! one's state: the CRDs, the RBAC), printing `real-cluster: section ...` as it goes.
//!
//! Webhooks are registered with `clientConfig.url: https://127.0.0.1:<port>/...`, not with the
//! Service of the shipped manifests: the apiserver refuses loopback addresses in EndpointSlices
//! (`may not be in the loopback range`), so a Service can never route to a process on this host.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/control_plane.rs"]
mod control_plane;
#[path = "webhook_support/mod.rs"]
mod webhook_support;

use control_plane::ControlPlane;
use flink_lifecycle::api::{
    FlinkDeployment, FlinkDeploymentStatus, JobStatus, ReconciledSpec, SavepointInfo,
};
use flink_lifecycle::config::OperatorConfig;
use flink_lifecycle::controller::{
    Context, DEPLOYMENT_FINALIZER, Error, KnownVersions, RestUrlResolver, StatusLog,
};
use flink_lifecycle::webhook::NoSessions;
use futures::FutureExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const OVERLAY: &str = "manifests/overlays/self-signed";
/// Namespace and ServiceAccount of the operator in manifests/base.
const OPERATOR_NS: &str = "flink-lifecycle";
const OPERATOR_SA: &str = "flink-lifecycle";
/// The namespace of every example.
const EXAMPLES_NS: &str = "flink-jobs";
/// Where sections c-e create their resources (the default overlay's ClusterRole covers all).
const TEST_NS: &str = "real-cluster";
const CRDS: [&str; 2] = [
    "flinkdeployments.flink.apache.org",
    "flinksessionjobs.flink.apache.org",
];

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn section(name: &str) {
    let at = STARTED.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("real-cluster: [{at:5.1} s] section {name}");
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Polls `check` every 250 ms until it returns `Some`, at most `timeout`.
async fn wait<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "not {what} within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A savepoint-mode application that validates (checkpoint and savepoint directories set).
fn application(name: &str, namespace: &str) -> Value {
    json!({
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "image": "flink:1.20",
            "flinkVersion": "v1_20",
            "serviceAccount": "default",
            "flinkConfiguration": {
                "taskmanager.numberOfTaskSlots": "2",
                "state.checkpoints.dir": "file:///flink-data/checkpoints",
                "state.savepoints.dir": "file:///flink-data/savepoints"
            },
            "jobManager": {"resources": {"requests": {"memory": "1024Mi", "cpu": "0.5"}}},
            "taskManager": {"resources": {"requests": {"memory": "1024Mi", "cpu": "0.5"}}},
            "job": {
                "jarURI": "local:///opt/flink/examples/streaming/StateMachineExample.jar",
                "parallelism": 1,
                "upgradeMode": "savepoint",
                "state": "running"
            }
        }
    })
}

fn yaml(v: &Value) -> String {
    // JSON is YAML; kubectl reads either from stdin.
    serde_json::to_string_pretty(v).unwrap()
}

/// Fast operator timings (as tests/support/e2e.rs's test_operator_config).
fn operator_config() -> OperatorConfig {
    OperatorConfig::from_yaml(
        "kubernetes.operator.reconcile.interval: 2 s\n\
         kubernetes.operator.observer.progress-check.interval: 1 s\n\
         kubernetes.operator.observer.rest-ready.delay: 1 s\n\
         kubernetes.operator.retry.initial.interval: 500 ms\n\
         kubernetes.operator.retry.max.interval: 3 s\n",
    )
    .expect("operator config")
}

/// No Flink runs (no kubelet): no cluster has a REST endpoint.
struct NoRest;

impl RestUrlResolver for NoRest {
    fn rest_url(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

async fn ensure_namespace(cp: &ControlPlane, name: &str) {
    let api: Api<Namespace> = Api::all(cp.client.clone());
    if api.get_opt(name).await.unwrap().is_none() {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        api.create(&PostParams::default(), &ns).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_apiserver_install_examples_status_operator_admission() {
    let t0 = *STARTED.get_or_init(Instant::now);
    // RUST_LOG=flink_lifecycle=debug shows the operator's plans and warnings.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    let cp = ControlPlane::start().await;
    let repo = repo();
    let repo_s = repo.display().to_string();

    // ---------------------------------------------------------------------------------------
    section("a: install (kubectl apply -k manifests/overlays/self-signed)");
    let overlay = format!("{repo_s}/{OVERLAY}");
    let out = cp.kubectl(&["apply", "-k", &overlay]);
    let applied = text(&out);
    assert!(out.status.success(), "apply -k {OVERLAY}:\n{applied}");
    for line in applied.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.ends_with(" created") || line.ends_with(" configured") || line.ends_with(" unchanged"),
            "apply -k: unexpected line {line:?} in:\n{applied}"
        );
    }
    for kind in [
        "namespace/flink-lifecycle",
        "customresourcedefinition.apiextensions.k8s.io/flinkdeployments.flink.apache.org",
        "customresourcedefinition.apiextensions.k8s.io/flinksessionjobs.flink.apache.org",
        "serviceaccount/flink-lifecycle",
        "clusterrole.rbac.authorization.k8s.io/flink-lifecycle-watched",
        "clusterrole.rbac.authorization.k8s.io/flink-lifecycle-webhook-ca",
        "deployment.apps/flink-lifecycle",
        "validatingwebhookconfiguration.admissionregistration.k8s.io/flink-lifecycle",
        "mutatingwebhookconfiguration.admissionregistration.k8s.io/flink-lifecycle",
    ] {
        assert!(
            applied.contains(kind),
            "apply -k did not apply {kind}:\n{applied}"
        );
    }
    for crd in CRDS {
        cp.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{crd}"),
            "--timeout=60s",
        ]);
    }
    // The OpenAPI document that explain reads is published a moment after Established.
    let explain = wait("kubectl explain served", Duration::from_secs(60), || {
        let out = cp.kubectl(&["explain", "flinkdeployment.spec.job.upgradeMode"]);
        async move {
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        }
    })
    .await;
    let description = explain
        .split_once("DESCRIPTION:")
        .map(|(_, d)| d.trim())
        .unwrap_or_default();
    assert!(
        !description.is_empty() && description.contains("state"),
        "kubectl explain printed no description:\n{explain}"
    );
    // The shipped webhook configurations route through the Service flink-lifecycle-webhook,
    // whose Pod never runs here (no kubelet): with failurePolicy Fail every CREATE is refused.
    let out = cp.kubectl_stdin(
        &["apply", "--dry-run=server", "-f", "-"],
        &yaml(&application("refused", "default")),
    );
    assert!(
        !out.status.success() && text(&out).contains("failed calling webhook"),
        "the overlay's webhooks (failurePolicy Fail, no endpoint) must refuse a FlinkDeployment:\n{}",
        text(&out)
    );

    // ---------------------------------------------------------------------------------------
    section("b: examples/ (kubectl apply --dry-run=server), strict field validation");
    // The overlay's webhook configurations are deleted first: nothing serves them (see above).
    // Section e registers its own, with a loopback URL.
    cp.kubectl_ok(&[
        "delete",
        "validatingwebhookconfiguration/flink-lifecycle",
        "mutatingwebhookconfiguration/flink-lifecycle",
    ]);
    ensure_namespace(&cp, EXAMPLES_NS).await;
    ensure_namespace(&cp, TEST_NS).await;
    let mut examples: Vec<_> = std::fs::read_dir(repo.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    examples.sort();
    assert!(!examples.is_empty(), "no examples/*.yaml");
    for example in &examples {
        let path = example.display().to_string();
        let out = cp.kubectl(&["apply", "--dry-run=server", "-f", &path]);
        assert!(out.status.success(), "examples: {path} refused:\n{}", text(&out));
        eprintln!("real-cluster:   {}", text(&out).trim().replace('\n', "; "));
    }
    // Every object in a YAML block of the README and docs/: the kinds this apiserver serves are
    // applied (server-side dry run); Argo CD's own kinds need its CRDs, which this control plane
    // does not have: tests/argocd_applications.rs checks those against Argo CD's schema.
    let mut doc_objects = 0;
    let mut docs: Vec<_> = std::fs::read_dir(repo.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.push(repo.join("README.md"));
    docs.sort();
    for doc in &docs {
        let markdown = std::fs::read_to_string(doc).unwrap();
        for block in markdown.split("```").skip(1).step_by(2) {
            let Some(body) = block
                .strip_prefix("yaml\n")
                .or_else(|| block.strip_prefix("yml\n"))
            else {
                continue;
            };
            let Ok(objects) = serde_saphyr::from_multiple::<Value>(body) else {
                continue;
            };
            for obj in objects
                .into_iter()
                .filter(|o| o.get("apiVersion").is_some() && o.get("kind").is_some())
            {
                let api = obj["apiVersion"].as_str().unwrap_or_default();
                if api.starts_with("argoproj.io/") {
                    continue;
                }
                if let Some(ns) = obj["metadata"]["namespace"].as_str() {
                    ensure_namespace(&cp, ns).await;
                }
                let out = cp.kubectl_stdin(&["apply", "--dry-run=server", "-f", "-"], &yaml(&obj));
                assert!(
                    out.status.success(),
                    "{}: {} {} refused:\n{}",
                    doc.display(),
                    obj["kind"],
                    obj["metadata"]["name"],
                    text(&out)
                );
                doc_objects += 1;
            }
        }
    }
    eprintln!("real-cluster:   {doc_objects} object(s) from YAML blocks in docs/ and the README applied");
    assert!(
        doc_objects >= 1,
        "no YAML object found in docs/: the block parser is broken"
    );
    let mut typo = application("typo", EXAMPLES_NS);
    let job = typo["spec"]["job"].as_object_mut().unwrap();
    job.remove("upgradeMode");
    job.insert("upgradMode".into(), json!("savepoint"));
    let out = cp.kubectl_stdin(&["apply", "--dry-run=server", "-f", "-"], &yaml(&typo));
    let said = text(&out);
    assert!(
        !out.status.success() && said.contains("unknown field") && said.contains("upgradMode"),
        "a typo'd spec.job.upgradMode must be refused by strict field validation:\n{said}"
    );

    // ---------------------------------------------------------------------------------------
    section("c: printer columns, status write-ahead log (server-side apply, resourceVersion precondition)");
    let api: Api<FlinkDeployment> = Api::namespaced(cp.client.clone(), TEST_NS);
    let d: FlinkDeployment = serde_json::from_value(application("wal", TEST_NS)).unwrap();
    let created = api.create(&PostParams::default(), &d).await.unwrap();
    let header = cp
        .kubectl_ok(&["-n", TEST_NS, "get", "flinkdeployments"])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let crd_text =
        std::fs::read_to_string(repo.join("manifests/crds/flinkdeployments.flink.apache.org.yaml")).unwrap();
    let crd: Value = serde_saphyr::from_str(&crd_text).unwrap();
    let columns: Vec<String> = crd["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["priority"].as_i64().unwrap_or(0) == 0)
        .map(|c| c["name"].as_str().unwrap().to_uppercase())
        .collect();
    assert!(!columns.is_empty());
    for column in &columns {
        assert!(
            header.contains(column.as_str()),
            "kubectl get flinkdeployments: header {header:?} lacks column {column:?}"
        );
    }

    let known = KnownVersions::default();
    let status = |trigger: &str| FlinkDeploymentStatus {
        job_status: Some(JobStatus {
            savepoint_info: Some(SavepointInfo {
                trigger_id: Some(trigger.into()),
                trigger_timestamp: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut log = StatusLog::new(&api, &known, &created);
    assert!(
        log.write(None, &status("t-1")).await.unwrap(),
        "first status write"
    );
    let after = api.get("wal").await.unwrap();
    assert_eq!(
        after
            .status
            .as_ref()
            .and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.savepoint_info.as_ref())
            .and_then(|s| s.trigger_id.as_deref()),
        Some("t-1"),
        "the status the apiserver stored"
    );
    assert_ne!(after.resource_version(), created.resource_version());
    assert_eq!(
        serde_json::to_value(&after.spec).unwrap(),
        serde_json::to_value(&created.spec).unwrap(),
        "a status write changed spec"
    );
    assert_eq!(
        after.metadata.generation, created.metadata.generation,
        "a status write changed metadata.generation"
    );
    // A log opened on the object as first read (the old resourceVersion): refused with 409,
    // which StatusLog reports as StaleStatus.
    let mut stale = StatusLog::new(&api, &known, &created);
    match stale.write(None, &status("t-stale")).await {
        Err(Error::StaleStatus(name)) => assert_eq!(name, "wal"),
        other => panic!("a status write at the old resourceVersion: {other:?}"),
    }
    // The same write as a raw server-side apply: HTTP 409 Conflict.
    let raw = json!({
        "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
        "metadata": {"resourceVersion": created.resource_version()},
        "status": status("t-raw"),
    });
    match api
        .patch_status(
            "wal",
            &kube::api::PatchParams::apply("flink-lifecycle").force(),
            &kube::api::Patch::Apply(&raw),
        )
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 409, "{s:?}"),
        other => panic!("server-side apply of status at the old resourceVersion: {other:?}"),
    }
    // The log that wrote last continues from its own write.
    assert!(log.write(Some(&status("t-1")), &status("t-2")).await.unwrap());
    let last = api.get("wal").await.unwrap();
    assert_eq!(last.metadata.generation, created.metadata.generation);
    assert_eq!(
        last.status
            .and_then(|s| s.job_status)
            .and_then(|j| j.savepoint_info)
            .and_then(|s| s.trigger_id)
            .as_deref(),
        Some("t-2")
    );
    // Gone before the operator starts (no finalizer yet, so it goes at once).
    api.delete("wal", &DeleteParams::default()).await.unwrap();
    wait("wal deleted", Duration::from_secs(30), || async {
        api.get_opt("wal").await.unwrap().is_none().then_some(())
    })
    .await;

    // ---------------------------------------------------------------------------------------
    section("d: the operator's controllers with only the manifests' RBAC");
    let token = cp.kubectl_ok(&["-n", OPERATOR_NS, "create", "token", OPERATOR_SA, "--duration=1h"]);
    let operator_client = cp.client_with_token(token.trim()).await;
    let ctx = Arc::new(Context::new(operator_client, operator_config(), Arc::new(NoRest)));
    let stop_operator = CancellationToken::new();
    let operator = tokio::spawn(flink_lifecycle::controller::run(
        ctx.clone(),
        stop_operator.clone().cancelled_owned().shared(),
    ));
    let d: FlinkDeployment = serde_json::from_value(application("orders", TEST_NS)).unwrap();
    let created = api.create(&PostParams::default(), &d).await.unwrap();
    let with_status = wait("finalized and reconciled", Duration::from_secs(60), || async {
        let d = api.get("orders").await.unwrap();
        let s = d.status.as_ref()?;
        (d.finalizers().iter().any(|f| f == DEPLOYMENT_FINALIZER)
            && s.reconciliation_status.is_some()
            && s.job_manager_deployment_status.is_some())
        .then_some(d)
    })
    .await;
    eprintln!(
        "real-cluster:   status: {}",
        serde_json::to_string(&with_status.status).unwrap()
    );
    let deployments: Api<Deployment> = Api::namespaced(cp.client.clone(), TEST_NS);
    let jm = wait(
        "JobManager Deployment created",
        Duration::from_secs(60),
        || async { deployments.get_opt("orders").await.unwrap() },
    )
    .await;
    let owner = jm.owner_references();
    assert!(
        owner.iter().any(|o| o.kind == "FlinkDeployment"
            && o.name == "orders"
            && Some(&o.uid) == created.metadata.uid.as_ref()),
        "the JobManager Deployment's ownerReferences: {owner:?}"
    );
    let replica_sets: Api<ReplicaSet> = Api::namespaced(cp.client.clone(), TEST_NS);
    let owned_by = |uid: Option<String>| {
        move |rs: &ReplicaSet| rs.owner_references().iter().any(|o| Some(&o.uid) == uid.as_ref())
    };
    let rs = wait(
        "ReplicaSet by the Deployment controller",
        Duration::from_secs(60),
        || {
            let replica_sets = replica_sets.clone();
            let owned = owned_by(jm.metadata.uid.clone());
            async move {
                let list = replica_sets.list(&ListParams::default()).await.unwrap();
                list.items.into_iter().find(|rs| owned(rs))
            }
        },
    )
    .await;
    eprintln!(
        "real-cluster:   ReplicaSet {} of Deployment orders",
        rs.name_any()
    );

    // The operator's Events (events.k8s.io, as its RBAC grants) reached the apiserver.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(cp.client.clone(), TEST_NS);
    let reasons = wait(
        "an Event from flink-lifecycle",
        Duration::from_secs(30),
        || async {
            let list = events.list(&ListParams::default()).await.unwrap();
            let ours: Vec<String> = list
                .items
                .iter()
                .filter(|e| {
                    e.reporting_controller.as_deref() == Some("flink-lifecycle")
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("orders")
                })
                .filter_map(|e| e.reason.clone())
                .collect();
            (!ours.is_empty()).then_some(ours)
        },
    )
    .await;
    eprintln!("real-cluster:   Events of orders: {reasons:?}");

    // Garbage collection by ownerReference alone: a second resource whose finalizer is taken
    // off by hand while the operator is stopped must take its rendered objects with it.
    // Measured: ~20-40 s here, ~0.1 s once the CRD is older than 30 s. The real garbage
    // collector learns of a new resource type only at its 30 s discovery resync, and the CRD
    // was installed seconds ago (the in-memory API cascades at once).
    let d: FlinkDeployment = serde_json::from_value(application("gc", TEST_NS)).unwrap();
    let gc_created = api.create(&PostParams::default(), &d).await.unwrap();
    let gc_uid = gc_created.metadata.uid.clone();

    api.delete("orders", &DeleteParams::default()).await.unwrap();
    wait(
        "FlinkDeployment orders gone (finalizer released)",
        Duration::from_secs(120),
        || async { api.get_opt("orders").await.unwrap().is_none().then_some(()) },
    )
    .await;
    wait(
        "JobManager Deployment and its ReplicaSet garbage-collected",
        Duration::from_secs(120),
        || {
            let (deployments, replica_sets) = (deployments.clone(), replica_sets.clone());
            let owned = owned_by(jm.metadata.uid.clone());
            async move {
                let jm_gone = deployments.get_opt("orders").await.unwrap().is_none();
                let rs_gone = !replica_sets
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .any(owned);
                (jm_gone && rs_gone).then_some(())
            }
        },
    )
    .await;
    let gc_jm = wait(
        "JobManager Deployment gc created",
        Duration::from_secs(60),
        || async { deployments.get_opt("gc").await.unwrap() },
    )
    .await;
    wait("ReplicaSet of gc", Duration::from_secs(60), || {
        let replica_sets = replica_sets.clone();
        let owned = owned_by(gc_jm.metadata.uid.clone());
        async move {
            let list = replica_sets.list(&ListParams::default()).await.unwrap();
            list.items.iter().any(owned).then_some(())
        }
    })
    .await;
    stop_operator.cancel();
    tokio::time::timeout(Duration::from_secs(30), operator)
        .await
        .expect("the controllers stop on shutdown")
        .unwrap();
    // Every object the operator rendered for gc carries its ownerReference.
    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(cp.client.clone(), TEST_NS);
    let services: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(cp.client.clone(), TEST_NS);
    let owned_by_gc = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        meta.owner_references
            .iter()
            .flatten()
            .any(|o| Some(&o.uid) == gc_uid.as_ref())
    };
    let count_owned = || async {
        let cms = configmaps.list(&ListParams::default()).await.unwrap().items;
        let svcs = services.list(&ListParams::default()).await.unwrap().items;
        let deps = deployments.list(&ListParams::default()).await.unwrap().items;
        cms.iter().filter(|o| owned_by_gc(&o.metadata)).count()
            + svcs.iter().filter(|o| owned_by_gc(&o.metadata)).count()
            + deps.iter().filter(|o| owned_by_gc(&o.metadata)).count()
    };
    let rendered = count_owned().await;
    assert!(
        rendered >= 3,
        "gc: only {rendered} owned objects (ConfigMap, Services, Deployment)"
    );
    let gc_now = api.get("gc").await.unwrap();
    let index = gc_now
        .finalizers()
        .iter()
        .position(|f| f == DEPLOYMENT_FINALIZER)
        .expect("gc has the operator's finalizer");
    let path = format!("/metadata/finalizers/{index}");
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": path, "value": DEPLOYMENT_FINALIZER},
        {"op": "remove", "path": path}
    ]))
    .unwrap();
    api.patch(
        "gc",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::<()>::Json(patch),
    )
    .await
    .unwrap();
    api.delete("gc", &DeleteParams::default()).await.unwrap();
    let gc_started = Instant::now();
    wait(
        "gc's objects and ReplicaSet garbage-collected",
        Duration::from_secs(120),
        || {
            let replica_sets = replica_sets.clone();
            let owned = owned_by(gc_jm.metadata.uid.clone());
            let count = count_owned();
            async move {
                let left = count.await;
                let rs_left = replica_sets
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .any(owned);
                (left == 0 && !rs_left).then_some(())
            }
        },
    )
    .await;
    eprintln!(
        "real-cluster:   the garbage collector removed gc's {rendered} objects and ReplicaSet in {:.1} s",
        gc_started.elapsed().as_secs_f64()
    );

    // No reconcile failed on a Kubernetes API error (a 403 from the RBAC, a 422, a 409).
    let mut registry = prometheus_client::registry::Registry::default();
    ctx.metrics.register(&mut registry);
    let mut metrics = String::new();
    prometheus_client::encoding::text::encode(&mut metrics, &registry).unwrap();
    let errors: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("reconcile_errors_total{") && !l.ends_with(" 0"))
        .collect();
    assert!(errors.is_empty(), "failed reconciles: {errors:?}");

    // ---------------------------------------------------------------------------------------
    section("e: admission through the apiserver (webhook at https://127.0.0.1:<port>)");
    let tls = tempfile::Builder::new()
        .prefix("real-cluster-webhook-")
        .tempdir()
        .unwrap();
    let ca = webhook_support::write_certs(tls.path());
    let webhook = webhook_support::start(tls.path(), OperatorConfig::default(), Arc::new(NoSessions)).await;
    let port = webhook.addr.port();
    {
        use base64::Engine;
        let ca_bundle = base64::engine::general_purpose::STANDARD.encode(&ca);
        // The shipped rules (manifests/base/webhooks.yaml), with a URL instead of the Service:
        // see the top of this file.
        let config = json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "flink-lifecycle-real-cluster"},
            "webhooks": [{
                "name": "validate.flink-lifecycle.io",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "matchPolicy": "Equivalent",
                "timeoutSeconds": 5,
                "clientConfig": {"url": format!("https://127.0.0.1:{port}/validate"), "caBundle": ca_bundle},
                "rules": [{
                    "apiGroups": ["flink.apache.org"],
                    "apiVersions": ["*"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["flinkdeployments", "flinksessionjobs"],
                    "scope": "Namespaced"
                }]
            }]
        });
        let out = cp.kubectl_stdin(&["apply", "-f", "-"], &yaml(&config));
        assert!(out.status.success(), "register the webhook: {}", text(&out));
        let mut mutating = config.clone();
        mutating["kind"] = json!("MutatingWebhookConfiguration");
        let hook = &mut mutating["webhooks"][0];
        hook["name"] = json!("mutate.flink-lifecycle.io");
        hook["reinvocationPolicy"] = json!("Never");
        hook["clientConfig"]["url"] = json!(format!("https://127.0.0.1:{port}/mutate"));
        let out = cp.kubectl_stdin(&["apply", "-f", "-"], &yaml(&mutating));
        assert!(
            out.status.success(),
            "register the mutating webhook: {}",
            text(&out)
        );
    }
    let apply = |obj: &Value, dry_run: bool| {
        let mut args = vec!["apply", "-f", "-"];
        if dry_run {
            args.push("--dry-run=server");
        }
        cp.kubectl_stdin(&args, &yaml(obj))
    };
    let refused = |obj: &Value, words: &[&str]| {
        for dry_run in [false, true] {
            let out = apply(obj, dry_run);
            let said = text(&out);
            assert!(
                !out.status.success()
                    && said.contains("denied the request")
                    && words.iter().all(|w| said.contains(w)),
                "{} (dry run: {dry_run}) must be refused by the webhook with {words:?}:\n{said}",
                obj["metadata"]["name"]
            );
        }
    };
    // A valid spec first: the webhook answers (a registration takes a moment to be used).
    let valid = application("valid", TEST_NS);
    wait(
        "the webhook registered and answering",
        Duration::from_secs(30),
        || {
            let out = apply(&valid, true);
            async move { out.status.success().then_some(()) }
        },
    )
    .await;

    // The mutating webhook labels a session job with its cluster. The jarURI host is an IP
    // literal of TEST-NET-1: the webhook resolves jar host names (DNS), and nothing fetches it.
    let session_job = json!({
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkSessionJob",
        "metadata": {"name": "labelled", "namespace": TEST_NS},
        "spec": {
            "deploymentName": "session-cluster",
            "job": {"jarURI": "https://192.0.2.10/job.jar", "parallelism": 1, "upgradeMode": "stateless"}
        }
    });
    let out = cp.kubectl_stdin(
        &["apply", "--dry-run=server", "-o", "json", "-f", "-"],
        &yaml(&session_job),
    );
    assert!(out.status.success(), "session job (dry run): {}", text(&out));
    let admitted: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        admitted["metadata"]["labels"]["target.session"], "session-cluster",
        "the mutating webhook's label: {admitted}"
    );

    let mut last_state = application("last-state-no-dir", TEST_NS);
    last_state["spec"]["flinkConfiguration"]
        .as_object_mut()
        .unwrap()
        .remove("state.checkpoints.dir");
    last_state["spec"]["job"]["upgradeMode"] = json!("last-state");
    refused(&last_state, &["no checkpoint directory"]);

    let mut savepoint = application("savepoint-no-dir", TEST_NS);
    savepoint["spec"]["flinkConfiguration"]
        .as_object_mut()
        .unwrap()
        .remove("state.savepoints.dir");
    refused(&savepoint, &["no savepoint directory"]);

    // A warning: last-state without high availability is legal, and warned about.
    let mut warned = application("last-state-no-ha", TEST_NS);
    warned["spec"]["job"]["upgradeMode"] = json!("last-state");
    let out = apply(&warned, true);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && said.contains("Warning:") && said.contains("without high availability"),
        "a last-state spec without HA is admitted with a warning:\n{}",
        text(&out)
    );

    // An invalid upgrade of an existing resource: native → standalone, once a spec has been
    // reconciled (the webhook compares with status.reconciliationStatus.lastReconciledSpec).
    let out = apply(&valid, false);
    assert!(out.status.success(), "create valid: {}", text(&out));
    let stored = api.get("valid").await.unwrap();
    let mut reconciled = FlinkDeploymentStatus::default();
    let recorded = ReconciledSpec::new(serde_json::to_value(&stored.spec).unwrap(), false).encode();
    reconciled.reconciliation_status =
        Some(serde_json::from_value(json!({"lastReconciledSpec": recorded, "state": "DEPLOYED"})).unwrap());
    reconciled.observed_generation = stored.metadata.generation;
    StatusLog::new(&api, &known, &stored)
        .write(None, &reconciled)
        .await
        .unwrap();
    let mut standalone = valid.clone();
    standalone["spec"]["mode"] = json!("standalone");
    refused(&standalone, &["native to standalone"]);
    let unchanged = api.get("valid").await.unwrap();
    assert_eq!(unchanged.metadata.generation, stored.metadata.generation);

    // The webhook stops: failurePolicy Fail refuses what it cannot check.
    webhook.shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), webhook.task).await;
    let other = application("while-down", TEST_NS);
    let out = apply(&other, false);
    assert!(
        !out.status.success() && text(&out).contains("failed calling webhook"),
        "with the webhook down, failurePolicy Fail must refuse:\n{}",
        text(&out)
    );
    assert!(api.get_opt("while-down").await.unwrap().is_none());
    cp.kubectl_ok(&[
        "delete",
        "validatingwebhookconfiguration/flink-lifecycle-real-cluster",
        "mutatingwebhookconfiguration/flink-lifecycle-real-cluster",
    ]);
    api.delete("valid", &DeleteParams::default()).await.unwrap();

    eprintln!(
        "real-cluster: all sections passed in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}
