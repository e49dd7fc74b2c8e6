use super::*;
use crate::api::SavepointSpec;

const NOW: i64 = 1_800_000_000_000;

fn running() -> SnapshotTarget {
    SnapshotTarget::Found(TargetJob {
        kind: JobKind::FlinkDeployment,
        cluster: "counter".into(),
        job_id: Some("a".repeat(32)),
        job_state: Some(FlinkJobState::Running),
        suspended: false,
        busy: false,
        savepoint_dir: Some("file:///sp".into()),
        checkpoints_supported: true,
        protected_paths: vec!["file:///sp/savepoint-last".into()],
    })
}

fn with(f: impl FnOnce(&mut TargetJob)) -> SnapshotTarget {
    let SnapshotTarget::Found(mut t) = running() else {
        unreachable!()
    };
    f(&mut t);
    SnapshotTarget::Found(t)
}

fn savepoint() -> FlinkStateSnapshotSpec {
    FlinkStateSnapshotSpec {
        savepoint: Some(SavepointSpec::default()),
        ..Default::default()
    }
}

fn checkpoint() -> FlinkStateSnapshotSpec {
    FlinkStateSnapshotSpec {
        checkpoint: Some(Default::default()),
        ..Default::default()
    }
}

fn plan(
    spec: &FlinkStateSnapshotSpec,
    status: Option<&FlinkStateSnapshotStatus>,
    target: &SnapshotTarget,
    op: Option<&OperationSeen>,
    now_ms: i64,
) -> SnapshotPlan {
    plan_snapshot(&SnapshotInput {
        namespace: "ns",
        spec,
        status,
        deleting: false,
        target,
        operation: op,
        now_ms,
        new_trigger_id: "0123456789abcdef0123456789abcdef",
        reconcile_interval: Duration::from_secs(60),
    })
}

fn in_progress() -> FlinkStateSnapshotStatus {
    FlinkStateSnapshotStatus {
        state: Some(SnapshotState::InProgress),
        trigger_id: Some("f".repeat(32)),
        trigger_timestamp: Some(timestamp(NOW)),
        ..Default::default()
    }
}

#[test]
fn a_pending_savepoint_records_its_trigger_id_before_it_is_sent() {
    let p = plan(&savepoint(), None, &running(), None, NOW);
    assert_eq!(p.status.state, Some(SnapshotState::InProgress));
    assert_eq!(
        p.status.trigger_id.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    let SnapshotStep::TriggerSavepoint {
        trigger_id,
        target_dir,
        ..
    } = &p.step
    else {
        panic!("{p:?}")
    };
    assert_eq!(Some(trigger_id), p.status.trigger_id.as_ref());
    assert_eq!(target_dir.as_deref(), Some("file:///sp"));
}

#[test]
fn the_spec_path_wins_over_the_jobs_savepoint_dir() {
    let mut spec = savepoint();
    spec.savepoint = Some(SavepointSpec {
        path: Some("file:///custom".into()),
        format_type: Some(SavepointFormatType::Native),
        ..Default::default()
    });
    let p = plan(&spec, None, &running(), None, NOW);
    assert!(
        matches!(&p.step, SnapshotStep::TriggerSavepoint { target_dir: Some(d), format: SavepointFormatType::Native, .. } if d == "file:///custom"),
        "{p:?}"
    );
}

#[test]
fn an_existing_savepoint_is_completed_without_a_trigger() {
    let spec = FlinkStateSnapshotSpec {
        savepoint: Some(SavepointSpec {
            path: Some("file:///sp/savepoint-1".into()),
            already_exists: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let p = plan(&spec, None, &SnapshotTarget::Missing("no job".into()), None, NOW);
    assert_eq!(p.status.state, Some(SnapshotState::Completed));
    assert_eq!(p.status.path.as_deref(), Some("file:///sp/savepoint-1"));
    assert_eq!(p.step, SnapshotStep::None);
    let mut no_path = spec.clone();
    if let Some(s) = no_path.savepoint.as_mut() {
        s.path = None;
    }
    let p = plan(&no_path, None, &running(), None, NOW);
    assert_eq!(p.status.state, Some(SnapshotState::Failed));
    assert!(
        p.status
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("savepoint.path"),
        "{p:?}"
    );
}

#[test]
fn neither_or_both_kinds_fail_with_the_references_message() {
    for spec in [
        FlinkStateSnapshotSpec::default(),
        FlinkStateSnapshotSpec {
            savepoint: Some(SavepointSpec::default()),
            checkpoint: Some(Default::default()),
            ..Default::default()
        },
    ] {
        let p = plan(&spec, None, &running(), None, NOW);
        assert_eq!(p.status.state, Some(SnapshotState::Failed));
        assert_eq!(
            p.status.error.as_deref(),
            Some("Exactly one of checkpoint or savepoint configurations has to be set.")
        );
    }
}

#[test]
fn a_stopped_or_missing_job_abandons_and_a_deploying_one_is_waited_for() {
    let suspended = with(|t| t.suspended = true);
    assert_eq!(
        plan(&savepoint(), None, &suspended, None, NOW).status.state,
        Some(SnapshotState::Abandoned)
    );
    let failed = with(|t| t.job_state = Some(FlinkJobState::Failed));
    assert_eq!(
        plan(&savepoint(), None, &failed, None, NOW).status.state,
        Some(SnapshotState::Abandoned)
    );
    let missing = SnapshotTarget::Missing("Target for snapshot ns/x was not found".into());
    let p = plan(&savepoint(), None, &missing, None, NOW);
    assert_eq!(p.status.state, Some(SnapshotState::Abandoned));
    assert!(
        p.status
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("was not found")
    );
    for deploying in [
        with(|t| t.job_state = Some(FlinkJobState::Initializing)),
        with(|t| t.busy = true),
        with(|t| t.job_id = None),
    ] {
        let p = plan(&savepoint(), None, &deploying, None, NOW);
        assert_eq!(p.status.state, Some(SnapshotState::TriggerPending), "{p:?}");
        assert_eq!(p.step, SnapshotStep::None);
        assert_eq!(p.requeue, Some(WAIT_INTERVAL));
    }
}

#[test]
fn checkpoints_need_flink_1_17() {
    let old = with(|t| t.checkpoints_supported = false);
    let p = plan(&checkpoint(), None, &old, None, NOW);
    assert_eq!(p.status.state, Some(SnapshotState::Failed));
    let p = plan(&checkpoint(), None, &running(), None, NOW);
    assert!(matches!(p.step, SnapshotStep::TriggerCheckpoint { .. }), "{p:?}");
}

#[test]
fn completion_records_the_path_and_an_unknown_trigger_is_sent_again_with_the_same_id() {
    let status = in_progress();
    let done = OperationSeen::Completed {
        path: Some("file:///sp/savepoint-2".into()),
    };
    let p = plan(&savepoint(), Some(&status), &running(), Some(&done), NOW + 5_000);
    assert_eq!(p.status.state, Some(SnapshotState::Completed));
    assert_eq!(p.status.path.as_deref(), Some("file:///sp/savepoint-2"));
    assert_eq!(p.requeue, None);
    let p = plan(
        &savepoint(),
        Some(&status),
        &running(),
        Some(&OperationSeen::Unknown),
        NOW,
    );
    let SnapshotStep::TriggerSavepoint { trigger_id, .. } = &p.step else {
        panic!("{p:?}")
    };
    assert_eq!(trigger_id, &"f".repeat(32));
    let p = plan(
        &savepoint(),
        Some(&status),
        &running(),
        Some(&OperationSeen::InProgress),
        NOW,
    );
    assert_eq!(
        (p.status.state, &p.step),
        (Some(SnapshotState::InProgress), &SnapshotStep::None)
    );
    let p = plan(
        &savepoint(),
        Some(&status),
        &running(),
        Some(&OperationSeen::Unreachable("connection refused".into())),
        NOW,
    );
    assert_eq!(p.status.state, Some(SnapshotState::InProgress));
    assert!(
        p.status
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("connection refused")
    );
}

#[test]
fn a_job_that_stops_mid_snapshot_abandons_it() {
    let restarting = with(|t| t.job_state = Some(FlinkJobState::Restarting));
    let p = plan(
        &savepoint(),
        Some(&in_progress()),
        &restarting,
        Some(&OperationSeen::InProgress),
        NOW,
    );
    assert_eq!(p.status.state, Some(SnapshotState::Abandoned));
    assert!(
        p.status
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("RESTARTING"),
        "{p:?}"
    );
}

#[test]
fn failures_back_off_and_stop_at_the_backoff_limit() {
    let spec = FlinkStateSnapshotSpec {
        backoff_limit: Some(1),
        ..savepoint()
    };
    let failed = OperationSeen::Failed {
        cause: "Not all required tasks are currently running".into(),
    };
    let first = plan(&spec, Some(&in_progress()), &running(), Some(&failed), NOW);
    assert_eq!(first.status.state, Some(SnapshotState::TriggerPending));
    assert_eq!(first.status.failures, 1);
    assert_eq!(first.requeue, Some(FIRST_RETRY_DELAY));
    assert_eq!(first.status.trigger_id, None);
    // Too early: still waiting, whoever woke the reconcile.
    let early = plan(&spec, Some(&first.status), &running(), None, NOW + 3_000);
    assert_eq!(early.step, SnapshotStep::None);
    assert_eq!(early.requeue, Some(Duration::from_secs(7)));
    let retry = plan(&spec, Some(&first.status), &running(), None, NOW + 10_000);
    assert!(
        matches!(retry.step, SnapshotStep::TriggerSavepoint { .. }),
        "{retry:?}"
    );
    let second = plan(
        &spec,
        Some(&retry.status),
        &running(),
        Some(&failed),
        NOW + 12_000,
    );
    assert_eq!(second.status.state, Some(SnapshotState::Failed));
    assert_eq!(second.status.failures, 2);
    assert_eq!(second.requeue, None);
    assert_eq!(retry_delay(2), Duration::from_secs(20));
    assert_eq!(retry_delay(30), MAX_RETRY_DELAY);
}

fn deleting(
    spec: &FlinkStateSnapshotSpec,
    status: &FlinkStateSnapshotStatus,
    target: &SnapshotTarget,
    op: Option<&OperationSeen>,
) -> SnapshotPlan {
    plan_snapshot(&SnapshotInput {
        namespace: "ns",
        spec,
        status: Some(status),
        deleting: true,
        target,
        operation: op,
        now_ms: NOW,
        new_trigger_id: "0",
        reconcile_interval: Duration::from_secs(60),
    })
}

#[test]
fn deletion_disposes_of_a_completed_savepoint_through_the_running_job_only() {
    let completed = FlinkStateSnapshotStatus {
        state: Some(SnapshotState::Completed),
        path: Some("file:///sp/savepoint-3".into()),
        ..Default::default()
    };
    let p = deleting(&savepoint(), &completed, &running(), None);
    assert_eq!(
        p.step,
        SnapshotStep::Dispose {
            cluster: "counter".into(),
            path: "file:///sp/savepoint-3".into()
        }
    );
    let p = deleting(&savepoint(), &completed, &with(|t| t.suspended = true), None);
    assert_eq!(p.step, SnapshotStep::None);
    assert!(
        p.status
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("disposeOnDelete"),
        "{p:?}"
    );
    let keep = FlinkStateSnapshotSpec {
        savepoint: Some(SavepointSpec {
            dispose_on_delete: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        deleting(&keep, &completed, &running(), None).step,
        SnapshotStep::ReleaseFinalizer
    );
    assert_eq!(
        deleting(&checkpoint(), &completed, &running(), None).step,
        SnapshotStep::ReleaseFinalizer
    );
    let protected = FlinkStateSnapshotStatus {
        path: Some("file:/sp/savepoint-last/".into()),
        ..completed.clone()
    };
    let p = deleting(&savepoint(), &protected, &running(), None);
    assert_eq!(p.step, SnapshotStep::None, "the next restore's savepoint is kept");
    assert!(
        p.status
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("may still restore from it"),
        "{p:?}"
    );
    let pending = FlinkStateSnapshotStatus::default();
    assert_eq!(
        deleting(&savepoint(), &pending, &running(), None).step,
        SnapshotStep::ReleaseFinalizer
    );
}

#[test]
fn deletion_waits_for_a_savepoint_in_flight_and_never_triggers() {
    let p = deleting(
        &savepoint(),
        &in_progress(),
        &running(),
        Some(&OperationSeen::InProgress),
    );
    assert_eq!(p.step, SnapshotStep::None);
    assert_eq!(p.status.state, Some(SnapshotState::InProgress));
    let done = OperationSeen::Completed {
        path: Some("file:///sp/savepoint-4".into()),
    };
    let p = deleting(&savepoint(), &in_progress(), &running(), Some(&done));
    assert_eq!(p.status.state, Some(SnapshotState::Completed));
    let p = deleting(
        &savepoint(),
        &in_progress(),
        &running(),
        Some(&OperationSeen::Unknown),
    );
    assert_eq!(p.status.state, Some(SnapshotState::Abandoned));
    assert_eq!(p.step, SnapshotStep::None);
}
