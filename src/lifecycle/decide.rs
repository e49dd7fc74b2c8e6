//! The decisions shared by the planner and by `explain`: what kind of transition a spec change
//! is (seed: the four state transitions) and how a running job is stopped and restored
//! (reference study §4.7). Keeping them here is what makes the webhook's warning and the
//! planner's action agree.

use super::diff::{DiffType, SpecDiff};
use crate::api::{FlinkJobState, JobState, UpgradeMode};
use crate::config::OperatorConfig;
use serde::Serialize;

/// The marker the reference records as `upgradeSavepointPath` for an HA-based last-state
/// restore; Flink refuses to start from it, so lost HA data can never mean empty state.
pub const LAST_STATE_MARKER: &str = "KUBERNETES_OPERATOR_LAST_STATE";

/// What a spec change means for the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpecChange {
    /// Nothing changed.
    None,
    /// Only fields that do not touch the running job changed.
    IgnoredOnly,
    /// running -> running with a restart (SCALE is a restart here: no in-place rescaling).
    Upgrade(DiffType),
    /// running -> suspended.
    Suspend,
    /// suspended -> running: restore with the latest spec.
    Resume,
    /// suspended -> suspended: nothing runs; the spec is applied on resume.
    SuspendedUpdate,
    /// New `savepointRedeployNonce`: redeploy from `initialSavepointPath`.
    SavepointRedeploy,
}

/// Classifies a change from the deployed job state to the desired one. `deployed`/`desired`
/// are `None` for session clusters (no job).
pub fn classify(deployed: Option<JobState>, desired: Option<JobState>, diff: &SpecDiff) -> SpecChange {
    let kind = diff.kind();
    if kind == DiffType::SavepointRedeploy {
        return SpecChange::SavepointRedeploy;
    }
    match (
        deployed.unwrap_or(JobState::Running),
        desired.unwrap_or(JobState::Running),
    ) {
        (JobState::Running, JobState::Suspended) => SpecChange::Suspend,
        (JobState::Suspended, JobState::Running) => SpecChange::Resume,
        (JobState::Suspended, JobState::Suspended) if diff.is_empty() => SpecChange::None,
        (JobState::Suspended, JobState::Suspended) => SpecChange::SuspendedUpdate,
        (JobState::Running, JobState::Running) if kind >= DiffType::Scale => SpecChange::Upgrade(kind),
        (JobState::Running, JobState::Running) if diff.is_empty() => SpecChange::None,
        (JobState::Running, JobState::Running) => SpecChange::IgnoredOnly,
    }
}

/// Where a resumed job takes its state from: the mode recorded when it was suspended, unless
/// the user now asks for `stateless` (reference §4.6 C.1).
pub fn resume_restore_mode(recorded: UpgradeMode, desired: UpgradeMode) -> RestoreMode {
    if desired == UpgradeMode::Stateless {
        RestoreMode::Empty
    } else {
        RestoreMode::from_recorded(recorded)
    }
}

/// How the running job is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuspendMechanism {
    /// The job already reached a terminal state: nothing to stop.
    AlreadyStopped,
    /// Cancel (best effort) and delete the cluster with its HA data: state is discarded.
    /// Session jobs: cancel.
    Stateless,
    /// Stop with a savepoint.
    Savepoint,
    /// Delete the JobManager and keep the HA metadata to restore from.
    KeepHaMetadata,
    /// Cancel the job; restore from its last completed checkpoint.
    Cancel,
}

/// Where the next start takes its state from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestoreMode {
    /// Empty state.
    Empty,
    /// The recorded `upgradeSavepointPath` (savepoint or last checkpoint).
    Savepoint,
    /// HA metadata (same job id).
    LastState,
}

impl RestoreMode {
    /// The value recorded as `lastReconciledSpec.job.upgradeMode` (reference §0.6).
    pub fn recorded(self) -> UpgradeMode {
        match self {
            Self::Empty => UpgradeMode::Stateless,
            Self::Savepoint => UpgradeMode::Savepoint,
            Self::LastState => UpgradeMode::LastState,
        }
    }

    /// Inverse of [`RestoreMode::recorded`].
    pub fn from_recorded(mode: UpgradeMode) -> Self {
        match mode {
            UpgradeMode::Stateless => Self::Empty,
            UpgradeMode::Savepoint => Self::Savepoint,
            UpgradeMode::LastState => Self::LastState,
        }
    }
}

/// The outcome of choosing an upgrade strategy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "decision")]
pub enum UpgradeChoice {
    Go {
        suspend: SuspendMechanism,
        restore: RestoreMode,
        /// Why this mechanism when it differs from the user's upgrade mode.
        note: Option<String>,
    },
    /// Not possible yet; re-check later.
    Wait { reason: String },
    /// Not possible without a person.
    Fail { reason: String, message: String },
}

/// What is known about the job when choosing how to stop it.
#[derive(Clone, Debug, PartialEq)]
pub struct JobFacts {
    pub session_job: bool,
    /// `spec.job.upgradeMode` of the desired spec.
    pub user_mode: UpgradeMode,
    /// Observed job state (None: unknown / not found).
    pub job_state: Option<FlinkJobState>,
    /// JobManager REST API usable (always true for session jobs whose cluster is ready).
    pub jm_ready: bool,
    /// JobManager Deployment missing or in error.
    pub jm_missing_or_error: bool,
    pub ha_enabled: bool,
    pub ha_metadata: bool,
    pub savepoint_dir_set: bool,
    pub flink_version_changed: bool,
    /// Restore path known for a terminal job (recorded `upgradeSavepointPath` or observed).
    pub restore_path: Option<String>,
    pub job_start_ms: Option<i64>,
    pub latest_checkpoint_ms: Option<i64>,
    pub pending_checkpoint_ms: Option<i64>,
    pub now_ms: i64,
    /// The last deploy never produced a running job (JobManager failing or still starting, no
    /// job ever observed) and it started from a savepoint or from empty state: restart the same
    /// way (reference: JobManager never became available, FLINK-32012).
    pub never_started: Option<RestoreMode>,
    /// The JobManager Deployment is missing (not in error) and the recorded spec runs with HA: a
    /// cluster of the recorded spec can restore the job from its HA metadata.
    pub lost_jm_recorded_ha: bool,
}

/// Only HA metadata holds the job's state, and the spec turns HA off: the new cluster would
/// not read it.
pub const HA_TURNED_OFF: &str = "The job's state is in HA metadata, but the spec now turns HA off, so the new cluster could not restore it. Keep HA on until the job runs again, then turn it off. Manual restore required.";

/// Why a change that turns HA off, made while the JobManager is lost, first restores the job
/// with the recorded spec.
pub const RECOVERS_WITH_HA_FIRST: &str = "the JobManager is lost and the job's state is only in its HA metadata, which the new spec (HA off) would not read: the job is first restored with the deployed spec (HA on), then upgraded to the new spec with its state";

/// Why a restore (a resume, or a restart under way) deploys the recorded spec rather than the
/// user's: only a cluster with HA reads the job's state.
pub const RESTORES_WITH_HA_FIRST: &str = "the job's state is only in HA metadata and the new spec turns HA off: the job is first started from its HA metadata with the recorded spec (HA on), then upgraded to the new spec with its state";

/// The message the reference uses (lifecycle derivation matches on its wording).
pub const JM_MISSING_NO_HA: &str = "JobManager deployment is missing and HA metadata is not available to make stateful upgrades. It is possible that the job has finished or terminally failed, or the configmaps have been deleted.Manual restore required.";

fn go(suspend: SuspendMechanism, restore: RestoreMode) -> UpgradeChoice {
    UpgradeChoice::Go {
        suspend,
        restore,
        note: None,
    }
}

/// Chooses how to stop and restore the job (reference §4.7 with the application override).
pub fn choose_upgrade(f: &JobFacts, op: &OperatorConfig) -> UpgradeChoice {
    use SuspendMechanism as S;
    let state = f.job_state;
    let running = state == Some(FlinkJobState::Running);
    let terminal = state.is_some_and(FlinkJobState::is_globally_terminal);

    if f.user_mode == UpgradeMode::Stateless {
        let suspend = if terminal { S::AlreadyStopped } else { S::Stateless };
        return go(suspend, RestoreMode::Empty);
    }
    if let Some(restore) = f.never_started
        && (restore == RestoreMode::Empty || f.restore_path.is_some())
    {
        return UpgradeChoice::Go {
            suspend: SuspendMechanism::AlreadyStopped,
            restore,
            note: Some(
                "the last deployment never started: it is replaced, restoring as it would have".into(),
            ),
        };
    }
    let restorable_terminal =
        terminal && (state == Some(FlinkJobState::Canceled) || !f.ha_metadata || f.jm_ready || f.session_job);
    if restorable_terminal || (f.session_job && state.is_none()) {
        return match f.restore_path.as_deref() {
            Some(LAST_STATE_MARKER) => fail(
                "UpgradeFailed",
                "Job is in terminal state but last checkpoint is unknown, possibly due to an unrecoverable restore error. Manual restore required.".into(),
            ),
            Some(_) => go(S::AlreadyStopped, RestoreMode::Savepoint),
            None => fail(
                "UpgradeFailed",
                format!(
                    "Job is {} and the operator knows no snapshot that holds its newest state to restore it from. Manual restore required: set job.initialSavepointPath and a new job.savepointRedeployNonce, or set upgradeMode: stateless to start from empty state.",
                    state.map_or("not found".to_string(), |s| format!("in terminal state {s}"))
                ),
            ),
        };
    }
    if state == Some(FlinkJobState::Cancelling) {
        return UpgradeChoice::Wait {
            reason: "the job is being cancelled".into(),
        };
    }
    // The new cluster restores HA metadata only if its own configuration enables HA (the
    // reference checks both configurations too): turning HA off in an upgrade cancels instead.
    let ha_restorable = f.ha_metadata && (f.session_job || f.ha_enabled);
    let cancellable = state.is_some_and(|s| {
        s != FlinkJobState::Reconciling && !s.is_globally_terminal() && (f.session_job || f.jm_ready)
    }) && (f.session_job || !ha_restorable || op.last_state_job_cancel_enabled);

    let mut choice = None;
    let mut fallback_note = None;
    if f.user_mode == UpgradeMode::Savepoint {
        if running {
            return go(S::Savepoint, RestoreMode::Savepoint);
        }
        if !(f.flink_version_changed || op.last_state_fallback_enabled) {
            return UpgradeChoice::Wait {
                reason: format!(
                    "savepoint upgrade needs a RUNNING job (job is {}) and kubernetes.operator.job.upgrade.last-state-fallback.enabled is false",
                    state.map_or("unknown".to_string(), |s| s.to_string())
                ),
            };
        }
        fallback_note = Some("job is not running: falling back to last-state".to_string());
    }
    // last-state (or savepoint falling back to it)
    if f.flink_version_changed {
        if running && f.savepoint_dir_set {
            return noted(
                S::Savepoint,
                RestoreMode::Savepoint,
                "Flink version changes need a savepoint",
            );
        }
        if cancellable {
            return noted(
                S::Cancel,
                RestoreMode::Savepoint,
                "Flink version changes cannot restore from HA metadata",
            );
        }
        return UpgradeChoice::Wait {
            reason: "a Flink version change needs a running job to take a savepoint from".into(),
        };
    }
    if running {
        if let Some(age_choice) = max_age_rule(f, op) {
            return age_choice;
        }
        if cancellable {
            choice = Some((S::Cancel, RestoreMode::Savepoint));
        } else if ha_restorable {
            choice = Some((S::KeepHaMetadata, RestoreMode::LastState));
        }
    } else if cancellable {
        choice = Some((S::Cancel, RestoreMode::Savepoint));
    }
    if choice.is_none() && !f.session_job && ha_restorable {
        choice = Some((S::KeepHaMetadata, RestoreMode::LastState));
    }
    match choice {
        Some((suspend, restore)) => UpgradeChoice::Go {
            suspend,
            restore,
            note: fallback_note,
        },
        None if !f.session_job && f.jm_missing_or_error && !f.ha_metadata => {
            fail("UpgradeFailed", JM_MISSING_NO_HA.to_string())
        }
        // As the reference recovers a lost JobManager: with the spec it ran, which reads the
        // HA metadata; the new spec then follows as an upgrade of the running job.
        None if f.ha_metadata && !ha_restorable && f.lost_jm_recorded_ha => UpgradeChoice::Go {
            suspend: S::AlreadyStopped,
            restore: RestoreMode::LastState,
            note: Some(RECOVERS_WITH_HA_FIRST.to_string()),
        },
        None if f.ha_metadata && !ha_restorable && f.jm_missing_or_error => {
            fail("UpgradeFailed", HA_TURNED_OFF.to_string())
        }
        None if f.ha_metadata && !ha_restorable => UpgradeChoice::Wait {
            reason: format!(
                "the job is {} and cannot be cancelled, and the new spec turns HA off, so its HA metadata cannot be restored: waiting for a running job (or keep HA on for this upgrade)",
                state.map_or("not observable".to_string(), |s| s.to_string())
            ),
        },
        None => UpgradeChoice::Wait {
            reason: format!(
                "the job is {} and its state cannot be taken yet (no HA metadata, not cancellable)",
                state.map_or("not observable".to_string(), |s| s.to_string())
            ),
        },
    }
}

fn noted(suspend: SuspendMechanism, restore: RestoreMode, note: &str) -> UpgradeChoice {
    UpgradeChoice::Go {
        suspend,
        restore,
        note: Some(note.to_string()),
    }
}

fn fail(reason: &str, message: String) -> UpgradeChoice {
    UpgradeChoice::Fail {
        reason: reason.to_string(),
        message,
    }
}

/// `last-state.max.allowed.checkpoint.age`: a savepoint instead of an old checkpoint, for a
/// job that has run longer than the age.
fn max_age_rule(f: &JobFacts, op: &OperatorConfig) -> Option<UpgradeChoice> {
    let age = i64::try_from(op.last_state_max_checkpoint_age?.as_millis()).unwrap_or(i64::MAX);
    let started = f.job_start_ms.unwrap_or(f.now_ms);
    if f.now_ms.saturating_sub(started) <= age {
        return None;
    }
    let within = |t: Option<i64>| t.is_some_and(|t| f.now_ms.saturating_sub(t) <= age);
    if within(f.latest_checkpoint_ms) {
        return None;
    }
    if within(f.pending_checkpoint_ms) {
        return Some(UpgradeChoice::Wait {
            reason: "waiting for the checkpoint in progress: the last completed one is older than kubernetes.operator.job.upgrade.last-state.max.allowed.checkpoint.age".into(),
        });
    }
    Some(noted(
        SuspendMechanism::Savepoint,
        RestoreMode::Savepoint,
        "the latest checkpoint is older than kubernetes.operator.job.upgrade.last-state.max.allowed.checkpoint.age",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(mode: UpgradeMode, state: Option<FlinkJobState>) -> JobFacts {
        JobFacts {
            session_job: false,
            user_mode: mode,
            job_state: state,
            jm_ready: true,
            jm_missing_or_error: false,
            ha_enabled: true,
            ha_metadata: true,
            savepoint_dir_set: true,
            flink_version_changed: false,
            restore_path: None,
            job_start_ms: Some(0),
            latest_checkpoint_ms: Some(90_000),
            pending_checkpoint_ms: None,
            now_ms: 100_000,
            never_started: None,
            lost_jm_recorded_ha: false,
        }
    }

    #[test]
    fn table_of_reference_4_7() {
        let op = OperatorConfig::default();
        use FlinkJobState::*;
        use SuspendMechanism as S;
        let run = Some(Running);
        let cases: Vec<(JobFacts, Option<(S, RestoreMode)>)> = vec![
            (
                facts(UpgradeMode::Stateless, run),
                Some((S::Stateless, RestoreMode::Empty)),
            ),
            (
                facts(UpgradeMode::Stateless, Some(Failed)),
                Some((S::AlreadyStopped, RestoreMode::Empty)),
            ),
            (
                facts(UpgradeMode::Savepoint, run),
                Some((S::Savepoint, RestoreMode::Savepoint)),
            ),
            (
                facts(UpgradeMode::LastState, run),
                Some((S::KeepHaMetadata, RestoreMode::LastState)),
            ),
            (
                JobFacts {
                    ha_metadata: false,
                    ha_enabled: false,
                    ..facts(UpgradeMode::LastState, run)
                },
                Some((S::Cancel, RestoreMode::Savepoint)),
            ),
            (
                facts(UpgradeMode::Savepoint, Some(Restarting)),
                Some((S::KeepHaMetadata, RestoreMode::LastState)),
            ),
        ];
        for (f, want) in cases {
            let got = choose_upgrade(&f, &op);
            match (got.clone(), want) {
                (UpgradeChoice::Go { suspend, restore, .. }, Some(w)) => {
                    assert_eq!((suspend, restore), w, "{f:?}")
                }
                other => panic!("{f:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn savepoint_without_fallback_waits_and_missing_checkpoint_fails() {
        let op = OperatorConfig {
            last_state_fallback_enabled: false,
            ..OperatorConfig::default()
        };
        let f = facts(UpgradeMode::Savepoint, Some(FlinkJobState::Restarting));
        assert!(matches!(choose_upgrade(&f, &op), UpgradeChoice::Wait { .. }));
        let f = JobFacts {
            ha_metadata: false,
            ..facts(UpgradeMode::Savepoint, Some(FlinkJobState::Canceled))
        };
        assert!(matches!(choose_upgrade(&f, &op), UpgradeChoice::Fail { .. }));
    }

    #[test]
    fn old_checkpoint_means_savepoint_for_healthy_jobs() {
        let op = OperatorConfig {
            last_state_max_checkpoint_age: Some(std::time::Duration::from_secs(5)),
            ..OperatorConfig::default()
        };
        let f = facts(UpgradeMode::LastState, Some(FlinkJobState::Running));
        assert!(matches!(
            choose_upgrade(&f, &op),
            UpgradeChoice::Go {
                suspend: SuspendMechanism::Savepoint,
                ..
            }
        ));
        let fresh = JobFacts {
            latest_checkpoint_ms: Some(99_000),
            ..f.clone()
        };
        assert!(matches!(
            choose_upgrade(&fresh, &op),
            UpgradeChoice::Go {
                suspend: SuspendMechanism::KeepHaMetadata,
                ..
            }
        ));
        let pending = JobFacts {
            pending_checkpoint_ms: Some(99_500),
            ..f
        };
        assert!(matches!(
            choose_upgrade(&pending, &op),
            UpgradeChoice::Wait { .. }
        ));
    }

    #[test]
    fn classify_four_transitions() {
        let mut d = SpecDiff::default();
        assert_eq!(
            classify(Some(JobState::Running), Some(JobState::Running), &d),
            SpecChange::None
        );
        assert_eq!(
            classify(Some(JobState::Running), Some(JobState::Suspended), &d),
            SpecChange::Suspend
        );
        assert_eq!(
            classify(Some(JobState::Suspended), Some(JobState::Running), &d),
            SpecChange::Resume
        );
        assert_eq!(
            classify(Some(JobState::Suspended), Some(JobState::Suspended), &d),
            SpecChange::None
        );
        d.changes.push(super::super::diff::FieldChange {
            path: "image".into(),
            before: "a".into(),
            after: "b".into(),
            kind: DiffType::Upgrade,
        });
        assert_eq!(
            classify(Some(JobState::Running), Some(JobState::Running), &d),
            SpecChange::Upgrade(DiffType::Upgrade)
        );
        assert_eq!(
            classify(Some(JobState::Suspended), Some(JobState::Suspended), &d),
            SpecChange::SuspendedUpdate
        );
    }

    /// Only HA metadata holds the state and the new spec turns HA off: a lost JobManager is
    /// recovered with the recorded spec first; one in error, or a recorded spec without HA,
    /// still asks a person.
    #[test]
    fn turning_ha_off_with_the_jobmanager_gone() {
        let op = OperatorConfig::default();
        let mut f = facts(UpgradeMode::LastState, None);
        f.jm_ready = false;
        f.jm_missing_or_error = true;
        f.ha_enabled = false;
        f.lost_jm_recorded_ha = true;
        assert_eq!(
            choose_upgrade(&f, &op),
            UpgradeChoice::Go {
                suspend: SuspendMechanism::AlreadyStopped,
                restore: RestoreMode::LastState,
                note: Some(RECOVERS_WITH_HA_FIRST.to_string()),
            }
        );
        f.lost_jm_recorded_ha = false;
        assert!(
            matches!(choose_upgrade(&f, &op), UpgradeChoice::Fail { message, .. } if message == HA_TURNED_OFF)
        );
        f.ha_enabled = true;
        assert_eq!(
            choose_upgrade(&f, &op),
            UpgradeChoice::Go {
                suspend: SuspendMechanism::KeepHaMetadata,
                restore: RestoreMode::LastState,
                note: None,
            }
        );
    }
}
