#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Tests against a real Kubernetes cluster with the operator installed (`make deploy`) that can
//! run real Flink images, run by `make e2e-images`. They are `#[ignore]`d in `make test`: no
//! container runtime runs on the CI machines (the real-cluster tier without images,
//! `tests/real_cluster_api.rs`, runs there). Point
//! the current kubeconfig context at a disposable single-node cluster (kind, minikube) that can
//! pull `flink:1.20`; the tests work in namespace `$E2E_NAMESPACE` (default
//! `flink-lifecycle-e2e`, created if absent) and delete what they create. Savepoints and
//! checkpoints go to a hostPath directory, which JobManager and TaskManager share only on one node.

use flink_lifecycle::api::{FlinkDeployment, FlinkJobState, ResourceLifecycleState};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn namespace() -> String {
    std::env::var("E2E_NAMESPACE").unwrap_or_else(|_| "flink-lifecycle-e2e".into())
}

/// The cluster of the current kubeconfig; a clear failure (never a silent skip) without one.
async fn cluster() -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_default().await.unwrap_or_else(|e| {
        panic!("make e2e needs a kubeconfig whose current context is a cluster with the operator installed (make deploy): {e}")
    });
    let crds: Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = Api::all(client.clone());
    crds.get("flinkdeployments.flink.apache.org")
        .await
        .unwrap_or_else(|e| panic!("the FlinkDeployment CRD is not installed (make deploy): {e}"));
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces.get_opt(&namespace()).await.unwrap().is_none() {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace()}})).unwrap();
        namespaces.create(&PostParams::default(), &ns).await.unwrap();
    }
    client
}

/// A savepoint-mode application of Flink's own example job (in every `flink` image).
fn application(name: &str) -> Value {
    let dir = format!("/flink-data/{name}");
    json!({
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkDeployment",
        "metadata": {"name": name, "namespace": namespace()},
        "spec": {
            "image": "flink:1.20",
            "flinkVersion": "v1_20",
            "serviceAccount": "default",
            "flinkConfiguration": {
                "taskmanager.numberOfTaskSlots": "2",
                "execution.checkpointing.dir": format!("file://{dir}/checkpoints"),
                "execution.checkpointing.savepoint-dir": format!("file://{dir}/savepoints"),
                "execution.checkpointing.interval": "5 s"
            },
            "podTemplate": {"spec": {
                "containers": [{"name": "flink-main-container", "volumeMounts": [{"name": "data", "mountPath": "/flink-data"}]}],
                "volumes": [{"name": "data", "hostPath": {"path": "/tmp/flink-lifecycle-e2e", "type": "DirectoryOrCreate"}}]
            }},
            "jobManager": {"resource": {"memory": "1024m", "cpu": 0.5}},
            "taskManager": {"resource": {"memory": "1024m", "cpu": 0.5}},
            "job": {
                "jarURI": "local:///opt/flink/examples/streaming/StateMachineExample.jar",
                "parallelism": 1,
                "upgradeMode": "savepoint",
                "state": "running"
            }
        }
    })
}

async fn wait_for(
    api: &Api<FlinkDeployment>,
    name: &str,
    what: &str,
    ok: impl Fn(&FlinkDeployment) -> bool,
) -> FlinkDeployment {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let current = api.get_opt(name).await.unwrap();
        if let Some(d) = &current
            && ok(d)
        {
            return d.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{name}: not {what} within 10 minutes; status: {:?}",
            current.and_then(|d| d.status)
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn wait_gone(api: &Api<FlinkDeployment>, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while api.get_opt(name).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "{name}: not deleted within 5 minutes");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn job_id(d: &FlinkDeployment) -> Option<String> {
    d.status.as_ref()?.job_status.as_ref()?.job_id.clone()
}

fn stable_running(d: &FlinkDeployment) -> bool {
    let Some(s) = &d.status else { return false };
    s.lifecycle_state == Some(ResourceLifecycleState::Stable)
        && s.job_status.as_ref().and_then(|j| j.state) == Some(FlinkJobState::Running)
        && s.observed_generation == d.metadata.generation
}

fn upgrade_savepoint(d: &FlinkDeployment) -> Option<String> {
    d.status
        .as_ref()?
        .job_status
        .as_ref()?
        .upgrade_savepoint_path
        .clone()
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster with the operator installed: make e2e"]
async fn the_webhook_rejects_an_invalid_spec_at_apply_time() {
    let client = cluster().await;
    let api: Api<FlinkDeployment> = Api::namespaced(client, &namespace());
    let mut invalid = application("e2e-invalid");
    // last-state needs a checkpoint directory to restore from.
    invalid["spec"]["job"]["upgradeMode"] = json!("last-state");
    invalid["spec"]["flinkConfiguration"]
        .as_object_mut()
        .unwrap()
        .remove("execution.checkpointing.dir");
    let d: FlinkDeployment = serde_json::from_value(invalid).unwrap();
    let err = api
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &d,
        )
        .await
        .expect_err("the webhook must deny a last-state job without a checkpoint directory");
    let text = err.to_string();
    assert!(
        text.contains("denied the request"),
        "not a webhook denial: {text}"
    );
    assert!(
        text.contains("checkpoint"),
        "the message must name the missing setting: {text}"
    );
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster with the operator installed and the flink:1.20 image: make e2e"]
async fn a_savepoint_job_is_deployed_upgraded_suspended_resumed_and_deleted_with_its_state() {
    let client = cluster().await;
    let api: Api<FlinkDeployment> = Api::namespaced(client, &namespace());
    let name = "e2e-savepoint";
    let _ = api.delete(name, &DeleteParams::default()).await;
    wait_gone(&api, name).await;
    let d: FlinkDeployment = serde_json::from_value(application(name)).unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
    let first = wait_for(&api, name, "stable and running", stable_running).await;
    let first_job = job_id(&first).unwrap();

    // Upgrade: stop with a savepoint, start a new job from it.
    let patch = PatchParams::default();
    api.patch(
        name,
        &patch,
        &Patch::Merge(json!({"spec": {"job": {"parallelism": 2}}})),
    )
    .await
    .unwrap();
    let upgraded = wait_for(&api, name, "upgraded", |d| {
        stable_running(d) && job_id(d).is_some_and(|id| id != first_job)
    })
    .await;
    let savepoint = upgrade_savepoint(&upgraded).expect("the upgrade recorded its savepoint");
    assert!(savepoint.contains("/savepoints/"), "{savepoint}");

    // Suspend: a final savepoint, no JobManager left.
    api.patch(
        name,
        &patch,
        &Patch::Merge(json!({"spec": {"job": {"state": "suspended"}}})),
    )
    .await
    .unwrap();
    let suspended = wait_for(&api, name, "suspended", |d| {
        d.status.as_ref().and_then(|s| s.lifecycle_state) == Some(ResourceLifecycleState::Suspended)
    })
    .await;
    let suspend_savepoint = upgrade_savepoint(&suspended).unwrap();
    assert_ne!(suspend_savepoint, savepoint, "suspend takes a new savepoint");

    // Resume from that savepoint.
    api.patch(
        name,
        &patch,
        &Patch::Merge(json!({"spec": {"job": {"state": "running"}}})),
    )
    .await
    .unwrap();
    let resumed = wait_for(&api, name, "resumed", stable_running).await;
    assert_eq!(
        upgrade_savepoint(&resumed).as_deref(),
        Some(suspend_savepoint.as_str())
    );

    // Delete: the finalizer goes once the cluster is gone.
    api.delete(name, &DeleteParams::default()).await.unwrap();
    wait_gone(&api, name).await;
}
