#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A JobManager process that dies and is restarted in place (a kubelet restarting its
//! container), as seen on real Flink 1.20: without HA, Flink resubmits the job under the same
//! id from the configuration it was deployed with, its checkpoint statistics start over, and a
//! savepoint trigger in flight is unknown to the new JobManager (404). The job's state went
//! back; the operator must not make that permanent (an upgrade from a savepoint of the rewound
//! job, or from empty state) without a person.

mod lifecycle_support;

use flink_lifecycle::api::{FlinkJobState, ReconciliationState};
use flink_lifecycle::lifecycle::{ResourceStatus, RestoreSource, Step};
use lifecycle_support::World;

fn stable_with_checkpoints(mode: &str, ha: bool) -> World {
    let mut w = World::app(mode, ha);
    assert!(w.run(20), "first deployment: {:?}", w.actions());
    // A few loops of running: checkpoints complete and are recorded.
    for _ in 0..4 {
        w.step(None);
    }
    w.steps.clear();
    w
}

fn recorded_checkpoint(w: &World) -> Option<String> {
    w.status()?
        .job_status()?
        .last_completed_checkpoint
        .as_ref()?
        .path
        .clone()
}

fn deploys(w: &World) -> Vec<RestoreSource> {
    w.steps
        .iter()
        .filter_map(|s| match s {
            Step::Deploy(d) => Some(d.restore.clone()),
            _ => None,
        })
        .collect()
}

fn error_of(w: &World) -> String {
    w.status()
        .and_then(|s| s.error().map(str::to_string))
        .unwrap_or_default()
}

/// The reproduction of the state-safety report: savepoint mode, no HA, the JobManager killed and
/// restarted as soon as the upgrade's trigger id is recorded.
#[test]
fn a_jobmanager_restarted_without_ha_during_a_savepoint_upgrade_never_starts_the_job_empty() {
    let mut w = stable_with_checkpoints("savepoint", false);
    assert!(
        recorded_checkpoint(&w).is_some(),
        "the running job's newest checkpoint is recorded"
    );
    let value_before = w.cluster.as_ref().unwrap().job.as_ref().unwrap().value;
    w.edit_job(|j| j.args = Some(vec!["--v2".into()]));
    w.restart_jobmanager_after_trigger = true;
    let mut loops = 0;
    while w.restart_jobmanager_after_trigger {
        w.step(None);
        loops += 1;
        assert!(loops < 10, "no trigger recorded: {:?}", w.actions());
    }
    let job = w.cluster.as_ref().unwrap().job.as_ref().unwrap();
    assert!(
        job.value < value_before,
        "the model rewound the job, as Flink does"
    );
    let before = recorded_checkpoint(&w).unwrap();
    for _ in 0..30 {
        w.step(None);
    }
    assert!(deploys(&w).is_empty(), "nothing deployed: {:?}", w.actions());
    assert!(
        w.steps.iter().any(|s| matches!(s, Step::CancelJob { .. })),
        "the rewound job is cancelled before its checkpoints overwrite the recorded one: {:?}",
        w.actions()
    );
    let error = error_of(&w);
    assert!(error.contains("resubmitted"), "{error}");
    assert!(
        error.contains(&before),
        "the message names the recorded checkpoint: {error}"
    );
    assert!(
        error.contains("savepointRedeployNonce"),
        "and how to restore it: {error}"
    );
    let status = w.status().unwrap();
    let ResourceStatus::Deployment(d) = &status else {
        panic!()
    };
    assert_eq!(
        d.reconciliation_status.as_ref().unwrap().state,
        Some(ReconciliationState::Deployed),
        "the abandoned stop is not left half-recorded"
    );
    assert_eq!(
        recorded_checkpoint(&w).as_deref(),
        Some(before.as_str()),
        "the rewound job's checkpoints do not replace the record"
    );
    // One warning for the stop, not one per loop.
    let warnings = w
        .plans
        .iter()
        .flat_map(|p| &p.events)
        .filter(|e| e.reason == "JobRewound")
        .count();
    assert_eq!(warnings, 1);

    // The way out the message names: a savepoint redeploy from the recorded checkpoint.
    w.edit_job(|j| {
        j.initial_savepoint_path = Some(before.clone());
        j.savepoint_redeploy_nonce = Some(1);
    });
    assert!(
        w.run(30),
        "did not converge after the redeploy: {:?}",
        w.actions()
    );
    assert_eq!(
        deploys(&w),
        vec![RestoreSource::Savepoint {
            path: before.clone(),
            allow_non_restored_state: false
        }]
    );
    let job = w.cluster.as_ref().unwrap().job.as_ref().unwrap();
    assert!(
        job.value >= value_before - 1,
        "the job continues from its recorded state"
    );
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

/// Without an upgrade in flight the rewind is reported too, and nothing is marked stable from it.
#[test]
fn a_running_job_rewound_by_a_jobmanager_restart_is_reported_not_continued() {
    let mut w = stable_with_checkpoints("last-state", false);
    let before = recorded_checkpoint(&w).unwrap();
    w.restart_jobmanager();
    for _ in 0..10 {
        w.step(None);
    }
    let error = error_of(&w);
    assert!(
        error.contains("resubmitted") && error.contains(&before),
        "{error}"
    );
    assert!(deploys(&w).is_empty());
    // A suspend would take a savepoint of the rewound state: it waits for a person too.
    w.edit_job(|j| j.state = Some(flink_lifecycle::api::JobState::Suspended));
    for _ in 0..10 {
        w.step(None);
    }
    assert!(
        !w.steps
            .iter()
            .any(|s| matches!(s, Step::StopWithSavepoint { .. } | Step::DeleteCluster { .. })),
        "{:?}",
        w.actions()
    );
}

/// With HA the restarted JobManager restores the newest checkpoint: that is not a rewind, and
/// the upgrade completes from its state.
#[test]
fn a_jobmanager_restart_with_ha_recovers_and_the_upgrade_completes() {
    let mut w = stable_with_checkpoints("last-state", true);
    w.restart_jobmanager();
    let job = w.cluster.as_ref().unwrap().job.as_ref().unwrap();
    assert!(job.value > 0, "HA restored the state");
    assert_eq!(job.state, FlinkJobState::Running);
    for _ in 0..3 {
        w.step(None);
    }
    assert!(!error_of(&w).contains("resubmitted"), "{}", error_of(&w));
    w.edit_job(|j| j.args = Some(vec!["--v2".into()]));
    assert!(w.run(30), "{:?}", w.actions());
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

/// A stateless job loses nothing it promised to keep: no error, and upgrades go on.
#[test]
fn a_stateless_job_restarted_by_its_jobmanager_is_not_an_error() {
    let mut w = stable_with_checkpoints("stateless", false);
    w.restart_jobmanager();
    for _ in 0..3 {
        w.step(None);
    }
    assert!(!error_of(&w).contains("resubmitted"), "{}", error_of(&w));
}

/// A session cluster's JobManager restarted without HA during a session job's savepoint
/// upgrade: every job on the cluster is gone. The job is not resubmitted from the older snapshot
/// it started from (its recorded checkpoint is newer); the resource is not Stable and says how to
/// restore.
#[test]
fn a_session_job_lost_with_its_jobmanager_is_not_rewound() {
    let mut w = World::session_job("savepoint");
    assert!(w.run(20), "first submission: {:?}", w.actions());
    // An upgrade first, so the job has a snapshot it started from.
    w.edit_job(|j| j.parallelism = Some(2));
    assert!(w.run(30), "{:?}", w.actions());
    for _ in 0..4 {
        w.step(None);
    }
    w.steps.clear();
    let started_from = w
        .upgrade_savepoint_path()
        .expect("started from the upgrade's savepoint");
    w.edit_job(|j| j.args = Some(vec!["--v2".into()]));
    w.restart_jobmanager_after_trigger = true;
    let mut loops = 0;
    while w.restart_jobmanager_after_trigger {
        w.step(None);
        loops += 1;
        assert!(loops < 10, "no trigger recorded: {:?}", w.actions());
    }
    assert!(w.session_jobs.is_empty(), "the model lost the jobs");
    for _ in 0..20 {
        w.step(None);
    }
    let resubmitted_from_older = w.steps.iter().any(|s| {
        matches!(s, Step::SubmitSessionJob(d) if d.restore == RestoreSource::Savepoint { path: started_from.clone(), allow_non_restored_state: false })
    });
    assert!(
        !resubmitted_from_older,
        "not rewound to {started_from}: {:?}",
        w.actions()
    );
    assert_eq!(
        w.lifecycle(),
        Some(flink_lifecycle::api::ResourceLifecycleState::Failed),
        "not Stable: {}",
        error_of(&w)
    );
    let error = error_of(&w);
    assert!(error.contains("Manual restore required"), "{error}");
    let known = recorded_checkpoint(&w).unwrap();
    assert!(
        error.contains(&known),
        "names the newest recorded snapshot: {error}"
    );
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

fn condition(w: &World, type_: &str) -> Option<(String, String, String)> {
    let status = w.status()?;
    let conditions = match &status {
        ResourceStatus::Deployment(d) => d.conditions.clone(),
        ResourceStatus::SessionJob(j) => j.conditions.clone(),
    }?;
    conditions
        .into_iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status, c.reason, c.message))
}

/// A JobManager that Kubernetes reports up while its REST API does not answer: status says so at
/// once (the job state shown is as last observed), and Degraded after 30 s; nothing is
/// restarted for it, and it clears when the API answers again.
#[test]
fn a_silent_rest_api_is_reported_and_clears() {
    for mut w in [World::app("savepoint", false), World::session_job("savepoint")] {
        assert!(w.run(20), "{:?}", w.actions());
        assert_eq!(
            condition(&w, "FlinkRestAnswering").map(|c| c.0).as_deref(),
            Some("True")
        );
        w.steps.clear();
        w.rest_silent = true;
        w.step(None);
        let (status, reason, message) = condition(&w, "FlinkRestAnswering").unwrap();
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("False", "Unanswered"),
            "{message}"
        );
        assert_eq!(condition(&w, "Degraded").unwrap().0, "False", "not yet Degraded");
        for _ in 0..4 {
            w.now += 10_000;
            w.step(None);
        }
        let (degraded, reason, message) = condition(&w, "Degraded").unwrap();
        assert_eq!(
            (degraded.as_str(), reason.as_str()),
            ("True", "FlinkRestUnanswered")
        );
        assert!(message.contains("has not answered since"), "{message}");
        assert!(
            w.steps.iter().all(|s| !s.is_side_effect()),
            "nothing restarted for a silent API: {:?}",
            w.actions()
        );
        w.rest_silent = false;
        w.step(None);
        w.step(None);
        assert_eq!(condition(&w, "FlinkRestAnswering").unwrap().0, "True");
        assert_eq!(condition(&w, "Degraded").unwrap().0, "False");
    }
}

/// A RUNNING job whose tasks still deploy is not stable, and no savepoint is asked for until
/// every task runs (Flink refuses it before: "not all required tasks are currently running").
#[test]
fn no_savepoint_and_no_stable_while_tasks_deploy() {
    let mut w = World::app("savepoint", false);
    w.tasks_deploying = true;
    for _ in 0..6 {
        w.step(None);
    }
    assert!(
        !w.actions().contains(&"mark-stable"),
        "not stable while tasks deploy: {:?}",
        w.actions()
    );
    w.tasks_deploying = false;
    assert!(w.run(10), "{:?}", w.actions());
    w.steps.clear();
    w.tasks_deploying = true;
    w.edit_job(|j| j.args = Some(vec!["--v2".into()]));
    for _ in 0..6 {
        w.step(None);
    }
    assert!(
        !w.steps
            .iter()
            .any(|s| matches!(s, Step::StopWithSavepoint { .. })),
        "no savepoint while tasks deploy: {:?}",
        w.actions()
    );
    w.tasks_deploying = false;
    assert!(w.run(20), "{:?}", w.actions());
    assert!(w.actions().contains(&"stop-with-savepoint"));
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

/// Kubernetes or ZooKeeper HA holding no checkpoint for the job at a last-state upgrade (seen on
/// real Flink: an upgrade within the job's first seconds). The last-state marker alone made
/// Flink fail the job for good; now the recorded checkpoint is the restore path when there is
/// one, and a job that never checkpointed starts from its job graph.
#[test]
fn a_last_state_upgrade_with_no_checkpoint_in_ha_restores_the_recorded_one_or_starts_clean() {
    // A job with a recorded checkpoint whose HA store lost it.
    let mut w = stable_with_checkpoints("last-state", true);
    let recorded = recorded_checkpoint(&w).expect("a checkpoint is recorded");
    let value_before = w.cluster.as_ref().unwrap().job.as_ref().unwrap().value;
    if let Some(ha) = w.ha.as_mut() {
        ha.checkpoint = None;
    }
    w.edit_job(|j| j.args = Some(vec!["--v2".into()]));
    assert!(w.run(30), "upgrade: {:?}", w.actions());
    let restores = deploys(&w);
    assert!(
        restores
            .iter()
            .any(|r| matches!(r, RestoreSource::HaMetadata { guard_path: Some(p) }
                if p != flink_lifecycle::lifecycle::LAST_STATE_MARKER && w.storage.contains_key(p))),
        "restored with the recorded checkpoint (was {recorded} before the upgrade) as the path: {restores:?}"
    );
    let job = w.cluster.as_ref().unwrap().job.as_ref().unwrap();
    assert_eq!(job.state, FlinkJobState::Running, "{:?}", w.actions());
    assert!(
        job.value > 0,
        "continued from the recorded checkpoint, not empty (was {value_before})"
    );
    assert!(w.violations.is_empty(), "{:?}", w.violations);

    // A job that never completed a checkpoint: nothing to guard, it starts from its graph.
    let mut w = World::app("last-state", true);
    assert!(w.run(20), "first deployment: {:?}", w.actions());
    w.steps.clear();
    w.edit_job(|j| j.args = Some(vec!["--v2".into()]));
    assert!(w.run(30), "upgrade: {:?}", w.actions());
    let restores = deploys(&w);
    if w.ha.as_ref().is_none_or(|h| h.checkpoint.is_none()) && recorded_checkpoint(&w).is_none() {
        assert!(
            restores
                .iter()
                .all(|r| !matches!(r, RestoreSource::HaMetadata { guard_path: Some(_) })),
            "no marker for a job that never checkpointed: {restores:?}"
        );
    }
    assert_eq!(
        w.cluster.as_ref().unwrap().job.as_ref().unwrap().state,
        FlinkJobState::Running
    );
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}
