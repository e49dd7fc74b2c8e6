//! Faults injected into real Flink processes with Kubernetes HA, on a REAL kube-apiserver +
//! kube-controller-manager + etcd (tests/cluster/) with the test node running the Pods
//! (tests/support/node.rs): the HA cells of the state-safety matrix (docs/state-safety.md), and
//! concurrent upgrades edited mid-flight against real watch latency. Each scenario asserts the
//! test job's keyed counter: a stateful job never starts empty or from older state.
//!
//! One test runs the upgrade scenarios in order on one control plane, printing
//! `real-faults: scenario ...` as it goes; a second (on its own control plane, after the first:
//! the two never run at once) runs the suspend, `restartNonce` and resume cells.
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
#[path = "support/step_cells.rs"]
mod step_cells;

use flink_lifecycle::api::{FlinkDeployment, ReconciliationState};
use real_env::{
    JOBS_NS, JobManagerDeployments, RealEnv, as_soon_as, assert_status_agrees_with_flink, counter, error,
    fresh_counter, job_id, job_state, lifecycle, reconciliation_state, restored_from,
    running_with_recorded_state, stable_with_new_job, stable_with_new_start, start_time,
};
use serde_json::json;
use std::time::{Duration, Instant};
use step_cells::{StepCell, step_recorded, trigger_recorded};

static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// Each test brings a control plane and Flink clusters: on 2 cores, one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `make test` runs a representative subset; `make soak-faults` sets `REAL_FAULTS_ALL=1` for
/// every cell, and `REAL_FAULTS_CELLS=k,l` runs just the cells named (to repeat one). Says which
/// cells it leaves out, so none goes unnoticed.
const DEFAULT_CELLS: &[&str] = &["a1", "b", "d", "f"];

fn chosen(cell: &str) -> bool {
    match std::env::var("REAL_FAULTS_CELLS") {
        Ok(list) => list.split(',').any(|c| c.trim() == cell),
        Err(_) => std::env::var_os("REAL_FAULTS_ALL").is_some() || DEFAULT_CELLS.contains(&cell),
    }
}

fn runs(cell: &str) -> bool {
    let chosen = chosen(cell);
    if !chosen {
        eprintln!("real-faults: scenario {cell} runs with REAL_FAULTS_ALL=1 (make soak-faults)");
    }
    chosen
}

/// Whether a test has a cell to run: a control plane is started only then.
fn any_chosen(cells: &[&str]) -> bool {
    let any = cells.iter().any(|c| chosen(c));
    if !any {
        eprintln!("real-faults: none of the cells {cells:?} chosen (REAL_FAULTS_CELLS)");
    }
    any
}

fn scenario(name: &str) {
    let at = STARTED.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("real-faults: scenario {name} (at {at:.1} s)");
}

fn recorded_checkpoint_id(d: &FlinkDeployment) -> i64 {
    d.status
        .as_ref()
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.last_completed_checkpoint.as_ref())
        .and_then(|c| c.checkpoint_id)
        .unwrap_or(0)
}

fn last_reconciled_has(d: &FlinkDeployment, fragment: &str) -> bool {
    d.status
        .as_ref()
        .and_then(|s| s.reconciliation_status.as_ref())
        .and_then(|r| r.last_reconciled_spec.as_deref())
        .is_some_and(|s| s.contains(fragment))
}

fn savepoints_in(dir: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("savepoint-"))
                .count()
        })
        .unwrap_or(0)
}

fn counter_file_absent(env: &RealEnv, out: &str) -> bool {
    !std::path::Path::new(&env.path(out))
        .join("counter-0.properties")
        .exists()
}

/// A stateful job with Kubernetes HA, stable and past a few recorded checkpoints.
async fn running_with_checkpoints(env: &RealEnv, name: &str, mode: &str) -> FlinkDeployment {
    env.apply(&env.ha_application(name, "v1_20", mode));
    env.wait_for(name, "stable and running", stable_with_new_job(""))
        .await;
    counter(env, &format!("{name}/out-1"), "counting", |r| r.max >= 5).await;
    env.wait_for(name, "checkpoint 5 recorded", |d| recorded_checkpoint_id(d) >= 5)
        .await
}

/// Applies the HA spec of `name` with the job writing to `out`.
fn upgrade(env: &RealEnv, name: &str, mode: &str, out: &str) {
    let mut spec = env.ha_application(name, "v1_20", mode);
    spec["spec"]["job"]["args"] = env.args(name, out);
    env.apply(&spec);
}

/// Ends on the spec writing to `out`, stable, with the counter continued from state.
async fn ends_upgraded_with_state(env: &RealEnv, name: &str, before: &FlinkDeployment, out: &str) {
    let start = start_time(before);
    let d = env
        .wait_for(name, "upgraded", |d| {
            stable_with_new_start(&start)(d) && last_reconciled_has(d, &format!("{name}/{out}"))
        })
        .await;
    let r = counter(env, &format!("{name}/{out}"), "counting on the new spec", |r| {
        r.max > 0
    })
    .await;
    assert!(
        r.restored_min > 0,
        "{name}: the new spec's job started from state, not empty: {r:?}"
    );
    assert!(error(&d).is_empty(), "{name}: {}", error(&d));
    assert_status_agrees_with_flink(env, name).await;
}

/// Savepoint mode with Kubernetes HA: the JobManager is killed once the upgrade's trigger is
/// recorded (`kill_when_finished`: once Flink reports the job FINISHED by the stop).
async fn savepoint_upgrade_with_jobmanager_killed(env: &RealEnv, name: &str, kill_when_finished: bool) {
    let d = running_with_checkpoints(env, name, "savepoint").await;
    upgrade(env, name, "savepoint", "out-2");
    env.wait_for(name, "savepoint trigger recorded", trigger_recorded)
        .await;
    if kill_when_finished {
        // Flink's stop takes ~70 ms; the operator polls every second: most often Flink has
        // finished the job and the operator has not read the savepoint's path yet.
        let flink = env.flink(name);
        let id = job_id(&d);
        for _ in 0..500 {
            let finished = flink
                .jobs_overview()
                .await
                .ok()
                .and_then(|o| o.job(&id).map(|j| j.state.as_str() == "FINISHED"))
                .unwrap_or(false);
            if finished {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(env.node.kill(name, "jobmanager"), "the JobManager was running");
    // With HA the restarted JobManager either recovers the running job from its latest
    // checkpoint (the kill beat the savepoint), and the upgrade completes with a new
    // savepoint; or the stop had completed (70 ms here), the job is FINISHED in HA's job
    // result store and Flink has forgotten the trigger and the savepoint's path: the operator
    // must stop and name where the savepoint is, never start the new spec empty.
    // A third outcome, from a Flink 1.20 bug: the JobManager killed while writing its job
    // result store entry leaves an empty `<job id>_DIRTY.json`, and every restart dies reading
    // it ("No content to map due to end-of-input"). The Pod crash-loops; nothing is deployed.
    let start = start_time(&d);
    let launched = env.node.launches_of(name, "jobmanager");
    let crash_looping = || env.node.launches_of(name, "jobmanager") >= launched + 4;
    let outcome = env
        .wait_for(name, "upgraded, or stopped asking for a person", |d| {
            (stable_with_new_start(&start)(d) && last_reconciled_has(d, &format!("{name}/out-2")))
                || error(d).contains("Manual restore required")
                || crash_looping()
        })
        .await;
    let mut taken = "upgrade completed by the operator";
    let stopped = error(&outcome).contains("Manual restore required");
    if stopped || crash_looping() {
        let message = error(&outcome);
        eprintln!("real-faults:   stopped for a person: {message}");
        let dir = env.path(&format!("{name}/savepoints"));
        if stopped {
            taken = "stopped for a person; redeployed from the savepoint it named";
            assert!(
                message.contains(&dir),
                "the message names the savepoint directory: {message}"
            );
        } else {
            taken = "JobManager crash-looping (empty job result store entry); redeployed from the savepoint on disk";
            let status = env.status_by_kubectl(name);
            eprintln!("real-faults:   status while crash-looping: {status}");
            let degraded = status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Degraded" && c["status"] == "True");
            assert!(degraded, "a crash-looping JobManager shows as Degraded: {status}");
        }
        assert!(
            counter_file_absent(env, &format!("{name}/out-2")),
            "the new spec never ran while the state was unknown"
        );
        let savepoint = flink::newest_savepoint(&dir).expect("the completed savepoint is on disk");
        let mut spec = env.ha_application(name, "v1_20", "savepoint");
        spec["spec"]["job"]["args"] = env.args(name, "out-2");
        spec["spec"]["job"]["initialSavepointPath"] = serde_json::json!(savepoint);
        spec["spec"]["job"]["savepointRedeployNonce"] = serde_json::json!(1);
        env.apply(&spec);
    }
    ends_upgraded_with_state(env, name, &d, "out-2").await;
    assert!(
        savepoints_in(&env.path(&format!("{name}/savepoints"))) <= 2,
        "at most one savepoint per attempt"
    );
    eprintln!("real-faults:   {name}: {taken}");
}

/// Deletes a resource and waits until it and its Flink processes are gone.
async fn delete_and_wait(env: &RealEnv, name: &str) {
    use kube::api::DeleteParams;
    env.deployments()
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
    env.until(&format!("{name} deleted"), || async {
        (env.deployments().get_opt(name).await.unwrap().is_none()
            && env.node.running_of(name, "jobmanager") + env.node.running_of(name, "taskmanager") == 0)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_apiserver_faults_with_kubernetes_ha() {
    if !any_chosen(&["a1", "a2", "b", "c", "d", "e"]) {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    STARTED.get_or_init(Instant::now);
    let mut env = RealEnv::start(flink::FLINK_1_20).await;

    // ---------------------------------------------------------------------------------------
    if runs("a1") {
        scenario("a1: savepoint mode + Kubernetes HA, JobManager killed with the trigger recorded");
        savepoint_upgrade_with_jobmanager_killed(&env, "hs", false).await;
        delete_and_wait(&env, "hs").await;
    }

    // ---------------------------------------------------------------------------------------
    if runs("a2") {
        scenario("a2: savepoint mode + Kubernetes HA, JobManager killed as the stop completes");
        savepoint_upgrade_with_jobmanager_killed(&env, "hf", true).await;
        delete_and_wait(&env, "hf").await;
    }

    // ---------------------------------------------------------------------------------------
    if runs("b") {
        scenario("b: last-state + Kubernetes HA, the new JobManager killed while its job initializes");
        let name = "hl";
        let d = running_with_checkpoints(&env, name, "last-state").await;
        let launched = env.node.launches_of(name, "jobmanager");
        upgrade(&env, name, "last-state", "out-2");
        env.until("the new JobManager launched", || async {
            (env.node.launches_of(name, "jobmanager") > launched).then_some(())
        })
        .await;
        assert!(
            env.node.kill(name, "jobmanager"),
            "the new JobManager was running"
        );
        ends_upgraded_with_state(&env, name, &d, "out-2").await;
        delete_and_wait(&env, name).await;
    }

    // ---------------------------------------------------------------------------------------
    if runs("c") {
        scenario("c: last-state + Kubernetes HA, the operator killed after deleting the cluster");
        let name = "ho";
        let d = running_with_checkpoints(&env, name, "last-state").await;
        let launched = env.node.launches_of(name, "jobmanager");
        upgrade(&env, name, "last-state", "out-2");
        env.until("the old JobManager stopped", || async {
            (env.node.running_of(name, "jobmanager") == 0).then_some(())
        })
        .await;
        env.kill_operator();
        tokio::time::sleep(Duration::from_secs(3)).await;
        env.start_operator();
        ends_upgraded_with_state(&env, name, &d, "out-2").await;
        assert_eq!(
            env.node.launches_of(name, "jobmanager"),
            launched + 1,
            "one new JobManager: the restarted operator deployed once"
        );
        delete_and_wait(&env, name).await;
    }

    // ---------------------------------------------------------------------------------------
    if runs("d") {
        scenario("d: concurrent savepoint upgrades edited mid-flight (real watch latency)");
        let names = ["c1", "c2", "c3"];
        for name in names {
            env.apply(&env.application(name, "v1_20", "savepoint"));
        }
        let mut first = Vec::new();
        for name in names {
            let d = env
                .wait_for(name, "stable and running", stable_with_new_job(""))
                .await;
            counter(&env, &format!("{name}/out-1"), "counting", |r| r.max >= 3).await;
            first.push(job_id(&d));
        }
        let edit = |name: &str, out: &str| {
            let mut spec = env.application(name, "v1_20", "savepoint");
            spec["spec"]["job"]["args"] = env.args(name, out);
            spec
        };
        for name in names {
            env.apply(&edit(name, "out-2"));
        }
        for (i, name) in names.iter().enumerate() {
            env.wait_for(name, "first upgrade under way", |d| {
                lifecycle(d) == "Upgrading" || job_id(d) != first[i]
            })
            .await;
            env.apply(&edit(name, "out-3"));
        }
        for (i, name) in names.iter().enumerate() {
            let d = env
                .wait_for(name, "on the newest spec", |d| {
                    stable_with_new_job(&first[i])(d) && last_reconciled_has(d, &format!("{name}/out-3"))
                })
                .await;
            let r = counter(&env, &format!("{name}/out-3"), "counting", |r| r.max > 0).await;
            assert!(r.restored_min > 0, "{name}: state continued: {r:?}");
            assert!(error(&d).is_empty(), "{name}: {}", error(&d));
            let taken = savepoints_in(&env.path(&format!("{name}/savepoints")));
            assert!(
                (1..=2).contains(&taken),
                "{name}: one savepoint per upgrade, {taken} taken"
            );
            assert_status_agrees_with_flink(&env, name).await;
        }
        for name in names {
            delete_and_wait(&env, name).await;
        }
    }

    // ---------------------------------------------------------------------------------------
    if runs("e") {
        scenario("e: two operators behind the Lease, the leader killed with the trigger recorded");
        env.kill_operator();
        let mut operators = tokio::task::block_in_place(|| {
            [
                env.elected_operator("operator-a"),
                env.elected_operator("operator-b"),
            ]
        });
        let leader = env
            .until("one operator leads", || async {
                operators.iter().position(|o| o.led_at().is_some())
            })
            .await;
        let follower = 1 - leader;
        let name = "le";
        env.apply(&env.application(name, "v1_20", "savepoint"));
        let first = job_id(
            &env.wait_for(name, "stable and running", stable_with_new_job(""))
                .await,
        );
        counter(&env, "le/out-1", "counting", |r| r.max >= 3).await;
        let mut spec = env.application(name, "v1_20", "savepoint");
        spec["spec"]["job"]["args"] = env.args(name, "out-2");
        env.apply(&spec);
        env.wait_for(name, "savepoint trigger recorded", trigger_recorded)
            .await;
        operators[leader].kill();
        let killed = Instant::now();
        assert!(
            operators[follower].led_at().is_none(),
            "the follower led while the leader lived"
        );
        let took_over = env
            .until("the follower leads", || async { operators[follower].led_at() })
            .await;
        let hand_over = took_over.duration_since(killed);
        eprintln!(
            "real-faults:   {} took the Lease {:.1} s after {} was killed",
            operators[follower].identity,
            hand_over.as_secs_f64(),
            operators[leader].identity
        );
        assert!(
            hand_over <= elected::LEASE_DURATION + elected::RENEW_EVERY + Duration::from_secs(2),
            "the Lease was taken over after {hand_over:?}"
        );
        env.wait_for(name, "upgraded by the new leader", |d| {
            stable_with_new_job(&first)(d) && last_reconciled_has(d, "le/out-2")
        })
        .await;
        let r = counter(&env, "le/out-2", "counting after the upgrade", |r| r.max > 0).await;
        assert!(r.restored_min > 0, "the new leader kept the state: {r:?}");
        assert_eq!(
            savepoints_in(&env.path("le/savepoints")),
            1,
            "one savepoint: the new leader did not take a second one"
        );
        assert_status_agrees_with_flink(&env, name).await;
    }

    scenario("done");
}

/// Waits until the step completes or the operator stops for a person; a stop fails the cell
/// (with HA the job's state is in its HA metadata: nothing needs a person) with the status.
async fn completes(
    env: &RealEnv,
    name: &str,
    what: &str,
    done: impl Fn(&FlinkDeployment) -> bool,
) -> FlinkDeployment {
    let d = env
        .wait_for(name, what, |d| {
            done(d) || error(d).contains("Manual restore required")
        })
        .await;
    assert!(
        error(&d).is_empty(),
        "{name}: not {what}, an error instead: {}; status: {}",
        error(&d),
        serde_json::to_string_pretty(&d.status).unwrap_or_default()
    );
    d
}

/// Waits until the resource is suspended without error and its JobManager stopped. In savepoint
/// mode the operator may stop for a person instead (the stop had completed before the kill: the
/// job FINISHED in HA's job result store, and Flink forgot the trigger): the message must name
/// the savepoint directory, and a person redeploys from the savepoint there, the suspend still
/// asked for.
async fn suspended(env: &RealEnv, name: &str, mode: &str) -> FlinkDeployment {
    let done = |d: &FlinkDeployment| {
        lifecycle(d) == "Suspended" && reconciliation_state(d) == Some(ReconciliationState::Deployed)
    };
    let outcome = env
        .wait_for(name, "suspended, or stopped for a person", |d| {
            done(d) || error(d).contains("Manual restore required")
        })
        .await;
    if mode == "savepoint" && error(&outcome).contains("Manual restore required") {
        a_person_redeploys_from_the_savepoint(env, name, &outcome).await;
        env.wait_for(name, "suspended with the named savepoint", |d| {
            done(d) && error(d).is_empty()
        })
        .await;
    }
    let d = completes(env, name, "suspended", done).await;
    env.until("the suspended cluster's JobManager stopped", || async {
        (env.node.running_of(name, "jobmanager") == 0).then_some(())
    })
    .await;
    let now = env.deployments().get(name).await.unwrap();
    eprintln!(
        "real-faults:   {name}: suspended; status says job {} when recorded, {} once the JobManager stopped",
        job_state(&d),
        job_state(&now)
    );
    d
}

/// A savepoint-mode stop whose savepoint completed just before the JobManager was killed: the
/// job FINISHED in HA's job result store, and Flink forgot the trigger and the savepoint path.
/// The operator stops for a person; its message must name the savepoint directory, and the
/// person redeploys from the newest savepoint there, as the message asks.
async fn a_person_redeploys_from_the_savepoint(env: &RealEnv, name: &str, stopped: &FlinkDeployment) {
    let dir = env.path(&format!("{name}/savepoints"));
    let redeploy = step_cells::savepoint_redeploy_a_person_makes(name, &error(stopped), &dir);
    env.patch_spec(name, redeploy).await;
}

async fn live_jobs(env: &RealEnv, name: &str) -> Vec<String> {
    step_cells::live_jobs_at(env.node.rest_url(JOBS_NS, name)).await
}

fn kill_jobmanager(env: &RealEnv, name: &str, seen: &FlinkDeployment, at: &str) {
    assert!(
        env.node.kill(name, "jobmanager"),
        "{name}: the JobManager was running"
    );
    eprintln!(
        "real-faults:   {name}: JobManager killed {at} (lifecycle {}, reconciliation {:?}, job {})",
        lifecycle(seen),
        reconciliation_state(seen),
        job_state(seen)
    );
}

/// One cell: a job of `mode` with Kubernetes HA and recorded state (its counter read before a
/// checkpoint the operator recorded), the step and its fault, then the job running again: on
/// the spec asked for, without error, from a snapshot, with at least the state recorded before
/// the step (never empty, never older), status agreeing with Flink's `/jobs/overview`, and
/// never two JobManager Deployments.
async fn step_cell(env: &mut RealEnv, name: &str, mode: &str, cell: StepCell) {
    let started = Instant::now();
    env.apply(&env.ha_application(name, "v1_20", mode));
    let (d, held) = running_with_recorded_state(env, name, 3).await;
    let jobmanagers = JobManagerDeployments::watch(env, name);
    let mut previous = start_time(&d);
    let resume = |out: &str| json!({"job": {"state": "running", "args": env.args(name, out)}});
    let out = match cell {
        StepCell::JobManagerKilledRestarting if mode == "savepoint" => {
            env.patch_spec(name, json!({"restartNonce": 1})).await;
            let seen = as_soon_as(
                env,
                name,
                "the restart's savepoint trigger recorded",
                trigger_recorded,
            )
            .await;
            kill_jobmanager(env, name, &seen, "with the restart's savepoint trigger recorded");
            "out-1"
        }
        StepCell::JobManagerKilledRestarting => {
            let launches = env.node.launches_of(name, "jobmanager");
            env.patch_spec(name, json!({"restartNonce": 1})).await;
            let seen = as_soon_as(env, name, "the restart recorded", step_recorded).await;
            // A last-state restart with HA records the restart and deletes the JobManager in
            // one step: the JobManager the fault finds is the restart's new one.
            env.until("the restart's JobManager started", || async {
                (env.node.launches_of(name, "jobmanager") > launches
                    && env.node.running_of(name, "jobmanager") > 0)
                    .then_some(())
            })
            .await;
            kill_jobmanager(env, name, &seen, "at its start, with the restart recorded");
            "out-1"
        }
        StepCell::JobManagerKilledSuspending => {
            env.patch_spec(name, json!({"job": {"state": "suspended"}})).await;
            let (seen, at) = if mode == "savepoint" {
                let seen = as_soon_as(env, name, "the suspend recorded", step_recorded).await;
                (seen, "with the suspend's savepoint trigger recorded")
            } else {
                // A last-state suspend with HA is one status write, and the JobManager is
                // deleted right after it: the fault strikes as the operator plans the suspend.
                let seen = env.deployments().get(name).await.unwrap();
                (seen, "as the suspend is asked for")
            };
            kill_jobmanager(env, name, &seen, at);
            previous = start_time(&suspended(env, name, mode).await);
            env.patch_spec(name, resume("out-2")).await;
            "out-2"
        }
        StepCell::JobManagerKilledResuming => {
            env.patch_spec(name, json!({"job": {"state": "suspended"}})).await;
            previous = start_time(&suspended(env, name, mode).await);
            let launches = env.node.launches_of(name, "jobmanager");
            env.patch_spec(name, resume("out-2")).await;
            let listed = env
                .until("the resumed job listed by the new JobManager", || async {
                    if env.node.launches_of(name, "jobmanager") == launches {
                        return None;
                    }
                    let jobs = live_jobs(env, name).await;
                    (!jobs.is_empty()).then_some(jobs)
                })
                .await;
            let seen = env.deployments().get(name).await.unwrap();
            kill_jobmanager(
                env,
                name,
                &seen,
                &format!("with the resumed job listed: {listed:?}"),
            );
            "out-2"
        }
        StepCell::OperatorKilledResuming => {
            env.patch_spec(name, json!({"job": {"state": "suspended"}})).await;
            previous = start_time(&suspended(env, name, mode).await);
            env.patch_spec(name, resume("out-2")).await;
            let seen = as_soon_as(env, name, "the resume recorded", |d| {
                reconciliation_state(d) == Some(ReconciliationState::Upgrading)
            })
            .await;
            env.kill_operator();
            eprintln!(
                "real-faults:   {name}: operator killed with the resume recorded (lifecycle {}, job {}, JobManagers running {})",
                lifecycle(&seen),
                job_state(&seen),
                env.node.running_of(name, "jobmanager")
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
    let on_the_spec =
        |d: &FlinkDeployment| stable_with_new_start(&previous)(d) && last_reconciled_has(d, &reconciled);
    let outcome = env
        .wait_for(name, "running again, or stopped for a person", |d| {
            on_the_spec(d) || error(d).contains("Manual restore required")
        })
        .await;
    if mode == "savepoint" && error(&outcome).contains("Manual restore required") {
        a_person_redeploys_from_the_savepoint(env, name, &outcome).await;
    }
    let d = completes(env, name, "running again on the spec asked for", on_the_spec).await;
    let r = fresh_counter(env, &format!("{name}/{out}"), "counting after the fault").await;
    assert!(
        r.restored_min >= held && r.restored_min > 0,
        "{name}: the job holds at least the state recorded before the step ({held}): {r:?}"
    );
    assert!(
        restored_from(env, &d).await.is_some(),
        "{name}: the job restored a snapshot"
    );
    assert_status_agrees_with_flink(env, name).await;
    assert_eq!(jobmanagers.max(), 1, "{name}: never two JobManager Deployments");
    eprintln!(
        "real-faults:   {name}: {cell:?} ({mode}) passed in {:.0} s (bound {held}, restored from {})",
        started.elapsed().as_secs_f64(),
        r.restored_min
    );
    delete_and_wait(env, name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_apiserver_suspend_restart_and_resume_faults_with_kubernetes_ha() {
    if !any_chosen(&["f", "g", "h", "i", "j", "k", "l", "m"]) {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    STARTED.get_or_init(Instant::now);
    let mut env = RealEnv::start(flink::FLINK_1_20).await;

    if runs("f") {
        scenario("f: last-state + Kubernetes HA, JobManager killed as the suspend is asked for, resumed");
        step_cell(
            &mut env,
            "hsk",
            "last-state",
            StepCell::JobManagerKilledSuspending,
        )
        .await;
    }

    if runs("g") {
        scenario(
            "g: last-state + Kubernetes HA, the restartNonce restart's new JobManager killed at its start",
        );
        step_cell(
            &mut env,
            "hrk",
            "last-state",
            StepCell::JobManagerKilledRestarting,
        )
        .await;
    }
    if runs("h") {
        scenario("h: last-state + Kubernetes HA, the new JobManager killed with the resumed job listed");
        step_cell(&mut env, "hrj", "last-state", StepCell::JobManagerKilledResuming).await;
    }
    if runs("i") {
        scenario("i: last-state + Kubernetes HA, operator killed with the resume recorded");
        step_cell(&mut env, "hro", "last-state", StepCell::OperatorKilledResuming).await;
    }
    if runs("j") {
        scenario(
            "j: savepoint + Kubernetes HA, JobManager killed with the suspend's trigger recorded, resumed",
        );
        step_cell(&mut env, "hss", "savepoint", StepCell::JobManagerKilledSuspending).await;
    }
    if runs("k") {
        scenario("k: savepoint + Kubernetes HA, JobManager killed with the restartNonce's trigger recorded");
        step_cell(&mut env, "hsr", "savepoint", StepCell::JobManagerKilledRestarting).await;
    }
    if runs("l") {
        scenario("l: savepoint + Kubernetes HA, the new JobManager killed with the resumed job listed");
        step_cell(&mut env, "hsj", "savepoint", StepCell::JobManagerKilledResuming).await;
    }
    if runs("m") {
        scenario("m: savepoint + Kubernetes HA, operator killed with the resume recorded");
        step_cell(&mut env, "hso", "savepoint", StepCell::OperatorKilledResuming).await;
    }
    scenario("done");
}
