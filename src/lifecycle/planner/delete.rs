//! Deletion: what must happen before the finalizer goes (a session cluster's jobs, a savepoint on
//! deletion, cancelling the job), then removing the cluster.

use super::*;

impl Planner<'_> {
    pub(super) fn delete(&mut self, recorded: &Recorded) -> Step {
        let state = self.obs.job.as_ref().map(|j| j.state);
        let active = state.is_some_and(|s| !s.is_globally_terminal());
        let suspended = recorded
            .as_ref()
            .is_some_and(|(s, _)| s.desired_state() == Some(JobState::Suspended));
        let info = self.core.job.savepoint_info.clone().unwrap_or_default();
        let stopping =
            info.trigger_type == Some(SnapshotTriggerType::Upgrade) && info.trigger_timestamp.is_some();
        if self.kind == Kind::SessionJob {
            if recorded.is_none() || suspended || !self.obs.session_cluster_ready || !active {
                self.why("nothing runs on the session cluster for this job: removing the finalizer");
                return Step::ReleaseFinalizer;
            }
        } else if self.obs.jobmanager.is_missing() {
            if self.obs.ha_metadata_present {
                // A job suspended with last-state (or a lost JobManager) left its HA metadata:
                // a later resource of the same name would recover this job's state from it.
                self.why("deleting: the cluster is gone; its HA metadata is removed");
                return Step::DeleteCluster {
                    delete_ha_data: true,
                    cancel_job_first: None,
                };
            }
            self.why("the cluster is gone: removing the finalizer");
            return Step::ReleaseFinalizer;
        }
        if self.kind == Kind::SessionCluster {
            let op = self.op();
            let blockers = [
                (
                    op.session_block_on_session_jobs && self.obs.session_jobs_on_cluster > 0,
                    format!(
                        "{} FlinkSessionJob(s) still use this session cluster",
                        self.obs.session_jobs_on_cluster
                    ),
                ),
                (
                    op.session_block_on_unmanaged_jobs && self.obs.unmanaged_jobs_running > 0,
                    format!(
                        "{} job(s) not managed by a FlinkSessionJob still run{} (kubernetes.operator.session.deletion.block-on-unmanaged-jobs); cancel them, or turn the option off to delete them with the cluster",
                        self.obs.unmanaged_jobs_running,
                        if self.obs.unmanaged_jobs.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", self.obs.unmanaged_jobs.join(", "))
                        }
                    ),
                ),
            ];
            if let Some((_, msg)) = blockers.into_iter().find(|(b, _)| *b) {
                self.event(EventType::Warning, "CleanupFailed", msg.clone());
                return Step::Wait { reason: msg };
            }
        }
        if stopping {
            // A savepoint before deletion was asked for: record where it went, whatever the
            // job's state now (the stop finishes the job).
            let ts = info.trigger_timestamp.unwrap_or(0);
            let poll = info.trigger_id.as_ref().and(self.obs.savepoint_trigger.clone());
            let done = self.savepoint_taken_since(poll.as_ref(), ts);
            if let Some(location) = done {
                self.record_savepoint(&location, ts, SnapshotTriggerType::Upgrade, None);
                self.core.job.upgrade_savepoint_path = Some(location.clone());
                self.event(
                    EventType::Normal,
                    "SavepointOnDeletion",
                    format!("Savepoint taken before deletion: {location}"),
                );
            } else if active {
                match poll {
                    Some(SavepointTriggerStatus::InProgress) => {
                        return Step::Wait {
                            reason: "savepoint before deletion in progress".into(),
                        };
                    }
                    Some(SavepointTriggerStatus::Failed { cause }) => {
                        self.core.clear_trigger();
                        self.event(
                            EventType::Warning,
                            "SavepointError",
                            format!("Savepoint before deletion failed, retrying: {cause}"),
                        );
                        return Step::Wait { reason: cause };
                    }
                    // Flink refuses a savepoint until every task runs.
                    _ if self.tasks_settling() => {
                        return Step::Wait {
                            reason: "waiting for every task of the job to run before the savepoint before deletion".into(),
                        };
                    }
                    _ if state == Some(FlinkJobState::Running) => return self.stop_step(),
                    _ => {
                        return Step::Wait {
                            reason: "waiting for the savepoint before deletion".into(),
                        };
                    }
                }
            }
        } else if self.kind != Kind::SessionCluster
            && active
            && !suspended
            && recorded.is_some()
            && self.op().savepoint_on_deletion
            && state == Some(FlinkJobState::Running)
        {
            if self.tasks_settling() {
                return Step::Wait {
                    reason: "waiting for every task of the job to run before the savepoint before deletion"
                        .into(),
                };
            }
            let now = self.now();
            let info = self.core.savepoint_info();
            info.trigger_type = Some(SnapshotTriggerType::Upgrade);
            info.trigger_timestamp = Some(now);
            info.trigger_id = None;
            self.why("kubernetes.operator.job.savepoint-on-deletion: stopping the job with a savepoint before deleting");
            return self.stop_step();
        }
        let job_id = self.obs.job.as_ref().filter(|_| active).map(|j| j.id.clone());
        if self.kind == Kind::SessionJob {
            if state == Some(FlinkJobState::Cancelling) {
                return Step::Wait {
                    reason: "the job is being cancelled".into(),
                };
            }
            return match job_id {
                Some(id) => {
                    self.why("deleting: cancelling the job");
                    Step::CancelJob { job_id: id }
                }
                None => Step::ReleaseFinalizer,
            };
        }
        self.why("deleting: the cluster and its HA metadata are removed");
        Step::DeleteCluster {
            delete_ha_data: true,
            cancel_job_first: job_id,
        }
    }
}
