//! The fault matrix of docs/state-safety.md, cell by cell, without HA and with ZooKeeper HA (a
//! real ZooKeeper server per cell; the `zk_` cells): every upgrade mode
//! (`savepoint`, `last-state`, and `stateless` as the control) × the steps of an upgrade, a
//! `restartNonce` restart and a suspend × the moment in the step × each fault (the JobManager or
//! a TaskManager SIGKILLed and restarted like a crashed container, the operator killed and
//! started again 3 s later, Flink's REST API unreachable for 20 s). Real Flink 1.20 processes, the
//! operator's controllers against the in-memory Kubernetes API.
//!
//! With HA, a last-state step deletes the JobManager in the moment it is recorded, so its
//! stop-recorded cells would strike nothing and are left out.
//!
//! One judgement for every cell: the step ends with the newest spec running (or suspended), or
//! with an error asking a person, whose redeploy from the snapshot a person would pick then
//! continues. The job that runs at the end holds at least the state of a checkpoint recorded
//! before the step (never empty, never older) in the stateful modes, and starts empty in the
//! stateless control; status agrees with Flink's `/jobs/overview`; a resource never has two
//! JobManager Deployments.
//!
//! Every cell runs with `E2E_FAULTS_ALL=1` (`make soak-faults`); `make test` runs none of them,
//! since the hand-written cells of `e2e_faults*` cover the same ground by default.
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

use e2e::{Env, JobManagerDeployments, LONG, error, job_id, job_state, lifecycle, recorded_checkpoint};
use fault_cells::{as_soon_as, fresh_counter, reconciliation_state, running_with_recorded_state};
use flink::FLINK_1_20;
use flink_lifecycle::api::{FlinkDeployment, ReconciliationState};
use serde_json::{Value, json};
use status_of::start_time;
use std::time::{Duration, Instant};
use step_cells::trigger_recorded;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    /// New `job.args` (the job writes to `out-2`).
    Upgrade,
    /// A new `restartNonce` (the job keeps writing to `out-1`).
    Restart,
    /// `job.state: suspended`, then resumed with new `job.args` (`out-2`).
    Suspend,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Moment {
    /// The stop is recorded: the savepoint trigger (savepoint mode) or the cancel (`CANCELLING`).
    StopRecorded,
    /// The old cluster is gone and the new JobManager not yet started.
    ClusterDeleted,
    /// The new JobManager has started; its job not yet listed.
    NewJobManager,
    /// The new JobManager lists the job (initializing, or just running).
    NewJobListed,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    JobManagerKilled,
    TaskManagerKilled,
    OperatorKilled,
    RestUnreachable,
}

macro_rules! cells {
    ($($cell:ident: $ha:ident, $mode:literal, $step:ident, $moment:ident, $fault:ident;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $cell() {
                if fault_cells::runs("e2e-fault-matrix", &[], stringify!($cell)) {
                    cell(Ha::$ha, $mode, Step::$step, Moment::$moment, Fault::$fault).await;
                }
            }
        )*
    };
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ha {
    None,
    ZooKeeper,
}

// Per mode: the stop recorded × all four faults, for the three steps; the cluster deleted × the
// operator (nothing else runs then); the new JobManager × the three faults that can reach it; the
// new job listed × all four; the last three for the upgrade and the restart (a suspend starts
// nothing new: `e2e_faults_resume` strikes the resume).
cells! {
    savepoint_upgrade_stop_jobmanager: None, "savepoint", Upgrade, StopRecorded, JobManagerKilled;
    savepoint_upgrade_stop_taskmanager: None, "savepoint", Upgrade, StopRecorded, TaskManagerKilled;
    savepoint_upgrade_stop_operator: None, "savepoint", Upgrade, StopRecorded, OperatorKilled;
    savepoint_upgrade_stop_rest: None, "savepoint", Upgrade, StopRecorded, RestUnreachable;
    savepoint_upgrade_deleted_operator: None, "savepoint", Upgrade, ClusterDeleted, OperatorKilled;
    savepoint_upgrade_new_jobmanager_jobmanager: None, "savepoint", Upgrade, NewJobManager, JobManagerKilled;
    savepoint_upgrade_new_jobmanager_operator: None, "savepoint", Upgrade, NewJobManager, OperatorKilled;
    savepoint_upgrade_new_jobmanager_rest: None, "savepoint", Upgrade, NewJobManager, RestUnreachable;
    savepoint_upgrade_new_job_jobmanager: None, "savepoint", Upgrade, NewJobListed, JobManagerKilled;
    savepoint_upgrade_new_job_taskmanager: None, "savepoint", Upgrade, NewJobListed, TaskManagerKilled;
    savepoint_upgrade_new_job_operator: None, "savepoint", Upgrade, NewJobListed, OperatorKilled;
    savepoint_upgrade_new_job_rest: None, "savepoint", Upgrade, NewJobListed, RestUnreachable;
    savepoint_restart_stop_jobmanager: None, "savepoint", Restart, StopRecorded, JobManagerKilled;
    savepoint_restart_stop_taskmanager: None, "savepoint", Restart, StopRecorded, TaskManagerKilled;
    savepoint_restart_stop_operator: None, "savepoint", Restart, StopRecorded, OperatorKilled;
    savepoint_restart_stop_rest: None, "savepoint", Restart, StopRecorded, RestUnreachable;
    savepoint_restart_deleted_operator: None, "savepoint", Restart, ClusterDeleted, OperatorKilled;
    savepoint_restart_new_jobmanager_jobmanager: None, "savepoint", Restart, NewJobManager, JobManagerKilled;
    savepoint_restart_new_jobmanager_operator: None, "savepoint", Restart, NewJobManager, OperatorKilled;
    savepoint_restart_new_jobmanager_rest: None, "savepoint", Restart, NewJobManager, RestUnreachable;
    savepoint_restart_new_job_jobmanager: None, "savepoint", Restart, NewJobListed, JobManagerKilled;
    savepoint_restart_new_job_taskmanager: None, "savepoint", Restart, NewJobListed, TaskManagerKilled;
    savepoint_restart_new_job_operator: None, "savepoint", Restart, NewJobListed, OperatorKilled;
    savepoint_restart_new_job_rest: None, "savepoint", Restart, NewJobListed, RestUnreachable;
    savepoint_suspend_stop_jobmanager: None, "savepoint", Suspend, StopRecorded, JobManagerKilled;
    savepoint_suspend_stop_taskmanager: None, "savepoint", Suspend, StopRecorded, TaskManagerKilled;
    savepoint_suspend_stop_operator: None, "savepoint", Suspend, StopRecorded, OperatorKilled;
    savepoint_suspend_stop_rest: None, "savepoint", Suspend, StopRecorded, RestUnreachable;

    last_state_upgrade_stop_jobmanager: None, "last-state", Upgrade, StopRecorded, JobManagerKilled;
    last_state_upgrade_stop_taskmanager: None, "last-state", Upgrade, StopRecorded, TaskManagerKilled;
    last_state_upgrade_stop_operator: None, "last-state", Upgrade, StopRecorded, OperatorKilled;
    last_state_upgrade_stop_rest: None, "last-state", Upgrade, StopRecorded, RestUnreachable;
    last_state_upgrade_deleted_operator: None, "last-state", Upgrade, ClusterDeleted, OperatorKilled;
    last_state_upgrade_new_jobmanager_jobmanager: None, "last-state", Upgrade, NewJobManager, JobManagerKilled;
    last_state_upgrade_new_jobmanager_operator: None, "last-state", Upgrade, NewJobManager, OperatorKilled;
    last_state_upgrade_new_jobmanager_rest: None, "last-state", Upgrade, NewJobManager, RestUnreachable;
    last_state_upgrade_new_job_jobmanager: None, "last-state", Upgrade, NewJobListed, JobManagerKilled;
    last_state_upgrade_new_job_taskmanager: None, "last-state", Upgrade, NewJobListed, TaskManagerKilled;
    last_state_upgrade_new_job_operator: None, "last-state", Upgrade, NewJobListed, OperatorKilled;
    last_state_upgrade_new_job_rest: None, "last-state", Upgrade, NewJobListed, RestUnreachable;
    last_state_restart_stop_jobmanager: None, "last-state", Restart, StopRecorded, JobManagerKilled;
    last_state_restart_stop_taskmanager: None, "last-state", Restart, StopRecorded, TaskManagerKilled;
    last_state_restart_stop_operator: None, "last-state", Restart, StopRecorded, OperatorKilled;
    last_state_restart_stop_rest: None, "last-state", Restart, StopRecorded, RestUnreachable;
    last_state_restart_deleted_operator: None, "last-state", Restart, ClusterDeleted, OperatorKilled;
    last_state_restart_new_jobmanager_jobmanager: None, "last-state", Restart, NewJobManager, JobManagerKilled;
    last_state_restart_new_jobmanager_operator: None, "last-state", Restart, NewJobManager, OperatorKilled;
    last_state_restart_new_jobmanager_rest: None, "last-state", Restart, NewJobManager, RestUnreachable;
    last_state_restart_new_job_jobmanager: None, "last-state", Restart, NewJobListed, JobManagerKilled;
    last_state_restart_new_job_taskmanager: None, "last-state", Restart, NewJobListed, TaskManagerKilled;
    last_state_restart_new_job_operator: None, "last-state", Restart, NewJobListed, OperatorKilled;
    last_state_restart_new_job_rest: None, "last-state", Restart, NewJobListed, RestUnreachable;
    last_state_suspend_stop_jobmanager: None, "last-state", Suspend, StopRecorded, JobManagerKilled;
    last_state_suspend_stop_taskmanager: None, "last-state", Suspend, StopRecorded, TaskManagerKilled;
    last_state_suspend_stop_operator: None, "last-state", Suspend, StopRecorded, OperatorKilled;
    last_state_suspend_stop_rest: None, "last-state", Suspend, StopRecorded, RestUnreachable;

    stateless_upgrade_stop_jobmanager: None, "stateless", Upgrade, StopRecorded, JobManagerKilled;
    stateless_upgrade_stop_operator: None, "stateless", Upgrade, StopRecorded, OperatorKilled;
    stateless_upgrade_new_job_jobmanager: None, "stateless", Upgrade, NewJobListed, JobManagerKilled;
    stateless_restart_stop_jobmanager: None, "stateless", Restart, StopRecorded, JobManagerKilled;
    stateless_suspend_stop_jobmanager: None, "stateless", Suspend, StopRecorded, JobManagerKilled;

    // With ZooKeeper HA: every savepoint-mode cell, and the last-state cells after the stop (a
    // last-state step with HA deletes the JobManager as it is recorded: nothing to strike).
    zk_savepoint_upgrade_stop_jobmanager: ZooKeeper, "savepoint", Upgrade, StopRecorded, JobManagerKilled;
    zk_savepoint_upgrade_stop_taskmanager: ZooKeeper, "savepoint", Upgrade, StopRecorded, TaskManagerKilled;
    zk_savepoint_upgrade_stop_operator: ZooKeeper, "savepoint", Upgrade, StopRecorded, OperatorKilled;
    zk_savepoint_upgrade_stop_rest: ZooKeeper, "savepoint", Upgrade, StopRecorded, RestUnreachable;
    zk_savepoint_upgrade_deleted_operator: ZooKeeper, "savepoint", Upgrade, ClusterDeleted, OperatorKilled;
    zk_savepoint_upgrade_new_jobmanager_jobmanager: ZooKeeper, "savepoint", Upgrade, NewJobManager, JobManagerKilled;
    zk_savepoint_upgrade_new_jobmanager_operator: ZooKeeper, "savepoint", Upgrade, NewJobManager, OperatorKilled;
    zk_savepoint_upgrade_new_jobmanager_rest: ZooKeeper, "savepoint", Upgrade, NewJobManager, RestUnreachable;
    zk_savepoint_upgrade_new_job_jobmanager: ZooKeeper, "savepoint", Upgrade, NewJobListed, JobManagerKilled;
    zk_savepoint_upgrade_new_job_taskmanager: ZooKeeper, "savepoint", Upgrade, NewJobListed, TaskManagerKilled;
    zk_savepoint_upgrade_new_job_operator: ZooKeeper, "savepoint", Upgrade, NewJobListed, OperatorKilled;
    zk_savepoint_upgrade_new_job_rest: ZooKeeper, "savepoint", Upgrade, NewJobListed, RestUnreachable;
    zk_savepoint_restart_stop_jobmanager: ZooKeeper, "savepoint", Restart, StopRecorded, JobManagerKilled;
    zk_savepoint_restart_stop_taskmanager: ZooKeeper, "savepoint", Restart, StopRecorded, TaskManagerKilled;
    zk_savepoint_restart_stop_operator: ZooKeeper, "savepoint", Restart, StopRecorded, OperatorKilled;
    zk_savepoint_restart_stop_rest: ZooKeeper, "savepoint", Restart, StopRecorded, RestUnreachable;
    zk_savepoint_restart_deleted_operator: ZooKeeper, "savepoint", Restart, ClusterDeleted, OperatorKilled;
    zk_savepoint_restart_new_jobmanager_jobmanager: ZooKeeper, "savepoint", Restart, NewJobManager, JobManagerKilled;
    zk_savepoint_restart_new_jobmanager_operator: ZooKeeper, "savepoint", Restart, NewJobManager, OperatorKilled;
    zk_savepoint_restart_new_jobmanager_rest: ZooKeeper, "savepoint", Restart, NewJobManager, RestUnreachable;
    zk_savepoint_restart_new_job_jobmanager: ZooKeeper, "savepoint", Restart, NewJobListed, JobManagerKilled;
    zk_savepoint_restart_new_job_taskmanager: ZooKeeper, "savepoint", Restart, NewJobListed, TaskManagerKilled;
    zk_savepoint_restart_new_job_operator: ZooKeeper, "savepoint", Restart, NewJobListed, OperatorKilled;
    zk_savepoint_restart_new_job_rest: ZooKeeper, "savepoint", Restart, NewJobListed, RestUnreachable;
    zk_savepoint_suspend_stop_jobmanager: ZooKeeper, "savepoint", Suspend, StopRecorded, JobManagerKilled;
    zk_savepoint_suspend_stop_taskmanager: ZooKeeper, "savepoint", Suspend, StopRecorded, TaskManagerKilled;
    zk_savepoint_suspend_stop_operator: ZooKeeper, "savepoint", Suspend, StopRecorded, OperatorKilled;
    zk_savepoint_suspend_stop_rest: ZooKeeper, "savepoint", Suspend, StopRecorded, RestUnreachable;
    zk_last_state_upgrade_deleted_operator: ZooKeeper, "last-state", Upgrade, ClusterDeleted, OperatorKilled;
    zk_last_state_upgrade_new_jobmanager_jobmanager: ZooKeeper, "last-state", Upgrade, NewJobManager, JobManagerKilled;
    zk_last_state_upgrade_new_jobmanager_operator: ZooKeeper, "last-state", Upgrade, NewJobManager, OperatorKilled;
    zk_last_state_upgrade_new_jobmanager_rest: ZooKeeper, "last-state", Upgrade, NewJobManager, RestUnreachable;
    zk_last_state_upgrade_new_job_jobmanager: ZooKeeper, "last-state", Upgrade, NewJobListed, JobManagerKilled;
    zk_last_state_upgrade_new_job_taskmanager: ZooKeeper, "last-state", Upgrade, NewJobListed, TaskManagerKilled;
    zk_last_state_upgrade_new_job_operator: ZooKeeper, "last-state", Upgrade, NewJobListed, OperatorKilled;
    zk_last_state_upgrade_new_job_rest: ZooKeeper, "last-state", Upgrade, NewJobListed, RestUnreachable;
    zk_last_state_restart_deleted_operator: ZooKeeper, "last-state", Restart, ClusterDeleted, OperatorKilled;
    zk_last_state_restart_new_jobmanager_jobmanager: ZooKeeper, "last-state", Restart, NewJobManager, JobManagerKilled;
    zk_last_state_restart_new_jobmanager_operator: ZooKeeper, "last-state", Restart, NewJobManager, OperatorKilled;
    zk_last_state_restart_new_jobmanager_rest: ZooKeeper, "last-state", Restart, NewJobManager, RestUnreachable;
    zk_last_state_restart_new_job_jobmanager: ZooKeeper, "last-state", Restart, NewJobListed, JobManagerKilled;
    zk_last_state_restart_new_job_taskmanager: ZooKeeper, "last-state", Restart, NewJobListed, TaskManagerKilled;
    zk_last_state_restart_new_job_operator: ZooKeeper, "last-state", Restart, NewJobListed, OperatorKilled;
    zk_last_state_restart_new_job_rest: ZooKeeper, "last-state", Restart, NewJobListed, RestUnreachable;
}

const NAME: &str = "fm";

fn args(env: &Env, out: &str) -> Value {
    e2e::job_args(env, NAME, out, &[])
}

/// Where the job writes after the step.
fn out_after(step: Step) -> &'static str {
    match step {
        Step::Restart => "out-1",
        Step::Upgrade | Step::Suspend => "out-2",
    }
}

/// The step is done: the newest spec reconciled and running as a new run (or suspended).
fn done(step: Step, first_id: &str, first_start: &str) -> impl Fn(&FlinkDeployment) -> bool {
    let (first_id, first_start) = (first_id.to_string(), first_start.to_string());
    move |d| {
        let reconciled = d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation
            && reconciliation_state(d) == Some(ReconciliationState::Deployed)
            && error(d).is_empty();
        let new_run = job_id(d) != first_id || start_time(d) != first_start;
        match step {
            Step::Suspend => reconciled && lifecycle(d) == "Suspended",
            Step::Upgrade | Step::Restart => {
                reconciled && lifecycle(d) == "Stable" && job_state(d) == "RUNNING" && new_run
            }
        }
    }
}

fn stopped_for_a_person(d: &FlinkDeployment) -> bool {
    error(d).contains("Manual restore required")
}

/// Waits for the moment, then returns what was seen at it.
async fn at_the_moment(env: &Env, mode: &str, moment: Moment, launches: usize) -> String {
    let jobmanager_launched = || env.kubelet.launches_of(NAME, "jobmanager") > launches;
    match moment {
        Moment::StopRecorded => {
            let d = as_soon_as(env, NAME, "the stop recorded", |d| {
                if mode == "savepoint" {
                    trigger_recorded(d) || lifecycle(d) == "Suspended"
                } else {
                    job_state(d) == "CANCELLING"
                        || reconciliation_state(d) == Some(ReconciliationState::Upgrading)
                }
            })
            .await;
            format!("lifecycle {}, job {}", lifecycle(&d), job_state(&d))
        }
        Moment::ClusterDeleted => {
            poll("the old JobManager gone", || {
                (jobmanager_launched() || !env.kubelet.running().contains(&format!("default/{NAME}")))
                    .then(|| format!("JobManager launched again already: {}", jobmanager_launched()))
            })
            .await
        }
        Moment::NewJobManager => {
            poll("the new JobManager started", || {
                jobmanager_launched().then(|| "new JobManager started".to_string())
            })
            .await
        }
        Moment::NewJobListed => {
            let deadline = tokio::time::Instant::now() + LONG;
            loop {
                if jobmanager_launched() {
                    let jobs = step_cells::live_jobs_at(env.kubelet.rest_url("default", NAME)).await;
                    if !jobs.is_empty() {
                        return format!("listed: {jobs:?}");
                    }
                }
                assert!(tokio::time::Instant::now() < deadline, "the new job never listed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn poll(what: &str, seen: impl Fn() -> Option<String>) -> String {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        if let Some(s) = seen() {
            return s;
        }
        assert!(tokio::time::Instant::now() < deadline, "not {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn strike(env: &mut Env, fault: Fault) {
    match fault {
        Fault::JobManagerKilled => {
            assert!(env.kubelet.kill(NAME, "jobmanager"), "a JobManager was running");
        }
        Fault::TaskManagerKilled => {
            // The new cluster's TaskManager may still be starting.
            poll("a TaskManager running", || {
                env.kubelet.kill(NAME, "taskmanager").then(String::new)
            })
            .await;
        }
        Fault::OperatorKilled => {
            env.kill_operator();
            tokio::time::sleep(Duration::from_secs(3)).await;
            env.start_operator();
        }
        Fault::RestUnreachable => {
            env.block_rest(NAME, true);
            tokio::time::sleep(Duration::from_secs(20)).await;
            env.block_rest(NAME, false);
        }
    }
}

async fn cell(ha: Ha, mode: &str, step: Step, moment: Moment, fault: Fault) {
    let started = Instant::now();
    // Started before the environment, so that it outlives the Flink processes that use it.
    let server = (ha == Ha::ZooKeeper).then(zookeeper::ZooKeeper::start);
    let mut env = Env::start(FLINK_1_20).await;
    let mut spec = env.application(NAME, "v1_20", mode);
    spec["spec"]["job"]["args"] = args(&env, "out-1");
    if let Some(server) = &server {
        let conf = &mut spec["spec"]["flinkConfiguration"];
        conf["high-availability.type"] = json!("zookeeper");
        conf["high-availability.zookeeper.quorum"] = json!(server.quorum());
        conf["high-availability.storageDir"] = json!(format!("file://{}", env.path(&format!("{NAME}/ha"))));
    }
    env.create(&spec).await;
    let (first, held) = running_with_recorded_state(&env, NAME, 15).await;
    let d = env.deployments().get(NAME).await.unwrap();
    let first_start = start_time(&d);
    let jobmanagers = JobManagerDeployments::watch(&env, NAME);
    let launches = env.kubelet.launches_of(NAME, "jobmanager");

    let patch = match step {
        Step::Upgrade => json!({"job": {"args": args(&env, "out-2")}}),
        Step::Restart => json!({"restartNonce": 1}),
        Step::Suspend => json!({"job": {"state": "suspended"}}),
    };
    env.patch_spec(NAME, patch).await;
    let seen = at_the_moment(&env, mode, moment, launches).await;
    strike(&mut env, fault).await;
    eprintln!("e2e-fault-matrix: {ha:?} {mode} {step:?} {moment:?} {fault:?}: struck at {seen}");

    let finished = done(step, &first, &first_start);
    let d = env
        .wait_for(NAME, "the step done, or stopped for a person", LONG, |d| {
            finished(d) || stopped_for_a_person(d)
        })
        .await;
    let person = stopped_for_a_person(&d);
    if person {
        eprintln!("e2e-fault-matrix: stopped for a person: {}", error(&d));
        assert_ne!(
            mode,
            "stateless",
            "a stateless job needs no person: {}",
            error(&d)
        );
        // With HA the state is in the HA metadata; only a savepoint stop that completed just
        // before the kill (its job FINISHED, the trigger forgotten) asks a person.
        assert!(
            ha == Ha::None || mode == "savepoint",
            "a last-state job with HA needs no person: {}",
            error(&d)
        );
        // The redeploy a person makes, as the message asks: the job's newest retained snapshot.
        let recorded_id = recorded_checkpoint(&d).map_or(0, |(id, _)| id);
        let snapshot = e2e::snapshot_a_person_restores(&env, NAME, &first, recorded_id);
        env.patch_spec(
            NAME,
            json!({"job": {"initialSavepointPath": snapshot, "savepointRedeployNonce": 1}}),
        )
        .await;
        env.wait_for(NAME, "the step done after the redeploy", LONG, &finished)
            .await;
    }
    if step == Step::Suspend {
        env.patch_spec(
            NAME,
            json!({"job": {"state": "running", "args": args(&env, "out-2")}}),
        )
        .await;
        env.wait_for(NAME, "resumed", LONG, done(Step::Upgrade, &first, &first_start))
            .await;
    }
    let d = env.deployments().get(NAME).await.unwrap();
    let r = fresh_counter(
        &env.path(&format!("{NAME}/{}", out_after(step))),
        "counting at the end",
    )
    .await;
    if mode == "stateless" {
        assert_eq!(r.restored_min, 0, "the stateless control starts empty: {r:?}");
    } else {
        assert!(
            r.restored_min >= held && r.restored_min > 0,
            "the job holds at least the state recorded before the step ({held}): {r:?}"
        );
    }
    e2e::assert_status_agrees_with_flink(&env, &d).await;
    assert!(jobmanagers.max() <= 1, "never two JobManager Deployments");
    eprintln!(
        "e2e-fault-matrix: {ha:?} {mode} {step:?} {moment:?} {fault:?}: passed in {:.0} s ({}; bound {held}, restored {})",
        started.elapsed().as_secs_f64(),
        if person {
            "a person redeployed"
        } else {
            "completed"
        },
        r.restored_min
    );
}
