//! ZooKeeper HA end to end: real Flink 1.20 processes (the test kubelet, in-memory Kubernetes
//! API) and a real ZooKeeper server (Debian's package). The operator reads the HA metadata in
//! ZooKeeper for its last-state and recovery decisions, removes stale job graphs before a deploy
//! and deletes the cluster's HA subtree on delete. Each step asserts the test job's keyed
//! counter (state continued) and what ZooKeeper holds.
//!
//! The suspend, `restartNonce` and resume fault cells: `make test` runs the cell in
//! [`DEFAULT_CELLS`]; `E2E_FAULTS_ALL=1` (`make soak-faults`) runs every cell, and the binary
//! names the cells it leaves out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/argo_history.rs"]
mod argo_history;
#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/fault_cells.rs"]
mod fault_cells;
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
#[path = "support/step_cells.rs"]
mod step_cells;
#[path = "support/zookeeper.rs"]
mod zookeeper;

use e2e::{Env, JobManagerDeployments, LONG, counter, job_id, job_state};
use fault_cells::{as_soon_as, fresh_counter, reconciliation_state, running_with_recorded_state};
use flink::FLINK_1_20;
use flink_lifecycle::api::{FlinkDeployment, ReconciliationState};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams};
use serde_json::{Value, json};
use status_of::{error, lifecycle, start_time};
use std::time::{Duration, Instant};
use step_cells::{StepCell, step_recorded, trigger_recorded};
use zookeeper_client as zk;

/// The fault cells `make test` runs; the others run with `E2E_FAULTS_ALL=1` (`make
/// soak-faults`).
const DEFAULT_CELLS: &[&str] = &["suspend_last_state_jobmanager_killed"];

fn runs(cell: &str) -> bool {
    fault_cells::runs("e2e-zookeeper", DEFAULT_CELLS, cell)
}

/// The test application `name` of `mode` with ZooKeeper HA on `server`, writing to `out-1`.
fn with_zookeeper(env: &Env, server: &zookeeper::ZooKeeper, name: &str, mode: &str) -> Value {
    let mut spec = env.application(name, "v1_20", mode);
    spec["spec"]["job"]["args"] = e2e::job_args(env, name, "out-1", &[]);
    let conf = &mut spec["spec"]["flinkConfiguration"];
    conf["high-availability.type"] = json!("zookeeper");
    conf["high-availability.zookeeper.quorum"] = json!(server.quorum());
    conf["high-availability.storageDir"] = json!(format!("file://{}", env.path(&format!("{name}/ha"))));
    spec
}

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
    let with_zk = |name: &str, mode: &str| with_zookeeper(&env, &server, name, mode);

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

/// Waits until the step completes or the operator stops for a person: the resource as it
/// stands then, and whether a person is asked for.
async fn completes(
    env: &Env,
    name: &str,
    what: &str,
    done: impl Fn(&FlinkDeployment) -> bool,
) -> (FlinkDeployment, bool) {
    let d = env
        .wait_for(name, what, LONG, |d| {
            done(d) || error(d).contains("Manual restore required")
        })
        .await;
    let stopped = error(&d).contains("Manual restore required");
    (d, stopped)
}

/// Waits until the resource is suspended without error, its JobManager gone.
async fn suspended(env: &Env, name: &str, mode: &str) -> FlinkDeployment {
    let done = |d: &FlinkDeployment| {
        lifecycle(d) == "Suspended"
            && error(d).is_empty()
            && reconciliation_state(d) == Some(ReconciliationState::Deployed)
    };
    let (d, stopped) = completes(env, name, "suspended", done).await;
    let d = if stopped {
        // With the suspend still asked for: the redeploy keeps the job suspended.
        a_person_redeploys_from_the_savepoint(env, name, mode, &d).await;
        // `done` holds only once the stop's error is gone.
        env.wait_for(name, "suspended with the named savepoint", LONG, done)
            .await
    } else {
        d
    };
    let deadline = tokio::time::Instant::now() + LONG;
    let jobmanager = format!("default/{name}");
    while env.kubelet.running().contains(&jobmanager) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: the suspended cluster's JobManager still runs"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let now = env.deployments().get(name).await.unwrap();
    eprintln!(
        "e2e-zookeeper: {name}: suspended; status says job {} when recorded, {} once the JobManager stopped",
        job_state(&d),
        job_state(&now)
    );
    d
}

/// A savepoint-mode stop whose savepoint completed just before the JobManager was killed: the
/// job FINISHED in HA's job result store, and Flink forgot the trigger and the savepoint path.
/// The operator stops for a person (a last-state step with HA never may); its message must name
/// the savepoint directory, and the person redeploys from the newest savepoint there.
async fn a_person_redeploys_from_the_savepoint(env: &Env, name: &str, mode: &str, stopped: &FlinkDeployment) {
    assert_eq!(
        mode,
        "savepoint",
        "{name}: a last-state step with HA stopped: {}",
        error(stopped)
    );
    let dir = env.path(&format!("{name}/savepoints"));
    let redeploy = step_cells::savepoint_redeploy_a_person_makes(name, &error(stopped), &dir);
    env.patch_spec(name, redeploy).await;
}

async fn live_jobs(env: &Env, name: &str) -> Vec<String> {
    step_cells::live_jobs_at(env.kubelet.rest_url("default", name)).await
}

fn kill_jobmanager(env: &Env, name: &str, seen: &FlinkDeployment, at: &str) {
    assert!(
        env.kubelet.kill(name, "jobmanager"),
        "{name}: the JobManager was running"
    );
    eprintln!(
        "e2e-zookeeper: {name}: JobManager killed {at} (lifecycle {}, reconciliation {:?}, job {})",
        lifecycle(seen),
        reconciliation_state(seen),
        job_state(seen)
    );
}

/// One cell: a job of `mode` with ZooKeeper HA and recorded state (its counter read before a
/// checkpoint the operator recorded), the step and its fault, then the job running again on the
/// spec asked for, without error, from a snapshot, with at least the state recorded before the
/// step (never empty, never older), status agreeing with Flink's `/jobs/overview`, and never
/// two JobManager Deployments.
async fn step_cell(name: &str, mode: &str, cell: StepCell) {
    let started = Instant::now();
    let server = zookeeper::ZooKeeper::start();
    let mut env = Env::start(FLINK_1_20).await;
    env.create(&with_zookeeper(&env, &server, name, mode)).await;
    let (_, held) = running_with_recorded_state(&env, name, 3).await;
    let jobmanagers = JobManagerDeployments::watch(&env, name);
    let mut previous = start_time(&env.deployments().get(name).await.unwrap());
    let resume =
        |out: &str| json!({"job": {"state": "running", "args": e2e::job_args(&env, name, out, &[])}});
    let out = match cell {
        StepCell::JobManagerKilledRestarting if mode == "savepoint" => {
            env.patch_spec(name, json!({"restartNonce": 1})).await;
            let seen = as_soon_as(
                &env,
                name,
                "the restart's savepoint trigger recorded",
                trigger_recorded,
            )
            .await;
            kill_jobmanager(&env, name, &seen, "with the restart's savepoint trigger recorded");
            "out-1"
        }
        StepCell::JobManagerKilledRestarting => {
            let launches = env.kubelet.launches_of(name, "jobmanager");
            env.patch_spec(name, json!({"restartNonce": 1})).await;
            let seen = as_soon_as(&env, name, "the restart recorded", step_recorded).await;
            // A last-state restart with HA records the restart and deletes the JobManager in
            // one step: the JobManager the fault finds is the restart's new one.
            let deadline = tokio::time::Instant::now() + LONG;
            while env.kubelet.launches_of(name, "jobmanager") == launches {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{name}: no new JobManager"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            kill_jobmanager(&env, name, &seen, "at its start, with the restart recorded");
            "out-1"
        }
        StepCell::JobManagerKilledSuspending => {
            env.patch_spec(name, json!({"job": {"state": "suspended"}})).await;
            let (seen, at) = if mode == "savepoint" {
                let seen = as_soon_as(&env, name, "the suspend recorded", step_recorded).await;
                (seen, "with the suspend's savepoint trigger recorded")
            } else {
                // A last-state suspend with HA is one status write, and the JobManager is
                // deleted right after it: the fault strikes as the operator plans the suspend.
                let seen = env.deployments().get(name).await.unwrap();
                (seen, "as the suspend is asked for")
            };
            kill_jobmanager(&env, name, &seen, at);
            previous = start_time(&suspended(&env, name, mode).await);
            env.patch_spec(name, resume("out-2")).await;
            "out-2"
        }
        StepCell::JobManagerKilledResuming => {
            env.patch_spec(name, json!({"job": {"state": "suspended"}})).await;
            previous = start_time(&suspended(&env, name, mode).await);
            let launches = env.kubelet.launches_of(name, "jobmanager");
            env.patch_spec(name, resume("out-2")).await;
            let deadline = tokio::time::Instant::now() + LONG;
            let listed = loop {
                if env.kubelet.launches_of(name, "jobmanager") > launches {
                    let jobs = live_jobs(&env, name).await;
                    if !jobs.is_empty() {
                        break jobs;
                    }
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{name}: the resumed job never listed"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let seen = env.deployments().get(name).await.unwrap();
            kill_jobmanager(
                &env,
                name,
                &seen,
                &format!("with the resumed job listed: {listed:?}"),
            );
            "out-2"
        }
        StepCell::OperatorKilledResuming => {
            env.patch_spec(name, json!({"job": {"state": "suspended"}})).await;
            previous = start_time(&suspended(&env, name, mode).await);
            env.patch_spec(name, resume("out-2")).await;
            let seen = as_soon_as(&env, name, "the resume recorded", |d| {
                reconciliation_state(d) == Some(ReconciliationState::Upgrading)
            })
            .await;
            env.kill_operator();
            eprintln!(
                "e2e-zookeeper: {name}: operator killed with the resume recorded (lifecycle {}, job {})",
                lifecycle(&seen),
                job_state(&seen)
            );
            tokio::time::sleep(Duration::from_secs(3)).await;
            env.start_operator();
            "out-2"
        }
    };
    // A restart keeps the arguments: its nonce says the restart is the run that is reconciled.
    let reconciled = match cell {
        StepCell::JobManagerKilledRestarting => "\"restartNonce\":1".to_string(),
        _ => format!("{name}/{out}"),
    };
    let on_the_spec = stable_with_new_start(&previous, &reconciled);
    let (d, stopped) = completes(&env, name, "running again on the spec asked for", &on_the_spec).await;
    let (d, stopped) = if stopped {
        a_person_redeploys_from_the_savepoint(&env, name, mode, &d).await;
        completes(&env, name, "running again on the spec asked for", &on_the_spec).await
    } else {
        (d, stopped)
    };
    assert!(
        !stopped,
        "{name}: stopped for a person after the fault: {}; status: {}",
        error(&d),
        serde_json::to_string_pretty(&d.status).unwrap_or_default()
    );
    let r = fresh_counter(&env.path(&format!("{name}/{out}")), "counting after the fault").await;
    assert!(
        r.restored_min >= held && r.restored_min > 0,
        "{name}: the job holds at least the state recorded before the step ({held}): {r:?}"
    );
    assert!(
        e2e::restored_from(&env, &d).await.is_some(),
        "{name}: the job restored a snapshot"
    );
    e2e::assert_status_agrees_with_flink(&env, &d).await;
    assert_eq!(jobmanagers.max(), 1, "{name}: never two JobManager Deployments");
    eprintln!(
        "e2e-zookeeper: {name}: {cell:?} ({mode}) passed in {:.0} s (bound {held}, restored from {})",
        started.elapsed().as_secs_f64(),
        r.restored_min
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_last_state_jobmanager_killed() {
    if runs("suspend_last_state_jobmanager_killed") {
        step_cell("zsk", "last-state", StepCell::JobManagerKilledSuspending).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_savepoint_jobmanager_killed() {
    if runs("suspend_savepoint_jobmanager_killed") {
        step_cell("zss", "savepoint", StepCell::JobManagerKilledSuspending).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_nonce_last_state_jobmanager_killed() {
    if runs("restart_nonce_last_state_jobmanager_killed") {
        step_cell("zrk", "last-state", StepCell::JobManagerKilledRestarting).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_last_state_jobmanager_killed_initializing() {
    if runs("resume_last_state_jobmanager_killed_initializing") {
        step_cell("zrj", "last-state", StepCell::JobManagerKilledResuming).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_nonce_savepoint_jobmanager_killed() {
    if runs("restart_nonce_savepoint_jobmanager_killed") {
        step_cell("zsr", "savepoint", StepCell::JobManagerKilledRestarting).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_savepoint_jobmanager_killed_initializing() {
    if runs("resume_savepoint_jobmanager_killed_initializing") {
        step_cell("zsj", "savepoint", StepCell::JobManagerKilledResuming).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_savepoint_operator_killed() {
    if runs("resume_savepoint_operator_killed") {
        step_cell("zso", "savepoint", StepCell::OperatorKilledResuming).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_last_state_operator_killed() {
    if runs("resume_last_state_operator_killed") {
        step_cell("zro", "last-state", StepCell::OperatorKilledResuming).await;
    }
}
