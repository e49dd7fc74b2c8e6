//! Checkpoints taken on request while the job runs (a new `checkpointTriggerNonce`, or periodic
//! ones, Flink 1.17+), tracked until Flink completes them and recorded in `checkpointInfo`.

use super::*;
use crate::api::{Checkpoint, CheckpointType};
use crate::lifecycle::observation::CheckpointTriggerStatus;

impl Planner<'_> {
    /// Handles a manual/periodic checkpoint in flight; true while it is still running.
    pub(super) fn pending_checkpoint(&mut self, rec: &AnySpec) -> bool {
        let info = self.core.job.checkpoint_info.clone().unwrap_or_default();
        let (Some(trigger), Some(ts)) = (info.trigger_type, info.trigger_timestamp) else {
            return false;
        };
        let nonce = self.spec.job().and_then(|j| j.checkpoint_trigger_nonce);
        let manual = trigger == SnapshotTriggerType::Manual;
        let poll = info.trigger_id.as_ref().and(self.obs.checkpoint_trigger.clone());
        match poll {
            Some(CheckpointTriggerStatus::Completed) => {
                let format = match self.op().checkpoint_type.as_str() {
                    "INCREMENTAL" => CheckpointType::Incremental,
                    "FULL" => CheckpointType::Full,
                    _ => CheckpointType::Unknown,
                };
                self.core.checkpoint_info().last_checkpoint = Some(Checkpoint {
                    time_stamp: Some(ts),
                    trigger_type: Some(trigger),
                    format_type: Some(format),
                    trigger_nonce: if manual { nonce } else { None },
                });
                self.core.clear_checkpoint_trigger();
                if manual {
                    self.record_checkpoint_nonce(rec, nonce);
                }
                self.event(EventType::Normal, "CheckpointCompleted", "Checkpoint completed");
                false
            }
            Some(CheckpointTriggerStatus::Failed { cause }) => {
                self.event(
                    EventType::Warning,
                    "CheckpointError",
                    format!("Checkpoint failed: {cause}"),
                );
                self.core.clear_checkpoint_trigger();
                if manual && self.now() - ts > duration_ms(self.op().checkpoint_trigger_grace_period) {
                    self.record_checkpoint_nonce(rec, nonce);
                }
                false
            }
            _ if self.job_state() != Some(FlinkJobState::Running) => {
                self.event(
                    EventType::Warning,
                    "CheckpointError",
                    "Checkpoint abandoned: the job is not running",
                );
                self.core.clear_checkpoint_trigger();
                if manual {
                    self.record_checkpoint_nonce(rec, nonce);
                }
                false
            }
            Some(CheckpointTriggerStatus::InProgress) => {
                self.in_progress = Some("Taking a checkpoint".into());
                true
            }
            _ if info.trigger_id.is_none() => {
                // Trigger id lost (a crash before it was recorded): trigger again.
                self.core.clear_checkpoint_trigger();
                false
            }
            // Polled nothing (the REST API did not answer): wait for an answer.
            _ => true,
        }
    }

    fn record_checkpoint_nonce(&mut self, rec: &AnySpec, nonce: Option<i64>) {
        self.record_in_spec(rec, |job| job.checkpoint_trigger_nonce = nonce);
    }

    /// A checkpoint for a new `checkpointTriggerNonce` while the job runs.
    pub(super) fn manual_checkpoint(&mut self, rec: &AnySpec, pending: bool) -> Option<Step> {
        let nonce = self.spec.job().and_then(|j| j.checkpoint_trigger_nonce)?;
        let recorded = match self.recorded() {
            Ok(Some((current, _))) => current.job().and_then(|j| j.checkpoint_trigger_nonce),
            _ => rec.job().and_then(|j| j.checkpoint_trigger_nonce),
        };
        let in_flight = self
            .core
            .job
            .checkpoint_info
            .as_ref()
            .is_some_and(|i| i.trigger_timestamp.is_some());
        if Some(nonce) == recorded || pending || in_flight {
            return None;
        }
        if self.job_state() != Some(FlinkJobState::Running) {
            self.event(
                EventType::Warning,
                "CheckpointError",
                "Checkpoint could not be triggered: the job is not RUNNING",
            );
            self.record_checkpoint_nonce(rec, Some(nonce));
            return None;
        }
        if self.tasks_settling() {
            // Flink refuses it before every task runs; the nonce stays pending meanwhile.
            self.why("checkpointTriggerNonce changed: the checkpoint waits for every task of the job to run");
            return None;
        }
        self.why(format!(
            "checkpointTriggerNonce changed to {nonce}: triggering a checkpoint"
        ));
        Some(self.trigger_checkpoint(SnapshotTriggerType::Manual, Some(nonce)))
    }

    /// A periodic checkpoint when `periodic.checkpoint.interval` says one is due, counted as
    /// periodic savepoints are (from the last periodic trigger, or the job's start).
    pub(super) fn periodic_checkpoint(&mut self, pending: bool) -> Option<Step> {
        let schedule = self.op().periodic_checkpoint_interval.clone()?;
        let info = self.core.job.checkpoint_info.clone().unwrap_or_default();
        if pending
            || info.trigger_timestamp.is_some()
            || !self.periodic_due(&schedule, info.last_periodic_checkpoint_timestamp)
        {
            return None;
        }
        let now = self.now();
        self.core.checkpoint_info().last_periodic_checkpoint_timestamp = Some(now);
        self.why("a periodic checkpoint is due (kubernetes.operator.periodic.checkpoint.interval)");
        Some(self.trigger_checkpoint(SnapshotTriggerType::Periodic, None))
    }

    fn trigger_checkpoint(&mut self, trigger_type: SnapshotTriggerType, nonce: Option<i64>) -> Step {
        let now = self.now();
        let info = self.core.checkpoint_info();
        info.trigger_type = Some(trigger_type);
        info.trigger_timestamp = Some(now);
        info.trigger_id = None;
        self.in_progress = Some("Taking a checkpoint".into());
        Step::TriggerCheckpoint {
            job_id: self.observed_job_id().unwrap_or_default(),
            checkpoint_type: self.op().checkpoint_type.clone(),
            trigger_type,
            nonce,
        }
    }
}
