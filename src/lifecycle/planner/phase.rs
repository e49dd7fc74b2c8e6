//! The lifecycle as one visible state machine: the phases a resource is in, read from its status
//! (the write-ahead log), and the transitions a single plan may take between them.
//!
//! Each phase has one handler (`Planner::handle`). A handler returns either the step to execute
//! next or a transition to another phase, after writing the status that puts the resource in
//! that phase. The driver (`Planner::run_phases`) checks every transition against [`TRANSITIONS`]
//! and against the status just written, and takes each transition at most once per plan: a plan
//! takes at most `TRANSITIONS.len()` transitions, so it cannot loop.

use crate::api::{JobState, ReconciliationState};
use serde::Serialize;

/// Where a resource is in its lifecycle. The seed's lifecycle states (`status.lifecycleState`)
/// are finer: they also say whether a running job is stable yet, and are derived from the phase
/// plus what is observed (`status::lifecycle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Nothing recorded yet (`CREATED`): the first deployment is planned from here.
    NotDeployed,
    /// The recorded spec runs (`DEPLOYED`, `STABLE`, `ROLLED_BACK`, `FAILED`): spec changes,
    /// recovery of a lost JobManager, restarts of failed or unhealthy jobs, rollbacks start here.
    Running,
    /// The old job is being stopped for an upgrade or suspend (`UPGRADING`, `SUSPENDING`): a
    /// stop-with-savepoint or a cancel is in flight, and what it leaves is recorded.
    Stopping,
    /// The old job is stopped and its state recorded (`UPGRADING`): the old cluster is deleted,
    /// then the new spec is deployed from that state.
    Restoring,
    /// The recorded spec is suspended (`SUSPENDED`): waiting for a resume or a savepoint redeploy.
    Suspended,
    /// An upgrade that did not become stable is being undone (`ROLLING_BACK`).
    RollingBack,
    /// The resource is being deleted (`DELETING`, `DELETED`).
    Deleting,
}

impl Phase {
    pub const ALL: [Phase; 7] = [
        Phase::NotDeployed,
        Phase::Running,
        Phase::Stopping,
        Phase::Restoring,
        Phase::Suspended,
        Phase::RollingBack,
        Phase::Deleting,
    ];

    /// The phase a status puts a resource in: `recorded_state` is the job state of the recorded
    /// spec (`None` when nothing is recorded, `Some(None)` for a spec without a job).
    pub fn of(
        deleting: bool,
        recorded_state: Option<Option<JobState>>,
        reconciliation: Option<ReconciliationState>,
    ) -> Phase {
        if deleting {
            return Phase::Deleting;
        }
        let Some(recorded_state) = recorded_state else {
            return Phase::NotDeployed;
        };
        match reconciliation {
            Some(ReconciliationState::RollingBack) => Phase::RollingBack,
            Some(ReconciliationState::Upgrading) => {
                if recorded_state.is_none_or(|s| s == JobState::Suspended) {
                    Phase::Restoring
                } else {
                    Phase::Stopping
                }
            }
            _ if recorded_state == Some(JobState::Suspended) => Phase::Suspended,
            _ => Phase::Running,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::NotDeployed => "not deployed",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
            Phase::Restoring => "restoring",
            Phase::Suspended => "suspended",
            Phase::RollingBack => "rolling back",
            Phase::Deleting => "deleting",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A transition one plan may take, and why.
#[derive(Clone, Copy, Debug)]
pub struct Transition {
    pub from: Phase,
    pub to: Phase,
    pub when: &'static str,
}

const fn t(from: Phase, to: Phase, when: &'static str) -> Transition {
    Transition { from, to, when }
}

/// Every transition within one plan. A phase change across plans (the step executed, then the
/// status read again) needs no entry: each plan starts in the phase its status reads as.
pub const TRANSITIONS: &[Transition] = &[
    t(
        Phase::NotDeployed,
        Phase::Restoring,
        "first deployment: the spec is recorded, then deployed",
    ),
    t(
        Phase::Running,
        Phase::Restoring,
        "the job is already stopped, a session cluster changed, or a lost JobManager, a failed or an unhealthy job is redeployed",
    ),
    t(
        Phase::Running,
        Phase::Suspended,
        "a suspend of a job that is already stopped",
    ),
    t(
        Phase::Running,
        Phase::RollingBack,
        "an upgrade not stable within the readiness timeout, or a lost JobManager of a rolled-back spec",
    ),
    t(
        Phase::Stopping,
        Phase::Running,
        "the JobManager vanished mid-stop, the job was found rewound by a JobManager restart, or a stateful mode was chosen before a stateless cancel took effect: re-planned from running",
    ),
    t(
        Phase::Stopping,
        Phase::Restoring,
        "the old job stopped and its state is recorded: deploy the new spec",
    ),
    t(
        Phase::Stopping,
        Phase::Suspended,
        "the old job stopped for a suspend and its state is recorded",
    ),
    t(
        Phase::Restoring,
        Phase::Running,
        "the new deployment is observed, or a stateless restart was taken back before the job stopped",
    ),
    t(
        Phase::Restoring,
        Phase::Suspended,
        "suspended again before the restore started",
    ),
    t(
        Phase::Suspended,
        Phase::Restoring,
        "resume, or a savepoint redeploy, of the suspended job",
    ),
    t(
        Phase::RollingBack,
        Phase::Restoring,
        "the spec changed during the rollback: the new spec is applied instead",
    ),
    t(
        Phase::RollingBack,
        Phase::Running,
        "the rolled-back deployment is observed",
    ),
];

/// Whether one plan may go from `from` to `to`.
pub fn allowed(from: Phase, to: Phase) -> bool {
    TRANSITIONS.iter().any(|t| t.from == from && t.to == to)
}

/// What a phase's handler decided: the step to execute, or the phase the status now reads as.
#[derive(Debug)]
pub(super) enum Next {
    Step(super::Step),
    Enter(Phase),
}

impl From<super::Step> for Next {
    fn from(step: super::Step) -> Self {
        Next::Step(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_phase_is_reachable_and_every_transition_is_unique() {
        let mut seen = BTreeSet::new();
        for tr in TRANSITIONS {
            assert_ne!(tr.from, tr.to, "a phase does not transition to itself: {tr:?}");
            assert!(seen.insert((tr.from, tr.to)), "duplicate transition {tr:?}");
        }
        for phase in Phase::ALL {
            let entered = TRANSITIONS.iter().any(|t| t.to == phase);
            // A plan starts in these: nothing enters them within one. (Stopping begins with
            // the stop step, which is executed before the next plan reads the phase.)
            assert_eq!(
                entered,
                !matches!(phase, Phase::NotDeployed | Phase::Deleting | Phase::Stopping),
                "{phase}"
            );
        }
        // Deleting ends the lifecycle: nothing leaves it within a plan.
        assert!(TRANSITIONS.iter().all(|t| t.from != Phase::Deleting));
    }

    #[test]
    fn the_status_reads_as_each_phase() {
        use JobState::*;
        use ReconciliationState::*;
        let cases = [
            (false, None, None, Phase::NotDeployed),
            (false, Some(Some(Running)), Some(Deployed), Phase::Running),
            (false, Some(Some(Running)), Some(RolledBack), Phase::Running),
            (false, Some(None), Some(Deployed), Phase::Running),
            (false, Some(Some(Running)), Some(Upgrading), Phase::Stopping),
            (false, Some(Some(Suspended)), Some(Upgrading), Phase::Restoring),
            (false, Some(None), Some(Upgrading), Phase::Restoring),
            (false, Some(Some(Suspended)), Some(Deployed), Phase::Suspended),
            (false, Some(Some(Running)), Some(RollingBack), Phase::RollingBack),
            (true, Some(Some(Running)), Some(Upgrading), Phase::Deleting),
        ];
        for (deleting, recorded, recon, phase) in cases {
            assert_eq!(
                Phase::of(deleting, recorded, recon),
                phase,
                "{recorded:?} {recon:?}"
            );
        }
    }
}
