//! ZooKeeper HA end to end: real Flink 1.20 processes (the test kubelet, in-memory Kubernetes
//! API) and a real ZooKeeper server (Debian's package). The operator reads the HA metadata in
//! ZooKeeper for its last-state and recovery decisions, removes stale job graphs before a deploy
//! and deletes the cluster's HA subtree on delete. Each step asserts the test job's keyed
//! counter (state continued) and what ZooKeeper holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/argo_history.rs"]
mod argo_history;
#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/flink.rs"]
mod flink;
#[path = "support/flink_runtime.rs"]
mod flink_runtime;
#[path = "install/mod.rs"]
mod install;
#[path = "support/kube_api/mod.rs"]
mod kube_api;
#[path = "support/kubelet.rs"]
mod kubelet;
#[path = "support/status_of.rs"]
mod status_of;
#[path = "support/zookeeper.rs"]
mod zookeeper;

use e2e::{Env, LONG, counter, job_id};
use flink::FLINK_1_20;
use flink_lifecycle::api::FlinkDeployment;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams};
use serde_json::json;
use status_of::{error, lifecycle, start_time};
use zookeeper_client as zk;

/// Stable and running an execution that started after `previous` (with HA the job id stays).
fn stable_with_new_start(previous: &str, out: &str) -> impl Fn(&FlinkDeployment) -> bool {
    let (previous, out) = (previous.to_string(), out.to_string());
    move |d| {
        lifecycle(d) == "Stable"
            && d.status
                .as_ref()
                .and_then(|s| s.job_status.as_ref())
                .and_then(|j| j.state)
                .is_some_and(|s| s.as_str() == "RUNNING")
            && !start_time(d).is_empty()
            && start_time(d) != previous
            && d.status
                .as_ref()
                .and_then(|s| s.reconciliation_status.as_ref())
                .and_then(|r| r.last_reconciled_spec.as_deref())
                .is_some_and(|s| s.contains(&out))
    }
}

/// Children of a znode (none when it does not exist).
async fn children(client: &zk::Client, path: &str) -> Vec<String> {
    match client.list_children(path).await {
        Ok(c) => c,
        Err(zk::Error::NoNode) => Vec::new(),
        Err(e) => panic!("ZooKeeper list {path}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_state_with_zookeeper_ha_upgrades_recovers_suspends_and_deletes_with_state() {
    let server = zookeeper::ZooKeeper::start();
    let env = Env::start(FLINK_1_20).await;
    let client = zk::Client::connect(&server.quorum())
        .await
        .expect("ZooKeeper client");
    let name = "zl";
    let mut spec = env.application(name, "v1_20", "last-state");
    spec["spec"]["job"]["args"] = e2e::job_args(&env, name, "out-1", &[]);
    let conf = &mut spec["spec"]["flinkConfiguration"];
    conf["high-availability.type"] = json!("zookeeper");
    conf["high-availability.zookeeper.quorum"] = json!(server.quorum());
    conf["high-availability.storageDir"] = json!(format!("file://{}", env.path("zl/ha")));
    env.create(&spec).await;
    let d = env.wait_stable_running(name).await;
    let job = job_id(&d);
    counter(&env.path("zl/out-1"), "counting", |r| r.max >= 5).await;
    checkpoints_recorded(&env, name).await;
    let checkpoints = format!("/flink/{name}/jobs/{job}/checkpoints");
    let deadline = tokio::time::Instant::now() + LONG;
    while children(&client, &checkpoints).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Flink keeps the job's checkpoint pointers in ZooKeeper at {checkpoints}: none"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }

    // last-state upgrade: the cluster is replaced keeping the HA metadata; the stale job graph
    // is removed, so the new spec's main() runs and restores the HA checkpoint.
    let before = start_time(&d);
    env.patch_spec(
        name,
        json!({"job": {"args": e2e::job_args(&env, name, "out-2", &[])}}),
    )
    .await;
    let d = env
        .wait_for(name, "upgraded", LONG, stable_with_new_start(&before, "zl/out-2"))
        .await;
    let r = counter(&env.path("zl/out-2"), "counting on the new spec", |r| r.max > 0).await;
    assert!(r.restored_min > 0, "the last-state upgrade kept the state: {r:?}");

    // The JobManager Deployment deleted by hand: recovered from the HA metadata in ZooKeeper.
    counter(&env.path("zl/out-2"), "past more checkpoints", |r| {
        r.max >= r.restored_min + 3
    })
    .await;
    let before = start_time(&d);
    let launches = env.kubelet.launches_of(name, "jobmanager");
    let deployments: Api<Deployment> = Api::namespaced(env.kube.client(), "default");
    deployments.delete(name, &DeleteParams::default()).await.unwrap();
    env.wait_for(name, "recovered", LONG, |d| {
        stable_with_new_start(&before, "zl/out-2")(d)
            && env.kubelet.launches_of(name, "jobmanager") > launches
    })
    .await;
    let attempt_before = r.attempt;
    let r = counter(&env.path("zl/out-2"), "counting after the recovery", |r| {
        r.attempt != attempt_before || r.restored_min > 0
    })
    .await;
    assert!(r.restored_min > 0, "the recovery kept the state: {r:?}");

    // Suspend keeps the HA metadata; resume restores from it.
    env.patch_spec(name, json!({"job": {"state": "suspended"}})).await;
    let d = env
        .wait_for(name, "suspended", LONG, |d| lifecycle(d) == "Suspended")
        .await;
    assert!(
        !children(&client, &checkpoints).await.is_empty(),
        "a last-state suspend keeps the checkpoint pointers in ZooKeeper"
    );
    let before = start_time(&d);
    env.patch_spec(
        name,
        json!({"job": {"state": "running", "args": e2e::job_args(&env, name, "out-3", &[])}}),
    )
    .await;
    env.wait_for(name, "resumed", LONG, stable_with_new_start(&before, "zl/out-3"))
        .await;
    let r = counter(&env.path("zl/out-3"), "counting after resume", |r| r.max > 0).await;
    assert!(
        r.restored_min > 0,
        "resume from ZooKeeper HA kept the state: {r:?}"
    );

    // Delete while suspended last-state: the pointers kept for a resume go with the resource,
    // so a later resource of the same name cannot recover this job.
    env.patch_spec(name, json!({"job": {"state": "suspended"}})).await;
    env.wait_for(name, "suspended again", LONG, |d| lifecycle(d) == "Suspended")
        .await;
    assert!(
        !children(&client, &checkpoints).await.is_empty(),
        "the suspend kept the checkpoint pointers for a resume"
    );
    env.deployments()
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + LONG;
    while env.deployments().get_opt(name).await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "{name} not deleted");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    // Nothing a later resource of the same name could restore from. (Leader nodes of a
    // JobManager still shutting down can reappear empty for a moment: they are ephemeral, and
    // ZooKeeper reaps the empty container nodes Flink's client creates.)
    for dir in ["jobs", "jobgraphs"] {
        let left = children(&client, &format!("/flink/{name}/{dir}")).await;
        assert!(
            left.is_empty(),
            "/flink/{name}/{dir} still holds {left:?} after delete"
        );
    }
}

fn trigger_recorded(d: &FlinkDeployment) -> bool {
    e2e::trigger_recorded(d.status.as_ref().and_then(|s| s.job_status.as_ref()))
}

/// Waits until the operator recorded a few of the job's checkpoints: a last-state upgrade
/// restores the latest checkpoint, so progress before the first one is not state to keep.
async fn checkpoints_recorded(env: &Env, name: &str) {
    env.wait_for(name, "checkpoint 3 recorded", LONG, |d| {
        d.status
            .as_ref()
            .and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.last_completed_checkpoint.as_ref())
            .and_then(|c| c.checkpoint_id)
            .is_some_and(|id| id >= 3)
    })
    .await;
}

/// The state-safety matrix's ZooKeeper cells (docs/state-safety.md): savepoint mode with the
/// JobManager killed once the upgrade's trigger is recorded, and last-state with the new
/// JobManager killed while its job initializes. The job never starts empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobmanagers_killed_mid_upgrade_with_zookeeper_ha_keep_the_state() {
    let server = zookeeper::ZooKeeper::start();
    let env = Env::start(FLINK_1_20).await;
    let with_zk = |name: &str, mode: &str| {
        let mut spec = env.application(name, "v1_20", mode);
        spec["spec"]["job"]["args"] = e2e::job_args(&env, name, "out-1", &[]);
        let conf = &mut spec["spec"]["flinkConfiguration"];
        conf["high-availability.type"] = json!("zookeeper");
        conf["high-availability.zookeeper.quorum"] = json!(server.quorum());
        conf["high-availability.storageDir"] = json!(format!("file://{}", env.path(&format!("{name}/ha"))));
        spec
    };

    // Savepoint mode, the JobManager killed with the trigger recorded.
    let name = "zs";
    env.create(&with_zk(name, "savepoint")).await;
    let d = env.wait_stable_running(name).await;
    counter(&env.path("zs/out-1"), "counting", |r| r.max >= 5).await;
    checkpoints_recorded(&env, name).await;
    env.patch_spec(
        name,
        json!({"job": {"args": e2e::job_args(&env, name, "out-2", &[])}}),
    )
    .await;
    env.wait_for(name, "trigger recorded", LONG, trigger_recorded)
        .await;
    assert!(env.kubelet.kill(name, "jobmanager"), "the JobManager was running");
    let before = start_time(&d);
    let outcome = env
        .wait_for(name, "upgraded, or stopped asking for a person", LONG, |d| {
            stable_with_new_start(&before, "zs/out-2")(d) || error(d).contains("Manual restore required")
        })
        .await;
    if error(&outcome).contains("Manual restore required") {
        // The stop had completed before the kill: Flink forgot where the savepoint went.
        eprintln!("zookeeper: stopped for a person: {}", error(&outcome));
        assert!(
            std::fs::metadata(env.path("zs/out-2")).is_err(),
            "the new spec never ran while the state was unknown"
        );
        let savepoint =
            flink::newest_savepoint(&env.path("zs/savepoints")).expect("the savepoint is on disk");
        env.patch_spec(
            name,
            json!({"job": {"initialSavepointPath": savepoint, "savepointRedeployNonce": 1}}),
        )
        .await;
        env.wait_for(
            name,
            "redeployed",
            LONG,
            stable_with_new_start(&before, "zs/out-2"),
        )
        .await;
    }
    let r = counter(&env.path("zs/out-2"), "counting on the new spec", |r| r.max > 0).await;
    assert!(r.restored_min > 0, "savepoint + ZooKeeper HA: never empty: {r:?}");

    // last-state, the new JobManager killed while its job initializes.
    let name = "zn";
    env.create(&with_zk(name, "last-state")).await;
    let d = env.wait_stable_running(name).await;
    counter(&env.path("zn/out-1"), "counting", |r| r.max >= 5).await;
    checkpoints_recorded(&env, name).await;
    let launched = env.kubelet.launches_of(name, "jobmanager");
    env.patch_spec(
        name,
        json!({"job": {"args": e2e::job_args(&env, name, "out-2", &[])}}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + LONG;
    while env.kubelet.launches_of(name, "jobmanager") == launched {
        assert!(tokio::time::Instant::now() < deadline, "no new JobManager");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        env.kubelet.kill(name, "jobmanager"),
        "the new JobManager was running"
    );
    let before = start_time(&d);
    env.wait_for(name, "upgraded", LONG, stable_with_new_start(&before, "zn/out-2"))
        .await;
    let r = counter(&env.path("zn/out-2"), "counting on the new spec", |r| r.max > 0).await;
    assert!(
        r.restored_min > 0,
        "last-state + ZooKeeper HA: never empty: {r:?}"
    );
}
