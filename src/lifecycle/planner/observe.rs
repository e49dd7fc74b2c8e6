//! The observer's part of a plan: fold the observed job and JobManager into the status, and keep
//! the last checkpoint of a job that ended on its own.

use super::*;
use crate::api::CompletedCheckpoint;
use crate::lifecycle::observation::ObservedJob;

/// How an observed execution of the recorded job relates to what status recorded of it.
enum Execution {
    /// The recorded execution, or one that restored its newest recorded checkpoint.
    Known,
    /// A later execution whose restore cannot be read yet.
    Undecided,
    /// A later execution that ended, whose statistics cannot be read: not waited for (they may
    /// never come back), and nothing of it is recorded, so a later plan that can read them still
    /// sees that it started after the record.
    EndedUnread,
    /// A later execution that did not restore the newest recorded checkpoint.
    Rewound { checkpoint: String },
}

impl Planner<'_> {
    /// Folds the observed job into `status.jobStatus` (the observer's part).
    pub(super) fn observe_job(&mut self) {
        let Some(job) = self.obs.job.as_ref() else { return };
        let matches = match (&self.core.job.job_id, self.kind) {
            (Some(id), _) => *id == job.id,
            (None, Kind::Application) => true,
            (None, _) => false,
        };
        if !matches {
            return;
        }
        let previous = self.core.job.state;
        if previous != Some(job.state) {
            if let Some(prev) = previous {
                self.event(
                    EventType::Normal,
                    "JobStatusChanged",
                    format!("Job status changed from {prev} to {}", job.state),
                );
            }
            self.core.job.update_time = Some(self.now().to_string());
        }
        self.core.job.state = Some(job.state);
        self.core.job.job_id = Some(job.id.clone());
        if job.name.is_some() {
            self.core.job.job_name = job.name.clone();
        }
        match self.execution_verdict(job) {
            Execution::Known => {
                if let Some(t) = job.start_time_ms {
                    self.core.job.start_time = Some(t.to_string());
                }
                self.record_completed_checkpoint(&job.id);
            }
            // The recorded start stays until the new execution is understood: it is what tells
            // the next plan that this execution is not the one the record describes.
            Execution::Undecided => self.execution_undecided = true,
            Execution::EndedUnread => {}
            Execution::Rewound { checkpoint } => {
                // Its checkpoints are of the rewound state: none is recorded, not even its last.
                self.rewound = Some(checkpoint);
                return;
            }
        }
        if job.state == FlinkJobState::Failed {
            let cause = job.failure.clone().unwrap_or_else(|| "Job failed".into());
            // A person looking at a failed stateful job needs to know where its state is.
            let message = match self
                .last_known_snapshot()
                .filter(|_| self.user_mode() != UpgradeMode::Stateless)
            {
                Some(path) => format!(
                    "{cause} {} To restore from it, set spec.job.initialSavepointPath to it and change spec.job.savepointRedeployNonce.",
                    recorded_snapshot_phrase(&path)
                ),
                None => cause,
            };
            self.core.error = Some(error_json("JobFailed", &message));
        }
        self.record_final_checkpoint();
    }

    /// Whether the observed execution of the recorded job continues the state the operator
    /// recorded for it. A JobManager that restarts without HA resubmits the job under the same
    /// id from the configuration it was deployed with, with its checkpoint statistics reset: that
    /// execution starts later than the recorded one and restored nothing, or a snapshot older
    /// (by checkpoint id) than the newest checkpoint recorded for the job. Flink's own restarts
    /// and HA recoveries restore the newest checkpoint, so they never look rewound.
    fn execution_verdict(&self, job: &ObservedJob) -> Execution {
        if self.user_mode() == UpgradeMode::Stateless {
            // Nothing of the job's state was promised to be kept.
            return Execution::Known;
        }
        let Some(record) = self
            .core
            .job
            .last_completed_checkpoint
            .as_ref()
            .filter(|r| r.job_id.as_deref() == Some(job.id.as_str()))
        else {
            return Execution::Known;
        };
        let recorded_start = self
            .core
            .job
            .start_time
            .as_deref()
            .and_then(|t| t.parse::<i64>().ok());
        let (Some(recorded_start), Some(started), Some(record_id)) =
            (recorded_start, job.start_time_ms, record.checkpoint_id)
        else {
            return Execution::Known;
        };
        if started <= recorded_start {
            return Execution::Known;
        }
        if !self.obs.checkpoint_statistics_read {
            // A globally terminal job runs nothing a savepoint could freeze, and a JobManager
            // that restarted with HA knows a job that finished before it only from its job
            // result store: its statistics never become readable, and waiting for them hung a
            // savepoint upgrade whose stop completed just before the JobManager was killed
            // (real Flink 1.20, Kubernetes HA). The stopping phase decides from the record.
            return if job.state.is_globally_terminal() {
                Execution::EndedUnread
            } else {
                Execution::Undecided
            };
        }
        let restored_id = self.obs.restored_checkpoint.as_ref().and_then(|r| r.id);
        if restored_id.is_some_and(|id| id >= record_id) {
            return Execution::Known;
        }
        Execution::Rewound {
            checkpoint: record.path.clone().unwrap_or_default(),
        }
    }

    /// Keeps the newest completed checkpoint Flink reports for the job in the status (the
    /// write-ahead record of the job's state): a later, larger checkpoint id of the same job
    /// replaces it, any checkpoint of a newer job does.
    fn record_completed_checkpoint(&mut self, job_id: &str) {
        let Some(cp) = self.obs.latest_checkpoint.as_ref() else {
            return;
        };
        let record = self.core.job.last_completed_checkpoint.as_ref();
        let same_job = record.is_some_and(|r| r.job_id.as_deref() == Some(job_id));
        let newer = match (record.and_then(|r| r.checkpoint_id), cp.id) {
            _ if !same_job => true,
            (Some(known), Some(seen)) => seen > known,
            (None, _) => record.and_then(|r| r.path.as_deref()) != Some(cp.path.as_str()),
            (Some(_), None) => false,
        };
        if newer {
            self.core.job.last_completed_checkpoint = Some(CompletedCheckpoint {
                job_id: Some(job_id.to_string()),
                checkpoint_id: cp.id,
                path: Some(cp.path.clone()),
                time_stamp: Some(cp.time_ms),
            });
        }
    }

    /// The checkpoint status recorded for job `job_id`, if any.
    pub(super) fn recorded_checkpoint_of(&self, job_id: &str) -> Option<String> {
        self.core
            .job
            .last_completed_checkpoint
            .as_ref()
            .filter(|r| r.job_id.as_deref() == Some(job_id))
            .and_then(|r| r.path.clone())
            .filter(|p| restorable(p))
    }

    /// A job that ended on its own (failed, finished, cancelled outside the operator) keeps its
    /// state in its last checkpoint. That is recorded as soon as Flink's statistics include the
    /// end, so it is still known if the JobManager is lost before the next upgrade or restart
    /// (without HA nothing else remembers it). Stops the operator makes record their own.
    pub(super) fn record_final_checkpoint(&mut self) {
        let Some(job) = self.obs.job.as_ref() else { return };
        if !job.state.is_globally_terminal() || !self.obs.checkpoint_statistics_read {
            return;
        }
        let stopped_by_operator = matches!(
            self.core.recon.state,
            Some(ReconciliationState::Upgrading | ReconciliationState::RollingBack)
        ) || matches!(self.recorded(), Ok(Some((rec, _))) if rec.desired_state() == Some(JobState::Suspended));
        if stopped_by_operator {
            return;
        }
        if self.checkpoint_stats_pending().is_some() {
            return;
        }
        let Some(cp) = self.obs.latest_checkpoint.as_ref() else {
            return;
        };
        if cp.path.contains(job.id.as_str())
            && self.core.job.upgrade_savepoint_path.as_ref() != Some(&cp.path)
        {
            let path = cp.path.clone();
            self.why(format!(
                "the job ended on its own: its last checkpoint {path} is recorded"
            ));
            self.core.job.upgrade_savepoint_path = Some(path);
        }
    }

    /// The stopped job's checkpoints could not be read now but may be later: its JobManager
    /// is there and the REST API or the statistics failed.
    pub(super) fn stopped_job_state_unread(&self) -> bool {
        !self.obs.jobmanager.is_missing()
            && (!self.obs.rest_reachable || (self.obs.job.is_some() && !self.obs.checkpoint_statistics_read))
    }

    /// Where a job that stopped on its own left its state. Flink's statistics when it can be
    /// asked; when it cannot (JobManager gone), the checkpoint recorded for this job once its
    /// end was seen (`record_final_checkpoint`; its id is in the path) — never an older
    /// snapshot the job may have checkpointed past.
    pub(super) fn stopped_job_state(&self) -> Option<String> {
        if let Some(cp) = self.obs.latest_checkpoint.as_ref() {
            return Some(cp.path.clone());
        }
        if self.obs.job.is_some() && self.obs.checkpoint_statistics_read {
            // Flink says the job completed no checkpoint: what it started from is its state.
            return self.core.job.upgrade_savepoint_path.clone();
        }
        let id = self.core.job.job_id.as_deref()?;
        self.core
            .job
            .upgrade_savepoint_path
            .clone()
            .filter(|p| p.contains(id))
    }

    pub(super) fn observe_jobmanager(&mut self) {
        if !self.has_cluster() {
            return;
        }
        let now = self.obs.jobmanager.status();
        if now == JobManagerDeploymentStatus::Missing
            && self.core.jm != Some(JobManagerDeploymentStatus::Missing)
        {
            self.event(EventType::Warning, "Missing", "Missing JobManager deployment");
        }
        if now == JobManagerDeploymentStatus::Missing
            && self.kind == Kind::Application
            && !self.job_state().is_some_and(FlinkJobState::is_globally_terminal)
        {
            self.core.job.state = Some(FlinkJobState::Reconciling);
        }
        self.core.jm = Some(now);
    }
}
