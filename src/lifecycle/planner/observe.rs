//! The observer's part of a plan: fold the observed job and JobManager into the status, and keep
//! the last checkpoint of a job that ended on its own.

use super::*;

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
        if let Some(t) = job.start_time_ms {
            self.core.job.start_time = Some(t.to_string());
        }
        if job.state == FlinkJobState::Failed {
            let cause = job.failure.clone().unwrap_or_else(|| "Job failed".into());
            self.core.error = Some(error_json("JobFailed", &cause));
        }
        self.record_final_checkpoint();
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
