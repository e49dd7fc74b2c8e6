//! Words for what a change will do to the running job: one line for the webhook's warnings
//! (`describe_*_change`), built from the same decisions the planner takes ([`super::decide`]).

use super::decide::{
    JobFacts, LAST_STATE_MARKER, RESTORES_WITH_HA_FIRST, RestoreMode, SpecChange, SuspendMechanism,
    UpgradeChoice, choose_upgrade, classify, resume_restore_mode,
};
use super::diff::{DiffType, SpecDiff, deployment_diff_with_job, session_job_diff};
use super::planner::phase::Phase;
use crate::api::{
    FlinkDeployment, FlinkDeploymentSpec, FlinkDeploymentStatus, FlinkJobState, FlinkSessionJob,
    FlinkSessionJobSpec, FlinkSessionJobStatus, JobManagerDeploymentStatus, JobSpec, JobState, JobStatus,
    ReconciledSpec, ReconciliationStatus, UpgradeMode,
};
use crate::config::{OperatorConfig, effective_flink_config, flink_keys};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// What the change line reads of a stored object's spec. Once a reconciliation is recorded in
/// the status, the line measures from the recorded spec and reads of the stored one only its
/// job (the user's previous upgrade mode); the whole stored spec is what runs only before that.
#[derive(Debug)]
pub enum StoredSpec<'a, S> {
    Whole(&'a S),
    /// The stored spec's job alone (the webhook reads no more of it when a reconciliation is
    /// recorded).
    Job(Option<&'a JobSpec>),
}

// Derived, these would ask `S: Copy`.
impl<S> Clone for StoredSpec<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for StoredSpec<'_, S> {}

impl<'a, S: HasJob> StoredSpec<'a, S> {
    fn job(self) -> Option<&'a JobSpec> {
        match self {
            Self::Whole(spec) => spec.job(),
            Self::Job(job) => job,
        }
    }
}

/// A spec with an optional job: FlinkDeployment's and FlinkSessionJob's.
pub trait HasJob {
    fn job(&self) -> Option<&JobSpec>;
}

impl HasJob for FlinkDeploymentSpec {
    fn job(&self) -> Option<&JobSpec> {
        self.job.as_ref()
    }
}

impl HasJob for FlinkSessionJobSpec {
    fn job(&self) -> Option<&JobSpec> {
        self.job.as_ref()
    }
}

/// One line saying what replacing the stored FlinkDeployment `old` by `new` does to the running
/// job, or `None` when nothing changed or nothing is deployed yet.
pub fn describe_deployment_change(
    old: &FlinkDeployment,
    new: &FlinkDeployment,
    operator: &OperatorConfig,
) -> Option<String> {
    let stored = StoredSpec::Whole(&old.spec);
    let deployed = deployed_deployment_spec(stored, old.status.as_ref())?;
    let flat = new.spec.flat_configuration();
    let op = operator.for_resource(&flat).unwrap_or_else(|_| operator.clone());
    let conf = effective_flink_config(
        &op,
        new.metadata.namespace.as_deref(),
        new.spec.flink_version,
        &flat,
    );
    describe_deployment_change_from(stored, old.status.as_ref(), new, &deployed, &conf, &op)
}

/// The spec a stored FlinkDeployment (`spec`, `status`) runs, as the change line measures
/// from: its decoded `lastReconciledSpec`, or its own spec before any reconciliation; `None`
/// when a recorded spec cannot be read or the reconciliation status records none (nothing can
/// be said), or when `spec` is its job alone and no reconciliation is recorded.
pub fn deployed_deployment_spec<'a>(
    spec: StoredSpec<'a, FlinkDeploymentSpec>,
    status: Option<&FlinkDeploymentStatus>,
) -> Option<Cow<'a, FlinkDeploymentSpec>> {
    deployed_spec(spec, status.and_then(|s| s.reconciliation_status.as_ref()))
}

/// [`deployed_deployment_spec`] for either kind, from the stored reconciliation status.
fn deployed_spec<'a, S: Clone + Serialize + DeserializeOwned>(
    spec: StoredSpec<'a, S>,
    reconciliation: Option<&ReconciliationStatus>,
) -> Option<Cow<'a, S>> {
    match (reconciliation, spec) {
        (Some(r), _) => Some(Cow::Owned(
            ReconciledSpec::<S>::decode(r.last_reconciled_spec.as_deref()?)
                .ok()?
                .spec,
        )),
        (None, StoredSpec::Whole(spec)) => Some(Cow::Borrowed(spec)),
        (None, StoredSpec::Job(_)) => None,
    }
}

/// [`describe_deployment_change`] with its inputs already derived: the stored object as its
/// spec and status, `deployed` from [`deployed_deployment_spec`], `conf` and `op` the effective
/// Flink configuration of `new` and the operator settings for it (the webhook has them from
/// validation).
pub fn describe_deployment_change_from(
    old_spec: StoredSpec<'_, FlinkDeploymentSpec>,
    status: Option<&FlinkDeploymentStatus>,
    new: &FlinkDeployment,
    deployed: &FlinkDeploymentSpec,
    conf: &BTreeMap<String, String>,
    op: &OperatorConfig,
) -> Option<String> {
    let deployed_job = deployed.job.clone().map(|j| user_mode_of(j, old_spec.job()));
    let diff = deployment_diff_with_job(deployed, deployed_job.as_ref(), &new.spec);
    let ctx = Context {
        session_job: false,
        deployed_job: deployed.job.as_ref(),
        desired_job: new.spec.job.as_ref(),
        diff,
        job_status: status.and_then(|s| s.job_status.as_ref()),
        jm: status.and_then(|s| s.job_manager_deployment_status),
        phase: phase_of(
            deployed.job.as_ref(),
            status.and_then(|s| s.reconciliation_status.as_ref()),
        ),
        ha_enabled: flink_keys::ha_enabled(conf),
        // HA metadata exists if the deployed cluster had HA: from its own spec, or from the
        // operator's defaults when neither spec sets it.
        deployed_ha: flink_keys::ha_enabled(&deployed.flat_configuration())
            || (flink_keys::ha_enabled(conf) && !flink_keys::ha_enabled(&new.spec.flat_configuration())),
        savepoint_dir_set: flink_keys::savepoint_dir(conf).is_some(),
        flink_version_changed: deployed.flink_version != new.spec.flink_version,
        op,
    };
    ctx.describe()
}

/// One line saying what replacing the stored FlinkSessionJob `old` by `new` does to the running
/// job, or `None` when nothing changed or nothing is deployed yet.
pub fn describe_session_job_change(
    old: &FlinkSessionJob,
    new: &FlinkSessionJob,
    operator: &OperatorConfig,
) -> Option<String> {
    describe_session_job_change_from(StoredSpec::Whole(&old.spec), old.status.as_ref(), new, operator)
}

/// [`describe_session_job_change`] with the stored object as its spec and status.
pub fn describe_session_job_change_from(
    old_spec: StoredSpec<'_, FlinkSessionJobSpec>,
    status: Option<&FlinkSessionJobStatus>,
    new: &FlinkSessionJob,
    operator: &OperatorConfig,
) -> Option<String> {
    let deployed = deployed_spec(old_spec, status.and_then(|s| s.reconciliation_status.as_ref()))?;
    let mut before = deployed.as_ref().clone();
    before.job = before.job.map(|j| user_mode_of(j, old_spec.job()));
    let diff = session_job_diff(&before, &new.spec);
    let flat = new.spec.flat_configuration();
    let op = operator.for_resource(&flat).unwrap_or_else(|_| operator.clone());
    let ctx = Context {
        session_job: true,
        deployed_job: deployed.job.as_ref(),
        desired_job: new.spec.job.as_ref(),
        diff,
        job_status: status.and_then(|s| s.job_status.as_ref()),
        // A session job's cluster is not its own: taken as ready.
        jm: None,
        phase: phase_of(
            deployed.job.as_ref(),
            status.and_then(|s| s.reconciliation_status.as_ref()),
        ),
        ha_enabled: false,
        deployed_ha: false,
        savepoint_dir_set: flink_keys::savepoint_dir(&flat).is_some(),
        flink_version_changed: false,
        op: &op,
    };
    ctx.describe()
}

/// The planner's phase of a stored resource whose deployed spec has `job`
/// (`planner::phase::Phase::of`).
fn phase_of(job: Option<&JobSpec>, r: Option<&ReconciliationStatus>) -> Phase {
    Phase::of(
        false,
        Some(job.map(JobSpec::desired_state)),
        r.and_then(|r| r.state),
    )
}

/// `lastReconciledSpec.job.upgradeMode` records how the job was last stopped, not the user's
/// choice (reference §0.6); a user-visible diff compares the user's own previous mode.
fn user_mode_of(mut job: JobSpec, old_job: Option<&JobSpec>) -> JobSpec {
    job.upgrade_mode = Some(old_job.map(JobSpec::upgrade_mode).unwrap_or_default());
    job
}

struct Context<'a> {
    session_job: bool,
    deployed_job: Option<&'a JobSpec>,
    desired_job: Option<&'a JobSpec>,
    diff: SpecDiff,
    job_status: Option<&'a JobStatus>,
    /// The recorded JobManager Deployment status (none recorded: taken as ready).
    jm: Option<JobManagerDeploymentStatus>,
    /// The planner's phase of the stored resource: `Restoring` while an upgrade's, first
    /// deployment's or recovery's restart is under way.
    phase: Phase,
    ha_enabled: bool,
    /// The deployed cluster had HA, so its HA metadata is there to restore.
    deployed_ha: bool,
    savepoint_dir_set: bool,
    flink_version_changed: bool,
    op: &'a OperatorConfig,
}

impl Context<'_> {
    fn describe(&self) -> Option<String> {
        let change = classify(
            self.deployed_job.map(JobSpec::desired_state),
            self.desired_job.map(JobSpec::desired_state),
            &self.diff,
        );
        let user_mode = self.desired_job.map(JobSpec::upgrade_mode).unwrap_or_default();
        let fields = self.diff.summary(DiffType::Scale);
        let line = match change {
            SpecChange::None => return None,
            SpecChange::IgnoredOnly => ignored_only(&self.diff, self.desired_job, self.deployed_job),
            SpecChange::SuspendedUpdate => {
                "no restart: the job stays suspended; the new spec is applied when it is resumed".to_string()
            }
            SpecChange::SavepointRedeploy => {
                let path = self
                    .desired_job
                    .and_then(|j| j.initial_savepoint_path.as_deref())
                    .filter(|p| !p.trim().is_empty());
                let suspended =
                    |j: Option<&JobSpec>| j.map(JobSpec::desired_state) == Some(JobState::Suspended);
                match path {
                    // As the planner does: the job is suspended as any suspend keeps its state,
                    // and the redeploy waits for the resume.
                    Some(p) if suspended(self.desired_job) && suspended(self.deployed_job) => format!(
                        "savepoint redeploy: the job stays suspended; when resumed it starts from {p}; rollback to earlier specs is disabled"
                    ),
                    Some(p) if suspended(self.desired_job) => {
                        let facts = self.facts(user_mode);
                        format!(
                            "{}; the savepoint redeploy is carried out at the resume, which then starts from {p} instead",
                            describe_suspend(&choose_upgrade(&facts, self.op), &facts)
                        )
                    }
                    Some(p) => format!(
                        "savepoint redeploy: job will be restarted from {p}; rollback to earlier specs is disabled"
                    ),
                    None => "savepoint redeploy rejected: initialSavepointPath must not be empty for savepoint redeployment".to_string(),
                }
            }
            // A restart under way (upgrade, first deployment, recovery) records its spec as
            // suspended until its new cluster is seen: once deployed, that cluster is kept and
            // a change follows as an upgrade (`Planner::on_deployed`).
            SpecChange::Resume
                if self.phase == Phase::Restoring
                    && self.jm.is_some_and(|j| j != JobManagerDeploymentStatus::Missing)
                    && !self.session_job =>
            {
                "restart under way: its new cluster is already deployed and keeps the spec it started with; this change follows as an upgrade once the job runs".to_string()
            }
            SpecChange::Resume => {
                let recorded = self.deployed_job.map(JobSpec::upgrade_mode).unwrap_or_default();
                let restore = resume_restore_mode(recorded, user_mode);
                let path = self.job_status.and_then(|j| j.upgrade_savepoint_path.as_deref());
                let how = if restore == RestoreMode::LastState
                    && self.deployed_ha
                    && !self.ha_enabled
                    && !self.session_job
                {
                    // As the planner does (`Planner::spec_for_restore`).
                    RESTORES_WITH_HA_FIRST.to_string()
                } else {
                    describe_restore(restore, path)
                };
                if self.phase == Phase::Restoring && !self.session_job {
                    // The status may not show yet a cluster deployed a moment ago.
                    format!(
                        "restart under way: if its new cluster is not deployed yet, {how}; otherwise this change follows as an upgrade once the job runs"
                    )
                } else {
                    format!("resume: {how}")
                }
            }
            SpecChange::Suspend => {
                let facts = self.facts(user_mode);
                describe_suspend(&choose_upgrade(&facts, self.op), &facts)
            }
            SpecChange::Upgrade(kind) => {
                if self.deployed_job.is_none() {
                    return Some(format!(
                        "session cluster redeploy: the JobManager will be replaced (HA metadata kept); changed: {fields}"
                    ));
                }
                let facts = self.facts(user_mode);
                let what = describe_upgrade(&choose_upgrade(&facts, self.op), &facts);
                if kind == DiffType::Scale {
                    format!("scale: {fields}; without in-place rescaling this is a restart — {what}")
                } else {
                    format!("{what} (changed: {fields})")
                }
            }
        };
        Some(match self.unused_initial_savepoint() {
            Some(p) => format!(
                "{line}; the new job.initialSavepointPath is not used now: it is read at the first deployment and at a savepoint redeploy (change spec.job.savepointRedeployNonce too to restart from {p})"
            ),
            None => line,
        })
    }

    /// The new `initialSavepointPath` when the change sets it and does not redeploy from it: a
    /// path edited alone looks like a restore to a person, and it is not (reference §1).
    fn unused_initial_savepoint(&self) -> Option<&str> {
        if self.diff.kind() == DiffType::SavepointRedeploy || !self.diff.touches("job.initialSavepointPath") {
            return None;
        }
        self.desired_job
            .and_then(|j| j.initial_savepoint_path.as_deref())
            .filter(|p| !p.trim().is_empty())
    }

    /// Facts from the stored status; without an observation the job is taken as last recorded
    /// (RUNNING when unknown) and HA metadata as present when HA is on.
    fn facts(&self, user_mode: UpgradeMode) -> JobFacts {
        let js = self.job_status;
        JobFacts {
            session_job: self.session_job,
            user_mode,
            job_state: Some(js.and_then(|j| j.state).unwrap_or(FlinkJobState::Running)),
            jm_ready: self.jm.is_none_or(|j| j == JobManagerDeploymentStatus::Ready),
            jm_missing_or_error: matches!(
                self.jm,
                Some(JobManagerDeploymentStatus::Missing | JobManagerDeploymentStatus::Error)
            ),
            ha_enabled: self.ha_enabled,
            ha_metadata: self.deployed_ha && !self.session_job,
            savepoint_dir_set: self.savepoint_dir_set,
            flink_version_changed: self.flink_version_changed,
            restore_path: js.and_then(|j| j.upgrade_savepoint_path.clone()),
            job_start_ms: None,
            latest_checkpoint_ms: None,
            pending_checkpoint_ms: None,
            now_ms: 0,
            never_started: None,
            lost_jm_recorded_ha: self.jm == Some(JobManagerDeploymentStatus::Missing) && self.deployed_ha,
        }
    }
}

fn ignored_only(diff: &SpecDiff, desired: Option<&JobSpec>, deployed: Option<&JobSpec>) -> String {
    let nonce = |j: Option<&JobSpec>| j.and_then(|j| j.savepoint_trigger_nonce);
    let fields = diff.summary(DiffType::Ignore);
    if nonce(desired).is_some() && nonce(desired) != nonce(deployed) {
        return format!(
            "manual savepoint: a savepoint will be triggered, the job keeps running (changed: {fields})"
        );
    }
    format!("no restart: only ignored fields changed ({fields})")
}

/// Where a start takes its state from, in words.
pub fn describe_restore(restore: RestoreMode, path: Option<&str>) -> String {
    match (restore, path) {
        (RestoreMode::Empty, _) => {
            "job will be started with the latest spec from empty state (stateless)".into()
        }
        (RestoreMode::LastState, _) => {
            "job will be started with the latest spec from its HA metadata (last state)".into()
        }
        (RestoreMode::Savepoint, Some(p)) if p != LAST_STATE_MARKER => {
            format!("job will be started with the latest spec from {p}")
        }
        (RestoreMode::Savepoint, _) => {
            "job will be started with the latest spec from its last savepoint or checkpoint".into()
        }
    }
}

/// Why a last-state stop cancels the job rather than keeping its HA metadata, in words (empty
/// when a note on the choice says it).
fn why_cancel(f: &JobFacts, noted: bool) -> &'static str {
    match (f.session_job, f.ha_metadata, f.ha_enabled) {
        (true, _, _) => " of a session job",
        (false, false, false) => " without HA",
        (false, true, false) => " turning HA off",
        (false, false, true) => " with no HA metadata to restore",
        (false, true, true) if noted => "",
        (false, true, true) => " with job cancel enabled",
    }
}

/// A running -> running upgrade, in words.
pub fn describe_upgrade(choice: &UpgradeChoice, f: &JobFacts) -> String {
    use SuspendMechanism as S;
    let user_mode = f.user_mode;
    let mode = user_mode.as_str();
    match choice {
        UpgradeChoice::Go {
            suspend,
            restore,
            note,
        } => {
            let what = match (suspend, restore) {
                (S::Stateless | S::AlreadyStopped, RestoreMode::Empty) => {
                    "stateless upgrade: job state will be discarded".to_string()
                }
                (S::Savepoint, _) => format!(
                    "{} upgrade: job will be stopped with a savepoint and restored from it",
                    if user_mode == UpgradeMode::Savepoint {
                        "savepoint"
                    } else {
                        mode
                    }
                ),
                (S::KeepHaMetadata, _) => {
                    "last-state upgrade: JobManager will be replaced and the job restored from HA metadata"
                        .to_string()
                }
                (S::Cancel, _) => format!(
                    "last-state upgrade{}: job will be cancelled and restored from its last checkpoint",
                    why_cancel(f, note.is_some())
                ),
                (S::AlreadyStopped, RestoreMode::LastState) => format!("{mode} upgrade turning HA off"),
                (S::AlreadyStopped, _) => format!(
                    "{mode} upgrade: the job has already stopped; it will be restarted from its last savepoint or checkpoint"
                ),
                (S::Stateless, _) => "stateless upgrade: job state will be discarded".to_string(),
            };
            match note {
                Some(n) => format!("{what} ({n})"),
                None => what,
            }
        }
        UpgradeChoice::Wait { reason } => format!("{mode} upgrade pending: {reason}"),
        UpgradeChoice::Fail { message, .. } => format!("{mode} upgrade blocked: {message}"),
    }
}

/// A running -> suspended transition, in words.
pub fn describe_suspend(choice: &UpgradeChoice, f: &JobFacts) -> String {
    use SuspendMechanism as S;
    let user_mode = f.user_mode;
    match choice {
        UpgradeChoice::Go {
            suspend: S::AlreadyStopped,
            restore: RestoreMode::LastState,
            ..
        } => "suspend: the JobManager is lost and its HA metadata is kept; the resume restores the job from it with the deployed spec (HA on), then applies the new spec as an upgrade".into(),
        UpgradeChoice::Go { suspend, .. } => match suspend {
            S::Savepoint => "suspend with savepoint: job will be stopped with a savepoint; resume restores from it".into(),
            S::Stateless => "suspend (stateless): job will be cancelled and its state discarded".into(),
            S::KeepHaMetadata => {
                "suspend (last-state): JobManager will be deleted and HA metadata kept; resume restores from it".into()
            }
            S::Cancel => format!(
                "suspend (last-state{}): job will be cancelled; resume restores from its last checkpoint",
                why_cancel(f, false)
            ),
            S::AlreadyStopped => "suspend: the job has already stopped; resume restores from its last savepoint or checkpoint".into(),
        },
        UpgradeChoice::Wait { reason } => format!("suspend pending ({user_mode}): {reason}"),
        UpgradeChoice::Fail { message, .. } => format!("suspend blocked ({user_mode}): {message}"),
    }
}
