//! Savepoints taken while the job runs (a new `savepointTriggerNonce`, or periodic ones), tracked
//! until Flink completes them and recorded in the savepoint history.

use super::*;

impl Planner<'_> {
    /// Handles a manual/periodic savepoint in flight; true while it is still running.
    pub(super) fn pending_savepoint(&mut self, rec: &AnySpec) -> bool {
        let info = self.core.job.savepoint_info.clone().unwrap_or_default();
        let (Some(trigger), Some(ts)) = (info.trigger_type, info.trigger_timestamp) else {
            return false;
        };
        if trigger == SnapshotTriggerType::Upgrade {
            // A stale upgrade intent (the stop was abandoned): forget it.
            self.core.clear_trigger();
            return false;
        }
        let nonce = self.spec.job().and_then(|j| j.savepoint_trigger_nonce);
        let poll = info.trigger_id.as_ref().and(self.obs.savepoint_trigger.clone());
        let completed = self.savepoint_taken_since(poll.as_ref(), ts);
        if let Some(path) = completed {
            let manual_nonce = (trigger == SnapshotTriggerType::Manual)
                .then_some(nonce)
                .flatten();
            self.record_savepoint(&path, ts, trigger, manual_nonce);
            if trigger == SnapshotTriggerType::Manual {
                self.record_nonce(rec, nonce);
            }
            self.event(
                EventType::Normal,
                "SavepointCompleted",
                format!("Savepoint completed: {path}"),
            );
            return false;
        }
        let running = self.job_state() == Some(FlinkJobState::Running);
        match poll {
            Some(SavepointTriggerStatus::Failed { cause }) => {
                self.event(
                    EventType::Warning,
                    "SavepointError",
                    format!("Savepoint failed: {cause}"),
                );
                self.core.clear_trigger();
                if self.now() - ts > duration_ms(self.op().savepoint_trigger_grace_period) {
                    self.record_nonce(rec, nonce);
                }
                false
            }
            _ if !running => {
                self.event(
                    EventType::Warning,
                    "SavepointError",
                    "Savepoint abandoned: the job is not running",
                );
                self.core.clear_trigger();
                self.record_nonce(rec, nonce);
                false
            }
            Some(SavepointTriggerStatus::InProgress) => {
                self.in_progress = Some("Taking a savepoint".into());
                true
            }
            _ if info.trigger_id.is_none() => {
                // Trigger id lost (crash before it was recorded): trigger again.
                self.core.clear_trigger();
                false
            }
            _ => true,
        }
    }

    pub(super) fn record_nonce(&mut self, rec: &AnySpec, nonce: Option<i64>) {
        self.record_in_spec(rec, |job| job.savepoint_trigger_nonce = nonce);
    }

    /// Records a nonce as taken care of in the reconciled spec (a stable spec stays stable).
    pub(super) fn record_in_spec(&mut self, rec: &AnySpec, set: impl FnOnce(&mut crate::api::JobSpec)) {
        let Ok(Some((_, meta))) = self.recorded() else {
            return;
        };
        let was_stable = self.core.recon.is_stable();
        let mut updated = rec.clone();
        if let Some(job) = updated.job_mut() {
            set(job);
        }
        self.set_recorded(&updated, meta.first_deployment);
        if was_stable {
            self.mark_stable();
        }
    }

    /// Whether a periodic snapshot on `schedule` is due, counted from `last` (the last periodic
    /// trigger) or the job's start; when not yet, the reconcile is woken at the due time.
    pub(super) fn periodic_due(
        &mut self,
        schedule: &crate::config::SnapshotSchedule,
        last: Option<i64>,
    ) -> bool {
        if self.job_state() != Some(FlinkJobState::Running) || self.tasks_settling() {
            return false;
        }
        let started = self
            .core
            .job
            .start_time
            .as_deref()
            .and_then(|t| t.parse::<i64>().ok());
        let Some(due) = last.max(started).and_then(|since| schedule.next_after(since)) else {
            return false;
        };
        if due > self.now() {
            self.wake_at_ms = Some(self.wake_at_ms.map_or(due, |w| w.min(due)));
            return false;
        }
        true
    }

    pub(super) fn manual_savepoint(&mut self, rec: &AnySpec, pending: bool) -> Option<Step> {
        let nonce = self.spec.job().and_then(|j| j.savepoint_trigger_nonce)?;
        // Read again: a savepoint completed earlier in this loop recorded its nonce.
        let recorded = match self.recorded() {
            Ok(Some((current, _))) => current.job().and_then(|j| j.savepoint_trigger_nonce),
            _ => rec.job().and_then(|j| j.savepoint_trigger_nonce),
        };
        if Some(nonce) == recorded || pending {
            return None;
        }
        if self
            .core
            .job
            .savepoint_info
            .as_ref()
            .is_some_and(|i| i.trigger_timestamp.is_some())
        {
            return None;
        }
        if self.job_state() != Some(FlinkJobState::Running) {
            self.event(
                EventType::Warning,
                "SavepointError",
                "Savepoint could not be triggered: the job is not RUNNING",
            );
            self.record_nonce(rec, Some(nonce));
            return None;
        }
        if self.tasks_settling() {
            // Flink refuses it before every task runs; the nonce stays pending meanwhile.
            self.why("savepointTriggerNonce changed: the savepoint waits for every task of the job to run");
            return None;
        }
        let Some(dir) = self.savepoint_dir() else {
            self.event(
                EventType::Warning,
                "SavepointError",
                "Savepoint could not be triggered: execution.checkpointing.savepoint-dir is not set",
            );
            self.record_nonce(rec, Some(nonce));
            return None;
        };
        let now = self.now();
        let info = self.core.savepoint_info();
        info.trigger_type = Some(SnapshotTriggerType::Manual);
        info.trigger_timestamp = Some(now);
        info.trigger_id = None;
        self.in_progress = Some("Taking a savepoint".into());
        self.why(format!(
            "savepointTriggerNonce changed to {nonce}: triggering a savepoint"
        ));
        Some(Step::TriggerSavepoint {
            job_id: self.observed_job_id().unwrap_or_default(),
            target_dir: Some(dir),
            format: self.format(),
            trigger_type: SnapshotTriggerType::Manual,
            nonce: Some(nonce),
        })
    }
}

impl Planner<'_> {
    /// A periodic savepoint when `periodic.savepoint.interval` says one is due: counted from the
    /// last periodic trigger, or from the job's start for its first. Taken only while the job runs
    /// with its tasks up and no other savepoint is under way; the trigger time is recorded at
    /// once (as the reference does), so a failed one is not retried before the next due time.
    pub(super) fn periodic_savepoint(&mut self, pending: bool) -> Option<Step> {
        let schedule = self.op().periodic_savepoint_interval.clone()?;
        let info = self.core.job.savepoint_info.clone().unwrap_or_default();
        if pending
            || info.trigger_timestamp.is_some()
            || !self.periodic_due(&schedule, info.last_periodic_savepoint_timestamp)
        {
            return None;
        }
        let Some(dir) = self.savepoint_dir() else {
            self.why("a periodic savepoint is due, but no savepoint directory is configured");
            return None;
        };
        let now = self.now();
        let info = self.core.savepoint_info();
        info.trigger_type = Some(SnapshotTriggerType::Periodic);
        info.trigger_timestamp = Some(now);
        info.trigger_id = None;
        info.last_periodic_savepoint_timestamp = Some(now);
        self.in_progress = Some("Taking a periodic savepoint".into());
        self.why("a periodic savepoint is due (kubernetes.operator.periodic.savepoint.interval)");
        Some(Step::TriggerSavepoint {
            job_id: self.observed_job_id().unwrap_or_default(),
            target_dir: Some(dir),
            format: self.format(),
            trigger_type: SnapshotTriggerType::Periodic,
            nonce: None,
        })
    }
}

impl Planner<'_> {
    /// Retires savepoints from the history: beyond `savepoint.history.max.count` (oldest first)
    /// or older than `savepoint.history.max.age`. The newest is always kept, and so is every
    /// snapshot a restore may still need: the path recorded for the next restore, the newest
    /// recorded checkpoint, the last savepoint, and what the running job restored from (until
    /// its own checkpoints replace it, a failover reads it again). With
    /// `savepoint.cleanup.enabled` (the default) one retired savepoint at a time is disposed of
    /// through the cluster and leaves the history once Flink has disposed of it; otherwise the
    /// entries only leave the history.
    pub(super) fn retire_savepoint(&mut self, pending: bool) -> Option<Step> {
        let info = self.core.job.savepoint_info.as_ref()?;
        if pending || info.trigger_timestamp.is_some() {
            return None;
        }
        let mut history = info.savepoint_history.clone()?;
        if history.len() < 2 {
            return None;
        }
        history.sort_by_key(|s| s.time_stamp.unwrap_or(0));
        let mut protected: Vec<String> = [
            self.core.job.upgrade_savepoint_path.clone(),
            self.core
                .job
                .last_completed_checkpoint
                .as_ref()
                .and_then(|c| c.path.clone()),
            info.last_savepoint.as_ref().and_then(|s| s.location.clone()),
            self.obs.restored_checkpoint.as_ref().map(|s| s.path.clone()),
        ]
        .into_iter()
        .flatten()
        .collect();
        protected.extend(history.last().and_then(|s| s.location.clone()));
        let max = usize::try_from(self.op().savepoint_history_max_count.max(1)).unwrap_or(usize::MAX);
        let excess = history.len().saturating_sub(max);
        let cutoff = self.now() - duration_ms(self.op().savepoint_history_max_age);
        let retired: Vec<(String, &'static str)> = history
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let path = s.location.clone()?;
                if protected
                    .iter()
                    .any(|p| crate::lifecycle::snapshot::same_place(p, &path))
                {
                    return None;
                }
                if i < excess {
                    Some((path, "savepoint.history.max.count"))
                } else if s.time_stamp.is_some_and(|t| t < cutoff) {
                    Some((path, "savepoint.history.max.age"))
                } else {
                    None
                }
            })
            .collect();
        let (path, why) = retired.first()?.clone();
        if !self.op().savepoint_cleanup_enabled {
            if let Some(h) = self.core.savepoint_info().savepoint_history.as_mut() {
                h.retain(|s| !retired.iter().any(|(p, _)| s.location.as_deref() == Some(p)));
            }
            self.why(format!(
                "{} savepoint(s) left the history (savepoint.cleanup.enabled is off: their files are kept)",
                retired.len()
            ));
            return None;
        }
        if !self.obs.rest_reachable {
            return None;
        }
        self.why(format!(
            "savepoint {path} retired from the history ({why}): disposing of it"
        ));
        Some(Step::DisposeSavepoint { path })
    }
}
