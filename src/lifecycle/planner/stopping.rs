//! The stopping phase: a stop-with-savepoint or a cancel in flight, and recording the snapshot it
//! leaves.

use super::*;
use crate::lifecycle::diff::DiffType;

impl Planner<'_> {
    pub(super) fn stopping_phase(&mut self, recorded: &(AnySpec, ResourceMetadata)) -> Next {
        if self.rewound.is_some() && recorded.0.desired_state() == Some(JobState::Running) {
            // The stop's savepoint, if Flink still took it, would hold the rewound state.
            self.core.clear_trigger();
            self.core.recon.state = Some(ReconciliationState::Deployed);
            return Next::Enter(Phase::Running);
        }
        let info = self.core.job.savepoint_info.clone().unwrap_or_default();
        let by_savepoint =
            info.trigger_type == Some(SnapshotTriggerType::Upgrade) && info.trigger_timestamp.is_some();
        let seen_cancelled =
            !by_savepoint && self.job_state().is_some_and(FlinkJobState::is_globally_terminal);
        if self.jobmanager_lost() && !seen_cancelled {
            // The cluster vanished mid-stop: go back to running and let recovery decide. (A job
            // already seen cancelled is not running: finishing the cancel records what it left.)
            self.core.clear_trigger();
            self.core.recon.state = Some(ReconciliationState::Deployed);
            self.why("the JobManager disappeared while stopping the job");
            return Next::Enter(Phase::Running);
        }
        if by_savepoint {
            self.savepoint_stop_progress(recorded)
        } else {
            self.cancel_progress(recorded)
        }
    }

    pub(super) fn savepoint_stop_progress(&mut self, recorded: &(AnySpec, ResourceMetadata)) -> Next {
        let info = self.core.job.savepoint_info.clone().unwrap_or_default();
        let ts = info.trigger_timestamp.unwrap_or(0);
        let poll = info.trigger_id.as_ref().and(self.obs.savepoint_trigger.clone());
        let state = self.obs.job.as_ref().map(|j| j.state);
        let terminal = state.is_some_and(FlinkJobState::is_globally_terminal);
        let mut found = match &poll {
            Some(SavepointTriggerStatus::Completed { location }) => Some(location.clone()),
            _ => None,
        };
        // Improvement over the reference: after a crash the trigger id may be lost; a savepoint
        // taken after our trigger time on a stopped job is the one we asked for.
        if found.is_none() && terminal {
            if let Some(wait) = self.checkpoint_stats_pending() {
                return wait.into();
            }
            let savepoint = self.obs.latest_savepoint.as_ref().filter(|s| s.time_ms >= ts);
            // The job may have failed after that savepoint and checkpointed since: the newest
            // snapshot is the state to continue from.
            let newer_checkpoint = self
                .obs
                .latest_checkpoint
                .as_ref()
                .filter(|c| savepoint.is_some_and(|s| c.time_ms > s.time_ms));
            if let Some(cp) = newer_checkpoint {
                self.core.job.upgrade_savepoint_path = Some(cp.path.clone());
                self.why(format!(
                    "the job stopped after a savepoint and checkpointed since; restoring from checkpoint {}",
                    cp.path
                ));
                return self.finish_suspend(&recorded.0, RestoreMode::Savepoint);
            }
            found = savepoint.map(|s| s.path.clone());
        }
        if let Some(path) = found {
            self.record_savepoint(&path, ts, SnapshotTriggerType::Upgrade, None);
            self.core.job.upgrade_savepoint_path = Some(path.clone());
            if !terminal {
                self.core.job.state = Some(FlinkJobState::Finished);
            }
            self.why(format!("stop-with-savepoint completed: {path}"));
            return self.finish_suspend(&recorded.0, RestoreMode::Savepoint);
        }
        match poll {
            Some(SavepointTriggerStatus::InProgress) => {
                self.in_progress = Some("Stopping the job with a savepoint".into());
                Step::Wait {
                    reason: "stop-with-savepoint in progress".into(),
                }
                .into()
            }
            Some(SavepointTriggerStatus::Failed { cause }) if !terminal => {
                // Flink refused the savepoint (tasks not all running yet) or forgot the trigger.
                // The upgrade stays under way and asks again after a pause: re-planning it at
                // once flipped status between Upgrading and Deployed every second.
                let now = self.now();
                let retry_at = now + self.savepoint_retry_pause();
                let info = self.core.savepoint_info();
                info.trigger_id = None;
                info.trigger_timestamp = Some(now);
                let msg = format!(
                    "Savepoint failed for the upgrade, retrying in {} s: {cause}",
                    self.savepoint_retry_pause() / 1000
                );
                self.event(EventType::Warning, "SavepointError", msg.clone());
                self.core.error = Some(error_json("SavepointError", &msg));
                self.in_progress = Some("Stopping the job with a savepoint (retrying)".into());
                self.wake_at_ms = Some(retry_at);
                Step::Wait { reason: msg }.into()
            }
            _ if state == Some(FlinkJobState::Running) && info.trigger_id.is_some() => {
                // The trigger is known and Flink did not answer for it this time: asking again
                // would make Flink decline the savepoint in flight.
                self.in_progress = Some("Stopping the job with a savepoint".into());
                Step::Wait {
                    reason: "waiting for Flink to report the stop-with-savepoint in flight".into(),
                }
                .into()
            }
            _ if state == Some(FlinkJobState::Running) => {
                // No trigger id: lost in a crash between Flink's answer and its write, or the
                // last attempt failed. A savepoint Flink began since the trigger time is ours;
                // otherwise ask again once the pause since that time is over.
                self.in_progress = Some("Stopping the job with a savepoint".into());
                if self.obs.checkpoint_in_progress_since.is_some_and(|t| t >= ts) {
                    return Step::Wait {
                        reason: "a savepoint begun since the stop was asked for is in progress".into(),
                    }
                    .into();
                }
                if self.tasks_settling() {
                    return Step::Wait {
                        reason:
                            "waiting for every task of the job to run before asking for the savepoint again"
                                .into(),
                    }
                    .into();
                }
                let retry_at = ts + self.savepoint_retry_pause();
                if self.now() < retry_at {
                    self.wake_at_ms = Some(retry_at);
                    return Step::Wait {
                        reason: "stop-with-savepoint not confirmed: asking again after a pause".into(),
                    }
                    .into();
                }
                let now = self.now();
                self.core.savepoint_info().trigger_timestamp = Some(now);
                self.why("stop-with-savepoint not confirmed and none in progress: asking again");
                self.stop_step().into()
            }
            _ if terminal => {
                // Stopped without a savepoint we can see: its last checkpoint is the state.
                match self.obs.latest_checkpoint.clone() {
                    Some(cp) => {
                        self.core.job.upgrade_savepoint_path = Some(cp.path.clone());
                        self.why(format!(
                            "job stopped without a visible savepoint; restoring from checkpoint {}",
                            cp.path
                        ));
                        self.finish_suspend(&recorded.0, RestoreMode::Savepoint)
                    }
                    None if !self.obs.rest_reachable => Step::Wait {
                        reason: "waiting for the REST API to read the job's last checkpoint".into(),
                    }
                    .into(),
                    None => match self.finish_with_named_snapshot(&recorded.0) {
                        Some(step) => step,
                        None => {
                            let job_id = self.observed_job_id().unwrap_or_default();
                            let known = self
                                .recorded_checkpoint_of(&job_id)
                                .map(|p| format!(" The newest checkpoint recorded for it is {p} (a job that finished may have discarded it)."))
                                .unwrap_or_default();
                            // A JobManager restarted after the stop completed forgets the trigger
                            // and where the savepoint went; the directory and name say it.
                            let look = self
                                .savepoint_dir()
                                .map(|dir| format!(" Its stop-with-savepoint may have completed before Flink lost track of it: look for the newest savepoint-{}-* in {dir}.", job_id.get(..6).unwrap_or(&job_id)))
                                .unwrap_or_default();
                            self.fail(
                                "UpgradeFailed",
                                format!("The job stopped during a savepoint upgrade and neither its savepoint nor a checkpoint can be found.{known}{look} Manual restore required: set spec.job.initialSavepointPath to that snapshot and change spec.job.savepointRedeployNonce."),
                            )
                        }
                    },
                }
            }
            _ if info.trigger_id.is_some() && !self.obs.rest_reachable => Step::Wait {
                reason: "waiting for the REST API to poll the savepoint".into(),
            }
            .into(),
            _ => {
                // Job not running: the stop cannot complete. Re-decide from the running phase.
                self.core.clear_trigger();
                self.core.recon.state = Some(ReconciliationState::Deployed);
                self.why(
                    "the job is not running: the savepoint stop is abandoned and the upgrade re-planned",
                );
                Step::Wait {
                    reason: "job not running during stop-with-savepoint".into(),
                }
                .into()
            }
        }
    }

    /// How long a stop-with-savepoint that failed or went unconfirmed waits before it is asked
    /// again: the progress-check interval, at least a second.
    fn savepoint_retry_pause(&self) -> i64 {
        duration_ms(self.op().progress_check_interval).max(1000)
    }

    pub(super) fn cancel_progress(&mut self, recorded: &(AnySpec, ResourceMetadata)) -> Next {
        let restore = recorded
            .0
            .job()
            .map(|j| RestoreMode::from_recorded(j.upgrade_mode()))
            .unwrap_or(RestoreMode::Empty);
        let jobmanager_gone = self.jobmanager_lost();
        // With its JobManager gone, the job is as it was last seen (stopped: `stopping_phase`).
        let state = match &self.obs.job {
            Some(job) => Some(job.state),
            None if jobmanager_gone => self.job_state(),
            None => None,
        };
        let still_running =
            state.is_some_and(|s| !s.is_globally_terminal() && s != FlinkJobState::Cancelling);
        // A failed job was not stopped by the cancel: its retained checkpoint still holds its state.
        let failed_on_its_own = state == Some(FlinkJobState::Failed);
        // A session job gone from its answering cluster was never seen cancelled: it was lost
        // with its JobManager (no HA), and its state is a person's to name once it matters again.
        let vanished = self.kind == Kind::SessionJob && state.is_none() && self.obs.rest_reachable;
        if restore == RestoreMode::Empty
            && self.user_mode() != UpgradeMode::Stateless
            && (still_running || failed_on_its_own || vanished)
        {
            // The user asked for a stateful mode before the stateless cancel took effect.
            self.core.recon.state = Some(ReconciliationState::Deployed);
            self.core.job.state = state;
            self.why("the upgrade mode changed to a stateful one before the job was cancelled: re-planning the upgrade");
            return Next::Enter(Phase::Running);
        }
        match state {
            Some(FlinkJobState::Cancelling) => {
                self.in_progress = Some("Cancelling the job".into());
                Step::Wait {
                    reason: "the job is being cancelled".into(),
                }
                .into()
            }
            None if !self.obs.rest_reachable => Step::Wait {
                reason: "waiting for the REST API to confirm the cancel".into(),
            }
            .into(),
            Some(s) if !s.is_globally_terminal() => {
                self.core.job.state = Some(FlinkJobState::Cancelling);
                self.in_progress = Some("Cancelling the job".into());
                let Some(id) = self.observed_job_id() else {
                    return Step::Wait {
                        reason: "job id unknown".into(),
                    }
                    .into();
                };
                Step::CancelJob { job_id: id }.into()
            }
            _ => {
                // A redeploy carried out now starts from its own snapshot; one asked for while
                // suspending is carried out at the resume, and until then this job's checkpoint
                // is its state.
                if restore == RestoreMode::Savepoint && !self.redeploy_asked_since(&recorded.0) {
                    if jobmanager_gone {
                        // Only what was recorded for this job is known now; an older snapshot
                        // would rewind it.
                        let Some(path) = self.stopped_job_state().filter(|p| restorable(p)) else {
                            if self.user_mode() == UpgradeMode::Stateless {
                                self.why("the job is cancelled and its last checkpoint unknown; the upgrade mode is now stateless: it starts from empty state");
                                return self.finish_suspend(&recorded.0, RestoreMode::Empty);
                            }
                            if let Some(step) = self.finish_with_named_snapshot(&recorded.0) {
                                return step;
                            }
                            return self.fail(
                                "UpgradeFailed",
                                "The job was cancelled for the upgrade and its JobManager went away before its last checkpoint was read. Manual restore required.",
                            );
                        };
                        self.core.job.upgrade_savepoint_path = Some(path);
                        self.why("the job is cancelled; its JobManager is gone");
                        return self.finish_suspend(&recorded.0, restore);
                    }
                    if let Some(wait) = self.checkpoint_stats_pending() {
                        return wait.into();
                    }
                    // The last completed checkpoint (or the snapshot it was restored from) is
                    // the state to continue from.
                    match (&self.obs.latest_checkpoint, &self.obs.job) {
                        (Some(cp), _) => self.core.job.upgrade_savepoint_path = Some(cp.path.clone()),
                        // Gone from the cluster: the path recorded before stays the state,
                        // unless the job was recorded checkpointing past it.
                        (None, None) => {
                            let past = self
                                .core
                                .job
                                .job_id
                                .as_deref()
                                .and_then(|id| self.recorded_checkpoint_of(id))
                                .filter(|known| {
                                    self.core.job.upgrade_savepoint_path.as_deref() != Some(known.as_str())
                                });
                            if let Some(known) = past {
                                if let Some(step) = self.finish_with_named_snapshot(&recorded.0) {
                                    return step;
                                }
                                return self.fail(
                                    "UpgradeFailed",
                                    format!("The job vanished while it was cancelled for the upgrade (its JobManager restarted without HA, or it was removed outside the operator). It had checkpointed past the snapshot it started from, at least up to {known}. Manual restore required."),
                                );
                            }
                        }
                        (None, Some(job)) if self.obs.checkpoint_statistics_read => {
                            if let Some(known) = self.recorded_checkpoint_of(&job.id) {
                                // Flink forgot what status recorded: its JobManager lost the
                                // job's history, and an empty start would lose the state.
                                if let Some(step) = self.finish_with_named_snapshot(&recorded.0) {
                                    return step;
                                }
                                return self.fail(
                                    "UpgradeFailed",
                                    format!("The cancelled job's statistics show no checkpoint, but checkpoint {known} was recorded for it: its JobManager lost the job's history, and newer checkpoints may exist. Manual restore required."),
                                );
                            }
                            // Flink says it neither completed nor restored a checkpoint, and none
                            // was ever recorded: the job holds no durable state, and empty
                            // state loses nothing.
                            self.why("the cancelled job completed no checkpoint and restored none: it starts from empty state, as it did");
                            return self.finish_suspend(&recorded.0, RestoreMode::Empty);
                        }
                        (None, Some(_)) => {
                            return Step::Wait {
                                reason: "waiting to read the cancelled job's checkpoint statistics".into(),
                            }
                            .into();
                        }
                    }
                }
                self.why("the job is cancelled");
                self.finish_suspend(&recorded.0, restore)
            }
        }
    }

    /// A new `savepointRedeployNonce` since `recorded`, to be carried out now (the job is to run;
    /// one asked for while suspending waits for the resume).
    pub(super) fn redeploy_asked_since(&self, recorded: &AnySpec) -> bool {
        self.desired_state() == JobState::Running
            && recorded.diff(&self.spec).kind() == DiffType::SavepointRedeploy
    }

    /// A stop that cannot find the job's state finishes with the snapshot a person named
    /// instead: a redeploy carried out now takes it (in `finish_suspend`), one asked for with a
    /// suspend is recorded for the resume. `None` when no redeploy was asked for.
    pub(super) fn finish_with_named_snapshot(&mut self, stopping: &AnySpec) -> Option<Next> {
        if self.redeploy_waits_for_resume(stopping) {
            self.core.job.upgrade_savepoint_path = self.redeploy_path();
        } else if !self.redeploy_asked_since(stopping) {
            return None;
        }
        self.why("the stopped job's state cannot be found; the savepoint redeploy a person asked for names the state to continue from");
        Some(self.finish_suspend(stopping, RestoreMode::Savepoint))
    }

    pub(super) fn stop_step(&self) -> Step {
        Step::StopWithSavepoint {
            job_id: self.observed_job_id().unwrap_or_default(),
            target_dir: self.savepoint_dir(),
            drain: self.op().drain_on_savepoint_deletion,
            format: self.format(),
        }
    }

    pub(super) fn record_savepoint(
        &mut self,
        path: &str,
        ts: i64,
        trigger: SnapshotTriggerType,
        nonce: Option<i64>,
    ) {
        let format = match self.op().savepoint_format {
            crate::config::SavepointFormat::Canonical => SavepointFormatType::Canonical,
            crate::config::SavepointFormat::Native => SavepointFormatType::Native,
        };
        let sp = Savepoint {
            time_stamp: Some(ts),
            location: Some(path.to_string()),
            trigger_type: Some(trigger),
            format_type: Some(format),
            trigger_nonce: nonce,
        };
        let info = self.core.savepoint_info();
        info.last_savepoint = Some(sp.clone());
        let history = info.savepoint_history.get_or_insert_with(Vec::new);
        if !history.iter().any(|h| h.location == sp.location) {
            history.push(sp);
        }
        // Entries beyond the count leave the history through `retire_savepoint`, which disposes
        // of their files (dropping them here would orphan them).
        self.core.clear_trigger();
    }
}
