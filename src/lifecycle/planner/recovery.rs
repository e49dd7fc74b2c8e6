//! Recovery of a running resource: a lost JobManager Deployment, a failed job, an unhealthy cluster,
//! and the rollback of an upgrade that did not become stable.

use super::*;
use crate::lifecycle::decide::JM_MISSING_NO_HA;
use crate::lifecycle::diff::DiffType;

impl Planner<'_> {
    pub(super) fn recover(&mut self, rec: &AnySpec) -> Next {
        if self.kind == Kind::SessionCluster {
            self.event(
                EventType::Warning,
                "RecoverDeployment",
                "Recovering lost deployment",
            );
            let rec = self.spec.normalized();
            self.set_recorded(&rec, false);
            self.core.recon.state = Some(ReconciliationState::Upgrading);
            self.purpose = Some(DeployPurpose::RecoverDeployment);
            return Next::Enter(Phase::Restoring);
        }
        if rec.flink_version().is_some_and(|v| v < FlinkVersion::v1_15) && !self.obs.ha_metadata_present {
            return self.fail(
                "RecoverDeployment",
                "JobManager deployment is missing and the job's final state cannot be known: Flink versions before 1.15 remove the cluster when a job finishes, fails or is stopped with a savepoint. No recovery is performed to avoid data loss. Manual restore required.",
            );
        }
        let restore = if self.ha_enabled() {
            RestoreMode::LastState
        } else if self.user_mode() == UpgradeMode::Stateless {
            RestoreMode::Empty
        } else {
            return self.fail("RecoverDeployment", JM_MISSING_NO_HA);
        };
        if self.core.recon.state == Some(ReconciliationState::RolledBack) {
            // The stable spec is what ran, so it is what is redeployed, but from the recovery's
            // state, not the rollback's: the rolled-back job may have checkpointed since it
            // started from the upgrade's savepoint.
            let mode = match restore {
                RestoreMode::LastState => UpgradeMode::LastState,
                _ => UpgradeMode::Stateless,
            };
            self.set_recorded(&rec.with_job(None, Some(mode)), false);
            self.core.recon.state = Some(ReconciliationState::RollingBack);
            self.event(
                EventType::Warning,
                "RecoverDeployment",
                "Recovering lost deployment",
            );
            self.why("the JobManager deployment of the rolled-back spec is missing: redeploying that spec");
            return Next::Enter(Phase::RollingBack);
        }
        self.event(
            EventType::Warning,
            "RecoverDeployment",
            "Recovering lost deployment",
        );
        self.why(format!(
            "the JobManager deployment is missing: recovering it from {}",
            if restore == RestoreMode::LastState {
                "HA metadata"
            } else {
                "empty state (stateless)"
            }
        ));
        self.enter_restore(restore, DeployPurpose::RecoverDeployment)
    }

    /// The job was resubmitted by a JobManager that restarted without its checkpoints (no HA)
    /// and did not restore the newest one recorded for it: its state went back. An upgrade from
    /// its savepoint, a suspend or marking it stable would make that rewind permanent without a
    /// person, so the operator stops, names the checkpoint, and takes the savepoint redeploy the
    /// message asks for. `None`: the redeploy asked for is planned as any running job's.
    pub(super) fn rewound_job(&mut self, recorded: &AnySpec, checkpoint: &str) -> Option<Next> {
        if recorded.desired_state() != Some(JobState::Running) {
            return None;
        }
        if self.redeploy_asked_since(recorded) {
            self.why("the JobManager restarted and the job lost its state; the savepoint redeploy a person asked for restores it");
            return None;
        }
        // Asked for with a suspend: the rewound state is not kept; the resume starts from the
        // snapshot the person named.
        if self.redeploy_waits_for_resume(recorded)
            && let Some(next) = self.finish_with_named_snapshot(recorded)
        {
            return Some(next);
        }
        let id = self.core.job.job_id.clone().unwrap_or_default();
        let step: Step = self.fail(
            "JobRewound",
            format!(
                "The JobManager restarted without HA and Flink resubmitted job {id} from the state it was deployed with: it does not hold the state of its newest recorded checkpoint {checkpoint}. The rewound job is cancelled: under the same job id its checkpoint ids start again from 1, so its checkpoints would overwrite and then discard the recorded one. Manual restore required."
            ),
        );
        Some(Next::Step(
            match self.obs.job.as_ref().filter(|j| !j.state.is_globally_terminal()) {
                Some(job) => {
                    self.core.job.state = Some(FlinkJobState::Cancelling);
                    Step::CancelJob {
                        job_id: job.id.clone(),
                    }
                }
                None => step,
            },
        ))
    }

    pub(super) fn restart_failed(&mut self) -> Next {
        if let Some(wait) = self.checkpoint_stats_pending() {
            return wait.into();
        }
        let retained = self.stopped_job_state().filter(|p| restorable(p));
        let restore = if self.user_mode() == UpgradeMode::Stateless {
            // Kept even so: if the user turns to a stateful mode before the restart, the
            // failed job's retained checkpoint is used (see `retained_state_wins`).
            if retained.is_some() {
                self.core.job.upgrade_savepoint_path = retained;
            }
            RestoreMode::Empty
        } else {
            match retained {
                Some(p) => {
                    self.core.job.upgrade_savepoint_path = Some(p);
                    RestoreMode::Savepoint
                }
                None if self.stopped_job_state_unread() => {
                    return Step::Wait {
                        reason: "waiting for the REST API to read the failed job's last checkpoint".into(),
                    }
                    .into();
                }
                None => {
                    return self.fail(
                        "RestoreFailed",
                        "The job FAILED and no completed checkpoint or savepoint is known to restart it from. Manual restore required.",
                    );
                }
            }
        };
        self.core.error = None;
        self.event(
            EventType::Normal,
            "RestartFailedJob",
            format!(
                "Restarting the failed job from {}",
                self.core
                    .job
                    .upgrade_savepoint_path
                    .clone()
                    .filter(|_| restore == RestoreMode::Savepoint)
                    .unwrap_or_else(|| "empty state".into())
            ),
        );
        self.why("the job FAILED and kubernetes.operator.job.restart.failed is on: restarting it from its latest checkpoint");
        self.enter_restore(restore, DeployPurpose::RestartFailedJob)
    }

    pub(super) fn health_check(&mut self) -> Option<Next> {
        let counters = self.obs.counters?;
        let state = self.job_state()?;
        if state.is_globally_terminal() || state == FlinkJobState::Reconciling {
            return None;
        }
        let previous = self
            .core
            .cluster_info
            .as_ref()
            .and_then(|m| m.get(health::HEALTH_INFO_KEY).cloned());
        let (info, problem) =
            health::evaluate(previous.as_deref(), counters, self.op(), self.conf(), self.now());
        self.core
            .cluster_info
            .get_or_insert_with(Default::default)
            .insert(
                health::HEALTH_INFO_KEY.into(),
                serde_json::to_string(&info).unwrap_or_default(),
            );
        let cause = problem?;
        let restore = if self.user_mode() == UpgradeMode::Stateless {
            RestoreMode::Empty
        } else if self.ha_enabled() && self.obs.ha_metadata_present {
            RestoreMode::LastState
        } else {
            self.why(format!("unhealthy ({cause}) but no HA metadata to restart from"));
            return None;
        };
        self.event(EventType::Warning, "RestartUnhealthyJob", cause.clone());
        self.why(format!("unhealthy: {cause}; restarting the cluster"));
        Some(self.enter_restore(restore, DeployPurpose::RestartUnhealthyJob))
    }

    pub(super) fn should_roll_back(&self, rec: &AnySpec) -> bool {
        let op = self.op();
        if !op.rollback_enabled
            || self.core.recon.state != Some(ReconciliationState::Deployed)
            || self.core.recon.is_stable()
        {
            return false;
        }
        let Some(stable) = self.stable_spec() else {
            return false;
        };
        // Rolling back to what is deployed would only restart the job (a recovered or restarted
        // cluster records its restore in the spec, so the texts differ while the specs do not).
        if stable.desired_state() == Some(JobState::Suspended)
            || stable.flink_version() != rec.flink_version()
            || stable.diff(rec).kind() == DiffType::Ignore
        {
            return false;
        }
        let since = self.core.recon.reconciliation_timestamp.unwrap_or(self.now());
        self.now() - since > duration_ms(op.readiness_timeout) && self.rollback_restore(rec).is_some()
    }

    /// What a rollback would restore, if anything can be restored without losing state: HA
    /// metadata, into a stable spec with HA; for a stateless job, nothing; without HA, the
    /// upgrade's savepoint, but only while the new job never started (it has no newer state of
    /// its own; reference FLINK-32012).
    pub(super) fn rollback_restore(&self, rec: &AnySpec) -> Option<UpgradeMode> {
        let upgrade_savepoint = self.recorded_restore_path().is_some();
        match rec.job().map(|j| j.upgrade_mode()) {
            Some(UpgradeMode::Stateless) => Some(UpgradeMode::Stateless),
            // Only a cluster with HA reads HA metadata: a stable spec without HA (the upgrade
            // turned HA on) would start the job empty.
            _ if self.obs.ha_metadata_present
                && self.stable_spec().is_some_and(|s| self.recorded_ha_enabled(&s)) =>
            {
                Some(UpgradeMode::LastState)
            }
            _ if upgrade_savepoint && self.never_started(rec) == Some(RestoreMode::Savepoint) => {
                Some(UpgradeMode::Savepoint)
            }
            _ => None,
        }
    }
}
