//! `plan()`: the one next step for a resource, and the status to write before taking it.
//!
//! The phases, read from the status (the write-ahead log), and the transitions one plan may take
//! between them are in [`phase`]: `Phase::of` says which phase a status is in, `TRANSITIONS`
//! lists every transition, and `Planner::run_phases` runs one phase's handler after another
//! until one returns the step.
//!
//! Deploy detection after a crash (reference §4.10): the deploy write records
//! `jobManagerDeploymentStatus = MISSING` and `observedGeneration`; a JobManager Deployment
//! annotated with that generation while the status still says MISSING is ours. The old
//! JobManager is always deleted *before* that write, so it can never be mistaken for the new
//! one even when the generation did not change (recovery, restarts, rollback).
//!
//! This file holds the entry (`decide`, `run_phases`, `handle`), the shared helpers and the
//! output; each phase has its file: `restore` (first deployment and restoring), `stopping`, `suspended`, `running`
//! (spec changes), `savepoints`, `recovery` (lost JobManager, failed job, health, rollback),
//! `delete`, and `observe` (the observer's part of the status).

mod checkpoints;
mod delete;
mod observe;
pub mod phase;
mod recovery;
mod restore;
mod running;
mod savepoints;
mod stopping;
mod suspended;

use super::decide::{
    HA_TURNED_OFF, JobFacts, LAST_STATE_MARKER, RESTORES_WITH_HA_FIRST, RestoreMode, SpecChange,
    SuspendMechanism, UpgradeChoice, choose_upgrade, classify, resume_restore_mode,
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
use phase::{Next, Phase};
use std::collections::BTreeMap;
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
        phases: Vec::new(),
        wake_at_ms: None,
        rewound: None,
        execution_undecided: false,
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
    /// The phases this plan ran, in order (`phase::TRANSITIONS`).
    phases: Vec<Phase>,
    /// A wait that ends at a known time re-checks then, not after the full progress interval.
    wake_at_ms: Option<i64>,
    /// The observed job is a resubmission that did not restore this checkpoint, the newest one
    /// recorded for it (`observe::execution_verdict`).
    rewound: Option<String>,
    /// The job runs again since it was recorded (a later start), and whether it restored its
    /// recorded state cannot be read yet.
    execution_undecided: bool,
    decoded: std::cell::RefCell<Option<(String, (AnySpec, ResourceMetadata))>>,
}

type Recorded = Option<(AnySpec, ResourceMetadata)>;

impl Planner<'_> {
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

    /// The resource deploys a cluster, and its JobManager Deployment is gone.
    fn jobmanager_lost(&self) -> bool {
        self.has_cluster() && self.obs.jobmanager.is_missing()
    }

    fn ha_enabled(&self) -> bool {
        flink_keys::ha_enabled(self.conf())
    }

    /// Whether a cluster of the recorded spec `recorded` runs with HA (its own configuration
    /// over the operator's, as the shell renders a deploy).
    fn recorded_ha_enabled(&self, recorded: &AnySpec) -> bool {
        let AnySpec::Deployment(spec) = recorded else {
            return false;
        };
        let namespace = match self.input.resource {
            Resource::Deployment(d) => d.metadata.namespace.as_deref(),
            Resource::SessionJob(j) => j.metadata.namespace.as_deref(),
        };
        let conf = crate::config::effective_flink_config(
            self.op(),
            namespace,
            spec.flink_version,
            &spec.flat_configuration(),
        );
        flink_keys::ha_enabled(&conf)
    }

    /// The spec a restore in `restore` mode deploys, given the recorded one: the user's, except
    /// while the job's state is only in HA metadata that a cluster of the user's spec would not
    /// read (it turns HA off). Then the recorded spec, which runs with HA, is kept: it restores
    /// the job, and the user's spec follows as an upgrade that takes the state along (the
    /// reference recovers a lost JobManager with its deployed spec likewise).
    fn spec_for_restore(&self, recorded: &AnySpec, restore: Option<RestoreMode>) -> AnySpec {
        if self.keeps_recorded_for_ha(recorded, restore) {
            recorded.clone()
        } else {
            self.spec.clone()
        }
    }

    fn keeps_recorded_for_ha(&self, recorded: &AnySpec, restore: Option<RestoreMode>) -> bool {
        self.kind == Kind::Application
            && restore == Some(RestoreMode::LastState)
            && !self.ha_enabled()
            && self.recorded_ha_enabled(recorded)
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

    /// Deletes the cluster, keeping its HA metadata unless the job's state is `discard`ed (then
    /// the running job is cancelled first, so it writes no checkpoint a later restore could take).
    fn delete_cluster(&self, discard: bool) -> Step {
        let cancel = if discard {
            self.obs
                .job
                .as_ref()
                .filter(|j| !j.state.is_globally_terminal())
                .map(|j| j.id.clone())
        } else {
            None
        };
        Step::DeleteCluster {
            delete_ha_data: discard,
            cancel_job_first: cancel,
        }
    }

    /// The savepoint a trigger made at `since` completed with: the trigger's own answer (`poll`),
    /// or else (its id lost in a crash, or Flink forgot it) a savepoint Flink reports taken since.
    fn savepoint_taken_since(&self, poll: Option<&SavepointTriggerStatus>, since: i64) -> Option<String> {
        match poll {
            Some(SavepointTriggerStatus::Completed { location }) => Some(location.clone()),
            _ => self
                .obs
                .latest_savepoint
                .as_ref()
                .filter(|s| s.time_ms >= since)
                .map(|s| s.path.clone()),
        }
    }

    /// Stops with an error a person can act on: a step, or a phase's decision to take it.
    fn fail<T: From<Step>>(&mut self, reason: &str, message: impl Into<String>) -> T {
        let known = self.last_known_snapshot();
        let message = with_manual_restore_steps(message.into(), self.conf(), known.as_deref());
        let json = error_json(reason, &message);
        if self.core.error.as_deref() != Some(json.as_str()) {
            self.event(EventType::Warning, reason, message.clone());
        }
        self.core.error = Some(json);
        self.why(format!("needs a person: {message}"));
        T::from(Step::ReportError {
            reason: reason.to_string(),
            message,
        })
    }

    /// The newest snapshot the status knows of the job: the recorded checkpoint, else the path
    /// recorded for the next restore, else the last savepoint. Kept through failed redeploys and
    /// upgrades, so a person asked to restore by hand is told where the state is.
    fn last_known_snapshot(&self) -> Option<String> {
        let job = &self.core.job;
        job.last_completed_checkpoint
            .as_ref()
            .and_then(|c| c.path.clone())
            .or_else(|| job.upgrade_savepoint_path.clone())
            .or_else(|| {
                job.savepoint_info
                    .as_ref()
                    .and_then(|i| i.last_savepoint.as_ref())
                    .and_then(|s| s.location.clone())
            })
            .filter(|p| restorable(p))
    }

    /// Whether the REST API of the running JobManager answers; `None` while nothing runs that
    /// should (not deployed, suspended, deleting, the cluster gone).
    fn rest_answers(&self) -> Option<bool> {
        if self.obs.rest_unanswered {
            return Some(false);
        }
        let deployed = self.core.recon.last_reconciled_spec.is_some()
            && self.desired_state() == JobState::Running
            && !self.deleting;
        let reachable_kind = match self.kind {
            Kind::SessionJob => self.obs.session_cluster_ready,
            _ => self.obs.jobmanager.is_ready(),
        };
        (deployed && reachable_kind && self.obs.rest_reachable).then_some(true)
    }

    /// The job is RUNNING but not all its tasks run yet: not stable, and no savepoint (Flink
    /// refuses one until every task runs).
    fn tasks_settling(&self) -> bool {
        self.obs
            .job
            .as_ref()
            .is_some_and(|j| j.state == FlinkJobState::Running && j.all_tasks_running == Some(false))
    }

    /// The phase the status reads as now.
    fn phase(&self) -> Result<Phase, String> {
        let recorded = self.recorded()?.map(|(spec, _)| spec.desired_state());
        Ok(Phase::of(self.deleting, recorded, self.core.recon.state))
    }

    fn decide(&mut self) -> Step {
        if let Err(e) = self.recorded() {
            return self.fail(
                "InvalidStatus",
                format!("status.reconciliationStatus.lastReconciledSpec cannot be read ({e}); fix or clear the status"),
            );
        }
        self.observe_job();
        let start = match self.phase() {
            Ok(phase) => phase,
            Err(e) => return self.fail("InvalidStatus", e),
        };
        if self.execution_undecided && start != Phase::Deleting {
            // In any phase: a savepoint of the job, or marking it stable, could make a rewind
            // permanent.
            self.phases.push(start);
            return Step::Wait {
                reason: "the job started again since it was recorded (a JobManager restart?) and its checkpoint statistics cannot be read yet: waiting to know whether it kept its state".into(),
            };
        }
        self.run_phases(start)
    }

    /// Runs the handler of the phase the status reads as, and of each phase it transitions to,
    /// until one returns a step. Each transition is taken at most once per plan, so a plan takes
    /// at most `TRANSITIONS.len()` of them: it cannot loop. (A phase may run twice: a restore
    /// whose deployment is observed goes back to running, which may start the next restore, of
    /// a job that failed already, say.)
    fn run_phases(&mut self, first: Phase) -> Step {
        let mut phase = first;
        loop {
            self.phases.push(phase);
            let to = match self.handle(phase) {
                Next::Step(step) => return step,
                Next::Enter(to) => to,
            };
            let reads_as = self.phase();
            let fault = if reads_as.as_ref() != Ok(&to) {
                Some(format!("the status written reads as {reads_as:?}"))
            } else if !phase::allowed(phase, to) {
                Some("it is not in the transition table".to_string())
            } else if self.phases.windows(2).any(|w| w[0] == phase && w[1] == to) {
                Some("that transition was already taken in this plan".to_string())
            } else {
                None
            };
            if let Some(fault) = fault {
                let path = self.phase_path();
                debug_assert!(
                    false,
                    "planner transition {phase} -> {to} refused: {fault} (path {path})"
                );
                return self.fail(
                    "PlannerFault",
                    format!("The operator's planner went from {phase} to {to} ({fault}; phases: {path}). This is a bug in flink-lifecycle; nothing was changed. Please report it with this resource's status."),
                );
            }
            phase = to;
        }
    }

    fn phase_path(&self) -> String {
        self.phases
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(" -> ")
    }

    /// The handler of each phase.
    fn handle(&mut self, phase: Phase) -> Next {
        let recorded = match self.recorded() {
            Ok(r) => r,
            Err(e) => return self.fail("InvalidStatus", e),
        };
        match (phase, recorded) {
            (Phase::Deleting, recorded) => self.delete(&recorded).into(),
            (Phase::NotDeployed, _) | (_, None) => self.first_deploy(),
            (Phase::Running, Some(r)) => self.running_phase(&r),
            (Phase::Stopping, Some(r)) => self.stopping_phase(&r),
            (Phase::Suspended, Some(r)) => self.suspended_phase(&r),
            (Phase::Restoring | Phase::RollingBack, Some(_)) => self.restore_phase(),
        }
    }

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
            // The job's last state change (e.g. to RUNNING, its tasks still deploying): what is
            // awaited next is new, and polled from the first interval again.
            self.core.job.update_time.as_deref().and_then(|t| t.parse().ok()),
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
            rest_answers: self.rest_answers(),
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
            phases: self.phases,
        }
    }
}

/// The first re-check of a pending operation.
const FIRST_POLL: Duration = Duration::from_millis(250);

/// A path Flink can start from: not the last-state marker, not blank.
/// How a message names the newest snapshot the status recorded. A checkpoint may since have been
/// replaced by a newer one of the same job (Flink keeps only `state.checkpoints.num-retained`,
/// and the job may have run on after the operator last read its statistics): then the newest
/// `chk-N` beside it holds the newer state.
pub(crate) fn recorded_snapshot_phrase(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((dir, last)) if last.starts_with("chk-") => format!(
            "The newest snapshot recorded for the job is {path} (if it is gone, the highest chk-N under {dir}/ is newer state of the same job)."
        ),
        _ => format!("The newest snapshot recorded for the job is {path}."),
    }
}

fn restorable(path: &str) -> bool {
    path != LAST_STATE_MARKER && !path.trim().is_empty()
}

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

/// The reference ends several messages with a bare "Manual restore required."; a person then
/// needs to know how and where to look, so those messages get the steps and the directories.
fn with_manual_restore_steps(
    message: String,
    conf: &BTreeMap<String, String>,
    known: Option<&str>,
) -> String {
    // A bare "Manual restore required." gets the steps; any message asking for a manual
    // restore gets the newest snapshot the status recorded, which a person needs either way.
    let bare = message.ends_with("Manual restore required.");
    let message = match known {
        Some(path) if message.contains("Manual restore required") && !message.contains(path) => {
            format!("{message} {}", recorded_snapshot_phrase(path))
        }
        _ => message,
    };
    if !bare {
        return message;
    }
    let dirs: Vec<String> = [
        ("savepoints", flink_keys::savepoint_dir(conf)),
        ("checkpoints", flink_keys::checkpoint_dir(conf)),
    ]
    .into_iter()
    .filter_map(|(what, dir)| dir.map(|d| format!("{what} under {d}")))
    .collect();
    let place = if dirs.is_empty() {
        String::new()
    } else {
        format!(" ({})", dirs.join(", "))
    };
    format!(
        "{message} To restore it: set job.initialSavepointPath to the job's newest savepoint or retained checkpoint{place} and a new job.savepointRedeployNonce."
    )
}

#[cfg(test)]
mod phrase_tests {
    use super::recorded_snapshot_phrase;

    #[test]
    fn a_recorded_checkpoint_points_to_newer_ones_beside_it() {
        let p = recorded_snapshot_phrase("s3://b/cp/0a1b/chk-7");
        assert!(
            p.contains("s3://b/cp/0a1b/chk-7") && p.contains("the highest chk-N under s3://b/cp/0a1b/"),
            "{p}"
        );
        let sp = recorded_snapshot_phrase("s3://b/sp/savepoint-1a2b3c-0123");
        assert!(!sp.contains("chk-N"), "{sp}");
    }
}
