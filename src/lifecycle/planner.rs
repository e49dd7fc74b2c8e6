//! `plan()`: the one next step for a resource, and the status to write before taking it.
//!
//! Phases, read from the status (the write-ahead log):
//! - not deployed: no `lastReconciledSpec`;
//! - running: DEPLOYED / ROLLED_BACK with the recorded job state `running`;
//! - suspended: DEPLOYED with the recorded job state `suspended`;
//! - stopping: UPGRADING with the recorded job state `running` — a stop-with-savepoint
//!   (`savepointInfo.triggerType = UPGRADE` + `triggerTimestamp`) or a cancel is in flight;
//! - restoring: UPGRADING with the recorded job state `suspended`, or ROLLING_BACK — the old
//!   job is stopped and its state recorded; delete the old JobManager, then deploy.
//!
//! Deploy detection after a crash (reference §4.10): the deploy write records
//! `jobManagerDeploymentStatus = MISSING` and `observedGeneration`; a JobManager Deployment
//! annotated with that generation while the status still says MISSING is ours. The old
//! JobManager is always deleted *before* that write, so it can never be mistaken for the new
//! one even when the generation did not change (recovery, restarts, rollback).

use super::decide::{
    JobFacts, LAST_STATE_MARKER, RestoreMode, SpecChange, SuspendMechanism, UpgradeChoice, choose_upgrade,
    classify, resume_restore_mode,
};
use super::explain::{describe_suspend, describe_upgrade};
use super::health;
use super::observation::{Observation, SavepointTriggerStatus};
use super::plan::{Deploy, DeployPurpose, Event, EventType, Plan, PlanInput, Resource, RestoreSource, Step};
use super::spec::{AnySpec, Kind};
use super::status::{ConditionFacts, Core, error_json, lifecycle, set_conditions};
use crate::api::{
    FlinkJobState, FlinkVersion, JobManagerDeploymentStatus, JobState, ReconciliationState,
    ResourceLifecycleState, ResourceMetadata, Savepoint, SavepointFormatType, SnapshotTriggerType,
    UpgradeMode,
};
use crate::config::flink_keys;
use std::time::Duration;

/// Decides the next step for the resource. Pure: same input, same plan.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let (kind, spec, core, generation, deleting) = match input.resource {
        Resource::Deployment(d) => (
            if d.spec.job.is_some() {
                Kind::Application
            } else {
                Kind::SessionCluster
            },
            AnySpec::Deployment(Box::new(d.spec.clone())),
            Core::from_deployment(d.status.as_ref()),
            d.metadata.generation.unwrap_or(0),
            d.metadata.deletion_timestamp.is_some(),
        ),
        Resource::SessionJob(j) => (
            Kind::SessionJob,
            AnySpec::SessionJob(Box::new(j.spec.clone())),
            Core::from_session_job(j.status.as_ref()),
            j.metadata.generation.unwrap_or(0),
            j.metadata.deletion_timestamp.is_some(),
        ),
    };
    let mut p = Planner {
        input,
        obs: input.observation,
        kind,
        spec,
        generation,
        deleting,
        core,
        events: Vec::new(),
        reasons: Vec::new(),
        in_progress: None,
        purpose: None,
        hops: 0,
        wake_at_ms: None,
        decoded: std::cell::RefCell::new(None),
    };
    let step = p.decide();
    p.finish(step)
}

struct Planner<'a> {
    input: &'a PlanInput<'a>,
    obs: &'a Observation,
    kind: Kind,
    spec: AnySpec,
    generation: i64,
    deleting: bool,
    core: Core,
    events: Vec<Event>,
    reasons: Vec<String>,
    in_progress: Option<String>,
    purpose: Option<DeployPurpose>,
    /// Phase changes within one plan (a guard against cycles).
    hops: u8,
    /// A wait that ends at a known time re-checks then, not after the full progress interval.
    wake_at_ms: Option<i64>,
    decoded: std::cell::RefCell<Option<(String, (AnySpec, ResourceMetadata))>>,
}

type Recorded = Option<(AnySpec, ResourceMetadata)>;

impl Planner<'_> {
    // ----- small helpers -------------------------------------------------------------------

    fn now(&self) -> i64 {
        self.input.now_ms
    }

    fn op(&self) -> &crate::config::OperatorConfig {
        self.input.operator
    }

    fn has_cluster(&self) -> bool {
        self.kind != Kind::SessionJob
    }

    fn event(&mut self, type_: EventType, reason: &str, message: impl Into<String>) {
        self.events.push(Event {
            type_,
            reason: reason.to_string(),
            message: message.into(),
        });
    }

    fn why(&mut self, text: impl Into<String>) {
        self.reasons.push(text.into());
    }

    fn recorded(&self) -> Result<Recorded, String> {
        let Some(text) = self.core.recon.last_reconciled_spec.as_deref() else {
            return Ok(None);
        };
        // Decoding is the planner's main cost; the text changes only a few times per plan.
        if let Some((cached_text, value)) = self.decoded.borrow().as_ref()
            && cached_text == text
        {
            return Ok(Some(value.clone()));
        }
        let value = AnySpec::decode(self.kind, text)?;
        *self.decoded.borrow_mut() = Some((text.to_string(), value.clone()));
        Ok(Some(value))
    }

    fn stable_spec(&self) -> Option<AnySpec> {
        let text = self.core.recon.last_stable_spec.as_deref()?;
        AnySpec::decode(self.kind, text).ok().map(|(s, _)| s)
    }

    fn set_recorded(&mut self, spec: &AnySpec, first_deployment: bool) {
        self.core.recon.last_reconciled_spec = Some(spec.encode(first_deployment));
    }

    fn mark_stable(&mut self) {
        self.core.recon.last_stable_spec = self.core.recon.last_reconciled_spec.clone();
    }

    fn user_mode(&self) -> UpgradeMode {
        self.spec.job().map(|j| j.upgrade_mode()).unwrap_or_default()
    }

    fn desired_state(&self) -> JobState {
        self.spec.desired_state().unwrap_or(JobState::Running)
    }

    fn conf(&self) -> &std::collections::BTreeMap<String, String> {
        self.input.flink_config
    }

    fn ha_enabled(&self) -> bool {
        flink_keys::ha_enabled(self.conf())
    }

    fn job_state(&self) -> Option<FlinkJobState> {
        self.core.job.state
    }

    fn observed_job_id(&self) -> Option<String> {
        self.obs
            .job
            .as_ref()
            .map(|j| j.id.clone())
            .or_else(|| self.core.job.job_id.clone())
    }

    fn savepoint_dir(&self) -> Option<String> {
        flink_keys::savepoint_dir(self.conf()).map(str::to_string)
    }

    fn format(&self) -> String {
        self.op().savepoint_format.as_str().to_string()
    }

    fn fail(&mut self, reason: &str, message: impl Into<String>) -> Step {
        let message = message.into();
        let json = error_json(reason, &message);
        if self.core.error.as_deref() != Some(json.as_str()) {
            self.event(EventType::Warning, reason, message.clone());
        }
        self.core.error = Some(json);
        self.why(format!("needs a person: {message}"));
        Step::ReportError {
            reason: reason.to_string(),
            message,
        }
    }

    fn hop(&mut self) -> bool {
        self.hops += 1;
        self.hops <= 6
    }

    // ----- entry ---------------------------------------------------------------------------

    fn decide(&mut self) -> Step {
        let recorded = match self.recorded() {
            Ok(r) => r,
            Err(e) => {
                return self.fail(
                    "InvalidStatus",
                    format!("status.reconciliationStatus.lastReconciledSpec cannot be read ({e}); fix or clear the status"),
                );
            }
        };
        self.observe_job();
        if self.deleting {
            return self.delete(&recorded);
        }
        self.dispatch()
    }

    fn dispatch(&mut self) -> Step {
        if !self.hop() {
            return Step::Wait {
                reason: "re-evaluating".into(),
            };
        }
        let recorded = match self.recorded() {
            Ok(Some(r)) => r,
            Ok(None) => return self.first_deploy(),
            Err(e) => return self.fail("InvalidStatus", e),
        };
        let recorded_state = recorded.0.desired_state();
        match self.core.recon.state {
            Some(ReconciliationState::RollingBack) => self.restore_phase(),
            Some(ReconciliationState::Upgrading) => {
                if recorded_state.is_none_or(|s| s == JobState::Suspended) {
                    self.restore_phase()
                } else {
                    self.stopping_phase(&recorded)
                }
            }
            _ if recorded_state == Some(JobState::Suspended) => self.suspended_phase(&recorded),
            _ => self.running_phase(&recorded),
        }
    }

    /// Folds the observed job into `status.jobStatus` (the observer's part).
    fn observe_job(&mut self) {
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
    }

    fn observe_jobmanager(&mut self) {
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

    // ----- first deployment ----------------------------------------------------------------

    fn first_deploy(&mut self) -> Step {
        if self.has_cluster() {
            self.core.jm = Some(self.obs.jobmanager.status());
        }
        if self.desired_state() == JobState::Suspended && self.kind != Kind::SessionCluster {
            self.why("the job is created suspended: nothing is deployed until it is set to running");
            return Step::NoOp;
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
        self.restore_phase()
    }

    /// First deployment: from `initialSavepointPath` if given, else empty.
    fn first_restore(&self) -> (Option<RestoreMode>, Option<String>) {
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

    // ----- restoring: delete the old JobManager, then deploy --------------------------------

    fn deployed_detected(&self) -> bool {
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

    fn restore_phase(&mut self) -> Step {
        let Ok(Some((recorded, meta))) = self.recorded() else {
            return self.fail("InvalidStatus", "restore without a recorded spec");
        };
        let rolling_back = self.core.recon.state == Some(ReconciliationState::RollingBack);
        if rolling_back {
            let changed = recorded.diff(&self.spec).kind() >= super::diff::DiffType::Scale;
            if changed {
                // A user change during a rollback wins (reference §4.8.6).
                let mode = recorded.job().map(|j| j.upgrade_mode()).unwrap_or_default();
                let rec = self.spec.with_job(Some(JobState::Suspended), Some(mode));
                self.set_recorded(&rec, false);
                self.core.recon.state = Some(ReconciliationState::Upgrading);
                self.why("the spec changed during the rollback: applying the new spec instead");
                return self.dispatch();
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
            let (mode, path) = self.first_restore();
            self.core.job.upgrade_savepoint_path = path;
            (self.spec.with_job(Some(JobState::Running), None), mode)
        } else {
            let mode = recorded
                .job()
                .map(|j| RestoreMode::from_recorded(j.upgrade_mode()));
            (
                self.spec.with_job(Some(JobState::Running), None),
                self.retained_state_wins(mode),
            )
        };

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
                .spec
                .with_job(Some(JobState::Suspended), restore.map(RestoreMode::recorded));
            self.set_recorded(&rec, meta.first_deployment);
            if self.kind != Kind::SessionCluster && self.desired_state() == JobState::Suspended {
                // Suspended again before the new job was started: nothing to start.
                self.core.recon.state = Some(ReconciliationState::Deployed);
                self.mark_stable();
                self.why("suspended before the restore started");
                return self.dispatch();
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
            let discard = restore == Some(RestoreMode::Empty);
            let cancel = if discard {
                self.obs
                    .job
                    .as_ref()
                    .filter(|j| !j.state.is_globally_terminal())
                    .map(|j| j.id.clone())
            } else {
                None
            };
            self.why("the old JobManager is deleted before the new one is deployed");
            return Step::DeleteCluster {
                delete_ha_data: discard,
                cancel_job_first: cancel,
            };
        }
        if self.kind == Kind::SessionJob && !self.obs.session_cluster_ready {
            return Step::Wait {
                reason: "waiting for the session cluster to be ready".into(),
            };
        }
        let source = match restore {
            None => RestoreSource::NoJob,
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
                if !self.obs.ha_metadata_present {
                    return self.fail(
                        "RestoreFailed",
                        "HA metadata is not available to restore from last state. It is possible that the job has finished or terminally failed, or the configmaps have been deleted. Manual restore required.",
                    );
                }
                let guard = self.obs.ha_has_checkpoint.then(|| LAST_STATE_MARKER.to_string());
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
            self.purpose.unwrap_or(DeployPurpose::Upgrade)
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
            Step::SubmitSessionJob(deploy)
        } else {
            Step::Deploy(deploy)
        }
    }

    /// Whether the job this restore deployed already ran and left a checkpoint in the HA
    /// metadata, though its JobManager is gone and no status write recorded it running (the
    /// operator was down, or the write was lost).
    /// Its id is fresh, so HA metadata under it is its own.
    fn deployed_job_checkpointed(&self) -> bool {
        self.deploy_written_ahead()
            && self
                .core
                .job
                .job_id
                .as_ref()
                .is_some_and(|id| self.obs.ha_checkpoint_job_ids.contains(id))
    }

    /// Whether the status holds this restore's deploy, written ahead of it: a job not terminal
    /// and never seen started. Before it, the recorded job is the stopped one.
    fn deploy_written_ahead(&self) -> bool {
        let job = &self.core.job;
        job.start_time.is_none() && job.state.is_some_and(|s| !s.is_globally_terminal())
    }

    fn on_deployed(&mut self, recorded: &AnySpec, meta: &ResourceMetadata, rolling_back: bool) -> Step {
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
        self.dispatch()
    }

    fn is_redeploy_of(&self, rec: &AnySpec) -> bool {
        let nonce = |s: &AnySpec| s.job().and_then(|j| j.savepoint_redeploy_nonce);
        nonce(rec).is_some() && self.stable_spec().as_ref().map(nonce) != Some(nonce(rec))
    }

    /// Flink serves checkpoint statistics from a cache (`rest.cache.checkpoint-statistics.timeout`,
    /// by default `web.refresh-interval`, 3 s): just after a job ends they can still name a
    /// checkpoint that the end subsumed and deleted. A stopped job's restore point is read only
    /// from statistics computed after it ended.
    fn checkpoint_stats_pending(&mut self) -> Option<Step> {
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
    fn recorded_restore_path(&self) -> Option<String> {
        self.core
            .job
            .upgrade_savepoint_path
            .clone()
            .filter(|p| p != LAST_STATE_MARKER && !p.trim().is_empty())
    }

    /// A stateless restart of a stopped job discards nothing yet: if the user turns back to a
    /// stateful mode before the new job starts, the state the stopped job left is used (a failed
    /// job's retained checkpoint, or the savepoint a job was stopped with).
    fn retained_state_wins(&mut self, recorded: Option<RestoreMode>) -> Option<RestoreMode> {
        // A failed job keeps its last checkpoint; a job stopped with a savepoint, that savepoint.
        let retained = matches!(
            self.core.job.state,
            Some(FlinkJobState::Failed | FlinkJobState::Finished)
        ) && self.recorded_restore_path().is_some();
        if recorded == Some(RestoreMode::Empty) && self.user_mode() != UpgradeMode::Stateless && retained {
            self.why("the upgrade mode is stateful again before the new job started: the state the stopped job left is restored");
            return Some(RestoreMode::Savepoint);
        }
        recorded
    }

    /// Enter the restoring phase for a redeploy of the current spec (recovery, restarts).
    fn enter_restore(&mut self, restore: RestoreMode, purpose: DeployPurpose) -> Step {
        let rec = self
            .spec
            .with_job(Some(JobState::Suspended), Some(restore.recorded()));
        self.set_recorded(&rec, false);
        self.core.recon.state = Some(ReconciliationState::Upgrading);
        if self.has_cluster() {
            self.core.jm = Some(self.obs.jobmanager.status());
        }
        self.purpose = Some(purpose);
        self.dispatch()
    }

    /// The old job is stopped and its state recorded: record the new spec as suspended.
    fn finish_suspend(&mut self, previous: &AnySpec, restore: RestoreMode) -> Step {
        let mut rec = self
            .spec
            .with_job(Some(JobState::Suspended), Some(restore.recorded()));
        // Manual-savepoint nonces are carried over: a savepoint not taken stays pending.
        let old_nonce = previous.job().and_then(|j| j.savepoint_trigger_nonce);
        if let Some(job) = rec.job_mut() {
            job.savepoint_trigger_nonce = old_nonce;
        }
        self.set_recorded(&rec, false);
        self.core.clear_trigger();
        if self.kind == Kind::SessionJob {
            self.core.job.job_id = None;
        }
        if self.desired_state() == JobState::Running {
            self.core.recon.state = Some(ReconciliationState::Upgrading);
        } else {
            self.core.recon.state = Some(ReconciliationState::Deployed);
            self.mark_stable();
            self.event(EventType::Normal, "Suspended", "Job suspended");
        }
        self.dispatch()
    }

    // ----- stopping: a stop-with-savepoint or cancel is in flight --------------------------

    fn stopping_phase(&mut self, recorded: &(AnySpec, ResourceMetadata)) -> Step {
        let info = self.core.job.savepoint_info.clone().unwrap_or_default();
        let by_savepoint =
            info.trigger_type == Some(SnapshotTriggerType::Upgrade) && info.trigger_timestamp.is_some();
        if self.has_cluster() && self.obs.jobmanager.is_missing() {
            // The cluster vanished mid-stop: go back to running and let recovery decide.
            self.core.clear_trigger();
            self.core.recon.state = Some(ReconciliationState::Deployed);
            self.why("the JobManager disappeared while stopping the job");
            return self.dispatch();
        }
        if by_savepoint {
            self.savepoint_stop_progress(recorded)
        } else {
            self.cancel_progress(recorded)
        }
    }

    fn savepoint_stop_progress(&mut self, recorded: &(AnySpec, ResourceMetadata)) -> Step {
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
                return wait;
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
            }
            Some(SavepointTriggerStatus::Failed { cause }) if !terminal => {
                self.core.clear_trigger();
                self.core.recon.state = Some(ReconciliationState::Deployed);
                let msg = format!("Savepoint failed for the upgrade, retrying: {cause}");
                self.event(EventType::Warning, "SavepointError", msg.clone());
                self.core.error = Some(error_json("SavepointError", &msg));
                Step::Wait { reason: msg }
            }
            _ if state == Some(FlinkJobState::Running) => {
                self.in_progress = Some("Stopping the job with a savepoint".into());
                self.why("stop-with-savepoint not confirmed: asking again (repeating is harmless)");
                self.stop_step()
            }
            _ if terminal => {
                // Stopped without a savepoint we can see: its last checkpoint is the state.
                match self.obs.latest_checkpoint.clone() {
                    Some(cp) => {
                        self.core.job.upgrade_savepoint_path = Some(cp.path.clone());
                        self.why(format!("job stopped without a visible savepoint; restoring from checkpoint {}", cp.path));
                        self.finish_suspend(&recorded.0, RestoreMode::Savepoint)
                    }
                    None if !self.obs.rest_reachable => Step::Wait {
                        reason: "waiting for the REST API to read the job's last checkpoint".into(),
                    },
                    None => self.fail(
                        "UpgradeFailed",
                        "The job stopped during a savepoint upgrade and neither its savepoint nor a checkpoint can be found. Manual restore required.",
                    ),
                }
            }
            _ if info.trigger_id.is_some() && !self.obs.rest_reachable => Step::Wait {
                reason: "waiting for the REST API to poll the savepoint".into(),
            },
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
            }
        }
    }

    fn cancel_progress(&mut self, recorded: &(AnySpec, ResourceMetadata)) -> Step {
        let restore = recorded
            .0
            .job()
            .map(|j| RestoreMode::from_recorded(j.upgrade_mode()))
            .unwrap_or(RestoreMode::Empty);
        let state = self.obs.job.as_ref().map(|j| j.state);
        let still_running =
            state.is_some_and(|s| !s.is_globally_terminal() && s != FlinkJobState::Cancelling);
        // A failed job was not stopped by the cancel: its retained checkpoint still holds its state.
        let failed_on_its_own = state == Some(FlinkJobState::Failed);
        if restore == RestoreMode::Empty
            && self.user_mode() != UpgradeMode::Stateless
            && (still_running || failed_on_its_own)
        {
            // The user asked for a stateful mode before the stateless cancel took effect.
            self.core.recon.state = Some(ReconciliationState::Deployed);
            self.core.job.state = state;
            self.why("the upgrade mode changed to a stateful one before the job was cancelled: re-planning the upgrade");
            return self.dispatch();
        }
        match state {
            Some(FlinkJobState::Cancelling) => {
                self.in_progress = Some("Cancelling the job".into());
                Step::Wait {
                    reason: "the job is being cancelled".into(),
                }
            }
            None if !self.obs.rest_reachable => Step::Wait {
                reason: "waiting for the REST API to confirm the cancel".into(),
            },
            Some(s) if !s.is_globally_terminal() => {
                self.core.job.state = Some(FlinkJobState::Cancelling);
                self.in_progress = Some("Cancelling the job".into());
                let Some(id) = self.observed_job_id() else {
                    return Step::Wait {
                        reason: "job id unknown".into(),
                    };
                };
                Step::CancelJob { job_id: id }
            }
            _ => {
                if restore == RestoreMode::Savepoint && !self.redeploy_requested() {
                    if let Some(wait) = self.checkpoint_stats_pending() {
                        return wait;
                    }
                    // The last completed checkpoint (or the snapshot it was restored from) is
                    // the state to continue from.
                    match (&self.obs.latest_checkpoint, &self.obs.job) {
                        (Some(cp), _) => self.core.job.upgrade_savepoint_path = Some(cp.path.clone()),
                        // Gone from the cluster: the path recorded before stays the state.
                        (None, None) => {}
                        (None, Some(_)) if self.obs.checkpoint_statistics_read => {
                            // Flink says it neither completed nor restored a checkpoint: the
                            // job holds no durable state, and empty state loses nothing.
                            self.why("the cancelled job completed no checkpoint and restored none: it starts from empty state, as it did");
                            return self.finish_suspend(&recorded.0, RestoreMode::Empty);
                        }
                        (None, Some(_)) => {
                            return Step::Wait {
                                reason: "waiting to read the cancelled job's checkpoint statistics".into(),
                            };
                        }
                    }
                }
                self.why("the job is cancelled");
                self.finish_suspend(&recorded.0, restore)
            }
        }
    }

    fn redeploy_requested(&self) -> bool {
        let Ok(Some((rec, _))) = self.recorded() else {
            return false;
        };
        rec.diff(&self.spec).kind() == super::diff::DiffType::SavepointRedeploy
    }

    fn stop_step(&self) -> Step {
        Step::StopWithSavepoint {
            job_id: self.observed_job_id().unwrap_or_default(),
            target_dir: self.savepoint_dir(),
            drain: self.op().drain_on_savepoint_deletion,
            format: self.format(),
        }
    }

    fn record_savepoint(&mut self, path: &str, ts: i64, trigger: SnapshotTriggerType, nonce: Option<i64>) {
        let max = usize::try_from(self.op().savepoint_history_max_count.max(1)).unwrap_or(usize::MAX);
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
        let excess = history.len().saturating_sub(max);
        history.drain(..excess);
        self.core.clear_trigger();
    }

    // ----- suspended ------------------------------------------------------------------------

    fn suspended_phase(&mut self, recorded: &(AnySpec, ResourceMetadata)) -> Step {
        self.observe_jobmanager();
        let (rec, _) = recorded;
        let diff = rec.diff(&self.spec);
        let change = classify(rec.desired_state(), self.spec.desired_state(), &diff);
        match change {
            SpecChange::SavepointRedeploy | SpecChange::Resume => {
                let restore = if change == SpecChange::SavepointRedeploy {
                    match self.redeploy_path() {
                        Ok(path) => {
                            self.core.job.upgrade_savepoint_path = Some(path);
                            RestoreMode::Savepoint
                        }
                        Err(step) => return step,
                    }
                } else {
                    let recorded_mode = rec.job().map(|j| j.upgrade_mode()).unwrap_or_default();
                    resume_restore_mode(recorded_mode, self.user_mode())
                };
                if self.desired_state() == JobState::Running {
                    self.event(
                        EventType::Normal,
                        "SpecChanged",
                        "Resuming the job with the latest spec",
                    );
                    self.why(format!(
                        "resume: {}",
                        super::explain::describe_restore(
                            restore,
                            self.core.job.upgrade_savepoint_path.as_deref()
                        )
                    ));
                    let rec = self
                        .spec
                        .with_job(Some(JobState::Suspended), Some(restore.recorded()));
                    self.set_recorded(&rec, false);
                    self.core.recon.state = Some(ReconciliationState::Upgrading);
                    self.purpose = Some(if change == SpecChange::SavepointRedeploy {
                        DeployPurpose::SavepointRedeploy
                    } else {
                        DeployPurpose::Resume
                    });
                    return self.dispatch();
                }
                // Redeploy nonce while suspended: remember the path for the resume.
                let rec = self
                    .spec
                    .with_job(Some(JobState::Suspended), Some(restore.recorded()));
                self.set_recorded(&rec, false);
                self.mark_stable();
            }
            _ => {}
        }
        self.core.observed_generation = Some(self.generation);
        if self.has_cluster() && !self.obs.jobmanager.is_missing() {
            let discard = rec.job().map(|j| j.upgrade_mode()) == Some(UpgradeMode::Stateless);
            let cancel = if discard {
                self.obs
                    .job
                    .as_ref()
                    .filter(|j| !j.state.is_globally_terminal())
                    .map(|j| j.id.clone())
            } else {
                None
            };
            self.why("the job is suspended: its cluster is removed (HA metadata kept unless stateless)");
            return Step::DeleteCluster {
                delete_ha_data: discard,
                cancel_job_first: cancel,
            };
        }
        self.why("the job is suspended");
        Step::NoOp
    }

    fn redeploy_path(&mut self) -> Result<String, Step> {
        match self
            .spec
            .job()
            .and_then(|j| j.initial_savepoint_path.clone())
            .filter(|p| !p.trim().is_empty())
        {
            Some(p) => Ok(p),
            None => Err(self.fail(
                "ValidationError",
                "InitialSavepointPath must not be empty for savepoint redeployment",
            )),
        }
    }

    // ----- running --------------------------------------------------------------------------

    fn running_phase(&mut self, recorded: &(AnySpec, ResourceMetadata)) -> Step {
        self.observe_jobmanager();
        let (rec, _) = recorded;
        if self.kind == Kind::SessionJob && !self.obs.session_cluster_ready {
            return Step::Wait {
                reason: "waiting for the session cluster to be ready".into(),
            };
        }
        let savepoint_pending = self.pending_savepoint(rec);
        let diff = rec.diff(&self.spec);
        let change = classify(rec.desired_state(), self.spec.desired_state(), &diff);
        match change {
            SpecChange::Upgrade(_) | SpecChange::Suspend | SpecChange::SavepointRedeploy => {
                if self.core.recon.state == Some(ReconciliationState::RolledBack)
                    && self
                        .stable_spec()
                        .is_some_and(|s| s.diff(&self.spec).kind() < super::diff::DiffType::Scale)
                {
                    // The user reverted to the spec that runs since the rollback.
                    self.core.recon.last_reconciled_spec = self.core.recon.last_stable_spec.clone();
                    self.core.recon.state = Some(ReconciliationState::Deployed);
                    self.core.observed_generation = Some(self.generation);
                    self.why("the spec was reverted to the rolled-back (stable) spec: nothing to restart");
                    return Step::NoOp;
                }
                if savepoint_pending && !self.op().ignore_pending_savepoint {
                    return Step::Wait {
                        reason: "a savepoint is in progress; the upgrade starts after it".into(),
                    };
                }
                self.event(
                    EventType::Normal,
                    "SpecChanged",
                    format!(
                        "{} change(s) detected (Diff: {}[{}]), starting reconciliation.",
                        diff.kind(),
                        self.spec.kind_name(),
                        diff.summary(super::diff::DiffType::Scale)
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

    fn job_facts(&self, rec: &AnySpec) -> JobFacts {
        let state = self.obs.job.as_ref().map(|j| j.state).or(match self.kind {
            Kind::SessionJob => None,
            _ => self.job_state().filter(|s| *s != FlinkJobState::Reconciling),
        });
        let terminal = state.is_some_and(FlinkJobState::is_globally_terminal);
        let restore_path = if terminal || (self.kind == Kind::SessionJob && state.is_none()) {
            self.obs
                .latest_checkpoint
                .as_ref()
                .map(|c| c.path.clone())
                .or_else(|| self.core.job.upgrade_savepoint_path.clone())
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
        }
    }

    fn never_started(&self, rec: &AnySpec) -> Option<RestoreMode> {
        let starting = matches!(
            self.obs.jobmanager.status(),
            JobManagerDeploymentStatus::Error | JobManagerDeploymentStatus::Deploying
        );
        let no_job_seen = self.core.job.start_time.is_none()
            && self.obs.job.is_none()
            && self.job_state().is_none_or(|s| s == FlinkJobState::Reconciling);
        if self.kind != Kind::Application || !starting || !no_job_seen {
            return None;
        }
        match rec.job().map(|j| j.upgrade_mode()) {
            Some(UpgradeMode::Savepoint) => Some(RestoreMode::Savepoint),
            Some(UpgradeMode::Stateless) => Some(RestoreMode::Empty),
            _ => None,
        }
    }

    fn start_change(&mut self, change: SpecChange, rec: &AnySpec) -> Step {
        if self.kind == Kind::SessionCluster {
            let rec = self.spec.normalized();
            self.set_recorded(&rec, false);
            self.core.recon.state = Some(ReconciliationState::Upgrading);
            self.purpose = Some(DeployPurpose::Upgrade);
            self.why("session cluster spec changed: the JobManager is redeployed (HA metadata kept)");
            return self.dispatch();
        }
        if change == SpecChange::SavepointRedeploy {
            let path = match self.redeploy_path() {
                Ok(p) => p,
                Err(step) => return step,
            };
            self.core.job.upgrade_savepoint_path = Some(path.clone());
            self.purpose = Some(DeployPurpose::SavepointRedeploy);
            self.why(format!("savepoint redeploy from {path}"));
            let running = self
                .obs
                .job
                .as_ref()
                .is_some_and(|j| !j.state.is_globally_terminal());
            if self.kind == Kind::SessionJob && running {
                return self.start_cancel(rec, RestoreMode::Savepoint);
            }
            return self.finish_suspend(rec, RestoreMode::Savepoint);
        }
        let facts = self.job_facts(rec);
        let choice = choose_upgrade(&facts, self.op());
        let words = if change == SpecChange::Suspend {
            describe_suspend(&choice, facts.user_mode)
        } else {
            describe_upgrade(&choice, facts.user_mode)
        };
        self.why(words);
        if let UpgradeChoice::Go { suspend, restore, .. } = &choice {
            let reads_stopped_job = (*suspend == SuspendMechanism::AlreadyStopped
                && *restore == RestoreMode::Savepoint)
                || (*restore == RestoreMode::Empty && facts.job_state == Some(FlinkJobState::Failed));
            if reads_stopped_job && let Some(wait) = self.checkpoint_stats_pending() {
                return wait;
            }
        }
        match choice {
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
                        self.start_cancel(rec, restore)
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
                        self.start_cancel(rec, restore)
                    }
                    SuspendMechanism::Stateless | SuspendMechanism::KeepHaMetadata => {
                        self.finish_suspend(rec, restore)
                    }
                    SuspendMechanism::Cancel => self.start_cancel(rec, restore),
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
                        self.stop_step()
                    }
                }
            }
            UpgradeChoice::Wait { reason } => Step::Wait { reason },
            UpgradeChoice::Fail { reason, message } => self.fail(&reason, message),
        }
    }

    fn start_cancel(&mut self, rec: &AnySpec, restore: RestoreMode) -> Step {
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

    /// Handles a manual/periodic savepoint in flight; true while it is still running.
    fn pending_savepoint(&mut self, rec: &AnySpec) -> bool {
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
        let completed = match &poll {
            Some(SavepointTriggerStatus::Completed { location }) => Some(location.clone()),
            _ => self
                .obs
                .latest_savepoint
                .as_ref()
                .filter(|s| s.time_ms >= ts)
                .map(|s| s.path.clone()),
        };
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

    fn record_nonce(&mut self, rec: &AnySpec, nonce: Option<i64>) {
        let Ok(Some((_, meta))) = self.recorded() else {
            return;
        };
        let was_stable = self.core.recon.is_stable();
        let mut updated = rec.clone();
        if let Some(job) = updated.job_mut() {
            job.savepoint_trigger_nonce = nonce;
        }
        self.set_recorded(&updated, meta.first_deployment);
        if was_stable {
            self.mark_stable();
        }
    }

    fn other_changes(&mut self, rec: &AnySpec, savepoint_pending: bool) -> Step {
        let state = self.job_state();
        let terminal = state.is_some_and(FlinkJobState::is_globally_terminal);
        if self.has_cluster() && self.obs.jobmanager.is_missing() {
            if self.kind == Kind::SessionCluster || !terminal {
                if self.op().jm_deployment_recovery_enabled {
                    return self.recover(rec);
                }
                self.core.error = Some(error_json("Missing", "Missing JobManager deployment"));
                self.why("the JobManager deployment is missing and recovery is disabled (kubernetes.operator.jm-deployment-recovery.enabled)");
                return Step::NoOp;
            }
            if state == Some(FlinkJobState::Failed) && self.op().job_restart_failed {
                return self.restart_failed();
            }
            self.why("the job reached a terminal state and its JobManager is gone");
            return Step::NoOp;
        }
        if self.kind == Kind::SessionJob && self.obs.job.is_none() && self.obs.rest_reachable {
            if self.user_mode() == UpgradeMode::Stateless {
                self.why("the job is not found on the session cluster: resubmitting (stateless)");
                self.core.job.job_id = None;
                return self.enter_restore(RestoreMode::Empty, DeployPurpose::RecoverDeployment);
            }
            if self.core.error.as_deref() != Some("Job Not Found") {
                self.event(EventType::Warning, "Missing", "Job Not Found");
            }
            self.core.error = Some("Job Not Found".into());
            self.core.job.state = Some(FlinkJobState::Reconciling);
            return Step::ReportError {
                reason: "Missing".into(),
                message: "Job Not Found: the job is not on the session cluster. Manual restore required: set job.initialSavepointPath and a new job.savepointRedeployNonce.".into(),
            };
        }
        if self.kind == Kind::Application && state == Some(FlinkJobState::Failed) {
            if self.op().job_restart_failed {
                return self.restart_failed();
            }
            self.why("the job FAILED (kubernetes.operator.job.restart.failed is off)");
            return Step::NoOp;
        }
        if let Some(step) = self.manual_savepoint(rec, savepoint_pending) {
            return step;
        }
        if self.kind == Kind::Application
            && self.op().health_check_enabled
            && let Some(step) = self.health_check()
        {
            return step;
        }
        if self.kind == Kind::Application && self.should_roll_back(rec) {
            // The restore is decided now, while the failed deployment can still be observed;
            // the rollback records it as the spec's mode (reference §4.8.6).
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
            return self.dispatch();
        }
        let healthy = match self.kind {
            Kind::SessionCluster => self.obs.jobmanager.is_ready(),
            _ => {
                state == Some(FlinkJobState::Running)
                    || (state == Some(FlinkJobState::Finished) && self.desired_state() == JobState::Running)
            }
        };
        let jm_error = self.core.jm == Some(JobManagerDeploymentStatus::Error);
        if jm_error
            && let super::observation::JobManagerObservation::Error { message, .. } = &self.obs.jobmanager
        {
            self.core.error = Some(error_json("DeploymentFailed", message));
        }
        if self.core.recon.state == Some(ReconciliationState::Deployed)
            && healthy
            && !self.core.recon.is_stable()
        {
            self.mark_stable();
            self.core.error = None;
            self.why("the job runs with the deployed spec: marked stable");
            return Step::MarkStable;
        }
        if healthy && !jm_error && self.core.recon.is_stable() {
            self.core.error = None;
        }
        if savepoint_pending {
            return Step::Wait {
                reason: "savepoint in progress".into(),
            };
        }
        Step::NoOp
    }

    fn recover(&mut self, rec: &AnySpec) -> Step {
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
            return self.dispatch();
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
            return self.fail("RecoverDeployment", super::decide::JM_MISSING_NO_HA);
        };
        if self.core.recon.state == Some(ReconciliationState::RolledBack) {
            self.core.recon.state = Some(ReconciliationState::RollingBack);
            self.event(
                EventType::Warning,
                "RecoverDeployment",
                "Recovering lost deployment",
            );
            return self.dispatch();
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

    fn restart_failed(&mut self) -> Step {
        if let Some(wait) = self.checkpoint_stats_pending() {
            return wait;
        }
        let retained = self
            .obs
            .latest_checkpoint
            .as_ref()
            .map(|c| c.path.clone())
            .or_else(|| self.recorded_restore_path());
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
                None if !self.obs.rest_reachable && !self.obs.jobmanager.is_missing() => {
                    return Step::Wait {
                        reason: "waiting for the REST API to read the failed job's last checkpoint".into(),
                    };
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

    fn manual_savepoint(&mut self, rec: &AnySpec, pending: bool) -> Option<Step> {
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

    fn health_check(&mut self) -> Option<Step> {
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

    fn should_roll_back(&self, rec: &AnySpec) -> bool {
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
        if stable.desired_state() == Some(JobState::Suspended)
            || stable.flink_version() != rec.flink_version()
        {
            return false;
        }
        let since = self.core.recon.reconciliation_timestamp.unwrap_or(self.now());
        self.now() - since > duration_ms(op.readiness_timeout) && self.rollback_restore(rec).is_some()
    }

    /// What a rollback would restore, if anything can be restored without losing state: HA
    /// metadata; for a stateless job, nothing; without HA, the upgrade's savepoint, but only
    /// while the new job never started (it has no newer state of its own; reference FLINK-32012).
    fn rollback_restore(&self, rec: &AnySpec) -> Option<UpgradeMode> {
        let upgrade_savepoint = self.recorded_restore_path().is_some();
        match rec.job().map(|j| j.upgrade_mode()) {
            Some(UpgradeMode::Stateless) => Some(UpgradeMode::Stateless),
            _ if self.obs.ha_metadata_present => Some(UpgradeMode::LastState),
            _ if upgrade_savepoint && self.never_started(rec) == Some(RestoreMode::Savepoint) => {
                Some(UpgradeMode::Savepoint)
            }
            _ => None,
        }
    }

    // ----- deletion -------------------------------------------------------------------------

    fn delete(&mut self, recorded: &Recorded) -> Step {
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
                        "{} job(s) not managed by a FlinkSessionJob still run",
                        self.obs.unmanaged_jobs_running
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
            let done = match &poll {
                Some(SavepointTriggerStatus::Completed { location }) => Some(location.clone()),
                _ => self
                    .obs
                    .latest_savepoint
                    .as_ref()
                    .filter(|s| s.time_ms >= ts)
                    .map(|s| s.path.clone()),
            };
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

    // ----- output ---------------------------------------------------------------------------

    /// While an operation is pending (a savepoint, a cancel, a job starting), Flink sends no
    /// event: poll fast at first and slower the longer it takes, so the delay added to an
    /// operation stays within a quarter of its duration, never above the progress-check
    /// interval (the reference polls at that interval from the start: 10 s per phase).
    fn pending_poll(&self, cap: Duration) -> Duration {
        let now = self.now();
        let progressing_since = self
            .core
            .conditions
            .iter()
            .find(|c| c.type_ == "Progressing" && c.status == "True")
            .map(|c| c.last_transition_time.0.as_millisecond());
        let started = [
            progressing_since,
            self.core.recon.reconciliation_timestamp,
            self.core
                .job
                .savepoint_info
                .as_ref()
                .and_then(|i| i.trigger_timestamp),
        ]
        .into_iter()
        .flatten()
        .filter(|t| *t <= now)
        .max();
        let quarter = started.map_or(cap, |t| {
            Duration::from_millis(u64::try_from((now - t) / 4).unwrap_or(0))
        });
        quarter.clamp(FIRST_POLL.min(cap), cap)
    }

    fn finish(mut self, step: Step) -> Plan {
        let recorded_state = self
            .recorded()
            .ok()
            .flatten()
            .and_then(|(s, _)| s.desired_state());
        let life = if self.deleting {
            if step == Step::ReleaseFinalizer {
                ResourceLifecycleState::Deleted
            } else {
                ResourceLifecycleState::Deleting
            }
        } else {
            lifecycle(&self.core, recorded_state, self.kind != Kind::SessionJob, false)
        };
        self.core.lifecycle = Some(life);
        if step.is_side_effect() && self.in_progress.is_none() && !matches!(step, Step::ReleaseFinalizer) {
            self.in_progress = Some(format!("Executing {}", step.name()));
        }
        let facts = ConditionFacts {
            lifecycle: life,
            session_cluster: self.kind == Kind::SessionCluster,
            session_job: self.kind == Kind::SessionJob,
            desired_suspended: self.desired_state() == JobState::Suspended,
            generation: Some(self.generation),
            now_ms: self.now(),
            in_progress: self.in_progress.clone(),
        };
        set_conditions(&mut self.core, &facts);
        let op = self.op();
        // A deployed job not yet running stable is a pending operation too: waiting the idle
        // reconcile interval (60 s) to see it run would be that much status lag.
        let settling = matches!(
            life,
            ResourceLifecycleState::Deployed
                | ResourceLifecycleState::Upgrading
                | ResourceLifecycleState::RollingBack
        );
        let requeue = match &step {
            Step::ReleaseFinalizer => Duration::ZERO,
            Step::NoOp | Step::MarkStable | Step::ReportError { .. }
                if self.in_progress.is_none() && !settling =>
            {
                op.reconcile_interval
            }
            _ => self.pending_poll(op.progress_check_interval),
        };
        let requeue = match self.wake_at_ms {
            Some(at) => requeue.min(Duration::from_millis(u64::try_from(at - self.now()).unwrap_or(0))),
            None => requeue,
        };
        if self.reasons.is_empty() {
            self.reasons.push(match &step {
                Step::NoOp => "nothing to do".to_string(),
                Step::Wait { reason } => reason.clone(),
                other => other.name().to_string(),
            });
        }
        Plan {
            status: self.core.into_status(self.kind == Kind::SessionJob),
            step,
            events: self.events,
            requeue,
            reasons: self.reasons,
        }
    }
}

/// The first re-check of a pending operation.
const FIRST_POLL: Duration = Duration::from_millis(250);

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn purpose_text(p: DeployPurpose) -> &'static str {
    match p {
        DeployPurpose::FirstDeployment => "first deployment",
        DeployPurpose::Upgrade => "upgrade",
        DeployPurpose::Resume => "resume",
        DeployPurpose::SavepointRedeploy => "savepoint redeploy",
        DeployPurpose::RecoverDeployment => "recovery of the lost JobManager deployment",
        DeployPurpose::RestartFailedJob => "restart of the failed job",
        DeployPurpose::RestartUnhealthyJob => "restart of the unhealthy job",
        DeployPurpose::Rollback => "rollback",
    }
}

fn source_text(s: &RestoreSource) -> String {
    match s {
        RestoreSource::NoJob => "no job (session cluster)".into(),
        RestoreSource::Empty => "empty state".into(),
        RestoreSource::Savepoint { path, .. } => format!("from {path}"),
        RestoreSource::HaMetadata { .. } => "from HA metadata (last state)".into(),
    }
}
