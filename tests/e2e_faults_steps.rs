//! Faults injected into REAL Flink processes during the steps the upgrade cells of
//! `tests/e2e_faults.rs` leave out: a suspend and a `restartNonce` restart whose stop-with-savepoint
//! loses its JobManager, an upgrade whose JobManager stops answering while its savepoint is in
//! flight, an upgrade, suspend or restart whose operator loses Flink's REST API at the trigger,
//! and a last-state suspend whose operator crashes or whose JobManager dies while the cancel is
//! in flight (no HA, checkpoints every second; the operator's controllers against the
//! in-memory Kubernetes API, the test kubelet running and restarting the Flink processes). Each
//! cell asserts the test job's own counter: the job that runs after the fault holds at least the
//! state of a checkpoint the operator recorded before it.
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

use e2e::{
    Env, JobManagerDeployments, LONG, condition, counter, error, job_state, lifecycle, savepoints_in,
    stable_with_new_job, trigger_recorded,
};
use fault_cells::{
    after_the_fault, as_soon_as, reconciliation_state, running_with_recorded_state, stopped_for_a_person,
};
use flink::{CounterReport, FLINK_1_20};
use flink_lifecycle::api::{FlinkDeployment, ReconciliationState};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// The cells `make test` runs; the others run with `E2E_FAULTS_ALL=1` (`make soak-faults`). The
/// `restartNonce` cell takes the stop-with-savepoint path the upgrade cell of `e2e_faults` proves.
/// The frozen-JobManager upgrade cell shares its fault with `e2e_faults`'
/// `a_frozen_jobmanager_is_reported_and_clears`, which runs by default.
const DEFAULT_CELLS: &[&str] = &[
    "suspend_jobmanager_killed",
    "last_state_suspend_operator_killed",
    "upgrade_rest_unreachable",
];

fn runs(cell: &str) -> bool {
    fault_cells::runs("e2e-faults-steps", DEFAULT_CELLS, cell)
}

fn args(env: &Env, name: &str, out: &str) -> Value {
    e2e::job_args(env, name, out, &[])
}

/// Cell 1. Savepoint mode, `job.state: suspended`: the JobManager JVM is SIGKILLed as soon as the
/// suspend's savepoint trigger id is recorded, and restarted like a crashed container (no HA:
/// Flink resubmits the job under the same id from empty state). Then the job is resumed, with new
/// arguments so that only the resumed job writes its counter. It never starts empty nor older
/// than the newest checkpoint recorded before the fault; or the resource stops, naming the
/// snapshot, and the savepoint redeploy the message asks for (with the suspend) is what the
/// resume continues from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_jobmanager_killed() {
    if !runs("suspend_jobmanager_killed") {
        return;
    }
    let env = Env::start(FLINK_1_20).await;
    let name = "sk";
    let mut spec = env.application(name, "v1_20", "savepoint");
    spec["spec"]["job"]["args"] = args(&env, name, "out-1");
    env.create(&spec).await;
    let (first, held) = running_with_recorded_state(&env, name, 15).await;

    env.patch_spec(name, json!({"job": {"state": "suspended"}})).await;
    env.wait_for(name, "the suspend's savepoint trigger recorded", LONG, |d| {
        trigger_recorded(d.status.as_ref().and_then(|s| s.job_status.as_ref()))
    })
    .await;
    let launches = env.kubelet.launches_of(name, "jobmanager");
    assert!(env.kubelet.kill(name, "jobmanager"), "the JobManager was running");

    suspended_then_resumed(&env, name, &first, launches, held).await;
}

/// Cell 2. Savepoint mode, a new `restartNonce`: the JobManager is SIGKILLed as soon as the
/// restart's savepoint trigger id is recorded. The restarted job never starts empty nor older
/// than the newest checkpoint recorded before the fault; or the resource stops naming the
/// snapshot, and the savepoint redeploy the message asks for continues the counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_nonce_jobmanager_killed() {
    if !runs("restart_nonce_jobmanager_killed") {
        return;
    }
    let env = Env::start(FLINK_1_20).await;
    let name = "rk";
    let mut spec = env.application(name, "v1_20", "savepoint");
    spec["spec"]["job"]["args"] = args(&env, name, "out-1");
    env.create(&spec).await;
    let (first, held) = running_with_recorded_state(&env, name, 15).await;

    env.patch_spec(name, json!({"restartNonce": 1})).await;
    env.wait_for(name, "the restart's savepoint trigger recorded", LONG, |d| {
        trigger_recorded(d.status.as_ref().and_then(|s| s.job_status.as_ref()))
    })
    .await;
    let launches = env.kubelet.launches_of(name, "jobmanager");
    assert!(env.kubelet.kill(name, "jobmanager"), "the JobManager was running");

    let (_, stopped) = after_the_fault(&env, name, stable_with_new_job(&first)).await;
    if stopped {
        let known = stopped_for_a_person(&env, name, &first, launches).await;
        env.patch_spec(
            name,
            json!({"job": {"initialSavepointPath": known, "savepointRedeployNonce": 1}}),
        )
        .await;
        env.wait_for(name, "redeployed", LONG, stable_with_new_job(&first))
            .await;
    }
    // The restart keeps the arguments, so the rewound run wrote into the same directory: only
    // the report the job that runs now writes counts.
    let report = Path::new(&env.path("rk/out-1")).join("counter-0.properties");
    std::fs::remove_file(&report).expect("the counter report");
    let r = counter(&env.path("rk/out-1"), "counting after the restart", |r| r.max > 0).await;
    assert!(
        r.restored_min >= held && r.restored_min > 0,
        "the restarted job holds at least the state recorded before the fault ({held}): {r:?}"
    );
}

/// Cell 3. Savepoint mode upgrade (new `job.args`) whose JobManager stops answering its REST API
/// (SIGSTOP) for 20 s right after the savepoint trigger is recorded, with the savepoint still in
/// flight (every snapshot of the job takes 4 s). The upgrade completes from a savepoint of the
/// job's own state with one savepoint taken, status agrees with Flink's `/jobs/overview`, and
/// the resource never has two JobManager Deployments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_jobmanager_frozen() {
    if !runs("upgrade_jobmanager_frozen") {
        return;
    }
    let env = Env::start(FLINK_1_20).await;
    let name = "uf";
    // Every snapshot takes 4 s: the stop's savepoint is still in flight when the JobManager
    // freezes, and completes (its acknowledgements queued) only after the thaw.
    let u = savepoint_upgrade_at_its_trigger(&env, name, &["--snapshot-delay-ms", "4000"]).await;
    assert!(
        env.kubelet.freeze(name, "jobmanager", true),
        "the JobManager was running"
    );
    assert!(
        e2e::newest_savepoint_of(&u.savepoints, &u.first).is_none(),
        "the stop's savepoint is still in flight at the freeze"
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    let d = env.deployments().get(name).await.unwrap();
    assert!(env.kubelet.freeze(name, "jobmanager", false));
    assert_eq!(
        env.kubelet.launches_of(name, "jobmanager"),
        u.launches,
        "nothing was deployed while the JobManager did not answer: {:?}",
        d.status
    );
    upgraded_from_its_own_savepoint(&env, name, &u).await;
}

/// Cell 5. Savepoint mode: the operator loses Flink's REST API (a network fault between the
/// operator and the JobManager; Flink keeps running) as soon as the upgrade's savepoint trigger
/// is recorded, for 20 s. The stop completes in Flink meanwhile; the operator, unable to read
/// it, deploys nothing and says it cannot reach the REST API; once it can again, it reads the
/// completed savepoint and finishes the upgrade from it: the job's own state, one savepoint,
/// status agreeing with Flink, never two JobManager Deployments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_rest_unreachable() {
    if !runs("upgrade_rest_unreachable") {
        return;
    }
    let env = Env::start(FLINK_1_20).await;
    let name = "ur";
    let u = savepoint_upgrade_at_its_trigger(&env, name, &[]).await;
    rest_unreachable_for_a_while(&env, name, &u).await;
    upgraded_from_its_own_savepoint(&env, name, &u).await;
}

/// Cell 6. As cell 5, for a savepoint-mode suspend: the suspend completes from the job's own
/// savepoint (one savepoint), and the resume starts from it, at or above the pre-fault bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_rest_unreachable() {
    if !runs("suspend_rest_unreachable") {
        return;
    }
    let env = Env::start(FLINK_1_20).await;
    let name = "sr";
    let u = savepoint_stop_at_its_trigger(&env, name, &[], json!({"job": {"state": "suspended"}})).await;
    rest_unreachable_for_a_while(&env, name, &u).await;
    let d = env
        .wait_for(name, "suspended", LONG, |d| {
            lifecycle(d) == "Suspended" || !error(d).is_empty()
        })
        .await;
    assert_eq!(lifecycle(&d), "Suspended", "{}", error(&d));
    assert_eq!(
        savepoints_in(&u.savepoints) - u.taken_before,
        1,
        "one savepoint for the suspend"
    );
    env.patch_spec(
        name,
        json!({"job": {"state": "running", "args": args(&env, name, "out-2")}}),
    )
    .await;
    upgraded_from_its_own_savepoint(&env, name, &u).await;
}

/// Cell 7. As cell 5, for a savepoint-mode `restartNonce`: the job restarts from its own
/// savepoint (one savepoint), at or above the pre-fault bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_nonce_rest_unreachable() {
    if !runs("restart_nonce_rest_unreachable") {
        return;
    }
    let env = Env::start(FLINK_1_20).await;
    let name = "rr";
    let u = savepoint_stop_at_its_trigger(&env, name, &[], json!({"restartNonce": 1})).await;
    rest_unreachable_for_a_while(&env, name, &u).await;
    // The restart keeps the arguments: the job writes where the run before it did.
    ran_again_from_its_own_savepoint(&env, name, &u, &env.path("rr/out-1")).await;
}

/// A savepoint-mode stop (the spec patch `step` asks for it: an upgrade, a suspend, a restart)
/// of a job holding recorded state (output `out-1`, with `extra` arguments), caught as soon as
/// its savepoint trigger is recorded.
struct UpgradeAtTrigger {
    first: String,
    held: i64,
    jobmanagers: JobManagerDeployments,
    savepoints: String,
    taken_before: usize,
    launches: usize,
}

async fn savepoint_stop_at_its_trigger(
    env: &Env,
    name: &str,
    extra: &[&str],
    step: Value,
) -> UpgradeAtTrigger {
    let mut spec = env.application(name, "v1_20", "savepoint");
    spec["spec"]["job"]["args"] = e2e::job_args(env, name, "out-1", extra);
    env.create(&spec).await;
    let (first, held) = running_with_recorded_state(env, name, 3).await;
    let jobmanagers = JobManagerDeployments::watch(env, name);
    let savepoints = env.path(&format!("{name}/savepoints"));
    let taken_before = savepoints_in(&savepoints);
    env.patch_spec(name, step).await;
    env.wait_for(name, "the stop's savepoint trigger recorded", LONG, |d| {
        trigger_recorded(d.status.as_ref().and_then(|s| s.job_status.as_ref()))
    })
    .await;
    let launches = env.kubelet.launches_of(name, "jobmanager");
    UpgradeAtTrigger {
        first,
        held,
        jobmanagers,
        savepoints,
        taken_before,
        launches,
    }
}

/// A savepoint upgrade (new `job.args`, output `out-2`), caught at its trigger.
async fn savepoint_upgrade_at_its_trigger(env: &Env, name: &str, extra: &[&str]) -> UpgradeAtTrigger {
    let step = json!({"job": {"args": args(env, name, "out-2")}});
    savepoint_stop_at_its_trigger(env, name, extra, step).await
}

/// The operator cannot reach Flink's REST API for 20 s (Flink keeps running): nothing is
/// deployed meanwhile, and status says the REST API does not answer.
async fn rest_unreachable_for_a_while(env: &Env, name: &str, u: &UpgradeAtTrigger) {
    env.block_rest(name, true);
    tokio::time::sleep(Duration::from_secs(20)).await;
    let d = env.deployments().get(name).await.unwrap();
    env.block_rest(name, false);
    assert_eq!(
        env.kubelet.launches_of(name, "jobmanager"),
        u.launches,
        "nothing was deployed while the REST API did not answer: {:?}",
        d.status
    );
    assert_eq!(
        condition(&d, "FlinkRestAnswering").map(|c| c.0).as_deref(),
        Some("False"),
        "status says the REST API does not answer: {:?}",
        d.status
    );
}

/// After the fault: the new spec (output `out-2`) had not run before; it now runs stable, without
/// error, from a savepoint of the job's own state, at or above the pre-fault bound, with exactly
/// one savepoint taken, status agreeing with `/jobs/overview`, and never two JobManager
/// Deployments.
async fn upgraded_from_its_own_savepoint(env: &Env, name: &str, u: &UpgradeAtTrigger) {
    let out = env.path(&format!("{name}/out-2"));
    assert!(CounterReport::read(Path::new(&out)).is_none());
    ran_again_from_its_own_savepoint(env, name, u, &out).await;
}

/// The job runs again after the fault (its output in `out`, which the run before may have
/// written too: only a report written now counts): stable, without error, from a savepoint of
/// the job's own state, at or above the pre-fault bound, with exactly one savepoint taken,
/// status agreeing with `/jobs/overview`, and never two JobManager Deployments.
async fn ran_again_from_its_own_savepoint(env: &Env, name: &str, u: &UpgradeAtTrigger, out: &str) {
    let d = env
        .wait_for(name, "running again", LONG, stable_with_new_job(&u.first))
        .await;
    assert!(error(&d).is_empty(), "{}", error(&d));
    let r = fault_cells::fresh_counter(out, "counting after the fault").await;
    assert!(
        r.restored_min >= u.held && r.restored_min > 0,
        "the upgraded job holds at least the state recorded before the fault ({}): {r:?}",
        u.held
    );
    let restored = e2e::restored_from(env, &d).await.unwrap_or_default();
    assert!(
        restored.contains(&format!("/savepoints/savepoint-{}", &u.first[..6])),
        "the upgrade restored a savepoint of the job's own state: {restored}"
    );
    assert_eq!(
        savepoints_in(&u.savepoints) - u.taken_before,
        1,
        "one savepoint for the upgrade, not a second after the fault"
    );
    e2e::assert_status_agrees_with_flink(env, &d).await;
    assert_eq!(u.jobmanagers.max(), 1, "never two JobManager Deployments");
}

/// Cell 4. Last-state mode without HA (suspend = cancel, resume from the last checkpoint): the
/// operator is killed as soon as the suspend step is recorded (UPGRADING, before or after its
/// cancel reached Flink) and started again 3 s later. The suspend completes, and the resumed job
/// holds at least the state of the newest checkpoint recorded before the crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_state_suspend_operator_killed() {
    if !runs("last_state_suspend_operator_killed") {
        return;
    }
    let mut env = Env::start(FLINK_1_20).await;
    let name = "lk";
    let mut spec = env.application(name, "v1_20", "last-state");
    spec["spec"]["job"]["args"] = args(&env, name, "out-1");
    env.create(&spec).await;
    let (first, held) = running_with_recorded_state(&env, name, 3).await;

    env.patch_spec(name, json!({"job": {"state": "suspended"}})).await;
    let seen = as_soon_as(&env, name, "suspending", |d| {
        reconciliation_state(d) == Some(ReconciliationState::Upgrading) || lifecycle(d) == "Suspended"
    })
    .await;
    env.kill_operator();
    eprintln!(
        "e2e-faults-steps: lk: operator killed at lifecycle {}, job {}",
        lifecycle(&seen),
        job_state(&seen)
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    env.start_operator();

    let d = env
        .wait_for(name, "suspended", LONG, |d| {
            lifecycle(d) == "Suspended" || error(d).contains("Manual restore required")
        })
        .await;
    assert_eq!(lifecycle(&d), "Suspended", "{}", error(&d));
    env.patch_spec(
        name,
        json!({"job": {"state": "running", "args": args(&env, name, "out-2")}}),
    )
    .await;
    env.wait_for(name, "resumed", LONG, stable_with_new_job(&first))
        .await;
    let r = counter(&env.path("lk/out-2"), "counting after the resume", |r| r.max > 0).await;
    assert!(
        r.restored_min >= held && r.restored_min > 0,
        "the resumed job holds at least the state recorded before the crash ({held}): {r:?}"
    );
}

/// Cell 8. Last-state mode without HA (suspend = cancel, resume from the last checkpoint): the
/// JobManager JVM is SIGKILLed as soon as the suspend's cancel is recorded (`CANCELLING`), and
/// restarted like a crashed container: Flink resubmits the job under the same id from the state
/// it was deployed with. The suspend completes from a checkpoint of the job's own run, or the
/// resource stops naming the recorded checkpoint and the redeploy the message asks for (with
/// the suspend still asked for) is what the resume continues from. Either way the resumed job
/// holds at least the state recorded before the fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_state_suspend_jobmanager_killed_cancelling() {
    if !runs("last_state_suspend_jobmanager_killed_cancelling") {
        return;
    }
    let env = Env::start(FLINK_1_20).await;
    let name = "lc";
    let mut spec = env.application(name, "v1_20", "last-state");
    spec["spec"]["job"]["args"] = args(&env, name, "out-1");
    env.create(&spec).await;
    let (first, held) = running_with_recorded_state(&env, name, 15).await;
    let jobmanagers = JobManagerDeployments::watch(&env, name);

    env.patch_spec(name, json!({"job": {"state": "suspended"}})).await;
    let seen = as_soon_as(&env, name, "cancelling for the suspend", |d| {
        job_state(d) == "CANCELLING" || lifecycle(d) == "Suspended"
    })
    .await;
    let launches = env.kubelet.launches_of(name, "jobmanager");
    let killed = env.kubelet.kill(name, "jobmanager");
    eprintln!(
        "e2e-faults-steps: lc: JobManager killed ({killed}) at lifecycle {}, job {}",
        lifecycle(&seen),
        job_state(&seen)
    );
    assert!(
        killed && lifecycle(&seen) != "Suspended",
        "the JobManager was killed with the cancel in flight"
    );

    let d = suspended_then_resumed(&env, name, &first, launches, held).await;
    e2e::assert_status_agrees_with_flink(&env, &d).await;
    assert_eq!(jobmanagers.max(), 1, "never two JobManager Deployments");
}

/// After a fault that struck a suspend: the suspend completes, or the operator stops for a person
/// (the message names the recorded snapshot, nothing is deployed) and the redeploy the message
/// asks for, with the suspend still asked for, keeps the job suspended with that snapshot. Nothing
/// runs the resumed spec (`out-2`) before the resume; the resumed job runs stable, without error,
/// at or above the pre-fault bound `held`. Returns the resumed resource.
async fn suspended_then_resumed(
    env: &Env,
    name: &str,
    first: &str,
    launches: usize,
    held: i64,
) -> FlinkDeployment {
    let suspended = |d: &FlinkDeployment| lifecycle(d) == "Suspended" && error(d).is_empty();
    let (_, stopped) = after_the_fault(env, name, suspended).await;
    if stopped {
        let known = stopped_for_a_person(env, name, first, launches).await;
        env.patch_spec(
            name,
            json!({"job": {"initialSavepointPath": known, "savepointRedeployNonce": 1}}),
        )
        .await;
        env.wait_for(name, "suspended with the named snapshot", LONG, suspended)
            .await;
    }
    let out = env.path(&format!("{name}/out-2"));
    assert!(
        CounterReport::read(Path::new(&out)).is_none(),
        "nothing ran the resumed spec before the resume"
    );
    env.patch_spec(
        name,
        json!({"job": {"state": "running", "args": args(env, name, "out-2")}}),
    )
    .await;
    let d = env
        .wait_for(name, "resumed", LONG, stable_with_new_job(first))
        .await;
    let r = counter(&out, "counting after the resume", |r| r.max > 0).await;
    assert!(
        r.restored_min >= held && r.restored_min > 0,
        "the resumed job holds at least the state recorded before the fault ({held}): {r:?}"
    );
    assert!(error(&d).is_empty(), "{}", error(&d));
    d
}
