//! Deploying: the first deployment, and the restoring phase of every upgrade, resume, recovery and
//! rollback (delete the old JobManager, then deploy from the recorded state).

use super::*;
use crate::lifecycle::diff::DiffType;

impl Planner<'_> {
    pub(super) fn first_deploy(&mut self) -> Next {
        if self.has_cluster() {
            self.core.jm = Some(self.obs.jobmanager.status());
        }
        if self.desired_state() == JobState::Suspended && self.kind != Kind::SessionCluster {
            // This generation is looked at and is as asked: say so (kubectl wait, Argo CD).
            self.core.observed_generation = Some(self.generation);
            self.why("the job is created suspended: nothing is deployed until it is set to running");
            return Step::NoOp.into();
        }
        let (mode, path) = self.first_restore();
        self.core.job.upgrade_savepoint_path = path;
        let rec = self
            .spec
            .with_job(Some(JobState::Suspended), mode.map(RestoreMode::recorded));
        self.set_recorded(&rec, true);
        self.core.recon.state = Some(ReconciliationState::Upgrading);
        self.purpose = Some(DeployPurpose::FirstDeployment);
        self.why("first deployment");
        Next::Enter(Phase::Restoring)
    }

    /// First deployment: from `initialSavepointPath` if given, else empty.
    pub(super) fn first_restore(&self) -> (Option<RestoreMode>, Option<String>) {
        let Some(job) = self.spec.job() else {
            return (None, None);
        };
        match job
            .initial_savepoint_path
            .as_deref()
            .filter(|p| !p.trim().is_empty())
        {
            Some(p) => (Some(RestoreMode::Savepoint), Some(p.to_string())),
            None => (Some(RestoreMode::Empty), None),
        }
    }

    pub(super) fn deployed_detected(&self) -> bool {
        match self.kind {
            Kind::SessionJob => match (&self.core.job.job_id, &self.obs.job) {
                (Some(id), Some(job)) => {
                    *id == job.id && !matches!(job.state, FlinkJobState::Cancelling | FlinkJobState::Canceled)
                }
                _ => false,
            },
            _ => {
                !self.obs.jobmanager.is_missing()
                    && self.core.jm == Some(JobManagerDeploymentStatus::Missing)
                    && self.obs.jobmanager.generation().is_some()
                    && self.obs.jobmanager.generation() == self.core.observed_generation
            }
        }
    }

    pub(super) fn restore_phase(&mut self) -> Next {
        let Ok(Some((recorded, meta))) = self.recorded() else {
            return self.fail("InvalidStatus", "restore without a recorded spec");
        };
        let rolling_back = self.core.recon.state == Some(ReconciliationState::RollingBack);
        if rolling_back {
            let changed = recorded.diff(&self.spec).kind() >= DiffType::Scale;
            // A user change during a rollback wins (reference §4.8.6), until the rollback's own
            // deployment exists: that cluster is then recorded as rolled back, and its job, which
            // may already run from the restored state, is upgraded to the new spec as any running
            // job is. Taken as the new spec's deployment, it would leave the change undone.
            if changed && !self.deployed_detected() {
                let mut mode = recorded.job().map(|j| j.upgrade_mode()).unwrap_or_default();
                if recorded.diff(&self.spec).kind() == DiffType::SavepointRedeploy {
                    // The snapshot a redeploy names (the way out of a rollback that cannot
                    // restore) is what the job starts from: recorded with the new spec, the
                    // nonce would no longer read as a redeploy.
                    if let Err(step) = self.take_redeploy_path() {
                        return step.into();
                    }
                    mode = UpgradeMode::Savepoint;
                }
                let rec = self.spec.with_job(Some(JobState::Suspended), Some(mode));
                self.set_recorded(&rec, false);
                self.core.recon.state = Some(ReconciliationState::Upgrading);
                self.why("the spec changed during the rollback: applying the new spec instead");
                return Next::Enter(Phase::Restoring);
            }
        }
        let (target, restore) = if rolling_back {
            let Some(stable) = self.stable_spec() else {
                return self.fail("RollbackFailed", "no lastStableSpec to roll back to");
            };
            let restore = match recorded.job().map(|j| j.upgrade_mode()) {
                Some(UpgradeMode::Stateless) => Some(RestoreMode::Empty),
                Some(UpgradeMode::Savepoint) => Some(RestoreMode::Savepoint),
                Some(_) => Some(RestoreMode::LastState),
                None => None,
            };
            (stable.with_job(Some(JobState::Running), None), restore)
        } else if meta.first_deployment {
            // initialSavepointPath is read anew until the first deployment is made; once it is,
            // the status keeps naming the snapshot that deployment started from.
            let (mode, path) = self.first_restore();
            if !self.deployed_detected() {
                self.core.job.upgrade_savepoint_path = path;
            }
            (self.spec.with_job(Some(JobState::Running), None), mode)
        } else if recorded.diff(&self.spec).kind() == DiffType::SavepointRedeploy && !self.deployed_detected()
        {
            // A redeploy asked for while this restore was under way: the snapshot it names, not
            // the one recorded for the restore, is what the job starts from. (Once the restore's
            // deployment exists, it is recorded as it is and the running job is redeployed.)
            if let Err(step) = self.take_redeploy_path() {
                return step.into();
            }
            (
                self.spec.with_job(Some(JobState::Running), None),
                Some(RestoreMode::Savepoint),
            )
        } else {
            let mode = recorded
                .job()
                .map(|j| RestoreMode::from_recorded(j.upgrade_mode()));
            if mode == Some(RestoreMode::Empty)
                && self.user_mode() != UpgradeMode::Stateless
                && self.stopped_job_still_runs()
            {
                // A stateless restart (of an unhealthy job, say) decided, then taken back before
                // the running job was stopped: nothing is given up yet, so the restart is planned
                // again with the user's stateful mode.
                self.set_recorded(&recorded.with_job(Some(JobState::Running), None), false);
                self.core.recon.state = Some(ReconciliationState::Deployed);
                self.why("the upgrade mode is stateful again before the job was stopped for its stateless restart: re-planning");
                return Next::Enter(Phase::Running);
            }
            let restore = match self.retained_state_wins(mode) {
                Ok(restore) => restore,
                Err(step) => return step.into(),
            };
            (
                self.spec_for_restore(&recorded, restore)
                    .with_job(Some(JobState::Running), None),
                restore,
            )
        };
        let keeps_ha_spec = !rolling_back && self.keeps_recorded_for_ha(&recorded, restore);

        if self.deployed_detected() {
            return self.on_deployed(&recorded, &meta, rolling_back);
        }
        if !rolling_back
            && !meta.first_deployment
            && restore == Some(RestoreMode::Empty)
            && self.user_mode() != UpgradeMode::Stateless
            && self.deploy_written_ahead()
            && self.core.observed_generation != Some(self.generation)
        {
            // Stateless was chosen, then taken back before the new job started: which state the
            // job should continue from is the user's to say, not empty state by default.
            return self.fail(
                "RestoreFailed",
                format!(
                    "The upgrade mode changed from stateless to {} before the job was restarted from empty state; the operator does not start it empty. Manual restore required: set upgradeMode: stateless to start from empty state, or set job.initialSavepointPath and a new job.savepointRedeployNonce to restore a savepoint or checkpoint.",
                    self.user_mode()
                ),
            );
        }
        if !rolling_back {
            let rec = self
                .spec_for_restore(&recorded, restore)
                .with_job(Some(JobState::Suspended), restore.map(RestoreMode::recorded));
            self.set_recorded(&rec, meta.first_deployment);
            if keeps_ha_spec {
                self.why(RESTORES_WITH_HA_FIRST);
            }
            if self.kind != Kind::SessionCluster && self.desired_state() == JobState::Suspended {
                // Suspended again before the new job was started: nothing to start, and an
                // error of the restore is past (a resume meets it again if it still holds).
                self.core.recon.state = Some(ReconciliationState::Deployed);
                self.mark_stable();
                self.core.error = None;
                self.why("suspended before the restore started");
                return Next::Enter(Phase::Suspended);
            }
        }
        self.in_progress = Some(if rolling_back {
            "Rolling back to the last stable spec".into()
        } else {
            "Starting the job with the new spec".into()
        });
        if self.has_cluster() && !self.obs.jobmanager.is_missing() {
            if self.core.jm == Some(JobManagerDeploymentStatus::Missing) {
                // Not the JobManager we deployed (another generation): forget the marker first.
                self.core.jm = Some(self.obs.jobmanager.status());
            }
            self.why("the old JobManager is deleted before the new one is deployed");
            return self.delete_cluster(restore == Some(RestoreMode::Empty)).into();
        }
        if self.kind == Kind::SessionJob && !self.obs.session_cluster_ready {
            return Step::Wait {
                reason: "waiting for the session cluster to be ready".into(),
            }
            .into();
        }
        let source = match restore {
            None => RestoreSource::NoJob,
            // The deployed job's newer state is in HA metadata the new spec's cluster would not read.
            Some(mode @ (RestoreMode::Empty | RestoreMode::Savepoint))
                if self.deployed_job_checkpointed()
                    && !rolling_back
                    && !self.ha_enabled()
                    && (mode == RestoreMode::Savepoint || self.user_mode() != UpgradeMode::Stateless) =>
            {
                return self.fail("RestoreFailed", HA_TURNED_OFF);
            }
            Some(RestoreMode::Empty)
                if self.user_mode() != UpgradeMode::Stateless && self.deployed_job_checkpointed() =>
            {
                self.why("the job deployed for this restore ran and checkpointed before its JobManager was lost, and the upgrade mode is stateful now: restoring its HA metadata");
                RestoreSource::HaMetadata { guard_path: None }
            }
            Some(RestoreMode::Empty) => RestoreSource::Empty,
            Some(RestoreMode::Savepoint) if self.deployed_job_checkpointed() => {
                self.why("the job deployed for this restore ran and checkpointed before its JobManager was lost: restoring its HA metadata, which is newer than the savepoint it started from");
                RestoreSource::HaMetadata { guard_path: None }
            }
            Some(RestoreMode::Savepoint) => match self.recorded_restore_path() {
                Some(path) => RestoreSource::Savepoint {
                    path,
                    allow_non_restored_state: target
                        .job()
                        .and_then(|j| j.allow_non_restored_state)
                        .unwrap_or(false),
                },
                _ => {
                    return self.fail(
                        "RestoreFailed",
                        "No savepoint or checkpoint is recorded to restore the job from, and starting a stateful job from empty state would lose its state. Manual restore required: set job.initialSavepointPath and a new job.savepointRedeployNonce, or set upgradeMode: stateless to accept empty state.",
                    );
                }
            },
            Some(RestoreMode::LastState) => {
                // (A rollback deploys the stable spec, whose own configuration it restores with.)
                if self.kind != Kind::SessionJob && !rolling_back && !self.ha_enabled() && !keeps_ha_spec {
                    return self.fail("RestoreFailed", HA_TURNED_OFF);
                }
                if !self.obs.ha_metadata_present {
                    return self.fail(
                        "RestoreFailed",
                        "HA metadata is not available to restore from last state. It is possible that the job has finished or terminally failed, or the configmaps have been deleted. Manual restore required.",
                    );
                }
                // HA's own checkpoint wins; the marker makes Flink fail rather than start empty
                // if the HA store loses it before the JobManager reads it. Without one in HA
                // (the job never checkpointed there, e.g. an upgrade within its first seconds),
                // the job's recorded checkpoint is the path (Flink reads it only when HA holds
                // none); a job with neither never kept state. The marker alone, rendered for
                // every HA restore before, failed such a job for good (real Flink 1.20).
                let guard = if self.obs.ha_has_checkpoint {
                    Some(LAST_STATE_MARKER.to_string())
                } else {
                    self.core
                        .job
                        .job_id
                        .clone()
                        .and_then(|id| self.recorded_checkpoint_of(&id))
                };
                if guard.is_some() {
                    self.core.job.upgrade_savepoint_path = guard.clone();
                }
                RestoreSource::HaMetadata { guard_path: guard }
            }
        };
        let job_id = match (&source, self.kind) {
            (RestoreSource::NoJob, _) => None,
            (RestoreSource::HaMetadata { .. }, _) => match self.core.job.job_id.clone() {
                Some(id) => Some(id),
                None => {
                    return self.fail(
                        "RestoreFailed",
                        "The job id to restore from HA metadata is not recorded. Manual restore required.",
                    );
                }
            },
            (_, Kind::SessionJob) => Some(
                self.core
                    .job
                    .job_id
                    .clone()
                    .unwrap_or_else(|| self.input.new_job_id.to_string()),
            ),
            _ => Some(self.input.new_job_id.to_string()),
        };
        // Write-ahead of the deploy (reference updateStatusBeforeDeploymentAttempt).
        if self.has_cluster() {
            self.core.jm = Some(JobManagerDeploymentStatus::Missing);
        }
        self.core.job.job_id = job_id.clone();
        if job_id.is_some() {
            self.core.job.state = Some(FlinkJobState::Reconciling);
            // A new job: nothing observed of it yet.
            self.core.job.start_time = None;
            self.core.job.update_time = None;
        }
        self.core.recon.reconciliation_timestamp = Some(self.now());
        self.core.observed_generation = Some(self.generation);
        self.core.error = None;
        if let Some(info) = self.core.cluster_info.as_mut() {
            info.remove(health::HEALTH_INFO_KEY);
        }
        let purpose = if rolling_back {
            DeployPurpose::Rollback
        } else if meta.first_deployment {
            DeployPurpose::FirstDeployment
        } else {
            match self.purpose {
                Some(purpose) => purpose,
                None if self.restores_redeploy_snapshot(&recorded, &source) => {
                    DeployPurpose::SavepointRedeploy
                }
                None => DeployPurpose::Upgrade,
            }
        };
        self.event(EventType::Normal, "Submit", "Starting deployment");
        self.why(format!(
            "deploy ({}) restoring {}",
            purpose_text(purpose),
            source_text(&source)
        ));
        let deploy = Deploy {
            spec: target.to_deploy(),
            generation: self.generation,
            job_id,
            delete_ha_data_first: matches!(source, RestoreSource::Empty | RestoreSource::Savepoint { .. }),
            restore: source,
            purpose,
        };
        if self.kind == Kind::SessionJob {
            Step::SubmitSessionJob(deploy).into()
        } else {
            Step::Deploy(deploy).into()
        }
    }

    /// Whether the job this restore deployed already ran and left a checkpoint in the HA
    /// metadata, though its JobManager is gone and no status write recorded it running (the
    /// operator was down, or the write was lost).
    /// Its id is fresh, so HA metadata under it is its own.
    pub(super) fn deployed_job_checkpointed(&self) -> bool {
        self.deploy_written_ahead()
            && self
                .core
                .job
                .job_id
                .as_ref()
                .is_some_and(|id| self.obs.ha_checkpoint_job_ids.contains(id))
    }

    /// The job this restore is to replace still runs on its JobManager: not stopped yet.
    fn stopped_job_still_runs(&self) -> bool {
        self.kind != Kind::SessionJob
            && self.has_cluster()
            && self.obs.jobmanager.is_ready()
            && !self.deploy_written_ahead()
            && self.obs.job.as_ref().is_some_and(|j| {
                !j.state.is_globally_terminal() && self.core.job.job_id.as_deref() == Some(j.id.as_str())
            })
    }

    /// Whether the status holds this restore's deploy, written ahead of it: a job not terminal
    /// and never seen started. Before it, the recorded job is the stopped one.
    pub(super) fn deploy_written_ahead(&self) -> bool {
        let job = &self.core.job;
        job.start_time.is_none() && job.state.is_some_and(|s| !s.is_globally_terminal())
    }

    pub(super) fn on_deployed(
        &mut self,
        recorded: &AnySpec,
        meta: &ResourceMetadata,
        rolling_back: bool,
    ) -> Next {
        if rolling_back {
            self.core.recon.state = Some(ReconciliationState::RolledBack);
            self.event(
                EventType::Normal,
                "RolledBack",
                "Rolled back to the last stable spec",
            );
        } else {
            self.core.recon.state = Some(ReconciliationState::Deployed);
            let rec = recorded.with_job(Some(JobState::Running), None);
            self.set_recorded(&rec, meta.first_deployment);
            if self.is_redeploy_of(&rec) {
                // No rollback to specs from before a savepoint redeploy (seed, reference §4.6 A).
                self.mark_stable();
            }
        }
        if self.has_cluster() {
            self.core.jm = Some(self.obs.jobmanager.status());
        }
        self.why("the new deployment is observed");
        Next::Enter(Phase::Running)
    }

    pub(super) fn is_redeploy_of(&self, rec: &AnySpec) -> bool {
        let nonce = |s: &AnySpec| s.job().and_then(|j| j.savepoint_redeploy_nonce);
        nonce(rec).is_some() && self.stable_spec().as_ref().map(nonce) != Some(nonce(rec))
    }

    /// A restore from the snapshot a savepoint redeploy named, reached in a later loop than the
    /// redeploy's start (after the old cluster was deleted or the session job cancelled): a plan's
    /// purpose is not recorded, the redeploy's nonce is, and until the redeployed job is seen
    /// (which marks it stable) a restore from a snapshot is the redeploy's. The path it restores
    /// was recorded when the nonce changed; a path edited since, under the same nonce, is not a
    /// new redeploy (as in the reference, only the nonce triggers one).
    fn restores_redeploy_snapshot(&self, recorded: &AnySpec, source: &RestoreSource) -> bool {
        matches!(source, RestoreSource::Savepoint { .. }) && self.is_redeploy_of(recorded)
    }

    /// Flink serves checkpoint statistics from a cache (`rest.cache.checkpoint-statistics.timeout`,
    /// by default `web.refresh-interval`, 3 s): just after a job ends they can still name a
    /// checkpoint that the end subsumed and deleted. A stopped job's restore point is read only
    /// from statistics computed after it ended.
    pub(super) fn checkpoint_stats_pending(&mut self) -> Option<Step> {
        let end = self
            .obs
            .job
            .as_ref()
            .filter(|j| j.state.is_globally_terminal())?
            .end_time_ms?;
        // The running JobManager's own setting when it could be read: the operator renders a
        // shorter cache than the spec's configuration implies (clusters rendered before that keep
        // Flink's default, which is what the spec implies).
        let cache = self
            .obs
            .checkpoint_statistics_cache_ms
            .map(Duration::from_millis)
            .unwrap_or_else(|| flink_keys::checkpoint_statistics_cache(self.conf()));
        let ready_at = end.saturating_add(duration_ms(cache)).saturating_add(1_000);
        if self.now() >= ready_at {
            return None;
        }
        self.wake_at_ms = Some(ready_at);
        Some(Step::Wait {
            reason: "waiting for Flink's checkpoint statistics to include the job's end".into(),
        })
    }

    /// The recorded `upgradeSavepointPath` if Flink can start from it (not the last-state
    /// marker, not blank).
    pub(super) fn recorded_restore_path(&self) -> Option<String> {
        self.core
            .job
            .upgrade_savepoint_path
            .clone()
            .filter(|p| restorable(p))
    }

    /// A stateless restart of a stopped job discards nothing yet: if the user turns back to a
    /// stateful mode before the new job starts, the state the stopped job left is used: the
    /// savepoint a job was stopped with, the checkpoint a last-state cancel recorded (a job whose
    /// state was given up has no path left: `finish_suspend`), a failed job's last checkpoint.
    pub(super) fn retained_state_wins(
        &mut self,
        recorded: Option<RestoreMode>,
    ) -> Result<Option<RestoreMode>, Step> {
        if recorded != Some(RestoreMode::Empty) || self.user_mode() == UpgradeMode::Stateless {
            return Ok(recorded);
        }
        let path = self.recorded_restore_path();
        let retained = match self.core.job.state {
            Some(FlinkJobState::Finished | FlinkJobState::Canceled) => path.is_some(),
            Some(FlinkJobState::Failed) => {
                // Known only if it was read (`stopped_job_state`): a snapshot recorded before
                // the job ran is older than its state, and nothing recorded may be a job that
                // checkpointed but was never asked (its statistics did not answer before its
                // JobManager went away, deleted for the stateless restart or lost).
                let read = self.stopped_job_state().filter(|p| restorable(p));
                let read_empty =
                    read.is_none() && self.obs.job.is_some() && self.obs.checkpoint_statistics_read;
                match read {
                    Some(read) => {
                        self.core.job.upgrade_savepoint_path = Some(read);
                        true
                    }
                    // Flink says it checkpointed nothing and it started from nothing.
                    None if read_empty => false,
                    None => {
                        let older = path
                            .map(|p| format!(" and the recorded {p} is older state"))
                            .unwrap_or_default();
                        return Err(self.fail(
                            "RestoreFailed",
                            format!(
                                "The upgrade mode is {} again, but the FAILED job's last checkpoint was never read (its JobManager went away first){older}. Manual restore required: set job.initialSavepointPath and a new job.savepointRedeployNonce, or set upgradeMode: stateless to start from empty state.",
                                self.user_mode(),
                            ),
                        ));
                    }
                }
            }
            _ => false,
        };
        if retained {
            self.why("the upgrade mode is stateful again before the new job started: the state the stopped job left is restored");
            return Ok(Some(RestoreMode::Savepoint));
        }
        Ok(recorded)
    }

    /// Enter the restoring phase for a redeploy of the current spec (recovery, restarts).
    pub(super) fn enter_restore(&mut self, restore: RestoreMode, purpose: DeployPurpose) -> Next {
        let base = match self.recorded() {
            Ok(Some((recorded, _))) => self.spec_for_restore(&recorded, Some(restore)),
            _ => self.spec.clone(),
        };
        let rec = base.with_job(Some(JobState::Suspended), Some(restore.recorded()));
        self.set_recorded(&rec, false);
        self.core.recon.state = Some(ReconciliationState::Upgrading);
        if self.has_cluster() {
            self.core.jm = Some(self.obs.jobmanager.status());
        }
        self.purpose = Some(purpose);
        Next::Enter(Phase::Restoring)
    }

    /// The old job is stopped and its state recorded: record the new spec as suspended.
    pub(super) fn finish_suspend(&mut self, previous: &AnySpec, restore: RestoreMode) -> Next {
        let mut restore = restore;
        if self.redeploy_asked_since(previous) {
            // A redeploy asked for while the job was being stopped for another change: the
            // snapshot the user named is what the job starts from, not the stopped job's.
            if let Err(step) = self.take_redeploy_path() {
                return step.into();
            }
            restore = RestoreMode::Savepoint;
        }
        let mut rec = self
            .spec_for_restore(previous, Some(restore))
            .with_job(Some(JobState::Suspended), Some(restore.recorded()));
        // Manual-savepoint nonces are carried over: a savepoint not taken stays pending. So is a
        // redeploy asked for while the job was being suspended: the resume carries it out.
        let old_nonce = previous.job().and_then(|j| j.savepoint_trigger_nonce);
        let old_redeploy_nonce = previous.job().and_then(|j| j.savepoint_redeploy_nonce);
        let suspending = self.desired_state() != JobState::Running;
        if let Some(job) = rec.job_mut() {
            job.savepoint_trigger_nonce = old_nonce;
            if suspending {
                job.savepoint_redeploy_nonce = old_redeploy_nonce;
            }
        }
        self.set_recorded(&rec, false);
        self.core.clear_trigger();
        if restore == RestoreMode::Empty
            && self.core.job.state != Some(FlinkJobState::Failed)
            && self.recorded_restore_path().is_some()
        {
            // The stopped job's state is given up, or it had none: a path still recorded is of
            // an older lineage and must never be restored as this job's (a failed job keeps its
            // retained checkpoint for a turn back to a stateful mode). The last-state marker
            // names no snapshot and stays as the record of how the job last started.
            self.core.job.upgrade_savepoint_path = None;
        }
        if self.kind == Kind::SessionJob {
            self.core.job.job_id = None;
        }
        if self.desired_state() == JobState::Running {
            self.core.recon.state = Some(ReconciliationState::Upgrading);
            Next::Enter(Phase::Restoring)
        } else {
            self.core.recon.state = Some(ReconciliationState::Deployed);
            self.mark_stable();
            // Suspended as asked, its state kept or its resume named: an earlier error is past.
            self.core.error = None;
            self.event(EventType::Normal, "Suspended", "Job suspended");
            Next::Enter(Phase::Suspended)
        }
    }
}
