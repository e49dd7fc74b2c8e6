#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Scenario tables: for each behaviour of the seed (job-management.md) and the reference study
//! (§4), the side effects the operator performs, in order, and the status it ends with. The
//! expectations come from those documents, not from the planner's code.

mod lifecycle_support;

use flink_lifecycle::api::{
    FlinkJobState, JobState, ReconciliationState, ResourceLifecycleState, UpgradeMode,
};
use flink_lifecycle::lifecycle::{DeployPurpose, EventType, ResourceStatus, RestoreSource, Step};
use lifecycle_support::{BROKEN_IMAGE, Crash, Kind, World};

fn deployed(mut w: World) -> World {
    assert!(w.run(20), "first deployment did not converge: {:?}", w.actions());
    w.steps.clear();
    w
}

fn restores(w: &World) -> Vec<RestoreSource> {
    w.steps
        .iter()
        .filter_map(|s| match s {
            Step::Deploy(d) | Step::SubmitSessionJob(d) => Some(d.restore.clone()),
            _ => None,
        })
        .collect()
}

fn job_value(w: &World) -> u64 {
    match w.kind {
        Kind::SessionJob => w
            .recorded_job_id()
            .and_then(|id| w.session_jobs.get(&id))
            .map(|j| j.value)
            .unwrap(),
        _ => w.cluster.as_ref().unwrap().job.as_ref().unwrap().value,
    }
}

fn events(w: &World) -> Vec<(EventType, String)> {
    w.plans
        .iter()
        .flat_map(|p| p.events.iter().map(|e| (e.type_, e.reason.clone())))
        .collect()
}

#[test]
fn first_deployment_runs_and_becomes_stable() {
    let mut w = World::app("savepoint", false);
    assert!(w.run(20));
    assert_eq!(w.actions(), vec!["deploy", "mark-stable"]);
    assert_eq!(restores(&w), vec![RestoreSource::Empty]);
    let s = w.status().unwrap();
    let ResourceStatus::Deployment(d) = &s else {
        panic!()
    };
    let rs = d.reconciliation_status.as_ref().unwrap();
    assert_eq!(rs.state, Some(ReconciliationState::Deployed));
    assert_eq!(rs.last_reconciled_spec, rs.last_stable_spec);
    // The first deployment records upgradeMode stateless (reference §0.6).
    assert!(
        rs.last_reconciled_spec
            .as_ref()
            .unwrap()
            .contains("\"upgradeMode\":\"stateless\"")
    );
    assert_eq!(d.observed_generation, Some(1));
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Stable));
    let conds = d.conditions.as_ref().unwrap();
    let get = |t: &str| conds.iter().find(|c| c.type_ == t).unwrap();
    assert_eq!(get("Running").status, "True");
    assert_eq!(get("Running").reason, "Running");
    assert_eq!(get("Ready").status, "True");
    assert_eq!(get("Progressing").status, "False");
    assert_eq!(get("Degraded").status, "False");
}

#[test]
fn first_deployment_from_initial_savepoint_path() {
    let mut w = World::app("savepoint", false);
    w.storage.insert("file:///sp/initial".into(), 42);
    w.edit_job(|j| j.initial_savepoint_path = Some("file:///sp/initial".into()));
    assert!(w.run(20));
    assert_eq!(
        restores(&w),
        vec![RestoreSource::Savepoint {
            path: "file:///sp/initial".into(),
            allow_non_restored_state: false
        }]
    );
    assert!(job_value(&w) >= 42);
}

#[test]
fn created_suspended_deploys_nothing() {
    let mut w = World::app("savepoint", false);
    w.edit_job(|j| j.state = Some(JobState::Suspended));
    for _ in 0..5 {
        w.step(None);
    }
    assert!(w.actions().is_empty());
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Created));
    // The generation was looked at (kubectl wait --for=jsonpath='{.status.observedGeneration}').
    let ResourceStatus::Deployment(d) = w.status().unwrap() else {
        panic!()
    };
    assert_eq!(d.observed_generation, w.dep.metadata.generation);
    w.edit_job(|j| j.parallelism = Some(4));
    w.step(None);
    let ResourceStatus::Deployment(d) = w.status().unwrap() else {
        panic!()
    };
    assert_eq!(
        d.observed_generation, w.dep.metadata.generation,
        "an edit while created suspended too"
    );
}

/// running -> running, per upgrade mode (seed table: suspend and restore mechanism).
#[test]
fn upgrade_table() {
    struct Row {
        mode: &'static str,
        ha: bool,
        actions: &'static [&'static str],
        restore: fn(&RestoreSource) -> bool,
        keeps_state: bool,
    }
    let rows = [
        Row {
            mode: "stateless",
            ha: false,
            actions: &["cancel-job", "delete-cluster", "deploy", "mark-stable"],
            restore: |r| *r == RestoreSource::Empty,
            keeps_state: false,
        },
        Row {
            mode: "savepoint",
            ha: false,
            actions: &["stop-with-savepoint", "delete-cluster", "deploy", "mark-stable"],
            restore: |r| matches!(r, RestoreSource::Savepoint { path, .. } if path.starts_with("file:///sp/")),
            keeps_state: true,
        },
        Row {
            mode: "savepoint",
            ha: true,
            actions: &["stop-with-savepoint", "delete-cluster", "deploy", "mark-stable"],
            restore: |r| matches!(r, RestoreSource::Savepoint { path, .. } if path.starts_with("file:///sp/")),
            keeps_state: true,
        },
        Row {
            mode: "last-state",
            ha: true,
            actions: &["delete-cluster", "deploy", "mark-stable"],
            restore: |r| matches!(r, RestoreSource::HaMetadata { guard_path: Some(_) }),
            keeps_state: true,
        },
        Row {
            mode: "last-state",
            ha: false,
            actions: &["cancel-job", "delete-cluster", "deploy", "mark-stable"],
            restore: |r| matches!(r, RestoreSource::Savepoint { path, .. } if path.starts_with("file:///cp/")),
            keeps_state: true,
        },
    ];
    for row in rows {
        let mut w = deployed(World::app(row.mode, row.ha));
        for _ in 0..3 {
            w.tick();
        }
        let before = job_value(&w);
        w.edit_job(|j| j.parallelism = Some(4));
        assert!(w.run(30), "{} ha={}: {:?}", row.mode, row.ha, w.actions());
        assert_eq!(w.actions(), row.actions, "{} ha={}", row.mode, row.ha);
        let r = restores(&w);
        assert!((row.restore)(&r[0]), "{} ha={}: {:?}", row.mode, row.ha, r);
        if row.keeps_state {
            assert!(job_value(&w) >= before, "{}: state went back", row.mode);
        } else {
            assert!(job_value(&w) < before);
        }
        assert!(w.violations.is_empty(), "{:?}", w.violations);
        assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Stable));
        let ev = events(&w);
        assert!(
            ev.iter()
                .any(|(t, r)| *t == EventType::Normal && r == "SpecChanged"),
            "{ev:?}"
        );
    }
}

#[test]
fn savepoint_upgrade_records_the_savepoint() {
    let mut w = deployed(World::app("savepoint", false));
    w.tick();
    w.edit_app(|s| s.image = Some("flink:1.20.1".into()));
    assert!(w.run(30));
    let path = w.upgrade_savepoint_path().unwrap();
    let ResourceStatus::Deployment(d) = w.status().unwrap() else {
        panic!()
    };
    let info = d.job_status.unwrap().savepoint_info.unwrap();
    let last = info.last_savepoint.unwrap();
    assert_eq!(last.location.as_deref(), Some(path.as_str()));
    assert_eq!(
        last.trigger_type,
        Some(flink_lifecycle::api::SnapshotTriggerType::Upgrade)
    );
    assert!(info.trigger_id.is_none() && info.trigger_timestamp.is_none());
}

#[test]
fn restart_nonce_restarts_with_the_upgrade_mode() {
    let mut w = deployed(World::app("savepoint", false));
    w.edit_app(|s| s.restart_nonce = Some(7));
    assert!(w.run(30));
    assert_eq!(
        w.actions(),
        vec!["stop-with-savepoint", "delete-cluster", "deploy", "mark-stable"]
    );
    // Setting the nonce back to null is not a change (onNullIgnore).
    w.steps.clear();
    w.edit_app(|s| s.restart_nonce = None);
    for _ in 0..4 {
        w.step(None);
    }
    assert!(w.actions().is_empty());
}

#[test]
fn suspend_and_resume_per_mode() {
    for (mode, ha, suspend_actions, restore_ok) in [
        (
            "savepoint",
            false,
            vec!["stop-with-savepoint", "delete-cluster"],
            (|r: &RestoreSource| matches!(r, RestoreSource::Savepoint { .. })) as fn(&RestoreSource) -> bool,
        ),
        ("stateless", false, vec!["cancel-job", "delete-cluster"], |r| {
            *r == RestoreSource::Empty
        }),
        ("last-state", true, vec!["delete-cluster"], |r| {
            matches!(r, RestoreSource::HaMetadata { .. })
        }),
        ("last-state", false, vec!["cancel-job", "delete-cluster"], |r| {
            matches!(r, RestoreSource::Savepoint { .. })
        }),
    ] {
        let mut w = deployed(World::app(mode, ha));
        w.tick();
        let before = job_value(&w);
        w.edit_job(|j| j.state = Some(JobState::Suspended));
        assert!(w.run(30), "{mode}: {:?}", w.actions());
        assert_eq!(w.actions(), suspend_actions, "{mode} ha={ha}");
        assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Suspended));
        if mode == "last-state" && ha {
            assert!(w.ha.is_some(), "HA metadata must survive a last-state suspend");
        }
        // suspended -> suspended: spec edits are not applied, nothing runs.
        w.steps.clear();
        w.edit_job(|j| j.parallelism = Some(3));
        for _ in 0..4 {
            w.step(None);
        }
        assert!(w.actions().is_empty(), "{mode}: {:?}", w.actions());
        // suspended -> running: restore with the latest spec.
        w.edit_job(|j| j.state = Some(JobState::Running));
        assert!(w.run(30), "{mode} resume: {:?}", w.actions());
        assert_eq!(w.actions(), vec!["deploy", "mark-stable"], "{mode}");
        assert!(restore_ok(&restores(&w)[0]), "{mode}: {:?}", restores(&w));
        if mode != "stateless" {
            assert!(job_value(&w) >= before);
        }
        assert!(w.violations.is_empty(), "{mode}: {:?}", w.violations);
    }
}

#[test]
fn resume_as_stateless_discards_state_only_when_asked() {
    let mut w = deployed(World::app("savepoint", false));
    w.tick();
    w.edit_job(|j| j.state = Some(JobState::Suspended));
    assert!(w.run(30));
    w.steps.clear();
    w.edit_job(|j| {
        j.state = Some(JobState::Running);
        j.upgrade_mode = Some(UpgradeMode::Stateless);
    });
    assert!(w.run(30));
    assert_eq!(restores(&w), vec![RestoreSource::Empty]);
}

#[test]
fn savepoint_redeploy_restarts_from_the_path_and_disables_rollback() {
    let mut w = deployed(World::app("last-state", true));
    w.storage.insert("file:///sp/golden".into(), 5);
    request_redeploy(&mut w, 1, "file:///sp/golden");
    assert!(w.run(30), "{:?}", w.actions());
    assert_eq!(w.actions(), vec!["delete-cluster", "deploy"]);
    assert_eq!(
        restores(&w)[0],
        RestoreSource::Savepoint {
            path: "file:///sp/golden".into(),
            allow_non_restored_state: false
        }
    );
    // Named a redeploy though it comes a loop after the redeploy started.
    assert_eq!(purposes(&w), vec![DeployPurpose::SavepointRedeploy]);
    // Marked stable at once: nothing earlier to roll back to.
    let ResourceStatus::Deployment(d) = w.status().unwrap() else {
        panic!()
    };
    let rs = d.reconciliation_status.unwrap();
    assert_eq!(rs.last_reconciled_spec, rs.last_stable_spec);
}

/// A new `savepointRedeployNonce` naming `path`.
fn request_redeploy(w: &mut World, nonce: i64, path: &str) {
    w.edit_job(|j| {
        j.savepoint_redeploy_nonce = Some(nonce);
        j.initial_savepoint_path = Some(path.into());
    });
}

/// One deploy, a savepoint redeploy from `path`, and no invariant broken (`case` names the
/// variant in a failure).
fn assert_redeployed_from(w: &World, path: &str, case: &str) {
    assert_eq!(purposes(w), vec![DeployPurpose::SavepointRedeploy], "{case}");
    assert_eq!(
        restores(w),
        vec![RestoreSource::Savepoint {
            path: path.into(),
            allow_non_restored_state: false
        }],
        "{case}"
    );
    assert!(w.violations.is_empty(), "{case}: {:?}", w.violations);
}

fn purposes(w: &World) -> Vec<DeployPurpose> {
    w.steps
        .iter()
        .filter_map(|s| match s {
            Step::Deploy(d) | Step::SubmitSessionJob(d) => Some(d.purpose),
            _ => None,
        })
        .collect()
}

/// A session job's redeploy cancels its job, then submits it from the named savepoint, even one
/// older than the job's last checkpoint: the user chose it.
#[test]
fn a_session_jobs_savepoint_redeploy_restores_the_named_savepoint() {
    let mut w = deployed(World::session_job("savepoint"));
    w.storage.insert("file:///sp/golden".into(), 1);
    w.tick();
    w.tick();
    request_redeploy(&mut w, 1, "file:///sp/golden");
    assert!(w.run(30), "{:?}", w.actions());
    assert_eq!(w.actions(), vec!["cancel-job", "submit-session-job"]);
    assert_eq!(purposes(&w), vec![DeployPurpose::SavepointRedeploy]);
    assert_eq!(
        restores(&w)[0],
        RestoreSource::Savepoint {
            path: "file:///sp/golden".into(),
            allow_non_restored_state: false
        }
    );
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

/// A redeploy asked for while an upgrade stops the job (with a savepoint, or by a cancel): the
/// job starts from the snapshot the user named, not from the stopped job's, and the redeploy is
/// not recorded as done without it. Found by make soak.
#[test]
fn a_redeploy_asked_for_while_the_job_is_being_stopped_restores_the_named_savepoint() {
    for mode in ["savepoint", "last-state"] {
        let mut w = deployed(World::app(mode, false));
        w.storage.insert("file:///sp/golden".into(), 1);
        w.tick();
        w.tick();
        w.edit_job(|j| j.parallelism = Some(3));
        w.step(None);
        assert!(
            matches!(
                w.steps[..],
                [Step::StopWithSavepoint { .. }] | [Step::CancelJob { .. }]
            ),
            "{mode}: {:?}",
            w.actions()
        );
        request_redeploy(&mut w, 1, "file:///sp/golden");
        assert!(w.run(30), "{mode}: {:?}", w.actions());
        assert_redeployed_from(&w, "file:///sp/golden", mode);
    }
}

/// A redeploy asked for while the job is being suspended is not recorded as done by the suspend:
/// the resume starts the job from the snapshot the user named. Found by make soak.
#[test]
fn a_redeploy_asked_for_while_the_job_is_being_suspended_is_carried_out_at_the_resume() {
    for mut w in [
        deployed(World::app("savepoint", false)),
        deployed(World::session_job("last-state")),
    ] {
        let kind = format!("{:?}", w.kind);
        w.storage.insert("file:///sp/golden".into(), 1);
        w.tick();
        w.tick();
        w.edit_job(|j| j.state = Some(JobState::Suspended));
        w.step(None);
        assert!(
            matches!(
                w.steps[..],
                [Step::StopWithSavepoint { .. }] | [Step::CancelJob { .. }]
            ),
            "{kind}: {:?}",
            w.actions()
        );
        request_redeploy(&mut w, 1, "file:///sp/golden");
        assert!(w.run(30), "{kind}: {:?}", w.actions());
        assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Suspended), "{kind}");
        w.steps.clear();
        w.edit_job(|j| j.state = Some(JobState::Running));
        assert!(w.run(30), "{kind}: {:?}", w.actions());
        assert_redeployed_from(&w, "file:///sp/golden", &kind);
    }
}

/// A second redeploy asked for while the first one's restore is under way (the old cluster being
/// deleted): the job starts from the second one's snapshot, which is then recorded as done.
/// Found by make soak.
#[test]
fn a_redeploy_asked_for_while_a_restore_is_under_way_starts_from_its_snapshot() {
    let mut w = deployed(World::app("savepoint", false));
    w.storage.insert("file:///sp/a".into(), 5);
    w.storage.insert("file:///sp/b".into(), 7);
    w.tick();
    request_redeploy(&mut w, 1, "file:///sp/a");
    w.step(None);
    assert_eq!(w.actions(), vec!["delete-cluster"]);
    request_redeploy(&mut w, 2, "file:///sp/b");
    assert!(w.run(30), "{:?}", w.actions());
    assert_redeployed_from(&w, "file:///sp/b", "");
}

/// A redeploy asked for while suspended waits for the resume and is then carried out from the
/// named snapshot, whatever the upgrade mode is by then (the nonce asks for that snapshot). Before,
/// the snapshot was recorded at once and a stateless resume discarded it. Found by make soak.
#[test]
fn a_redeploy_asked_for_while_suspended_is_carried_out_at_the_resume_whatever_the_mode() {
    let mut w = deployed(World::app("savepoint", false));
    w.storage.insert("file:///sp/golden".into(), 1);
    w.tick();
    w.edit_job(|j| j.state = Some(JobState::Suspended));
    assert!(w.run(30), "{:?}", w.actions());
    request_redeploy(&mut w, 1, "file:///sp/golden");
    w.steps.clear();
    for _ in 0..3 {
        w.step(None);
    }
    assert!(
        w.steps.iter().all(|s| matches!(s, Step::NoOp)),
        "{:?}",
        w.actions()
    );
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Suspended));
    w.edit_job(|j| {
        j.state = Some(JobState::Running);
        j.upgrade_mode = Some(UpgradeMode::Stateless);
    });
    assert!(w.run(30), "{:?}", w.actions());
    assert_redeployed_from(&w, "file:///sp/golden", "");
}

#[test]
fn a_redeploy_of_a_deployed_job_that_never_started_restores_the_named_snapshot_not_its_ha_checkpoints() {
    // A savepoint upgrade stops the job; its JobManager is lost, and the upgrade's new cluster,
    // restored from HA under the stopped job's id, never starts (bad image). The user redeploys
    // from the job's own savepoint. The abandoned job's HA checkpoints, older than nothing it
    // ran, used to pass for the redeployed job's own and were restored instead, as an upgrade.
    let mut w = deployed(World::app("savepoint", true));
    w.set_operator("deployment.rollback.enabled", "true");
    w.set_operator("deployment.readiness.timeout", "30 s");
    w.tick();
    w.edit_app(|s| s.restart_nonce = Some(1));
    w.step(None);
    assert_eq!(w.actions(), vec!["stop-with-savepoint"]);
    w.edit_app(|s| s.image = Some(BROKEN_IMAGE.into()));
    w.cluster = None;
    w.step(None);
    assert_eq!(w.actions(), vec!["stop-with-savepoint", "deploy"]);
    let own = w
        .storage
        .keys()
        .find(|p| p.starts_with("file:///sp/"))
        .cloned()
        .expect("the job's savepoint");
    w.steps.clear();
    request_redeploy(&mut w, 1, &own);
    w.step(None);
    w.edit_app(|s| s.image = Some("flink:1.20".into()));
    assert!(w.run(20), "{:?} {:?}", w.actions(), w.last_error());
    assert_redeployed_from(&w, &own, "redeploy of a job that never started");
}

/// A redeploy asked for together with a suspend: the job is suspended as any suspend is (with a
/// savepoint), so if the redeploy is taken back before the resume, the job resumes from its own
/// state. Before, the suspend discarded the job's state in favour of the redeploy's snapshot,
/// which the resume then restored although no redeploy was asked for any more. Found by make soak.
#[test]
fn a_redeploy_asked_for_with_a_suspend_and_taken_back_resumes_the_jobs_own_state() {
    let mut w = deployed(World::app("savepoint", false));
    w.storage.insert("file:///sp/golden".into(), 1);
    w.tick();
    w.tick();
    w.edit_job(|j| {
        j.state = Some(JobState::Suspended);
        j.savepoint_redeploy_nonce = Some(1);
        j.initial_savepoint_path = Some("file:///sp/golden".into());
    });
    assert!(w.run(30), "{:?}", w.actions());
    assert_eq!(w.actions()[0], "stop-with-savepoint");
    let suspended_at = w.upgrade_savepoint_path().unwrap();
    assert!(suspended_at.starts_with("file:///sp/0"), "{suspended_at}");
    w.steps.clear();
    w.edit_job(|j| {
        j.state = Some(JobState::Running);
        j.savepoint_redeploy_nonce = None;
        j.initial_savepoint_path = None;
    });
    assert!(w.run(30), "{:?}", w.actions());
    assert_eq!(
        restores(&w),
        vec![RestoreSource::Savepoint {
            path: suspended_at,
            allow_non_restored_state: false
        }]
    );
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn savepoint_redeploy_without_path_is_an_error() {
    let mut w = deployed(World::app("savepoint", false));
    w.edit_job(|j| j.savepoint_redeploy_nonce = Some(1));
    w.step(None);
    assert!(matches!(w.steps.last(), Some(Step::ReportError { .. })));
    assert!(
        w.last_error()
            .unwrap()
            .contains("InitialSavepointPath must not be empty")
    );
    assert!(w.cluster.as_ref().unwrap().job.as_ref().unwrap().state == FlinkJobState::Running);
}

#[test]
fn manual_savepoint_via_nonce() {
    let mut w = deployed(World::app("stateless", false));
    w.edit_job(|j| j.savepoint_trigger_nonce = Some(3));
    for _ in 0..4 {
        w.step(None);
    }
    assert_eq!(w.actions(), vec!["trigger-savepoint"]);
    let ResourceStatus::Deployment(d) = w.status().unwrap() else {
        panic!()
    };
    let info = d.job_status.unwrap().savepoint_info.unwrap();
    let last = info.last_savepoint.unwrap();
    assert_eq!(last.trigger_nonce, Some(3));
    assert_eq!(
        last.trigger_type,
        Some(flink_lifecycle::api::SnapshotTriggerType::Manual)
    );
    assert!(info.trigger_id.is_none());
    // The job kept running throughout.
    assert_eq!(
        w.cluster.as_ref().unwrap().job.as_ref().unwrap().state,
        FlinkJobState::Running
    );
}

#[test]
fn manual_savepoint_failure_is_retried_within_the_grace_period() {
    let mut w = deployed(World::app("stateless", false));
    w.savepoint_fails = 1;
    w.edit_job(|j| j.savepoint_trigger_nonce = Some(3));
    for _ in 0..6 {
        w.step(None);
    }
    assert_eq!(w.actions(), vec!["trigger-savepoint", "trigger-savepoint"]);
    assert!(
        events(&w)
            .iter()
            .any(|(t, r)| *t == EventType::Warning && r == "SavepointError")
    );
}

#[test]
fn jobmanager_recovery_with_ha() {
    let mut w = deployed(World::app("last-state", true));
    w.tick();
    let before = job_value(&w);
    w.cluster = None; // someone deleted the Deployment
    assert!(w.run(20));
    assert_eq!(w.actions(), vec!["deploy", "mark-stable"]);
    assert!(matches!(restores(&w)[0], RestoreSource::HaMetadata { .. }));
    assert!(job_value(&w) >= before);
    assert!(
        events(&w)
            .iter()
            .any(|(t, r)| *t == EventType::Warning && r == "RecoverDeployment")
    );
}

#[test]
fn jobmanager_missing_without_ha_needs_a_person_for_stateful_jobs() {
    let mut w = deployed(World::app("savepoint", false));
    w.tick();
    w.cluster = None;
    assert_only_errors_reported(&mut w, 3);
    assert!(w.last_error().unwrap().contains("Manual restore required"));
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Failed));
    // A stateless job is simply recovered.
    let mut w = deployed(World::app("stateless", false));
    w.cluster = None;
    assert!(w.run(20));
    assert_eq!(w.actions(), vec!["deploy", "mark-stable"]);
}

#[test]
fn a_suspend_waiting_for_a_person_takes_the_redeploy_its_message_names() {
    // The JobManager is lost without HA, then the user suspends: the job's state cannot be taken.
    let mut w = deployed(World::app("savepoint", false));
    w.tick();
    w.cluster = None;
    w.edit_job(|j| j.state = Some(JobState::Suspended));
    assert_only_errors_reported(&mut w, 3);
    let error = assert_waits_for_a_person(&w, "JobManager deployment is missing");
    assert!(error.contains("set job.initialSavepointPath"), "{error}");
    // The person names a snapshot, keeping the suspend: it used to wait behind the blocked
    // suspend forever. Now the job is suspended, the error cleared, and the resume starts from it.
    w.storage.insert("file:///sp/picked".into(), 1_000);
    request_redeploy(&mut w, 3, "file:///sp/picked");
    assert!(w.run(20), "{:?} {:?}", w.actions(), w.last_error());
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Suspended));
    assert_eq!(w.last_error(), None);
    assert!(restores(&w).is_empty(), "nothing starts while suspended");
    let mut taken_back = w.clone();
    w.edit_job(|j| j.state = Some(JobState::Running));
    assert!(w.run(20), "{:?} {:?}", w.actions(), w.last_error());
    assert_redeployed_from(&w, "file:///sp/picked", "resumed");

    // The redeploy taken back before the resume: the job's own state is still unknown, so it
    // starts from the snapshot the person named, not empty.
    taken_back.edit_job(|j| {
        j.savepoint_redeploy_nonce = None;
        j.initial_savepoint_path = None;
        j.state = Some(JobState::Running);
    });
    assert!(
        taken_back.run(20),
        "{:?} {:?}",
        taken_back.actions(),
        taken_back.last_error()
    );
    assert_eq!(
        restores(&taken_back),
        vec![RestoreSource::Savepoint {
            path: "file:///sp/picked".into(),
            allow_non_restored_state: false
        }]
    );
    assert!(taken_back.violations.is_empty(), "{:?}", taken_back.violations);
}

#[test]
fn a_jobmanager_lost_right_after_its_stop_with_savepoint_needs_a_person_told_where_to_look() {
    // The savepoint completes and the job finishes (Flink removes a finished job's HA metadata,
    // and keeps savepoints out of its checkpoint store), then the JobManager is lost before the
    // operator reads where the savepoint went: nothing left says which snapshot is newest.
    let mut w = deployed(World::app("savepoint", true));
    w.tick();
    w.stall_checkpoints(true);
    w.edit_job(|j| j.parallelism = Some(3));
    w.step(None);
    assert_eq!(w.actions(), vec!["stop-with-savepoint"]);
    assert!(w.ha.is_none(), "the finished job's HA metadata is gone");
    w.cluster = None;
    for _ in 0..3 {
        w.step(None);
    }
    assert_eq!(
        w.actions(),
        vec![
            "stop-with-savepoint",
            "report-error",
            "report-error",
            "report-error"
        ]
    );
    let error = assert_waits_for_a_person(&w, "Manual restore required.");
    assert!(
        error.contains("set job.initialSavepointPath")
            && error.contains("savepoints under file:///sp, checkpoints under file:///cp"),
        "the message says how and where to look: {error}"
    );
}

/// Runs `loops` loops in which the operator does nothing but report an error.
fn assert_only_errors_reported(w: &mut World, loops: usize) {
    for _ in 0..loops {
        w.step(None);
    }
    assert!(
        w.actions().iter().all(|a| *a == "report-error"),
        "{:?}",
        w.actions()
    );
}

/// Stopped for a person: nothing lost, the error says `why`, and the lifecycle is FAILED (not
/// UPGRADING), so Argo CD reports Degraded. Returns the error.
fn assert_waits_for_a_person(w: &World, why: &str) -> String {
    assert!(w.violations.is_empty(), "{:?}", w.violations);
    let error = w.last_error().unwrap_or_default();
    assert!(
        error.contains(why) && error.contains("Manual restore required"),
        "{error}"
    );
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Failed), "{error}");
    error
}

#[test]
fn jobmanager_recovery_disabled_only_reports() {
    let mut w = deployed(World::app("last-state", true));
    w.set_operator("jm-deployment-recovery.enabled", "false");
    w.cluster = None;
    for _ in 0..3 {
        w.step(None);
    }
    assert!(w.actions().is_empty());
    assert!(w.last_error().unwrap().contains("Missing JobManager deployment"));
}

#[test]
fn failed_job_restarts_from_latest_checkpoint_when_enabled() {
    let mut w = deployed(World::app("last-state", false));
    w.set_operator("job.restart.failed", "true");
    w.tick();
    w.tick();
    let before = job_value(&w);
    w.cluster.as_mut().unwrap().job.as_mut().unwrap().fail_next = true;
    w.tick();
    assert!(w.run(20), "{:?}", w.actions());
    assert_eq!(w.actions(), vec!["delete-cluster", "deploy", "mark-stable"]);
    assert!(
        matches!(&restores(&w)[0], RestoreSource::Savepoint { path, .. } if path.starts_with("file:///cp/"))
    );
    assert!(job_value(&w) >= before);
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn failed_job_stays_failed_by_default() {
    let mut w = deployed(World::app("last-state", false));
    w.cluster.as_mut().unwrap().job.as_mut().unwrap().fail_next = true;
    w.tick();
    for _ in 0..3 {
        w.step(None);
    }
    assert!(w.actions().is_empty());
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Failed));
    let ResourceStatus::Deployment(d) = w.status().unwrap() else {
        panic!()
    };
    let degraded = d
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Degraded")
        .unwrap();
    assert_eq!(degraded.status, "True");
    assert!(degraded.message.contains("boom"));
}

#[test]
fn a_stateless_restart_of_an_unhealthy_job_taken_back_before_the_stop_keeps_its_state() {
    // The checkpoint-progress health check restarts a stateless job; the operator records the
    // restart but crashes before deleting the cluster, and the user turns to last-state. The job
    // still runs: nothing is given up, and the restart is planned again, from HA metadata.
    let mut w = deployed(World::app("stateless", true));
    w.set_operator("cluster.health-check.enabled", "true");
    w.set_operator("cluster.health-check.checkpoint-progress.enabled", "true");
    w.set_operator("cluster.health-check.checkpoint-progress.window", "30 s");
    w.tick();
    w.stall_checkpoints(true);
    let mut stop = None;
    for _ in 0..6 {
        let p = w.step(Some(Crash::NotDone));
        if matches!(p.step, Step::DeleteCluster { .. }) {
            stop = Some(p);
            break;
        }
    }
    let stop = stop.expect("an unhealthy restart");
    assert!(
        stop.reasons.iter().any(|r| r.contains("unhealthy")),
        "{:?}",
        stop.reasons
    );
    assert!(
        w.cluster.as_ref().is_some_and(|c| c.job.is_some()),
        "not done: the job still runs"
    );
    w.edit_job(|j| j.upgrade_mode = Some(UpgradeMode::LastState));
    w.stall_checkpoints(false);
    w.steps.clear();
    assert!(w.run(20), "{:?} {:?}", w.actions(), w.last_error());
    assert!(w.violations.is_empty(), "{:?}", w.violations);
    assert!(
        restores(&w).iter().all(|r| !matches!(r, RestoreSource::Empty)),
        "{:?}",
        restores(&w)
    );
}

#[test]
fn unhealthy_cluster_is_restarted_from_ha() {
    let mut w = deployed(World::app("last-state", true));
    w.set_operator("cluster.health-check.enabled", "true");
    w.set_operator("cluster.health-check.restarts.threshold", "5");
    w.step(None); // baseline sample
    w.cluster.as_mut().unwrap().job.as_mut().unwrap().restarts = 50;
    for _ in 0..3 {
        w.step(None);
    }
    assert!(w.run(20), "{:?}", w.actions());
    assert_eq!(w.actions(), vec!["delete-cluster", "deploy", "mark-stable"]);
    assert!(matches!(restores(&w)[0], RestoreSource::HaMetadata { .. }));
    assert!(
        events(&w)
            .iter()
            .any(|(t, r)| *t == EventType::Warning && r == "RestartUnhealthyJob")
    );
}

fn break_next_deploy(w: &mut World) {
    // Every JobManager deployed from now on fails to start (bad image).
    w.edit_app(|s| s.image = Some(BROKEN_IMAGE.into()));
}

fn run_with_broken_image(w: &mut World, loops: usize) {
    for _ in 0..loops {
        w.step(None);
        w.now += 60_000;
    }
}

fn assert_rolled_back_to_the_stable_image(w: &World) {
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::RolledBack));
    let c = w.cluster.as_ref().unwrap();
    assert!(
        matches!(&c.spec, Some(flink_lifecycle::lifecycle::DeploySpec::Deployment(d)) if d.image.as_deref() == Some("flink:1.20"))
    );
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn unstable_upgrade_is_rolled_back_after_the_readiness_timeout() {
    let mut w = deployed(World::app("last-state", true));
    w.set_operator("deployment.rollback.enabled", "true");
    w.tick();
    break_next_deploy(&mut w);
    run_with_broken_image(&mut w, 12);
    assert!(
        w.actions()
            .starts_with(&["delete-cluster", "deploy", "delete-cluster", "deploy"]),
        "{:?}",
        w.actions()
    );
    assert!(rolled_back(&w));
    assert_rolled_back_to_the_stable_image(&w);
}

#[test]
fn without_ha_a_never_started_savepoint_upgrade_rolls_back_from_its_savepoint() {
    let mut w = deployed(World::app("savepoint", false));
    w.set_operator("deployment.rollback.enabled", "true");
    w.tick();
    w.tick();
    break_next_deploy(&mut w);
    run_with_broken_image(&mut w, 14);
    let savepoint = w.upgrade_savepoint_path().expect("the upgrade's savepoint");
    assert!(savepoint.starts_with("file:///sp/"), "{savepoint}");
    assert_eq!(
        w.actions(),
        vec![
            "stop-with-savepoint",
            "delete-cluster",
            "deploy",
            "delete-cluster",
            "deploy"
        ],
    );
    let rs = restores(&w);
    assert!(
        matches!(&rs[1], RestoreSource::Savepoint { path, .. } if *path == savepoint),
        "the rollback restores the upgrade's savepoint: {rs:?}"
    );
    assert_rolled_back_to_the_stable_image(&w);
}

#[test]
fn without_ha_a_new_job_that_started_is_not_rolled_back_to_older_state() {
    let mut w = deployed(World::app("savepoint", false));
    w.set_operator("deployment.rollback.enabled", "true");
    w.tick();
    // The upgrade deploys; the new job starts, checkpoints once and fails for good before the
    // operator saw it running (so it never became stable).
    w.edit_job(|j| j.parallelism = Some(3));
    while !w.actions().contains(&"deploy") {
        assert!(w.steps.len() < 10, "{:?}", w.actions());
        w.step(None);
    }
    w.tick();
    w.tick();
    w.cluster.as_mut().unwrap().job.as_mut().unwrap().fail_next = true;
    w.tick();
    assert_eq!(
        w.cluster.as_ref().unwrap().job.as_ref().unwrap().state,
        FlinkJobState::Failed
    );
    w.steps.clear();
    for _ in 0..8 {
        w.step(None);
        w.now += 120_000;
    }
    assert!(
        w.actions().is_empty(),
        "no rollback to the upgrade's older savepoint: {:?}",
        w.actions()
    );
    assert!(!rolled_back(&w), "no Rollback event");
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn without_ha_a_new_job_that_failed_before_holding_state_is_rolled_back_from_the_savepoint() {
    // The upgraded spec's job fails at once (its main() throws, or it fails before its first
    // checkpoint) while the JobManager is up: it never became stable and holds no state newer
    // than the upgrade's savepoint, so the rollback restores that savepoint.
    let mut w = deployed(World::app("savepoint", false));
    w.set_operator("deployment.rollback.enabled", "true");
    w.set_operator("deployment.readiness.timeout", "30 s");
    w.tick();
    w.edit_job(|j| j.parallelism = Some(3));
    while !w.actions().contains(&"deploy") {
        assert!(w.steps.len() < 10, "{:?}", w.actions());
        w.step(None);
    }
    let savepoint = w.upgrade_savepoint_path().expect("the upgrade's savepoint");
    w.cluster.as_mut().unwrap().job.as_mut().unwrap().fail_next = true;
    w.tick();
    w.tick();
    assert_eq!(
        w.cluster.as_ref().unwrap().job.as_ref().unwrap().state,
        FlinkJobState::Failed
    );
    w.steps.clear();
    for _ in 0..10 {
        w.step(None);
        w.now += 20_000;
    }
    assert!(rolled_back(&w), "rolled back: {:?}", w.actions());
    let rs = restores(&w);
    assert!(
        matches!(rs.first(), Some(RestoreSource::Savepoint { path, .. }) if *path == savepoint),
        "the rollback restores the upgrade's savepoint: {rs:?}"
    );
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::RolledBack));
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn no_rollback_when_the_job_was_suspended_before_the_upgrade() {
    let mut w = deployed(World::app("last-state", true));
    w.set_operator("deployment.rollback.enabled", "true");
    w.edit_job(|j| j.state = Some(JobState::Suspended));
    assert!(w.run(30));
    w.steps.clear();
    w.edit_app(|s| {
        s.image = Some(BROKEN_IMAGE.into());
        s.job.as_mut().unwrap().state = Some(JobState::Running);
    });
    run_with_broken_image(&mut w, 12);
    assert_eq!(w.actions(), vec!["deploy"], "{:?}", w.actions());
    assert!(!rolled_back(&w));
}

#[test]
fn deletion_stateless_and_with_savepoint() {
    let mut w = deployed(World::app("last-state", true));
    w.request_deletion();
    assert!(w.run(10));
    assert_eq!(w.actions(), vec!["delete-cluster", "release-finalizer"]);
    assert!(matches!(
        w.steps[0],
        Step::DeleteCluster {
            delete_ha_data: true,
            cancel_job_first: Some(_)
        }
    ));
    assert!(w.ha.is_none());

    let mut w = deployed(World::app("savepoint", false));
    w.set_operator("job.savepoint-on-deletion", "true");
    w.tick();
    w.request_deletion();
    assert!(
        w.run(10),
        "{:?} {:#?}",
        w.actions(),
        w.plans.iter().map(|p| (&p.step, &p.reasons)).collect::<Vec<_>>()
    );
    assert_eq!(
        w.actions(),
        vec!["stop-with-savepoint", "delete-cluster", "release-finalizer"]
    );
    assert!(events(&w).iter().any(|(_, r)| r == "SavepointOnDeletion"));
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Deleted));
}

#[test]
fn deleting_a_job_suspended_with_last_state_removes_its_ha_metadata() {
    // Suspended with last-state and HA: the JobManager is gone, the HA metadata holds the state
    // for the resume. Deleting the resource must not leave it for a later resource of the same
    // name to recover (the reference deletes it too).
    let mut w = deployed(World::app("last-state", true));
    w.tick();
    w.tick();
    w.edit_job(|j| j.state = Some(JobState::Suspended));
    assert!(w.run(20), "{:?}", w.actions());
    assert!(w.cluster.is_none(), "suspended: no cluster");
    assert!(
        w.ha.is_some(),
        "suspended with last-state: HA metadata kept for the resume"
    );
    w.steps.clear();
    w.request_deletion();
    assert!(w.run(10), "{:?}", w.actions());
    assert_eq!(w.actions(), vec!["delete-cluster", "release-finalizer"]);
    assert!(matches!(
        w.steps[0],
        Step::DeleteCluster {
            delete_ha_data: true,
            cancel_job_first: None
        }
    ));
    assert!(w.ha.is_none(), "the HA metadata is gone with the resource");
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn session_cluster_lifecycle() {
    let mut w = World::session_cluster();
    assert!(w.run(10));
    assert_eq!(w.actions(), vec!["deploy", "mark-stable"]);
    assert_eq!(restores(&w), vec![RestoreSource::NoJob]);
    w.steps.clear();
    w.edit_app(|s| s.image = Some("flink:1.20.1".into()));
    assert!(w.run(10));
    assert_eq!(w.actions(), vec!["delete-cluster", "deploy", "mark-stable"]);
    assert!(matches!(
        w.steps[0],
        Step::DeleteCluster {
            delete_ha_data: false,
            ..
        }
    ));
}

#[test]
fn session_jobs_per_mode() {
    for (mode, actions) in [
        (
            "stateless",
            vec!["cancel-job", "submit-session-job", "mark-stable"],
        ),
        (
            "savepoint",
            vec!["stop-with-savepoint", "submit-session-job", "mark-stable"],
        ),
        // last-state is always cancel-based for session jobs (reference §4.12).
        (
            "last-state",
            vec!["cancel-job", "submit-session-job", "mark-stable"],
        ),
    ] {
        let mut w = World::session_job(mode);
        assert!(
            w.run(10),
            "{mode}: {:?} {:?}",
            w.actions(),
            w.plans
                .last()
                .map(|p| (&p.step, &p.reasons, p.status.lifecycle_state()))
        );
        w.steps.clear();
        w.tick();
        let before = job_value(&w);
        w.edit_job(|j| j.parallelism = Some(2));
        assert!(w.run(20), "{mode}: {:?}", w.actions());
        assert_eq!(w.actions(), actions, "{mode}");
        if mode != "stateless" {
            assert!(job_value(&w) >= before, "{mode}");
        }
        assert!(w.violations.is_empty(), "{mode}: {:?}", w.violations);
        w.steps.clear();
        w.request_deletion();
        assert!(w.run(10));
        assert_eq!(w.actions(), vec!["cancel-job", "release-finalizer"], "{mode}");
    }
}

#[test]
fn status_error_is_the_reference_json() {
    let mut w = deployed(World::app("savepoint", false));
    w.cluster = None;
    w.step(None);
    let ResourceStatus::Deployment(d) = w.status().unwrap() else {
        panic!()
    };
    let v: serde_json::Value = serde_json::from_str(d.error.as_ref().unwrap()).unwrap();
    assert!(v["type"].as_str().unwrap().contains("Exception"));
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("HA metadata is not available")
    );
}

#[test]
fn pre_1_15_missing_jobmanager_is_not_recovered_without_ha_metadata() {
    let mut w = World::app("savepoint", true);
    w.edit_app(|s| s.flink_version = Some(flink_lifecycle::api::FlinkVersion::v1_14));
    assert!(w.run(20));
    w.steps.clear();
    w.cluster = None;
    w.ha = None; // Flink < 1.15 removes everything when a job ends
    assert_only_errors_reported(&mut w, 3);
    let err = w.last_error().unwrap();
    assert!(
        err.contains("before 1.15") && err.contains("Manual restore required"),
        "{err}"
    );
    assert!(w.cluster.is_none());
}

#[test]
fn savepoint_mode_falls_back_to_last_state_for_an_unhealthy_job_or_waits() {
    for (fallback, expected) in [("true", vec!["delete-cluster", "deploy"]), ("false", vec![])] {
        let mut w = deployed(World::app("savepoint", true));
        w.set_operator("job.upgrade.last-state-fallback.enabled", fallback);
        w.tick();
        w.cluster.as_mut().unwrap().job.as_mut().unwrap().state = FlinkJobState::Restarting;
        w.edit_job(|j| j.parallelism = Some(3));
        w.step(None);
        w.step(None);
        assert_eq!(w.actions(), expected, "fallback={fallback}");
        if fallback == "true" {
            assert!(matches!(restores(&w)[0], RestoreSource::HaMetadata { .. }));
        } else {
            assert!(matches!(w.steps.last(), Some(Step::Wait { .. })));
        }
    }
}

#[test]
fn turning_ha_off_in_a_last_state_upgrade_cancels_instead_of_restoring_ha_metadata() {
    // The new cluster's configuration has no HA, so it would never read the HA metadata the old
    // one left: the job was stopped for a restore that could not happen.
    let mut w = deployed(World::app("last-state", true));
    w.tick();
    w.set_ha(false);
    assert!(w.run(20), "{:?} {:?}", w.actions(), w.last_error());
    assert_eq!(
        w.actions(),
        vec!["cancel-job", "delete-cluster", "deploy", "mark-stable"]
    );
    assert!(
        matches!(&restores(&w)[..], [RestoreSource::Savepoint { path, .. }] if path.starts_with("file:///cp/")),
        "{:?}",
        restores(&w)
    );
    assert!(w.violations.is_empty(), "{:?}", w.violations);
    // And on again: the cluster without HA left no HA metadata, so the job is cancelled again.
    w.steps.clear();
    w.tick();
    w.set_ha(true);
    assert!(w.run(20), "{:?} {:?}", w.actions(), w.last_error());
    assert_eq!(w.actions()[0], "cancel-job");
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn old_checkpoint_makes_last_state_take_a_savepoint() {
    let mut w = deployed(World::app("last-state", true));
    w.set_operator("job.upgrade.last-state.max.allowed.checkpoint.age", "1 min");
    w.tick();
    let now = w.now;
    let job = w.cluster.as_mut().unwrap().job.as_mut().unwrap();
    job.start = now - 3_600_000;
    job.latest_checkpoint = job.latest_checkpoint.take().map(|(p, _)| (p, now - 600_000));
    w.edit_job(|j| j.parallelism = Some(3));
    w.step(None);
    assert_eq!(w.actions(), vec!["stop-with-savepoint"]);
}

#[test]
fn conditions_keep_their_transition_time_and_generation_is_observed() {
    let mut w = deployed(World::app("savepoint", false));
    let ready_time = |w: &World| {
        let ResourceStatus::Deployment(d) = w.status().unwrap() else {
            panic!()
        };
        d.conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap()
            .last_transition_time
    };
    let before = ready_time(&w);
    for _ in 0..3 {
        w.step(None);
    }
    assert_eq!(ready_time(&w), before);
    // An ignored change is observed at once, without a restart.
    w.edit_job(|j| j.upgrade_mode = Some(UpgradeMode::LastState));
    w.step(None);
    let ResourceStatus::Deployment(d) = w.status().unwrap() else {
        panic!()
    };
    assert_eq!(d.observed_generation, w.dep.metadata.generation);
    assert!(w.actions().is_empty());
    // A suspend flips Ready with a new transition time once the job is down.
    w.edit_job(|j| j.state = Some(JobState::Suspended));
    assert!(w.run(30));
    assert_ne!(ready_time(&w), before);
}

#[test]
fn a_broken_upgrade_can_be_fixed_by_the_next_spec_without_losing_the_savepoint() {
    let mut w = deployed(World::app("savepoint", false));
    w.tick();
    break_next_deploy(&mut w);
    run_with_broken_image(&mut w, 8);
    let path = w.upgrade_savepoint_path().unwrap();
    assert!(path.starts_with("file:///sp/"), "{path}");
    let saved = *w.storage.get(&path).unwrap();
    w.steps.clear();
    w.edit_app(|s| s.image = Some("flink:1.20.2".into()));
    assert!(w.run(20), "{:?} {:?}", w.actions(), w.last_error());
    assert_eq!(w.actions(), vec!["delete-cluster", "deploy", "mark-stable"]);
    assert_eq!(
        restores(&w)[0],
        RestoreSource::Savepoint {
            path,
            allow_non_restored_state: false
        }
    );
    assert!(job_value(&w) >= saved);
}

fn rolled_back(w: &World) -> bool {
    w.plans
        .iter()
        .any(|p| p.events.iter().any(|e| e.reason == "Rollback"))
}

/// The operator was away (restarted, throttled) past the readiness timeout while the upgraded job
/// started: a job running when it is next seen is stable, not rolled back. Found by make soak.
#[test]
fn an_upgrade_running_when_first_seen_after_the_readiness_timeout_is_stable() {
    let mut w = deployed(World::app("last-state", true));
    w.set_operator("deployment.rollback.enabled", "true");
    w.tick();
    w.edit_job(|j| j.parallelism = Some(3));
    for _ in 0..10 {
        if w.actions().contains(&"deploy") {
            break;
        }
        w.step(None);
    }
    assert_eq!(w.actions().last(), Some(&"deploy"), "{:?}", w.actions());
    w.tick();
    w.tick();
    w.now += 6 * 60_000;
    w.steps.clear();
    assert!(w.run(10), "{:?} {:?}", w.actions(), w.last_error());
    assert!(!rolled_back(&w));
    assert_eq!(w.actions(), vec!["mark-stable"]);
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Stable));
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

/// A JobManager recovered with the spec it had, which does not start in time, is not "rolled
/// back" to that same spec: that would restart it and report a rollback that changes nothing.
#[test]
fn a_recovered_jobmanager_is_not_rolled_back_to_its_own_spec() {
    let mut w = deployed(World::app("last-state", true));
    w.set_operator("deployment.rollback.enabled", "true");
    w.tick();
    w.tick();
    w.cluster = None;
    w.step(None);
    assert_eq!(w.actions(), vec!["deploy"]);
    // The recovered JobManager does not start either (say, its node pool is gone).
    let c = w.cluster.as_mut().unwrap();
    c.broken = true;
    c.ready = false;
    for _ in 0..8 {
        w.step(None);
        w.now += 60_000;
    }
    assert!(!rolled_back(&w), "{:?}", w.plans.last().map(|p| &p.reasons));
    assert_eq!(w.actions(), vec!["deploy"]);
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

/// The user fixes the spec after the rollback's own JobManager was deployed: that cluster runs
/// the stable spec, so it is recorded as rolled back and then upgraded to the fix. Taking it as the
/// fix's deployment left the change undone while the status said it was deployed. Found by make
/// soak.
#[test]
fn a_fix_made_after_the_rollback_deployed_is_applied_as_an_upgrade() {
    let mut w = deployed(World::app("savepoint", true));
    w.set_operator("deployment.rollback.enabled", "true");
    w.tick();
    break_next_deploy(&mut w);
    for _ in 0..12 {
        if w.actions().iter().filter(|a| **a == "deploy").count() == 2 {
            break;
        }
        w.step(None);
        w.now += 60_000;
    }
    assert_eq!(
        w.actions(),
        vec![
            "stop-with-savepoint",
            "delete-cluster",
            "deploy",
            "delete-cluster",
            "deploy"
        ]
    );
    assert!(rolled_back(&w));
    w.steps.clear();
    w.edit_app(|s| {
        s.image = Some("flink:1.20.2".into());
        s.restart_nonce = Some(1);
    });
    assert!(
        w.run(20),
        "{:?} {:?}",
        w.actions(),
        w.plans.last().map(|p| &p.reasons)
    );
    assert!(
        w.plans
            .iter()
            .any(|p| p.events.iter().any(|e| e.reason == "RolledBack"))
    );
    assert_eq!(w.actions().last(), Some(&"mark-stable"));
    assert!(w.actions().contains(&"deploy"), "{:?}", w.actions());
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

/// A rolled-back job runs from the upgrade's savepoint and checkpoints; when its JobManager is then
/// lost, the recovery restores those checkpoints (HA metadata), not the savepoint the rollback
/// started from. Found by make soak.
#[test]
fn a_rolled_back_job_whose_jobmanager_is_lost_resumes_from_its_own_checkpoints() {
    let mut w = deployed(World::app("savepoint", true));
    w.set_operator("deployment.rollback.enabled", "true");
    w.tick();
    break_next_deploy(&mut w);
    run_with_broken_image(&mut w, 12);
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::RolledBack));
    let started_from = w.upgrade_savepoint_path().unwrap();
    w.tick();
    w.tick();
    let checkpoint = w.ha.as_ref().and_then(|h| h.checkpoint.clone()).unwrap();
    assert!(w.storage[&checkpoint] > w.storage[&started_from]);
    w.steps.clear();
    w.cluster = None;
    for _ in 0..6 {
        w.step(None);
    }
    assert_eq!(
        restores(&w),
        vec![RestoreSource::HaMetadata {
            guard_path: Some(flink_lifecycle::lifecycle::LAST_STATE_MARKER.into())
        }]
    );
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::RolledBack));
    assert!(job_value(&w) >= w.storage[&checkpoint]);
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

/// Without HA, a last-state upgrade cancels the job and restores its last checkpoint. Flink
/// caches checkpoint statistics: read right after the cancel they may name a checkpoint the end
/// already subsumed and deleted, so the planner waits out the cache plus 1 s. It waits by the
/// running JobManager's own setting when that could be read (the operator renders 500 ms for
/// Flink >= 1.18; a cluster rendered earlier, or configured by its user, may cache longer), else
/// by the deployed spec's configuration (`web.refresh-interval`, 3 s).
#[test]
fn last_state_cancel_waits_for_checkpoint_statistics_computed_after_the_end() {
    for (cache_ms, waits_until_ms) in [(None, 4_000_i64), (Some(500_u64), 1_500), (Some(10_000), 11_000)] {
        let mut w = deployed(World::app("last-state", false));
        w.statistics_cache_ms = cache_ms;
        w.tick();
        w.edit_app(|s| s.restart_nonce = Some(7));
        w.step(None);
        assert_eq!(w.actions(), vec!["cancel-job"]);
        let job = w.cluster.as_mut().unwrap().job.as_mut().unwrap();
        assert_eq!(job.state, FlinkJobState::Canceled);
        let end = w.now;
        job.end = Some(end);

        w.now = end + waits_until_ms - 100;
        let early = w.plan_now();
        assert!(
            matches!(&early.step, Step::Wait { reason } if reason.contains("checkpoint statistics")),
            "cache {cache_ms:?}: {:?}",
            early.step
        );
        assert!(
            early.requeue <= std::time::Duration::from_millis(waits_until_ms as u64),
            "cache {cache_ms:?}: {:?}",
            early.requeue
        );

        w.now = end + waits_until_ms;
        let settled = w.step(None);
        assert!(
            !matches!(settled.step, Step::Wait { .. }),
            "cache {cache_ms:?}: {:?}",
            settled.reasons
        );
        assert!(w.run(20), "{:?}", w.actions());
        assert!(
            matches!(&restores(&w)[0], RestoreSource::Savepoint { path, .. } if path.starts_with("file:///cp/")),
            "cache {cache_ms:?}: {:?}",
            restores(&w)
        );
        assert!(w.violations.is_empty(), "{:?}", w.violations);
    }
}

#[test]
fn a_pending_operation_is_polled_fast_first_then_slower() {
    let mut w = deployed(World::app("savepoint", false));
    w.tick();
    w.edit_app(|s| s.image = Some("flink:1.20.1".into()));
    let p = w.step(None);
    assert!(matches!(p.step, Step::StopWithSavepoint { .. }), "{:?}", p.step);
    let cap = w.operator.progress_check_interval;
    assert_eq!(
        p.requeue,
        std::time::Duration::from_millis(250),
        "first re-check soon"
    );
    // The savepoint is still running 8 s later: re-checked within a quarter of that.
    // (The simulator completed it within its 10 s tick; undo that.)
    let trigger_at = w.now - 10_000;
    w.trigger.as_mut().unwrap().result = None;
    let job = w.cluster.as_mut().unwrap().job.as_mut().unwrap();
    job.state = FlinkJobState::Running;
    job.end = None;
    w.now = trigger_at + 8_000;
    let p = w.plan_now();
    assert!(matches!(p.step, Step::Wait { .. }), "{:?}", p.step);
    assert_eq!(p.requeue, std::time::Duration::from_secs(2));
    // A long-running one is polled at the progress-check interval, as the reference does.
    w.now = trigger_at + 600_000;
    assert_eq!(w.plan_now().requeue, cap);
}

#[test]
fn a_deployed_job_not_yet_running_is_rechecked_soon_not_after_the_idle_interval() {
    let mut w = World::app("savepoint", false);
    while !w.actions().contains(&"deploy") {
        assert!(w.loops < 10, "{:?}", w.actions());
        w.step(None);
    }
    let p = w.step(None);
    assert_eq!(
        w.lifecycle(),
        Some(ResourceLifecycleState::Deployed),
        "{:?}",
        p.reasons
    );
    assert!(
        p.requeue <= w.operator.progress_check_interval && p.requeue < w.operator.reconcile_interval,
        "{:?}",
        p.requeue
    );
    assert!(w.run(10));
    assert_eq!(
        w.plans.last().unwrap().requeue,
        w.operator.reconcile_interval,
        "idle when stable"
    );
}

#[test]
fn last_state_cancel_of_a_job_without_any_checkpoint_starts_it_empty_as_it_was() {
    // Cancelled before its first checkpoint (e.g. right after it started): Flink's statistics
    // show neither a completed nor a restored checkpoint, so there is no durable state to keep.
    let mut w = deployed(World::app("last-state", false));
    let job = w.cluster.as_mut().unwrap().job.as_mut().unwrap();
    job.latest_checkpoint = None;
    w.durable = 0;
    w.checkpoint_statistics_unreadable = true;
    w.edit_app(|s| s.restart_nonce = Some(3));
    for _ in 0..6 {
        w.step(None);
    }
    assert_eq!(
        w.actions(),
        vec!["cancel-job"],
        "unreadable statistics: wait, never guess"
    );
    assert!(w.last_error().is_none(), "{:?}", w.last_error());

    w.checkpoint_statistics_unreadable = false;
    assert!(w.run(20), "{:?} {:?}", w.actions(), w.last_error());
    assert_eq!(
        w.actions(),
        vec!["cancel-job", "delete-cluster", "deploy", "mark-stable"]
    );
    assert!(
        matches!(restores(&w)[0], RestoreSource::Empty),
        "{:?}",
        restores(&w)
    );
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn a_restarted_job_lost_before_the_operator_saw_it_run_resumes_from_its_ha_checkpoint() {
    // A stateless upgrade starts the new job empty; the user then turns to a stateful mode.
    // The new job runs and checkpoints into HA, but the operator never records it running (its
    // status write is lost), and the JobManager Deployment is deleted. Its HA checkpoint, under
    // its fresh job id, is its state: restarting empty again would lose it.
    let mut w = deployed(World::app("stateless", true));
    w.edit_job(|j| j.parallelism = Some(3));
    w.step(None);
    w.edit_job(|j| j.upgrade_mode = Some(UpgradeMode::Savepoint));
    while !w.steps.iter().any(|s| matches!(s, Step::Deploy(_))) {
        assert!(w.loops < 40, "no deploy: {:?}", w.actions());
        w.step(None);
    }
    for _ in 0..3 {
        w.tick();
    }
    let new_job = w
        .cluster
        .as_ref()
        .and_then(|c| c.job.as_ref())
        .map(|j| j.id.clone());
    assert!(
        w.ha.as_ref()
            .is_some_and(|h| h.checkpoint.is_some() && Some(&h.job_id) == new_job.as_ref()),
        "the new job checkpointed into HA: {:?}",
        w.ha
    );
    w.step(Some(lifecycle_support::Crash::StatusLost));
    w.cluster = None;
    w.steps.clear();
    assert!(w.run(20), "{:?} {:?}", w.actions(), w.last_error());
    assert!(
        matches!(restores(&w).first(), Some(RestoreSource::HaMetadata { .. })),
        "{:?}",
        restores(&w)
    );
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

/// A savepoint-mode job without HA, after one upgrade (its savepoint recorded), checkpoints and
/// then fails; restart of failed jobs is off.
fn failed_after_checkpointing() -> World {
    let mut w = deployed(World::app("savepoint", false));
    w.edit_job(|j| j.parallelism = Some(3));
    assert!(w.run(20), "{:?}", w.actions());
    for _ in 0..3 {
        w.tick();
    }
    let job = w.cluster.as_mut().and_then(|c| c.job.as_mut()).expect("a job");
    job.fail_next = true;
    w.tick();
    w
}

#[test]
fn a_failed_jobs_last_checkpoint_is_restored_after_its_jobmanager_is_lost() {
    // The operator records the failed job's last checkpoint once Flink's statistics include the
    // failure. The JobManager Deployment is then deleted: without HA, that record is all that
    // still knows the checkpoint, and the next upgrade restores it, not the older savepoint.
    let mut w = failed_after_checkpointing();
    let failed_id = w
        .cluster
        .as_ref()
        .and_then(|c| c.job.as_ref())
        .map(|j| j.id.clone())
        .expect("job");
    w.tick();
    w.step(None);
    w.cluster = None;
    w.edit_job(|j| j.parallelism = Some(4));
    w.steps.clear();
    assert!(w.run(20), "{:?} {:?}", w.actions(), w.last_error());
    match restores(&w).first() {
        Some(RestoreSource::Savepoint { path, .. }) => {
            assert!(
                path.contains(&failed_id),
                "restored {path}, not a checkpoint of {failed_id}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn a_failed_job_lost_before_its_last_checkpoint_was_read_needs_a_person() {
    // Lost within the seconds before Flink's statistics include the failure: the failed job's
    // last checkpoint was never read. The savepoint recorded before it is older than the job's
    // state, so the operator asks for a manual restore instead of rewinding to it.
    let mut w = failed_after_checkpointing();
    w.step(None);
    w.cluster = None;
    w.edit_job(|j| j.parallelism = Some(4));
    w.steps.clear();
    w.run(20);
    assert!(restores(&w).is_empty(), "{:?}", restores(&w));
    let err = w.last_error().unwrap_or_default();
    assert!(err.contains("Manual restore required"), "{err}");
}

#[test]
fn a_failed_job_restarted_stateless_before_its_checkpoint_was_read_is_not_started_empty_when_taken_back() {
    // Flink's statistics do not answer, the user picks stateless: the failed job's cluster is
    // deleted without its last checkpoint read. Back to savepoint before the new job starts,
    // nothing known says what state the job had, so a person is asked; empty state is never a guess.
    let mut w = deployed(World::app("savepoint", false));
    w.tick();
    w.cluster
        .as_mut()
        .and_then(|c| c.job.as_mut())
        .expect("a job")
        .fail_next = true;
    w.tick();
    w.checkpoint_statistics_unreadable = true;
    w.edit_job(|j| {
        j.upgrade_mode = Some(UpgradeMode::Stateless);
        j.parallelism = Some(1);
    });
    for _ in 0..3 {
        if w.cluster.is_some() {
            w.step(None);
        }
    }
    assert_eq!(w.actions(), vec!["delete-cluster"]);
    w.edit_job(|j| j.upgrade_mode = Some(UpgradeMode::Savepoint));
    w.checkpoint_statistics_unreadable = false;
    for _ in 0..4 {
        w.step(None);
    }
    assert!(w.violations.is_empty(), "{:?}", w.violations);
    assert_eq!(
        w.actions(),
        vec![
            "delete-cluster",
            "report-error",
            "report-error",
            "report-error",
            "report-error"
        ]
    );
    assert_waits_for_a_person(&w, "last checkpoint was never read");
    // The user accepts empty state.
    w.edit_job(|j| j.upgrade_mode = Some(UpgradeMode::Stateless));
    assert!(w.run(20), "{:?} {:?}", w.actions(), w.last_error());
    assert!(
        matches!(restores(&w)[..], [RestoreSource::Empty]),
        "{:?}",
        restores(&w)
    );
}

/// A last-state upgrade without HA cancels the job; its statistics do not answer, and its
/// JobManager Deployment is deleted before they do.
fn cancelled_and_lost_before_its_checkpoint_was_read() -> World {
    let mut w = deployed(World::app("last-state", false));
    w.tick();
    w.checkpoint_statistics_unreadable = true;
    w.edit_job(|j| j.parallelism = Some(5));
    w.step(None);
    w.step(None);
    assert_eq!(w.actions(), vec!["cancel-job"]);
    w.cluster = None;
    w.checkpoint_statistics_unreadable = false;
    for _ in 0..3 {
        w.step(None);
    }
    assert_eq!(
        w.actions(),
        vec!["cancel-job", "report-error", "report-error", "report-error"]
    );
    let error = assert_waits_for_a_person(&w, "went away before its last checkpoint was read.");
    assert!(error.contains("checkpoints under file:///cp"), "{error}");
    w
}

#[test]
fn a_job_cancelled_for_an_upgrade_whose_jobmanager_is_lost_unread_needs_a_person_and_takes_their_answer() {
    // It used to sit idle as "the job reached a terminal state", with no error, even once the
    // spec was reverted: a job the operator stopped never ran again.
    let mut w = cancelled_and_lost_before_its_checkpoint_was_read();
    w.storage.insert("file:///cp/retained".into(), 1_000);
    request_redeploy(&mut w, 7, "file:///cp/retained");
    assert!(w.run(20), "{:?} {:?}", w.actions(), w.last_error());
    assert_redeployed_from(&w, "file:///cp/retained", "the person's answer");
    assert!(w.violations.is_empty(), "{:?}", w.violations);

    // Or the person accepts empty state.
    let mut w = cancelled_and_lost_before_its_checkpoint_was_read();
    w.edit_job(|j| j.upgrade_mode = Some(UpgradeMode::Stateless));
    assert!(w.run(20), "{:?} {:?}", w.actions(), w.last_error());
    assert!(
        matches!(restores(&w)[..], [RestoreSource::Empty]),
        "{:?}",
        restores(&w)
    );
}

#[test]
fn an_upgrade_the_api_server_refuses_leaves_the_job_running_until_the_spec_changes() {
    let mut w = deployed(World::app("savepoint", false));
    let job = w
        .cluster
        .as_ref()
        .and_then(|c| c.job.as_ref())
        .map(|j| j.id.clone());
    w.cluster_refused = Some("admission webhook denied the request: no".into());
    w.edit_job(|j| j.parallelism = Some(3));
    for _ in 0..3 {
        w.step(None);
    }
    assert_eq!(
        w.actions(),
        ["report-error"; 3],
        "nothing was stopped or deployed"
    );
    let err = w.last_error().unwrap_or_default();
    assert!(
        err.contains("refuses the cluster") && err.contains("denied the request"),
        "{err}"
    );
    assert_eq!(
        w.cluster
            .as_ref()
            .and_then(|c| c.job.as_ref())
            .map(|j| j.id.clone()),
        job
    );
    // The spec (or the policy) changed: the upgrade goes ahead as usual.
    w.cluster_refused = None;
    w.steps.clear();
    assert!(w.run(20), "{:?} {:?}", w.actions(), w.last_error());
    assert_eq!(
        w.actions().first(),
        Some(&"stop-with-savepoint"),
        "{:?}",
        w.actions()
    );
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

/// An initialSavepointPath edited once the first deployment is made is not used (the webhook's
/// change line says so: tests/lifecycle_explain.rs), and the status keeps naming the snapshot
/// the job was started from.
#[test]
fn an_initial_savepoint_path_edited_after_the_first_deployment_is_made_is_not_taken() {
    let mut w = World::app("savepoint", false);
    w.storage.insert("file:///sp/first".into(), 7);
    w.storage.insert("file:///sp/second".into(), 42);
    w.edit_job(|j| j.initial_savepoint_path = Some("file:///sp/first".into()));
    w.step(None);
    assert_eq!(w.actions(), vec!["deploy"]);
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Upgrading));
    w.edit_job(|j| j.initial_savepoint_path = Some("file:///sp/second".into()));
    assert!(w.run(20));
    let first = "file:///sp/first".to_string();
    assert_eq!(
        restores(&w),
        vec![RestoreSource::Savepoint {
            path: first.clone(),
            allow_non_restored_state: false
        }]
    );
    assert_eq!(w.upgrade_savepoint_path(), Some(first));
}

/// The job's state is only in HA metadata (its JobManager lost, or suspended last-state with
/// HA), and the spec turns HA off: a cluster of the new spec would not read it. The job is
/// restored from it with the recorded spec (HA on), then upgraded to the new spec from its
/// latest checkpoint, instead of asking a person (the reference recovers a lost JobManager with
/// its deployed spec likewise).
#[test]
fn ha_turned_off_while_the_state_is_only_in_ha_metadata_restores_with_ha_then_upgrades() {
    for case in ["JobManager lost", "suspended"] {
        let mut w = World::app("last-state", true);
        assert!(w.run(30), "{case}");
        for _ in 0..5 {
            w.tick();
            w.step(None);
        }
        let before = job_value(&w);
        if case == "JobManager lost" {
            w.cluster = None;
        } else {
            w.edit_job(|j| j.state = Some(JobState::Suspended));
            assert!(w.run(30), "{case}");
            assert!(
                w.cluster.is_none(),
                "{case}: a last-state suspend removes the cluster"
            );
            assert!(w.ha.is_some(), "{case}: and keeps its HA metadata");
        }
        w.set_ha(false);
        w.edit_job(|j| j.state = Some(JobState::Running));
        assert!(w.run(40), "{case}: {:?}", w.last_error());
        assert_eq!(w.last_error(), None, "{case}");
        assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Stable), "{case}");
        let deploys: Vec<_> = w
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Deploy(d) => Some(d.clone()),
                _ => None,
            })
            .collect();
        let [first, with_ha, upgraded] = deploys.as_slice() else {
            panic!("{case}: three deploys expected, got {deploys:?}");
        };
        assert_eq!(first.restore, RestoreSource::Empty, "{case}");
        let ha_of = |d: &flink_lifecycle::lifecycle::Deploy| match &d.spec {
            flink_lifecycle::lifecycle::DeploySpec::Deployment(spec) => {
                spec.flat_configuration().contains_key("high-availability.type")
            }
            other => panic!("{other:?}"),
        };
        assert!(
            matches!(with_ha.restore, RestoreSource::HaMetadata { .. }) && ha_of(with_ha),
            "{case}: restored from HA metadata by a cluster with HA: {with_ha:?}"
        );
        assert!(
            matches!(&upgraded.restore, RestoreSource::Savepoint { path, .. } if path.starts_with("file:///cp/"))
                && !ha_of(upgraded),
            "{case}: then the new spec, from the latest checkpoint: {upgraded:?}"
        );
        assert!(job_value(&w) >= before, "{case}: no state lost");
        assert!(w.violations.is_empty(), "{case}: {:?}", w.violations);
    }
}

/// An upgrade that turned HA on has not become stable, and the next upgrade (kept its HA
/// metadata) never gets ready: the last stable spec has no HA, so a cluster of it would not read
/// the HA metadata and would start the job empty. No rollback then; once the user fixes the
/// spec, the job continues from its HA metadata.
#[test]
fn no_rollback_into_a_stable_spec_without_ha_when_only_ha_metadata_holds_the_state() {
    let mut w = World::app("last-state", false);
    w.set_operator("deployment.rollback.enabled", "true");
    w.set_operator("deployment.readiness.timeout", "30 s");
    assert!(w.run(20));
    w.tick();
    w.tick();
    w.steps.clear();
    w.set_ha(true);
    for _ in 0..3 {
        w.step(None);
    }
    w.tick();
    w.edit_app(|s| s.image = Some(BROKEN_IMAGE.into()));
    w.tick();
    w.step(None);
    w.step(None);
    for _ in 0..3 {
        w.tick();
    }
    for _ in 0..4 {
        w.step(None);
    }
    assert!(w.violations.is_empty(), "{:?}", w.violations);
    assert!(
        !w.steps
            .iter()
            .any(|s| matches!(s, Step::Deploy(d) if d.purpose == DeployPurpose::Rollback)),
        "{:?}",
        w.actions()
    );
    w.edit_app(|s| s.image = Some("flink:1.20".into()));
    assert!(w.run(30), "{:?}", w.last_error());
    assert!(w.violations.is_empty(), "{:?}", w.violations);
    assert!(
        matches!(restores(&w).last(), Some(RestoreSource::HaMetadata { .. })),
        "{:?}",
        restores(&w)
    );
}

/// A rollback that cannot restore (its JobManager lost before the rolled-back job
/// checkpointed, so no HA metadata) asks for a manual restore; the savepoint redeploy the message
/// names, made with the fix of the spec, is what the job starts from.
#[test]
fn a_redeploy_made_during_a_rollback_that_cannot_restore_is_taken() {
    let mut w = World::app("savepoint", true);
    w.set_operator("job.restart.failed", "true");
    assert!(w.run(20));
    w.tick();
    w.tick();
    w.edit_app(|s| s.image = Some(BROKEN_IMAGE.into()));
    w.set_operator("deployment.rollback.enabled", "true");
    w.set_operator("deployment.readiness.timeout", "30 s");
    for _ in 0..3 {
        w.step(None);
    }
    for _ in 0..3 {
        w.tick();
    }
    for _ in 0..3 {
        w.step(None);
    }
    assert_eq!(
        w.status()
            .and_then(|s| s.reconciliation_status().and_then(|r| r.state)),
        Some(ReconciliationState::RolledBack)
    );
    w.cluster = None;
    w.step(None);
    assert_waits_for_a_person(&w, "HA metadata is not available");
    w.storage.insert("file:///elsewhere/sp-9".into(), 9_000);
    w.edit_app(|s| s.image = Some("flink:1.20".into()));
    w.edit_job(|j| {
        j.initial_savepoint_path = Some("file:///elsewhere/sp-9".into());
        j.savepoint_redeploy_nonce = Some(9);
    });
    assert!(w.run(20), "{:?}", w.last_error());
    assert!(
        matches!(restores(&w).last(), Some(RestoreSource::Savepoint { path, .. }) if path == "file:///elsewhere/sp-9"),
        "{:?}",
        restores(&w)
    );
    assert!(job_value(&w) >= 9_000);
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

/// What the change line says of an edit made while an upgrade's restart is under way
/// (tests/lifecycle_explain.rs): before the new cluster is deployed, it starts with the edited
/// spec; once it is deployed, it is kept and the edit follows as an upgrade.
#[test]
fn an_edit_during_a_restart_applies_at_once_or_as_the_next_upgrade() {
    let parallelism_of = |d: &flink_lifecycle::lifecycle::Deploy| match &d.spec {
        flink_lifecycle::lifecycle::DeploySpec::Deployment(s) => s.job.as_ref().and_then(|j| j.parallelism),
        other => panic!("{other:?}"),
    };
    for deployed_first in [false, true] {
        let mut w = deployed(World::app("savepoint", false));
        w.tick();
        w.edit_job(|j| j.parallelism = Some(3));
        let last = if deployed_first {
            "deploy"
        } else {
            "delete-cluster"
        };
        for _ in 0..5 {
            if w.actions().last() == Some(&last) {
                break;
            }
            w.step(None);
        }
        assert_eq!(w.actions().last(), Some(&last), "{:?}", w.actions());
        w.edit_job(|j| j.parallelism = Some(5));
        assert!(w.run(30), "{:?}", w.last_error());
        let deploys: Vec<_> = w
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Deploy(d) => Some(parallelism_of(d)),
                _ => None,
            })
            .collect();
        let expected = if deployed_first {
            vec![Some(3), Some(5)]
        } else {
            vec![Some(5)]
        };
        assert_eq!(deploys, expected, "deployed first: {deployed_first}");
        assert!(w.violations.is_empty(), "{:?}", w.violations);
    }
}

/// The savepoint steps of the loops so far, with their trigger type.
fn savepoint_triggers(w: &World) -> Vec<flink_lifecycle::api::SnapshotTriggerType> {
    w.steps
        .iter()
        .filter_map(|s| match s {
            Step::TriggerSavepoint { trigger_type, .. } => Some(*trigger_type),
            _ => None,
        })
        .collect()
}

#[test]
fn periodic_savepoints_are_taken_on_schedule_while_the_job_runs() {
    use flink_lifecycle::api::SnapshotTriggerType::Periodic;
    let mut w = deployed(World::app("savepoint", false));
    w.set_operator("periodic.savepoint.interval", "1 min");
    // One loop per 10 s tick for 5 minutes: one savepoint a minute, counted from the job's start.
    for _ in 0..30 {
        w.step(None);
    }
    let triggers = savepoint_triggers(&w);
    assert!(
        (4..=5).contains(&triggers.len()) && triggers.iter().all(|t| *t == Periodic),
        "{triggers:?}"
    );
    assert!(
        w.actions().iter().all(|a| *a == "trigger-savepoint"),
        "the job keeps running: {:?}",
        w.actions()
    );
    let ResourceStatus::Deployment(d) = w.status().unwrap() else {
        panic!()
    };
    let info = d.job_status.unwrap().savepoint_info.unwrap();
    assert_eq!(info.last_savepoint.unwrap().trigger_type, Some(Periodic));
    let history = info.savepoint_history.unwrap();
    assert!(history.len() >= 3, "{history:?}");
    assert!(info.last_periodic_savepoint_timestamp.unwrap() > w.now - 70_000);
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn periodic_savepoints_wait_for_a_manual_one_and_for_a_failed_job() {
    use flink_lifecycle::api::SnapshotTriggerType::{Manual, Periodic};
    let mut w = deployed(World::app("savepoint", false));
    w.set_operator("periodic.savepoint.interval", "20 s");
    w.edit_job(|j| j.savepoint_trigger_nonce = Some(1));
    for _ in 0..3 {
        w.step(None);
    }
    // The manual one first; the periodic one only once nothing else is under way.
    let triggers = savepoint_triggers(&w);
    assert_eq!(triggers.first(), Some(&Manual), "{triggers:?}");
    assert!(
        triggers.len() <= 2 && triggers[1..].iter().all(|t| *t == Periodic),
        "{triggers:?}"
    );
    // A failed job gets none.
    w.steps.clear();
    w.cluster.as_mut().unwrap().job.as_mut().unwrap().state = FlinkJobState::Failed;
    for _ in 0..6 {
        w.step(None);
    }
    assert!(savepoint_triggers(&w).is_empty(), "{:?}", w.actions());
    // Turned off: none either.
    w.set_operator("periodic.savepoint.interval", "0");
    w.cluster.as_mut().unwrap().job.as_mut().unwrap().state = FlinkJobState::Running;
    for _ in 0..6 {
        w.step(None);
    }
    assert!(savepoint_triggers(&w).is_empty(), "{:?}", w.actions());
}

fn history_locations(w: &World) -> Vec<String> {
    let ResourceStatus::Deployment(d) = w.status().unwrap() else {
        panic!()
    };
    d.job_status
        .and_then(|j| j.savepoint_info)
        .and_then(|i| i.savepoint_history)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.location)
        .collect()
}

#[test]
fn savepoints_beyond_the_history_limit_are_disposed_of_and_the_state_is_kept() {
    let mut w = deployed(World::app("savepoint", false));
    w.set_operator("periodic.savepoint.interval", "20 s");
    w.set_operator("savepoint.history.max.count", "2");
    for _ in 0..40 {
        w.step(None);
    }
    let disposed: Vec<String> = w
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::DisposeSavepoint { path } => Some(path.clone()),
            _ => None,
        })
        .collect();
    assert!(disposed.len() >= 3, "{:?}", w.actions());
    let history = history_locations(&w);
    assert!(history.len() <= 3, "{history:?}");
    for path in &disposed {
        assert!(!w.storage.contains_key(path), "{path} was disposed of");
        assert!(!history.contains(path), "{path} left the history");
    }
    for path in &history {
        assert!(
            w.storage.contains_key(path),
            "{path} in the history is on storage"
        );
    }
    // The newest state is intact: an upgrade restores it.
    w.steps.clear();
    w.edit_job(|j| j.parallelism = Some(4));
    assert!(w.run(30), "{:?}", w.actions());
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn without_cleanup_retired_savepoints_only_leave_the_history() {
    let mut w = deployed(World::app("savepoint", false));
    w.set_operator("periodic.savepoint.interval", "20 s");
    w.set_operator("savepoint.history.max.count", "2");
    w.set_operator("savepoint.cleanup.enabled", "false");
    let stored_before = w.storage.len();
    for _ in 0..40 {
        w.step(None);
    }
    assert!(!w.actions().contains(&"dispose-savepoint"), "{:?}", w.actions());
    assert!(history_locations(&w).len() <= 3, "{:?}", history_locations(&w));
    let taken = savepoint_triggers(&w).len();
    assert!(w.storage.len() >= stored_before + taken, "files are kept");
}

#[test]
fn a_checkpoint_nonce_takes_one_checkpoint_while_the_job_runs() {
    use flink_lifecycle::api::SnapshotTriggerType::Manual;
    let mut w = deployed(World::app("savepoint", false));
    w.edit_job(|j| j.checkpoint_trigger_nonce = Some(7));
    for _ in 0..6 {
        w.step(None);
    }
    assert_eq!(
        w.actions(),
        vec!["trigger-checkpoint"],
        "one checkpoint, the job kept running"
    );
    let ResourceStatus::Deployment(d) = w.status().unwrap() else {
        panic!()
    };
    let info = d.job_status.unwrap().checkpoint_info.unwrap();
    let last = info.last_checkpoint.unwrap();
    assert_eq!((last.trigger_type, last.trigger_nonce), (Some(Manual), Some(7)));
    assert!(info.trigger_id.is_none() && info.trigger_timestamp.is_none());
    // Recorded as done: the same nonce asks for nothing more, a new one for one more.
    w.steps.clear();
    for _ in 0..3 {
        w.step(None);
    }
    assert!(w.actions().is_empty(), "{:?}", w.actions());
    w.edit_job(|j| j.checkpoint_trigger_nonce = Some(8));
    for _ in 0..3 {
        w.step(None);
    }
    assert_eq!(w.actions(), vec!["trigger-checkpoint"]);
}

#[test]
fn a_checkpoint_forgotten_by_a_restarted_jobmanager_is_taken_again_within_the_grace_period() {
    let mut w = deployed(World::app("savepoint", true));
    w.restart_jobmanager_after_trigger = false;
    w.edit_job(|j| j.checkpoint_trigger_nonce = Some(1));
    w.step(None);
    assert_eq!(w.actions(), vec!["trigger-checkpoint"]);
    // The JobManager forgets the trigger before the next poll.
    w.checkpoint_triggers.clear();
    for _ in 0..4 {
        w.step(None);
    }
    assert_eq!(
        w.actions(),
        vec!["trigger-checkpoint", "trigger-checkpoint"],
        "asked again after the failure, within checkpoint.trigger.grace-period"
    );
    assert!(
        events(&w)
            .iter()
            .any(|(t, r)| *t == EventType::Warning && r == "CheckpointError")
    );
}

#[test]
fn periodic_checkpoints_are_taken_on_schedule() {
    use flink_lifecycle::api::SnapshotTriggerType::Periodic;
    let mut w = deployed(World::app("last-state", true));
    w.set_operator("periodic.checkpoint.interval", "1 min");
    for _ in 0..30 {
        w.step(None);
    }
    let n = w.actions().iter().filter(|a| **a == "trigger-checkpoint").count();
    assert!((4..=5).contains(&n), "{:?}", w.actions());
    let ResourceStatus::Deployment(d) = w.status().unwrap() else {
        panic!()
    };
    let info = d.job_status.unwrap().checkpoint_info.unwrap();
    assert_eq!(info.last_checkpoint.unwrap().trigger_type, Some(Periodic));
    assert!(info.last_periodic_checkpoint_timestamp.is_some());
}
