//! The FlinkStateSnapshot planner: from a snapshot's spec and status (its write-ahead log), what
//! its target job looks like and what Flink said of the operation in flight, the status to write
//! and the one step to take. Pure: the trigger id and `now` come in as inputs.
//!
//! The trigger id is chosen here and recorded (IN_PROGRESS) before the trigger is sent. Flink's
//! triggers are idempotent per id, so a crash between the write and the POST re-sends the same
//! trigger instead of leaving a snapshot that no operation will ever complete.

use super::plan::{Event, EventType};
use crate::api::{
    FlinkJobState, FlinkStateSnapshotSpec, FlinkStateSnapshotStatus, JobKind, SavepointFormatType,
    SnapshotState,
};
use std::time::Duration;

/// First wait after a failed attempt; doubled per further failure (the reference's 10 s, 20 s,
/// 40 s, …), up to [`MAX_RETRY_DELAY`].
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(10);
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);
/// How often an operation in flight is polled.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How often a snapshot waiting for its job to run looks again.
pub const WAIT_INTERVAL: Duration = Duration::from_secs(10);

/// The job a snapshot is of, as its resource's spec and status tell.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetJob {
    pub kind: JobKind,
    /// The FlinkDeployment whose REST API serves the job (a session job's session cluster).
    pub cluster: String,
    pub job_id: Option<String>,
    pub job_state: Option<FlinkJobState>,
    /// The resource asks for its job to be suspended.
    pub suspended: bool,
    /// The resource is being upgraded, rolled back or deleted: its job is about to change.
    pub busy: bool,
    /// The job's `execution.checkpointing.savepoint-dir`.
    pub savepoint_dir: Option<String>,
    /// Flink 1.17 or later (checkpoints can be triggered through REST).
    pub checkpoints_supported: bool,
    /// Snapshots the resource's next restore may read (its upgrade path, newest checkpoint, last
    /// savepoint): deleting a snapshot resource never disposes of one of these.
    pub protected_paths: Vec<String>,
}

impl TargetJob {
    fn running_job(&self) -> Option<&str> {
        match self.job_state {
            Some(FlinkJobState::Running) if !self.busy && !self.suspended => self.job_id.as_deref(),
            _ => None,
        }
    }

    /// Why the job will not run again without a person: suspended, or globally terminal.
    fn stopped(&self) -> Option<String> {
        if self.suspended {
            return Some("its job is suspended".into());
        }
        match self.job_state {
            Some(s) if s.is_globally_terminal() && !self.busy => Some(format!("its job is {}", s.as_str())),
            _ => None,
        }
    }

    fn state_text(&self) -> &'static str {
        self.job_state.map_or("unknown", FlinkJobState::as_str)
    }
}

/// The snapshot's target: found, or why not.
#[derive(Clone, Debug, PartialEq)]
pub enum SnapshotTarget {
    Found(TargetJob),
    Missing(String),
}

/// What Flink says of the operation recorded in `status.triggerId`.
#[derive(Clone, Debug, PartialEq)]
pub enum OperationSeen {
    InProgress,
    /// Done; `path` is where (a checkpoint's path may be unknown).
    Completed {
        path: Option<String>,
    },
    Failed {
        cause: String,
    },
    /// The JobManager does not know the trigger (never received, or forgotten in a restart).
    Unknown,
    /// The REST API did not answer.
    Unreachable(String),
}

/// Everything the snapshot planner reads.
#[derive(Clone, Debug)]
pub struct SnapshotInput<'a> {
    pub namespace: &'a str,
    pub spec: &'a FlinkStateSnapshotSpec,
    pub status: Option<&'a FlinkStateSnapshotStatus>,
    pub deleting: bool,
    pub target: &'a SnapshotTarget,
    /// Observed only while IN_PROGRESS with a trigger id.
    pub operation: Option<&'a OperationSeen>,
    pub now_ms: i64,
    /// A fresh 32-hex id for the next trigger.
    pub new_trigger_id: &'a str,
    /// How long to wait before looking again at a deletion that cannot proceed yet.
    pub reconcile_interval: Duration,
}

/// The one step after the status is written.
#[derive(Clone, Debug, PartialEq)]
pub enum SnapshotStep {
    None,
    TriggerSavepoint {
        cluster: String,
        job_id: String,
        trigger_id: String,
        target_dir: Option<String>,
        format: SavepointFormatType,
    },
    TriggerCheckpoint {
        cluster: String,
        job_id: String,
        trigger_id: String,
    },
    /// Dispose of the savepoint's files, then release the finalizer.
    Dispose {
        cluster: String,
        path: String,
    },
    ReleaseFinalizer,
}

/// The planner's decision.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotPlan {
    pub status: FlinkStateSnapshotStatus,
    pub step: SnapshotStep,
    /// `None`: nothing more to do until the object changes.
    pub requeue: Option<Duration>,
    pub reason: String,
    pub events: Vec<Event>,
}

impl SnapshotPlan {
    fn new(
        status: FlinkStateSnapshotStatus,
        step: SnapshotStep,
        requeue: Option<Duration>,
        reason: String,
    ) -> Self {
        Self {
            status,
            step,
            requeue,
            reason,
            events: Vec::new(),
        }
    }

    fn event(mut self, type_: EventType, reason: &str, message: String) -> Self {
        self.events.push(Event {
            type_,
            reason: reason.into(),
            message,
        });
        self
    }
}

/// The wait after `failures` failed attempts.
pub fn retry_delay(failures: i32) -> Duration {
    let exp = u32::try_from(failures.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    FIRST_RETRY_DELAY
        .saturating_mul(2u32.saturating_pow(exp))
        .min(MAX_RETRY_DELAY)
}

/// A snapshot path without its scheme's slashes (`file:/x` and `file:///x` are one place).
pub fn same_place(a: &str, b: &str) -> bool {
    let norm = |p: &str| {
        p.trim_start_matches("file:")
            .trim_start_matches('/')
            .trim_end_matches('/')
            .to_string()
    };
    norm(a) == norm(b)
}

fn timestamp(now_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(now_ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn millis_of(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond())
}

/// What the spec is: a savepoint, a checkpoint, or neither/both (an error in words).
fn kind_of(spec: &FlinkStateSnapshotSpec) -> Result<&'static str, String> {
    match (&spec.savepoint, &spec.checkpoint) {
        (Some(_), None) => Ok("savepoint"),
        (None, Some(_)) => Ok("checkpoint"),
        _ => Err("Exactly one of checkpoint or savepoint configurations has to be set.".into()),
    }
}

/// Decides the next step of one snapshot.
pub fn plan_snapshot(input: &SnapshotInput<'_>) -> SnapshotPlan {
    let status = input.status.cloned().unwrap_or_default();
    if input.deleting {
        return plan_deletion(input, status);
    }
    match status.state() {
        SnapshotState::TriggerPending => plan_pending(input, status),
        SnapshotState::InProgress => plan_in_progress(input, status),
        final_state => {
            let mut status = status;
            status.state = Some(final_state);
            SnapshotPlan::new(
                status,
                SnapshotStep::None,
                None,
                format!("{}: nothing to do", final_state.as_str()),
            )
        }
    }
}

fn plan_pending(input: &SnapshotInput<'_>, mut status: FlinkStateSnapshotStatus) -> SnapshotPlan {
    status.state = Some(SnapshotState::TriggerPending);
    let kind = match kind_of(input.spec) {
        Ok(kind) => kind,
        Err(message) => return fail_for_good(status, input.now_ms, message),
    };
    if input.spec.already_exists() {
        return match input.spec.savepoint.as_ref().and_then(|s| s.path.clone()) {
            Some(path) => {
                status.state = Some(SnapshotState::Completed);
                status.path = Some(path.clone());
                status.result_timestamp = Some(timestamp(input.now_ms));
                status.error = None;
                SnapshotPlan::new(status, SnapshotStep::None, None, format!("savepoint {path} exists already"))
            }
            None => fail_for_good(
                status,
                input.now_ms,
                "spec.savepoint.alreadyExists is true but spec.savepoint.path is not set: set the path of the existing savepoint".into(),
            ),
        };
    }
    if status.failures > 0
        && let Some(failed_at) = status.result_timestamp.as_deref().and_then(millis_of)
    {
        let due = failed_at
            .saturating_add(i64::try_from(retry_delay(status.failures).as_millis()).unwrap_or(i64::MAX));
        if due > input.now_ms {
            let wait = Duration::from_millis(u64::try_from(due - input.now_ms).unwrap_or(0));
            return SnapshotPlan::new(
                status,
                SnapshotStep::None,
                Some(wait),
                format!("retrying the {kind} after a failure, in {} s", wait.as_secs()),
            );
        }
    }
    let target = match input.target {
        SnapshotTarget::Missing(why) => return abandon(status, input.now_ms, why.clone()),
        SnapshotTarget::Found(target) => target,
    };
    if let Some(why) = target.stopped() {
        return abandon(status, input.now_ms, format!("the {kind} cannot be taken: {why}"));
    }
    let Some(job_id) = target.running_job() else {
        return SnapshotPlan::new(
            status,
            SnapshotStep::None,
            Some(WAIT_INTERVAL),
            format!(
                "waiting for the job of {} {} to run (job state {}) before taking the {kind}",
                target.kind.as_str(),
                target.cluster,
                target.state_text()
            ),
        );
    };
    let trigger_id = input.new_trigger_id.to_string();
    let step = if kind == "checkpoint" {
        if !target.checkpoints_supported {
            return fail_for_good(
                status,
                input.now_ms,
                "Manual checkpoint triggering is not supported for this Flink job (requires Flink 1.17+)"
                    .into(),
            );
        }
        SnapshotStep::TriggerCheckpoint {
            cluster: target.cluster.clone(),
            job_id: job_id.to_string(),
            trigger_id: trigger_id.clone(),
        }
    } else {
        let savepoint = input.spec.savepoint.clone().unwrap_or_default();
        let Some(dir) = savepoint.path.clone().or_else(|| target.savepoint_dir.clone()) else {
            return failed_attempt(
                input,
                status,
                "Either the savepoint path in the spec or configuration execution.checkpointing.savepoint-dir in the Flink resource has to be supplied".into(),
            );
        };
        SnapshotStep::TriggerSavepoint {
            cluster: target.cluster.clone(),
            job_id: job_id.to_string(),
            trigger_id: trigger_id.clone(),
            target_dir: Some(dir),
            format: savepoint.format_type.unwrap_or(SavepointFormatType::Canonical),
        }
    };
    status.state = Some(SnapshotState::InProgress);
    status.trigger_id = Some(trigger_id.clone());
    status.trigger_timestamp = Some(timestamp(input.now_ms));
    status.error = None;
    SnapshotPlan::new(
        status,
        step,
        Some(POLL_INTERVAL),
        format!("triggering the {kind} of job {job_id} (trigger {trigger_id})"),
    )
}

fn plan_in_progress(input: &SnapshotInput<'_>, mut status: FlinkStateSnapshotStatus) -> SnapshotPlan {
    let kind = kind_of(input.spec).unwrap_or("snapshot");
    let Some(trigger_id) = status.trigger_id.clone() else {
        // IN_PROGRESS without a trigger id was not written by this planner: start over.
        status.state = Some(SnapshotState::TriggerPending);
        return SnapshotPlan::new(
            status,
            SnapshotStep::None,
            Some(Duration::ZERO),
            "IN_PROGRESS without a trigger id: triggering again".into(),
        );
    };
    match input.operation {
        Some(OperationSeen::Completed { path }) => {
            status.state = Some(SnapshotState::Completed);
            status.path = path.clone();
            status.result_timestamp = Some(timestamp(input.now_ms));
            status.error = None;
            let where_ = path.clone().unwrap_or_else(|| "an unknown path".into());
            return SnapshotPlan::new(
                status,
                SnapshotStep::None,
                None,
                format!("the {kind} completed at {where_}"),
            )
            .event(
                EventType::Normal,
                "SnapshotCompleted",
                format!("The {kind} completed at {where_}"),
            );
        }
        Some(OperationSeen::Failed { cause }) => {
            return failed_attempt(input, status, format!("the {kind} failed: {cause}"));
        }
        _ => {}
    }
    let target = match input.target {
        SnapshotTarget::Missing(why) => return abandon(status, input.now_ms, why.clone()),
        SnapshotTarget::Found(target) => target,
    };
    let Some(job_id) = target.running_job() else {
        return abandon(
            status,
            input.now_ms,
            format!(
                "the job of {} {} stopped running (job state {}) while the {kind} was in progress",
                target.kind.as_str(),
                target.cluster,
                target.state_text()
            ),
        );
    };
    match input.operation {
        Some(OperationSeen::InProgress) => {
            status.error = None;
            SnapshotPlan::new(
                status,
                SnapshotStep::None,
                Some(POLL_INTERVAL),
                format!("the {kind} is in progress"),
            )
        }
        Some(OperationSeen::Unreachable(why)) => {
            status.error = Some(format!("cannot ask Flink about the {kind} (retrying): {why}"));
            SnapshotPlan::new(
                status,
                SnapshotStep::None,
                Some(retry_delay(1)),
                format!("the REST API of {} did not answer", target.cluster),
            )
        }
        // Never sent (a crash after the status write) or forgotten: the same id again.
        _ => {
            let step = if kind == "checkpoint" {
                SnapshotStep::TriggerCheckpoint {
                    cluster: target.cluster.clone(),
                    job_id: job_id.to_string(),
                    trigger_id: trigger_id.clone(),
                }
            } else {
                let savepoint = input.spec.savepoint.clone().unwrap_or_default();
                SnapshotStep::TriggerSavepoint {
                    cluster: target.cluster.clone(),
                    job_id: job_id.to_string(),
                    trigger_id: trigger_id.clone(),
                    target_dir: savepoint.path.or_else(|| target.savepoint_dir.clone()),
                    format: savepoint.format_type.unwrap_or(SavepointFormatType::Canonical),
                }
            };
            SnapshotPlan::new(
                status,
                step,
                Some(POLL_INTERVAL),
                format!("Flink does not know trigger {trigger_id}: sending it again"),
            )
        }
    }
}

fn plan_deletion(input: &SnapshotInput<'_>, status: FlinkStateSnapshotStatus) -> SnapshotPlan {
    let release = |status: FlinkStateSnapshotStatus, reason: &str| {
        SnapshotPlan::new(status, SnapshotStep::ReleaseFinalizer, None, reason.to_string())
    };
    if !input.spec.dispose_on_delete() {
        return release(
            status,
            "nothing to dispose of (a checkpoint, or disposeOnDelete is false)",
        );
    }
    match status.state() {
        SnapshotState::InProgress if input.operation == Some(&OperationSeen::Unknown) => abandon(
            status,
            input.now_ms,
            "deleted while Flink no longer knew its trigger: nothing was recorded to dispose of".into(),
        ),
        SnapshotState::InProgress => {
            // Let it finish (or be abandoned), so a savepoint written after the delete is disposed too.
            let progressed = plan_in_progress(input, status);
            match progressed.step {
                SnapshotStep::None => progressed,
                _ => SnapshotPlan::new(
                    progressed.status,
                    SnapshotStep::None,
                    Some(POLL_INTERVAL),
                    "deleting: waiting for the savepoint in flight".into(),
                ),
            }
        }
        SnapshotState::Completed => {
            if input.spec.already_exists() && input.spec.job_reference.is_none() {
                return release(status, "no job to dispose of the savepoint through");
            }
            let Some(path) = status.path.clone() else {
                return release(status, "the savepoint has no recorded path");
            };
            match input.target {
                SnapshotTarget::Found(target)
                    if target.protected_paths.iter().any(|p| same_place(p, &path)) =>
                {
                    let mut status = status;
                    status.error = Some(format!(
                        "savepoint {path} is not disposed of yet: {} {} may still restore from it. It is disposed \
                         of once a newer snapshot of the job replaces it; set spec.savepoint.disposeOnDelete to \
                         false to delete this resource and keep the files",
                        target.kind.as_str(),
                        target.cluster
                    ));
                    SnapshotPlan::new(
                        status,
                        SnapshotStep::None,
                        Some(input.reconcile_interval),
                        "deleting: the savepoint is the job's restore point".into(),
                    )
                }
                SnapshotTarget::Found(target) if target.running_job().is_some() => SnapshotPlan::new(
                    status,
                    SnapshotStep::Dispose {
                        cluster: target.cluster.clone(),
                        path: path.clone(),
                    },
                    None,
                    format!("disposing of savepoint {path}"),
                ),
                target => {
                    let why = match target {
                        SnapshotTarget::Missing(why) => why.clone(),
                        SnapshotTarget::Found(t) => format!(
                            "the job of {} {} is not running (job state {})",
                            t.kind.as_str(),
                            t.cluster,
                            t.state_text()
                        ),
                    };
                    let mut status = status;
                    status.error = Some(format!(
                        "cannot dispose of savepoint {path} yet: {why}. Disposal goes through the job's cluster; \
                         set spec.savepoint.disposeOnDelete to false to delete this resource and keep the files"
                    ));
                    SnapshotPlan::new(
                        status,
                        SnapshotStep::None,
                        Some(input.reconcile_interval),
                        "deleting: waiting for the job to run to dispose of the savepoint".into(),
                    )
                }
            }
        }
        _ => release(status, "nothing was taken: nothing to dispose of"),
    }
}

/// A failed attempt: counted, retried after a delay unless `backoffLimit` is reached.
fn failed_attempt(
    input: &SnapshotInput<'_>,
    mut status: FlinkStateSnapshotStatus,
    message: String,
) -> SnapshotPlan {
    status.failures = status.failures.saturating_add(1);
    status.error = Some(message.clone());
    status.result_timestamp = Some(timestamp(input.now_ms));
    status.trigger_id = None;
    status.trigger_timestamp = None;
    let limit = input.spec.backoff_limit();
    if limit >= 0 && status.failures > limit {
        status.state = Some(SnapshotState::Failed);
        let text = format!(
            "{message} (attempt {}, backoffLimit {limit}: not retried)",
            status.failures
        );
        return SnapshotPlan::new(status, SnapshotStep::None, None, text.clone()).event(
            EventType::Warning,
            "SnapshotFailed",
            text,
        );
    }
    status.state = Some(SnapshotState::TriggerPending);
    let delay = retry_delay(status.failures);
    let text = format!(
        "{message} (attempt {}; retrying in {} s)",
        status.failures,
        delay.as_secs()
    );
    SnapshotPlan::new(status, SnapshotStep::None, Some(delay), text.clone()).event(
        EventType::Warning,
        "SnapshotError",
        text,
    )
}

/// A spec that can never be acted on: FAILED at once, whatever `backoffLimit` says.
fn fail_for_good(mut status: FlinkStateSnapshotStatus, now_ms: i64, message: String) -> SnapshotPlan {
    status.state = Some(SnapshotState::Failed);
    status.error = Some(message.clone());
    status.result_timestamp = Some(timestamp(now_ms));
    SnapshotPlan::new(status, SnapshotStep::None, None, message.clone()).event(
        EventType::Warning,
        "SnapshotFailed",
        message,
    )
}

fn abandon(mut status: FlinkStateSnapshotStatus, now_ms: i64, message: String) -> SnapshotPlan {
    status.state = Some(SnapshotState::Abandoned);
    status.error = Some(message.clone());
    status.result_timestamp = Some(timestamp(now_ms));
    SnapshotPlan::new(status, SnapshotStep::None, None, format!("abandoned: {message}")).event(
        EventType::Warning,
        "SnapshotAbandoned",
        message,
    )
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
