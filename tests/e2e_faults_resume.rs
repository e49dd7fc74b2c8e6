//! Faults injected into REAL Flink processes during a resume (`job.state` suspended → running),
//! for each stateful upgrade mode without HA: the new JobManager killed right after the deploy
//! (before its job is submitted) or while the resumed job initializes, the operator killed as soon
//! as it recorded the resume, and the TaskManager killed while the resumed job restores. The
//! suspend itself completes undisturbed; the resumed job must continue from the suspend's
//! savepoint (savepoint mode) or recorded checkpoint (last-state), never start empty, and its
//! status must agree with Flink's REST API.
//!
//! `make test` runs the cells in [`DEFAULT_CELLS`]; `E2E_FAULTS_ALL=1` (`make soak-faults`) runs
//! every cell, and the binary names the cells it leaves out.
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

use e2e::{
    Env, JobManagerDeployments, LONG, error, job_id, job_state, lifecycle, recorded_checkpoint,
    stable_with_new_job,
};
use fault_cells::{
    after_the_fault, as_soon_as, fresh_counter, reconciliation_state, running_with_recorded_state,
};
use flink::FLINK_1_20;
use flink_lifecycle::api::{FlinkDeployment, ReconciliationState};
use serde_json::json;
use std::time::Duration;

/// The cells `make test` runs; the others run with `E2E_FAULTS_ALL=1` (`make soak-faults`). One
/// fault of Flink and one of the operator, one cell per stateful mode.
const DEFAULT_CELLS: &[&str] = &[
    "resume_savepoint_jobmanager_killed_initializing",
    "resume_last_state_operator_killed",
];

fn runs(cell: &str) -> bool {
    fault_cells::runs("e2e-faults-resume", DEFAULT_CELLS, cell)
}

/// Where in the resume the fault strikes, and what it is.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// The new JobManager SIGKILLed as soon as its process is started (its job not submitted yet).
    JobManagerAtDeploy,
    /// The new JobManager SIGKILLed as soon as its REST API lists the resumed job (initializing,
    /// or just running: before its first checkpoint).
    JobManagerInitializing,
    /// The operator killed as soon as the resume is recorded (`UPGRADING`), started 3 s later.
    OperatorAtRecord,
    /// The TaskManager SIGKILLed as soon as the resumed job runs (its tasks restoring).
    TaskManagerRestoring,
}

async fn live_jobs(env: &Env, name: &str) -> Vec<String> {
    step_cells::live_jobs_at(env.kubelet.rest_url("default", name)).await
}

/// Waits until the cluster launched after `launches` JobManager launches lists a job in one of
/// `states`; returns what it listed.
async fn new_job_listed(env: &Env, name: &str, launches: usize, states: &[&str]) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        if env.kubelet.launches_of(name, "jobmanager") > launches {
            let jobs = live_jobs(env, name).await;
            if jobs.iter().any(|j| states.iter().any(|s| j.ends_with(s))) {
                return jobs;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: the resumed job never showed up in {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The cell: a job of `mode` runs and checkpoints, is suspended (undisturbed), then resumed with
/// new arguments (only the resumed job writes `out-2`) and `fault` strikes. The resumed job ends
/// stable and running with at least the state recorded before the suspend, or the resource stops
/// for a person naming the snapshot, and the redeploy it asks for holds the same bound.
async fn resume_cell(name: &str, mode: &str, fault: Fault) {
    let mut env = Env::start(FLINK_1_20).await;
    let mut spec = env.application(name, "v1_20", mode);
    spec["spec"]["job"]["args"] = e2e::job_args(&env, name, "out-1", &[]);
    env.create(&spec).await;
    let (first, held) = running_with_recorded_state(&env, name, 3).await;

    env.patch_spec(name, json!({"job": {"state": "suspended"}})).await;
    env.wait_for(name, "suspended", LONG, |d| {
        lifecycle(d) == "Suspended"
            && error(d).is_empty()
            && reconciliation_state(d) == Some(ReconciliationState::Deployed)
    })
    .await;
    let jobmanagers = JobManagerDeployments::watch(&env, name);
    let launches = env.kubelet.launches_of(name, "jobmanager");
    let out = env.path(&format!("{name}/out-2"));

    env.patch_spec(
        name,
        json!({"job": {"state": "running", "args": e2e::job_args(&env, name, "out-2", &[])}}),
    )
    .await;
    match fault {
        Fault::JobManagerAtDeploy => {
            let deadline = tokio::time::Instant::now() + LONG;
            while env.kubelet.launches_of(name, "jobmanager") == launches {
                assert!(tokio::time::Instant::now() < deadline, "no new JobManager");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let listed = live_jobs(&env, name).await;
            assert!(
                env.kubelet.kill(name, "jobmanager"),
                "the new JobManager was running"
            );
            eprintln!("e2e-faults-resume: {name}: JobManager killed at its start (jobs listed: {listed:?})");
        }
        Fault::JobManagerInitializing => {
            let listed = new_job_listed(&env, name, launches, &["INITIALIZING", "CREATED", "RUNNING"]).await;
            assert!(
                env.kubelet.kill(name, "jobmanager"),
                "the new JobManager was running"
            );
            eprintln!("e2e-faults-resume: {name}: JobManager killed with the resumed job listed: {listed:?}");
        }
        Fault::OperatorAtRecord => {
            let seen = as_soon_as(&env, name, "the resume recorded", |d| {
                reconciliation_state(d) == Some(ReconciliationState::Upgrading)
            })
            .await;
            env.kill_operator();
            eprintln!(
                "e2e-faults-resume: {name}: operator killed at lifecycle {}, job {}, JobManager launches {}",
                lifecycle(&seen),
                job_state(&seen),
                env.kubelet.launches_of(name, "jobmanager") - launches
            );
            tokio::time::sleep(Duration::from_secs(3)).await;
            env.start_operator();
        }
        Fault::TaskManagerRestoring => {
            let listed = new_job_listed(&env, name, launches, &["RUNNING"]).await;
            assert!(
                env.kubelet.kill(name, "taskmanager"),
                "the TaskManager was running"
            );
            eprintln!(
                "e2e-faults-resume: {name}: TaskManager killed with the resumed job listed: {listed:?}"
            );
        }
    }

    let (d, stopped) = after_the_fault(&env, name, stable_with_new_job(&first)).await;
    let d = if stopped {
        restore_as_the_message_says(&env, name, &d).await
    } else {
        d
    };
    assert!(error(&d).is_empty(), "{}", error(&d));
    let r = fresh_counter(&out, "counting after the resume").await;
    assert!(
        r.restored_min >= held && r.restored_min > 0,
        "the resumed job holds at least the state recorded before the suspend ({held}): {r:?}"
    );
    let d = env.deployments().get(name).await.unwrap();
    e2e::assert_status_agrees_with_flink(&env, &d).await;
    let restored = e2e::restored_from(&env, &d).await;
    assert!(restored.is_some(), "the resumed job restored a snapshot");
    assert_eq!(jobmanagers.max(), 1, "never two JobManager Deployments");
}

/// After a stop for a person during the resume (a resumed job rewound by its restarted
/// JobManager): the message names the recorded snapshot; the redeploy it asks for (the newest
/// retained checkpoint of that job, or the recorded savepoint) is carried out.
async fn restore_as_the_message_says(env: &Env, name: &str, stopped: &FlinkDeployment) -> FlinkDeployment {
    let rewound = job_id(stopped);
    let d = env
        .wait_for(name, "the rewound job cancelled", LONG, |d| {
            job_state(d) != "RUNNING" && job_state(d) != "CANCELLING"
        })
        .await;
    let (recorded_id, recorded) = recorded_checkpoint(&d).expect("a recorded snapshot");
    assert!(
        error(&d).contains(&recorded),
        "the message names the recorded snapshot {recorded}: {}",
        error(&d)
    );
    let known = match recorded
        .split("/checkpoints/")
        .nth(1)
        .and_then(|p| p.split('/').next())
    {
        Some(job) => e2e::snapshot_a_person_restores(env, name, job, recorded_id),
        None => recorded.clone(),
    };
    env.patch_spec(
        name,
        json!({"job": {"initialSavepointPath": known, "savepointRedeployNonce": 1}}),
    )
    .await;
    env.wait_for(name, "redeployed", LONG, stable_with_new_job(&rewound))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_savepoint_jobmanager_killed_at_deploy() {
    if runs("resume_savepoint_jobmanager_killed_at_deploy") {
        resume_cell("rsd", "savepoint", Fault::JobManagerAtDeploy).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_savepoint_jobmanager_killed_initializing() {
    if runs("resume_savepoint_jobmanager_killed_initializing") {
        resume_cell("rsi", "savepoint", Fault::JobManagerInitializing).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_savepoint_operator_killed() {
    if runs("resume_savepoint_operator_killed") {
        resume_cell("rso", "savepoint", Fault::OperatorAtRecord).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_savepoint_taskmanager_killed() {
    if runs("resume_savepoint_taskmanager_killed") {
        resume_cell("rst", "savepoint", Fault::TaskManagerRestoring).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_last_state_jobmanager_killed_at_deploy() {
    if runs("resume_last_state_jobmanager_killed_at_deploy") {
        resume_cell("rld", "last-state", Fault::JobManagerAtDeploy).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_last_state_jobmanager_killed_initializing() {
    if runs("resume_last_state_jobmanager_killed_initializing") {
        resume_cell("rli", "last-state", Fault::JobManagerInitializing).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_last_state_operator_killed() {
    if runs("resume_last_state_operator_killed") {
        resume_cell("rlo", "last-state", Fault::OperatorAtRecord).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_last_state_taskmanager_killed() {
    if runs("resume_last_state_taskmanager_killed") {
        resume_cell("rlt", "last-state", Fault::TaskManagerRestoring).await;
    }
}
