//! Lifecycle on real Flink through a REAL kube-apiserver + kube-controller-manager + etcd
//! (tests/cluster/): the real Deployment and ReplicaSet controllers create the Pods, the test
//! node (tests/support/node.rs) binds them and runs them as real Flink processes, the real
//! garbage collector deletes owned objects, and Flink's Kubernetes HA keeps its ConfigMaps in
//! the real apiserver with the `flink` ServiceAccount's token. The operator's controllers hold
//! only the manifests' RBAC. Each step asserts Flink's own truth (job ids, restore paths, the
//! test job's keyed counter) and that status as `kubectl get -o json` shows it agrees with
//! Flink's REST API.
//!
//! One test runs the sections in order on one control plane, printing
//! `real-lifecycle: section ...` as it goes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/argo_history.rs"]
mod argo_history;
#[path = "support/control_plane.rs"]
mod control_plane;
#[path = "support/elected.rs"]
mod elected;
#[path = "support/flink.rs"]
mod flink;
#[path = "support/flink_runtime.rs"]
mod flink_runtime;
#[path = "install/mod.rs"]
mod install;
#[path = "support/kubelet.rs"]
mod kubelet;
#[path = "support/node.rs"]
mod node;
#[path = "support/pod_process.rs"]
mod pod_process;
#[path = "support/real_env.rs"]
mod real_env;
#[path = "support/status_of.rs"]
mod status_of;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, DeleteParams, ListParams};
use real_env::{
    JOBS_NS, RealEnv, assert_status_agrees_with_flink, counter, ha_config_maps, jm_deployment, job_id,
    lifecycle, pods_of, restored_from, stable_with_new_job, stable_with_new_start, start_time,
};
use serde_json::json;
use std::time::Instant;

static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn section(name: &str) {
    let at = STARTED.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("real-lifecycle: section {name} (at {at:.1} s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_apiserver_lifecycle_on_real_flink() {
    STARTED.get_or_init(Instant::now);
    section("a: control plane, install, node, operator");
    let env = RealEnv::start(flink::FLINK_1_20).await;
    eprintln!("real-lifecycle:   kube-apiserver {}", env.cp.version);

    // ---------------------------------------------------------------------------------------
    section("b: savepoint mode: first deploy through the real Deployment/ReplicaSet controllers");
    let name = "orders";
    env.apply(&env.application(name, "v1_20", "savepoint"));
    let d = env
        .wait_for(name, "stable and running", stable_with_new_job(""))
        .await;
    let first = job_id(&d);
    let r = counter(&env, "orders/out-1", "counting", |r| r.max >= 3).await;
    assert_eq!(r.restored_min, 0, "a first deployment starts from empty state");
    assert_status_agrees_with_flink(&env, name).await;
    let pods = pods_of(&env, name).await;
    assert!(
        pods.iter()
            .all(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node::NODE_NAME)),
        "every Pod of {name} is bound to the test node"
    );
    let jm = jm_deployment(&env, name).await.expect("JobManager Deployment");
    assert_eq!(
        jm.status.as_ref().and_then(|s| s.available_replicas),
        Some(1),
        "the real Deployment controller reports the JobManager available"
    );

    // ---------------------------------------------------------------------------------------
    section("c: savepoint upgrade, applied server-side (no field-manager conflict with the operator)");
    let mut spec = env.application(name, "v1_20", "savepoint");
    spec["spec"]["job"]["args"] = env.args(name, "out-2");
    env.apply_server_side(&spec);
    let d = env.wait_for(name, "upgraded", stable_with_new_job(&first)).await;
    let restored = restored_from(&env, &d).await.expect("restored from a savepoint");
    assert!(
        restored.contains("/savepoints/savepoint-"),
        "restored from {restored}"
    );
    let r = counter(&env, "orders/out-2", "counting after the upgrade", |r| r.max > 0).await;
    assert!(r.restored_min > 0, "the keyed counter continued: {r:?}");
    assert_status_agrees_with_flink(&env, name).await;
    assert_eq!(
        env.node.running_of(name, "jobmanager"),
        1,
        "one JobManager per cluster after the upgrade"
    );
    // The operator's writes own status (and its finalizer), never a field of the spec.
    let managed = env.cp.kubectl_ok(&[
        "-n",
        JOBS_NS,
        "get",
        "flinkdeployment",
        name,
        "--show-managed-fields",
        "-o",
        "json",
    ]);
    let managed: serde_json::Value = serde_json::from_str(&managed).unwrap();
    for entry in managed["metadata"]["managedFields"].as_array().unwrap() {
        if entry["manager"] == "flink-lifecycle" {
            assert!(
                entry["fieldsV1"].get("f:spec").is_none(),
                "the operator owns spec fields: {entry}"
            );
        }
    }

    // ---------------------------------------------------------------------------------------
    section("d: suspend (pods gone through the real garbage collector) and resume");
    let second = job_id(&d);
    spec["spec"]["job"]["state"] = json!("suspended");
    env.apply(&spec);
    let d = env
        .wait_for(name, "suspended", |d| lifecycle(d) == "Suspended")
        .await;
    let suspend_savepoint = d
        .status
        .as_ref()
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.upgrade_savepoint_path.clone())
        .expect("the suspend savepoint is recorded");
    env.until("the suspended cluster's Pods gone", || async {
        (jm_deployment(&env, name).await.is_none() && pods_of(&env, name).await.is_empty()).then_some(())
    })
    .await;
    assert_eq!(
        env.node.running_of(name, "jobmanager") + env.node.running_of(name, "taskmanager"),
        0
    );
    spec["spec"]["job"]["state"] = json!("running");
    spec["spec"]["job"]["args"] = env.args(name, "out-3");
    env.apply(&spec);
    let d = env.wait_for(name, "resumed", stable_with_new_job(&second)).await;
    let restored = restored_from(&env, &d).await.expect("resumed from the savepoint");
    assert!(
        restored.trim_end_matches('/').ends_with(
            suspend_savepoint
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap()
        ),
        "resumed from {restored}, the suspend savepoint is {suspend_savepoint}"
    );
    let r = counter(&env, "orders/out-3", "counting after resume", |r| r.max > 0).await;
    assert!(r.restored_min > 0, "resume kept the state: {r:?}");

    // ---------------------------------------------------------------------------------------
    section("e: restartNonce");
    let third = job_id(&d);
    spec["spec"]["restartNonce"] = json!(1);
    spec["spec"]["job"]["args"] = env.args(name, "out-4");
    env.apply(&spec);
    let d = env.wait_for(name, "restarted", stable_with_new_job(&third)).await;
    assert!(
        restored_from(&env, &d)
            .await
            .unwrap_or_default()
            .contains("savepoint-")
    );
    let r = counter(&env, "orders/out-4", "counting after restart", |r| r.max > 0).await;
    assert!(r.restored_min > 0, "restart kept the state: {r:?}");
    assert_status_agrees_with_flink(&env, name).await;

    // ---------------------------------------------------------------------------------------
    section("e2: an upgrade that never becomes stable is rolled back with its state");
    let before_rollback = job_id(&d);
    spec["spec"]["flinkConfiguration"]["kubernetes.operator.deployment.rollback.enabled"] = json!("true");
    spec["spec"]["flinkConfiguration"]["kubernetes.operator.deployment.readiness.timeout"] = json!("45 s");
    spec["spec"]["job"]["entryClass"] = json!("lifecycle.NoSuchJob");
    spec["spec"]["job"]["args"] = env.args(name, "out-5");
    env.apply(&spec);
    // Once the stable job has stopped for the upgrade, its output is cleared: what appears there
    // again is the rolled-back job's.
    env.wait_for(name, "the stable job stopped for the upgrade", |d| {
        real_env::job_state(d) != "RUNNING" || job_id(d) != before_rollback
    })
    .await;
    std::fs::remove_dir_all(env.path("orders/out-4")).expect("remove out-4");
    let d = env
        .wait_for(name, "rolled back and running", |d| {
            lifecycle(d) == "RolledBack"
                && real_env::job_state(d) == "RUNNING"
                && job_id(d) != before_rollback
        })
        .await;
    // The stable spec runs again (its output directory out-4), from the upgrade's savepoint.
    let restored = restored_from(&env, &d)
        .await
        .expect("the rollback restored a snapshot");
    assert!(restored.contains("savepoint-"), "rolled back from {restored}");
    let r = counter(&env, "orders/out-4", "counting after the rollback", |r| r.max > 0).await;
    assert!(r.restored_min > 0, "the rollback kept the state: {r:?}");
    assert!(
        !std::path::Path::new(&env.path("orders/out-5")).exists(),
        "the broken spec never ran"
    );
    assert_status_agrees_with_flink(&env, name).await;
    // The user's fix: an upgrade of the rolled-back job like any other.
    let rolled_back = job_id(&d);
    spec["spec"]["job"]["entryClass"] = json!(flink::TestJob::MAIN_CLASS);
    spec["spec"]["job"]["args"] = env.args(name, "out-6");
    env.apply(&spec);
    env.wait_for(name, "the fix running", stable_with_new_job(&rolled_back))
        .await;
    let r = counter(&env, "orders/out-6", "counting on the fix", |r| r.max > 0).await;
    assert!(r.restored_min > 0, "the fix continued the state: {r:?}");

    // ---------------------------------------------------------------------------------------
    section("f: last-state with Kubernetes HA: ConfigMaps in the real apiserver");
    let ha = "ledger";
    let ha_spec = env.ha_application(ha, "v1_20", "last-state");
    env.apply(&ha_spec);
    let d = env
        .wait_for(ha, "stable and running", stable_with_new_job(""))
        .await;
    let ha_first = start_time(&d);
    counter(&env, "ledger/out-1", "past a few checkpoints", |r| r.max >= 5).await;
    let cms = env
        .until("Flink's HA ConfigMaps with a checkpoint", || async {
            let cms = ha_config_maps(&env, ha).await;
            cms.iter()
                .any(|c| {
                    c.data
                        .as_ref()
                        .is_some_and(|d| d.keys().any(|k| k.starts_with("checkpointID-")))
                })
                .then_some(cms)
        })
        .await;
    eprintln!(
        "real-lifecycle:   HA ConfigMaps: {:?}",
        cms.iter()
            .map(|c| c.metadata.name.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    );
    assert_status_agrees_with_flink(&env, ha).await;

    let mut ha_spec2 = ha_spec.clone();
    ha_spec2["spec"]["job"]["args"] = env.args(ha, "out-2");
    env.apply(&ha_spec2);
    let d = env
        .wait_for(ha, "last-state upgraded", stable_with_new_start(&ha_first))
        .await;
    let restored = restored_from(&env, &d)
        .await
        .expect("restored from the HA checkpoint");
    assert!(restored.contains("/chk-"), "last-state restored from {restored}");
    let r = counter(&env, "ledger/out-2", "counting after the upgrade", |r| r.max > 0).await;
    assert!(r.restored_min > 0, "last-state kept the state: {r:?}");

    // ---------------------------------------------------------------------------------------
    section("g: the JobManager Deployment deleted by hand is recovered from HA");
    counter(&env, "ledger/out-2", "past more checkpoints", |r| {
        r.max >= r.restored_min + 3
    })
    .await;
    let before = start_time(&d);
    let old_uid = jm_deployment(&env, ha).await.and_then(|j| j.metadata.uid);
    env.cp
        .kubectl_ok(&["-n", JOBS_NS, "delete", "deployment", ha, "--wait=false"]);
    let d = env
        .until(
            "the JobManager Deployment recreated and the job running",
            || async {
                let jm = jm_deployment(&env, ha).await?;
                let d = env.deployments().get(ha).await.unwrap();
                (jm.metadata.uid != old_uid
                    && jm.metadata.deletion_timestamp.is_none()
                    && stable_with_new_start(&before)(&d)
                    && env.node.running_of(ha, "jobmanager") == 1)
                    .then_some(d)
            },
        )
        .await;
    let restored = restored_from(&env, &d)
        .await
        .expect("recovered from a checkpoint");
    assert!(restored.contains("/chk-"), "recovered from {restored}");
    eprintln!(
        "real-lifecycle:   job {} restarted at {} after the recovery",
        job_id(&d),
        start_time(&d)
    );
    assert_status_agrees_with_flink(&env, ha).await;

    // ---------------------------------------------------------------------------------------
    section("h: suspended last-state with HA: the HA ConfigMaps are kept for the resume");
    let mut suspended = ha_spec2.clone();
    suspended["spec"]["job"]["state"] = json!("suspended");
    env.apply(&suspended);
    env.wait_for(ha, "suspended", |d| lifecycle(d) == "Suspended")
        .await;
    assert!(
        !ha_config_maps(&env, ha).await.is_empty(),
        "a last-state suspend keeps the HA ConfigMaps a resume restores from"
    );

    // ---------------------------------------------------------------------------------------
    section(
        "i: delete (the HA job while suspended): finalizer released, owned objects collected, HA ConfigMaps removed",
    );
    let deployments = env.deployments();
    for n in [name, ha] {
        deployments.delete(n, &DeleteParams::default()).await.unwrap();
    }
    for n in [name, ha] {
        env.until(&format!("{n} deleted"), || async {
            deployments.get_opt(n).await.unwrap().is_none().then_some(())
        })
        .await;
        env.until(&format!("{n}'s Pods and ReplicaSets collected"), || async {
            let rs: Api<ReplicaSet> = Api::namespaced(env.cp.client.clone(), JOBS_NS);
            let left = rs
                .list(&ListParams::default().labels(&format!("app={n}")))
                .await
                .unwrap()
                .items
                .len()
                + pods_of(&env, n).await.len();
            (left == 0 && jm_deployment(&env, n).await.is_none()).then_some(())
        })
        .await;
        assert_eq!(
            env.node.running_of(n, "jobmanager") + env.node.running_of(n, "taskmanager"),
            0,
            "{n}: the node still runs Flink processes"
        );
    }
    let left = ha_config_maps(&env, ha).await;
    assert!(
        left.is_empty(),
        "HA ConfigMaps left after delete: {:?}",
        left.iter().map(|c| c.metadata.name.clone()).collect::<Vec<_>>()
    );
    section("done");
}
