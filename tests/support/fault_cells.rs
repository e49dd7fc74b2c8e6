//! What the fault cells on real Flink share (`e2e_faults_steps`, `e2e_faults_resume`,
//! `e2e_zookeeper`): which cells a run includes, a running job with a lower bound of the
//! state it has checkpointed, and the waits and checks after a fault.
// Each binary uses part of this module, re-exports included.
#![allow(dead_code, unused_imports)]

use super::e2e::{
    Env, LONG, counter, error, job_id, job_state, lifecycle, recorded_checkpoint, recorded_checkpoint_time,
};
use super::flink::CounterReport;
use flink_lifecycle::api::FlinkDeployment;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whether cell `cell` of binary `binary` runs: always with `E2E_FAULTS_ALL=1` (`make
/// soak-faults`), else only the ones in `defaults`. Says which it leaves out, so none goes
/// unnoticed.
pub fn runs(binary: &str, defaults: &[&str], cell: &str) -> bool {
    let all = std::env::var_os("E2E_FAULTS_ALL").is_some();
    if !all && !defaults.contains(&cell) {
        eprintln!("{binary}: cell {cell} runs with E2E_FAULTS_ALL=1 (make soak-faults)");
        return false;
    }
    true
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub use super::status_of::reconciliation_state;

/// A running job of resource `name` with `checkpoints` checkpoints recorded, and a lower bound of
/// the state its newest recorded checkpoint holds: the counter read before a checkpoint that
/// Flink triggered later was recorded. (The test job's keys count within one of each other, so
/// every key of that checkpoint holds at least `max - 1`.) A job restored from that checkpoint,
/// or from anything newer, reports `restored_min` at least this; an empty start reports 0, an
/// older snapshot less. The job writes its counter to `<name>/out-1`.
pub async fn running_with_recorded_state(env: &Env, name: &str, checkpoints: i64) -> (String, i64) {
    let d = env.wait_stable_running(name).await;
    let first = job_id(&d);
    let out = env.path(&format!("{name}/out-1"));
    counter(&out, "counting", |r| r.max >= 5).await;
    // A rewound run numbers its checkpoints from 1 again in the same directory: with only a few
    // recorded, it can reach the recorded id within the seconds the operator needs to cancel it
    // (docs/state-safety.md, "young jobs").
    env.wait_for(name, "checkpoints recorded", LONG, |d| {
        recorded_checkpoint(d).is_some_and(|(id, _)| id >= checkpoints)
    })
    .await;
    let read_at = now_ms();
    let before = CounterReport::read(Path::new(&out)).expect("a counter report");
    env.wait_for(
        name,
        "a checkpoint triggered after the counter was read",
        LONG,
        |d| recorded_checkpoint_time(d).is_some_and(|t| t > read_at),
    )
    .await;
    (first, before.max - 1)
}

/// Waits until the operator reports the rewound job or another stop that needs a person, or the
/// step completes (`done`). Returns the resource and whether a person is needed.
pub async fn after_the_fault(
    env: &Env,
    name: &str,
    done: impl Fn(&FlinkDeployment) -> bool,
) -> (FlinkDeployment, bool) {
    let d = env
        .wait_for(name, "the step completed or stopped for a person", LONG, |d| {
            error(d).contains("Manual restore required") || done(d)
        })
        .await;
    let stopped = error(&d).contains("Manual restore required");
    eprintln!(
        "fault-cells: {name}: {} (lifecycle {}, job {})",
        if stopped {
            format!("stopped for a person: {}", error(&d))
        } else {
            "completed".to_string()
        },
        lifecycle(&d),
        job_state(&d)
    );
    (d, stopped)
}

/// Asserts what a stop for a person must say and leave: the message names the snapshot recorded
/// for the job, nothing runs from the rewound state, and the rewound job (if Flink resubmitted
/// one) is cancelled. Returns the snapshot a person restores, as the message asks.
pub async fn stopped_for_a_person(env: &Env, name: &str, first: &str, launches_before: usize) -> String {
    let d = env
        .wait_for(name, "the rewound job cancelled", LONG, |d| {
            job_state(d) != "RUNNING" && job_state(d) != "CANCELLING"
        })
        .await;
    let (recorded_id, recorded) = recorded_checkpoint(&d).expect("the recorded checkpoint is kept");
    assert!(
        recorded.contains(first),
        "the record is of the job's own run: {recorded}"
    );
    assert!(
        error(&d).contains(&recorded),
        "the message names the recorded checkpoint {recorded}: {}",
        error(&d)
    );
    // Hold: only the kubelet's restart of the killed JobManager; the operator deployed nothing.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        env.kubelet.launches_of(name, "jobmanager"),
        launches_before + 1,
        "only the kubelet's restart: the operator deployed nothing"
    );
    let d = env.deployments().get(name).await.expect("the resource");
    assert!(
        error(&d).contains("Manual restore required"),
        "the stop holds: {}",
        error(&d)
    );
    super::e2e::snapshot_a_person_restores(env, name, first, recorded_id)
}

/// The counter of the job that runs now in `<out_dir>`: the report left by an earlier attempt
/// (a killed JobManager's job, say) is removed first, so only a report the running job writes
/// after this call counts.
pub async fn fresh_counter(out_dir: &str, what: &str) -> CounterReport {
    CounterReport::forget(Path::new(out_dir));
    counter(out_dir, what, |r| r.max > 0).await
}

/// The first moment `pred` holds of resource `name` (polled every 20 ms).
pub async fn as_soon_as(
    env: &Env,
    name: &str,
    what: &str,
    pred: impl Fn(&FlinkDeployment) -> bool,
) -> FlinkDeployment {
    super::status_of::as_soon_as_in(&env.deployments(), name, what, LONG, pred).await
}
