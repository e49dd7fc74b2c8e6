//! The running phase: what a spec change does to a running job (upgrade, suspend, redeploy) and the
//! changes that need no restart.

use super::*;
use crate::lifecycle::diff::DiffType;
use crate::lifecycle::observation::JobManagerObservation;

impl Planner<'_> {
    pub(super) fn running_phase(&mut self, recorded: &(AnySpec, ResourceMetadata)) -> Next {
        let (rec, _) = recorded;
        if let Some(checkpoint) = self.rewound.clone()
            && let Some(next) = self.rewound_job(rec, &checkpoint)
        {
            return next;
        }
        self.observe_jobmanager();
        if self.kind == Kind::SessionJob && !self.obs.session_cluster_ready {
            return Step::Wait {
                reason: "waiting for the session cluster to be ready".into(),
            }
            .into();
        }
        let savepoint_pending = self.pending_savepoint(rec);
        let diff = rec.diff(&self.spec);
        let mut change = classify(rec.desired_state(), self.spec.desired_state(), &diff);
        if change == SpecChange::SavepointRedeploy && self.desired_state() == JobState::Suspended {
            // Suspended with its state kept, as any suspend: the redeploy waits for the resume,
            // and if it is taken back by then the job resumes from its own state.
            change = SpecChange::Suspend;
        }
        match change {
            SpecChange::Upgrade(_) | SpecChange::Suspend | SpecChange::SavepointRedeploy => {
                if self.core.recon.state == Some(ReconciliationState::RolledBack)
                    && self
                        .stable_spec()
                        .is_some_and(|s| s.diff(&self.spec).kind() < DiffType::Scale)
                {
                    // The user reverted to the spec that runs since the rollback.
                    self.core.recon.last_reconciled_spec = self.core.recon.last_stable_spec.clone();
                    self.core.recon.state = Some(ReconciliationState::Deployed);
                    self.core.observed_generation = Some(self.generation);
                    self.why("the spec was reverted to the rolled-back (stable) spec: nothing to restart");
                    return Step::NoOp.into();
                }
                if savepoint_pending && !self.op().ignore_pending_savepoint {
                    return Step::Wait {
                        reason: "a savepoint is in progress; the upgrade starts after it".into(),
                    }
                    .into();
                }
                self.event(
                    EventType::Normal,
                    "SpecChanged",
                    format!(
                        "{} change(s) detected (Diff: {}[{}]), starting reconciliation.",
                        diff.kind(),
                        self.spec.kind_name(),
                        diff.summary(DiffType::Scale)
                    ),
                );
                self.start_change(change, rec)
            }
            _ => {
                self.core.observed_generation = Some(self.generation);
                self.other_changes(rec, savepoint_pending)
            }
        }
    }

    pub(super) fn job_facts(&self, rec: &AnySpec) -> JobFacts {
        let state = self.obs.job.as_ref().map(|j| j.state).or(match self.kind {
            Kind::SessionJob => None,
            _ => self.job_state().filter(|s| *s != FlinkJobState::Reconciling),
        });
        let terminal = state.is_some_and(FlinkJobState::is_globally_terminal);
        let restore_path = if terminal {
            self.stopped_job_state()
        } else if self.kind == Kind::SessionJob && state.is_none() {
            // Gone from its session cluster (a JobManager restart without HA loses every job):
            // the path it started from is its state only if it never checkpointed past it.
            let started_from = self.core.job.upgrade_savepoint_path.clone();
            let checkpointed_past = self
                .core
                .job
                .job_id
                .as_deref()
                .and_then(|id| self.recorded_checkpoint_of(id))
                .is_some_and(|cp| Some(&cp) != started_from.as_ref());
            self.obs
                .latest_checkpoint
                .as_ref()
                .map(|c| c.path.clone())
                .or(if checkpointed_past { None } else { started_from })
        } else {
            self.core.job.upgrade_savepoint_path.clone()
        };
        JobFacts {
            session_job: self.kind == Kind::SessionJob,
            user_mode: self.user_mode(),
            job_state: state,
            jm_ready: self.kind == Kind::SessionJob || self.obs.jobmanager.is_ready(),
            jm_missing_or_error: matches!(
                self.obs.jobmanager.status(),
                JobManagerDeploymentStatus::Missing | JobManagerDeploymentStatus::Error
            ),
            ha_enabled: self.ha_enabled(),
            ha_metadata: self.kind != Kind::SessionJob && self.obs.ha_metadata_present,
            savepoint_dir_set: self.savepoint_dir().is_some(),
            flink_version_changed: rec.flink_version() != self.spec.flink_version(),
            restore_path,
            job_start_ms: self.obs.job.as_ref().and_then(|j| j.start_time_ms),
            latest_checkpoint_ms: self.obs.latest_checkpoint.as_ref().map(|c| c.time_ms),
            pending_checkpoint_ms: self.obs.checkpoint_in_progress_since,
            now_ms: self.now(),
            never_started: self.never_started(rec),
            lost_jm_recorded_ha: self.kind == Kind::Application
                && self.obs.jobmanager.status() == JobManagerDeploymentStatus::Missing
                && self.recorded_ha_enabled(rec),
        }
    }

    /// Rolls back to the last stable spec. The restore is decided now, while the failed
    /// deployment can still be observed; the rollback records it as the spec's mode (reference
    /// §4.8.6).
    fn start_rollback(&mut self, rec: &AnySpec) -> Next {
        let mode = self.rollback_restore(rec);
        self.set_recorded(&rec.with_job(None, mode), false);
        self.core.recon.state = Some(ReconciliationState::RollingBack);
        self.event(EventType::Warning, "Rollback", "Rolling back failed deployment.");
        self.why(format!(
            "not stable within kubernetes.operator.deployment.readiness.timeout ({}): rolling back to the last stable spec",
            crate::config::format_flink_duration(self.op().readiness_timeout)
        ));
        if self.has_cluster() {
            self.core.jm = Some(self.obs.jobmanager.status());
        }
        Next::Enter(Phase::RollingBack)
    }

    /// A deployed job that FAILED holding no state of its own: Flink's statistics say its
    /// newest snapshot is the one it was started from, or none (its `main()` threw, or it failed
    /// before its first checkpoint).
    fn failed_without_state_of_its_own(&self) -> bool {
        let Some(job) = self.obs.job.as_ref() else {
            return false;
        };
        if job.state != FlinkJobState::Failed || !self.obs.checkpoint_statistics_read {
            return false;
        }
        match (&self.obs.latest_checkpoint, &self.obs.restored_checkpoint) {
            (None, _) => true,
            (Some(latest), Some(restored)) => latest.path == restored.path,
            (Some(_), None) => false,
        }
    }

    pub(super) fn never_started(&self, rec: &AnySpec) -> Option<RestoreMode> {
        let starting = matches!(
            self.obs.jobmanager.status(),
            JobManagerDeploymentStatus::Error | JobManagerDeploymentStatus::Deploying
        );
        let no_job_seen = self.core.job.start_time.is_none()
            && self.obs.job.is_none()
            && self.job_state().is_none_or(|s| s == FlinkJobState::Reconciling);
        let held_nothing = (starting && no_job_seen) || self.failed_without_state_of_its_own();
        if self.kind != Kind::Application || !held_nothing {
            return None;
        }
        match rec.job().map(|j| j.upgrade_mode()) {
            Some(UpgradeMode::Savepoint) => Some(RestoreMode::Savepoint),
            Some(UpgradeMode::Stateless) => Some(RestoreMode::Empty),
            _ => None,
        }
    }

    pub(super) fn start_change(&mut self, change: SpecChange, rec: &AnySpec) -> Next {
        if change != SpecChange::Suspend
            && let Some(refusal) = self.obs.cluster_refused.clone()
        {
            // Stopping the job now would leave it stopped: the new cluster cannot be created.
            return self.fail(
                "UpgradeRefused",
                format!(
                    "The API server refuses the cluster the new spec renders to (dry run): {refusal}. The running job was not stopped; change the spec, or the policy that refuses it, and the upgrade proceeds."
                ),
            );
        }
        if self.kind == Kind::SessionCluster {
            let rec = self.spec.normalized();
            self.set_recorded(&rec, false);
            self.core.recon.state = Some(ReconciliationState::Upgrading);
            self.purpose = Some(DeployPurpose::Upgrade);
            self.why("session cluster spec changed: the JobManager is redeployed (HA metadata kept)");
            return Next::Enter(Phase::Restoring);
        }
        if change == SpecChange::SavepointRedeploy {
            let path = match self.take_redeploy_path() {
                Ok(p) => p,
                Err(step) => return step.into(),
            };
            self.why(format!("savepoint redeploy from {path}"));
            let running = self
                .obs
                .job
                .as_ref()
                .is_some_and(|j| !j.state.is_globally_terminal());
            if self.kind == Kind::SessionJob && running {
                return self.start_cancel(rec, RestoreMode::Savepoint).into();
            }
            return self.finish_suspend(rec, RestoreMode::Savepoint);
        }
        let facts = self.job_facts(rec);
        let choice = match choose_upgrade(&facts, self.op()) {
            UpgradeChoice::Fail { .. }
                if facts.job_state.is_some_and(FlinkJobState::is_globally_terminal)
                    && facts.restore_path.is_none()
                    && self.stopped_job_state_unread() =>
            {
                UpgradeChoice::Wait {
                    reason: "waiting for the REST API to read the stopped job's last checkpoint".into(),
                }
            }
            // The suspend cannot take the job's state, but a person named the snapshot to resume
            // from (a savepoint redeploy asked for with the suspend, carried out at the resume):
            // the job's own state is no longer needed. This is the way out that a
            // "Manual restore required" message names.
            // The named snapshot is recorded as the one to resume from: were the redeploy taken
            // back before the resume, the job would still not start empty or from an older path.
            UpgradeChoice::Fail { .. }
                if change == SpecChange::Suspend && self.redeploy_waits_for_resume(rec) =>
            {
                self.core.job.upgrade_savepoint_path = self.redeploy_path();
                UpgradeChoice::Go {
                    suspend: SuspendMechanism::Stateless,
                    restore: RestoreMode::Savepoint,
                    note: None,
                }
            }
            choice => choice,
        };
        let words = if change == SpecChange::Suspend {
            describe_suspend(&choice, &facts)
        } else {
            describe_upgrade(&choice, &facts)
        };
        self.why(words);
        if let UpgradeChoice::Go { suspend, restore, .. } = &choice {
            let reads_stopped_job = (*suspend == SuspendMechanism::AlreadyStopped
                && *restore == RestoreMode::Savepoint)
                || (*restore == RestoreMode::Empty && facts.job_state == Some(FlinkJobState::Failed));
            if reads_stopped_job && let Some(wait) = self.checkpoint_stats_pending() {
                return wait.into();
            }
        }
        match choice {
            UpgradeChoice::Go { suspend, .. }
                if suspend == SuspendMechanism::Savepoint && self.tasks_settling() =>
            {
                Step::Wait {
                    reason: "waiting for every task of the job to run: Flink refuses a savepoint before"
                        .into(),
                }
                .into()
            }
            UpgradeChoice::Go { suspend, restore, .. } => {
                if suspend != SuspendMechanism::AlreadyStopped {
                    self.event(EventType::Normal, "Suspended", "Suspending existing deployment.");
                }
                if self.desired_state() == JobState::Running {
                    self.purpose = Some(DeployPurpose::Upgrade);
                }
                // A failed job keeps its checkpoints: remember the newest, so a turn back to a
                // stateful mode before the new job starts can still use it.
                if restore == RestoreMode::Empty
                    && facts.job_state == Some(FlinkJobState::Failed)
                    && facts.restore_path.is_some()
                {
                    self.core.job.upgrade_savepoint_path = facts.restore_path.clone();
                }
                match suspend {
                    SuspendMechanism::AlreadyStopped => {
                        if restore == RestoreMode::Savepoint {
                            self.core.job.upgrade_savepoint_path = facts.restore_path;
                        }
                        self.finish_suspend(rec, restore)
                    }
                    SuspendMechanism::Stateless if self.kind == Kind::SessionJob => {
                        self.start_cancel(rec, restore).into()
                    }
                    // Cancel first while the old spec is still recorded: if the user turns to a
                    // stateful mode before the cancel happened, the upgrade is re-planned
                    // instead of discarding the state (the reference deletes at once).
                    SuspendMechanism::Stateless
                        if self.obs.jobmanager.is_ready()
                            && self
                                .obs
                                .job
                                .as_ref()
                                .is_some_and(|j| !j.state.is_globally_terminal()) =>
                    {
                        self.start_cancel(rec, restore).into()
                    }
                    SuspendMechanism::Stateless | SuspendMechanism::KeepHaMetadata => {
                        self.finish_suspend(rec, restore)
                    }
                    SuspendMechanism::Cancel => self.start_cancel(rec, restore).into(),
                    SuspendMechanism::Savepoint => {
                        let mut stopping = rec.with_job(None, Some(UpgradeMode::Savepoint));
                        if let Some(job) = stopping.job_mut() {
                            job.state = Some(JobState::Running);
                        }
                        self.set_recorded(&stopping, false);
                        self.core.recon.state = Some(ReconciliationState::Upgrading);
                        let now = self.now();
                        let info = self.core.savepoint_info();
                        info.trigger_type = Some(SnapshotTriggerType::Upgrade);
                        info.trigger_timestamp = Some(now);
                        info.trigger_id = None;
                        self.in_progress = Some("Stopping the job with a savepoint".into());
                        self.stop_step().into()
                    }
                }
            }
            UpgradeChoice::Wait { reason } => Step::Wait { reason }.into(),
            UpgradeChoice::Fail { reason, message } => self.fail(&reason, message),
        }
    }

    /// A savepoint redeploy (with a path) asked for together with a suspend: the resume carries
    /// it out.
    pub(super) fn redeploy_waits_for_resume(&self, rec: &AnySpec) -> bool {
        self.desired_state() == JobState::Suspended
            && rec.diff(&self.spec).kind() == DiffType::SavepointRedeploy
            && self.redeploy_path().is_some()
    }

    pub(super) fn redeploy_path(&self) -> Option<String> {
        self.spec
            .job()
            .and_then(|j| j.initial_savepoint_path.clone())
            .filter(|p| !p.trim().is_empty())
    }

    pub(super) fn start_cancel(&mut self, rec: &AnySpec, restore: RestoreMode) -> Step {
        let mut cancelling = rec.with_job(None, Some(restore.recorded()));
        if let Some(job) = cancelling.job_mut() {
            job.state = Some(JobState::Running);
        }
        self.set_recorded(&cancelling, false);
        self.core.recon.state = Some(ReconciliationState::Upgrading);
        self.core.clear_trigger();
        self.core.job.state = Some(FlinkJobState::Cancelling);
        self.in_progress = Some("Cancelling the job".into());
        match self.observed_job_id() {
            Some(id) => Step::CancelJob { job_id: id },
            None => Step::Wait {
                reason: "job id unknown".into(),
            },
        }
    }

    pub(super) fn other_changes(&mut self, rec: &AnySpec, savepoint_pending: bool) -> Next {
        let state = self.job_state();
        let terminal = state.is_some_and(FlinkJobState::is_globally_terminal);
        if self.jobmanager_lost() {
            if self.kind == Kind::SessionCluster || !terminal {
                if self.op().jm_deployment_recovery_enabled {
                    return self.recover(rec);
                }
                self.core.error = Some(error_json("Missing", "Missing JobManager deployment"));
                self.why("the JobManager deployment is missing and recovery is disabled (kubernetes.operator.jm-deployment-recovery.enabled)");
                return Step::NoOp.into();
            }
            if state == Some(FlinkJobState::Failed) && self.op().job_restart_failed {
                return self.restart_failed();
            }
            self.why("the job reached a terminal state and its JobManager is gone");
            return Step::NoOp.into();
        }
        if self.kind == Kind::SessionJob && self.obs.job.is_none() && self.obs.rest_reachable {
            if self.user_mode() == UpgradeMode::Stateless {
                self.why("the job is not found on the session cluster: resubmitting (stateless)");
                self.core.job.job_id = None;
                return self.enter_restore(RestoreMode::Empty, DeployPurpose::RecoverDeployment);
            }
            self.core.job.state = Some(FlinkJobState::Reconciling);
            return self.fail(
                "Missing",
                "Job Not Found: the job is no longer on the session cluster (its JobManager restarted without HA, or the job was cancelled outside the operator). Manual restore required.",
            );
        }
        if self.kind == Kind::Application
            && state == Some(FlinkJobState::Failed)
            && !self.op().job_restart_failed
            && self.should_roll_back(rec)
        {
            // A new spec whose job failed before it held state of its own (main() threw, or
            // it failed before its first checkpoint) is an upgrade that did not become stable.
            // With job.restart.failed on, the restart comes first (the failure may pass).
            return self.start_rollback(rec);
        }
        if self.kind == Kind::Application && state == Some(FlinkJobState::Failed) {
            if self.op().job_restart_failed {
                return self.restart_failed();
            }
            self.why("the job FAILED (kubernetes.operator.job.restart.failed is off)");
            return Step::NoOp.into();
        }
        if let Some(step) = self.manual_savepoint(rec, savepoint_pending) {
            return step.into();
        }
        let checkpoint_pending = self.pending_checkpoint(rec);
        if let Some(step) = self.manual_checkpoint(rec, checkpoint_pending) {
            return step.into();
        }
        if self.kind == Kind::Application
            && self.op().health_check_enabled
            && let Some(step) = self.health_check()
        {
            return step;
        }
        let healthy = match self.kind {
            Kind::SessionCluster => self.obs.jobmanager.is_ready(),
            _ => {
                (state == Some(FlinkJobState::Running) && !self.tasks_settling())
                    || (state == Some(FlinkJobState::Finished) && self.desired_state() == JobState::Running)
            }
        };
        // A deployment healthy now is stable, however late it got there: the reference's observer
        // marks it stable before the reconciler looks at the readiness timeout.
        if self.kind == Kind::Application && !healthy && self.should_roll_back(rec) {
            return self.start_rollback(rec);
        }
        let jm_error = self.core.jm == Some(JobManagerDeploymentStatus::Error);
        if jm_error && let JobManagerObservation::Error { message, .. } = &self.obs.jobmanager {
            self.core.error = Some(error_json("DeploymentFailed", message));
        }
        if self.core.recon.state == Some(ReconciliationState::Deployed)
            && healthy
            && !self.core.recon.is_stable()
        {
            self.mark_stable();
            self.core.error = None;
            self.why("the job runs with the deployed spec: marked stable");
            return Step::MarkStable.into();
        }
        if healthy && !jm_error && self.core.recon.is_stable() {
            self.core.error = None;
            // Housekeeping only once the deployed spec is stable: done earlier, it could starve
            // the marking (a due savepoint every loop).
            if let Some(step) = self.periodic_savepoint(savepoint_pending) {
                return step.into();
            }
            if let Some(step) = self.retire_savepoint(savepoint_pending) {
                return step.into();
            }
            if let Some(step) = self.periodic_checkpoint(checkpoint_pending) {
                return step.into();
            }
        }
        if savepoint_pending {
            return Step::Wait {
                reason: "savepoint in progress".into(),
            }
            .into();
        }
        Step::NoOp.into()
    }
}
