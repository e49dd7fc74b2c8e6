//! The typed decision on one object (FlinkDeployment, FlinkSessionJob, FlinkStateSnapshot),
//! shared by the admission review ([`super::review`]) and the offline `validate` command:
//! schema, rules, warnings and the planner's change line.

use super::sessions::SessionLookup;
use super::snapshot_target::snapshot_target;
use crate::api::{
    FlinkDeployment, FlinkDeploymentSpec, FlinkDeploymentStatus, FlinkSessionJob, FlinkSessionJobStatus,
    FlinkStateSnapshot, FlinkStateSnapshotStatus, JobSpec,
};
use crate::config::OperatorConfig;
use crate::lifecycle::{
    StoredSpec, deployed_deployment_spec, describe_deployment_change_from, describe_session_job_change_from,
};
use crate::validation::HostResolver;
use crate::validation::{
    DeploymentFacts, FlinkKind, ValidationError, deployment_warnings_facts, recorded_in,
    session_job_warnings, validate_deployment_facts, validate_schema, validate_session_job,
    validate_state_snapshot,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::core::object::{HasSpec, HasStatus};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_json::Value;
use std::borrow::Cow;

/// What the review needs besides the request.
pub struct ReviewContext<'a> {
    pub operator: &'a OperatorConfig,
    pub sessions: &'a dyn SessionLookup,
    pub resolver: &'a dyn HostResolver,
}

/// What the schema checks read of an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaScope {
    /// Spec and status: a manifest checked offline, where no API server has read either.
    Whole,
    /// The spec alone: an admission review. The status in a review is the stored one (the
    /// status subresource resets any other on UPDATE and drops it on CREATE), which the API
    /// server validated when the operator wrote it. Checking it again could only deny a user's
    /// spec change for a status the user cannot edit, e.g. one written under an older CRD.
    Spec,
}

/// Validates one object as JSON (schema, typed rules) and returns its warnings. `old` is the
/// stored object on UPDATE; its status stands in when `object` has none (the API server copies
/// it on real updates; offline manifests usually lack it). `namespace` fills a missing
/// `metadata.namespace`.
pub fn validate_value(
    kind: FlinkKind,
    object: &Value,
    old: Option<&Value>,
    namespace: Option<&str>,
    scope: SchemaScope,
    ctx: &ReviewContext<'_>,
) -> Result<Vec<String>, ValidationError> {
    let decide = || -> Result<Vec<String>, ValidationError> {
        match (scope, object.get("status")) {
            (SchemaScope::Spec, Some(_)) => {
                let mut spec_only = object.clone();
                if let Some(map) = spec_only.as_object_mut() {
                    map.remove("status");
                }
                validate_schema(kind, &spec_only)?;
            }
            _ => validate_schema(kind, object)?,
        }
        match kind {
            FlinkKind::Deployment => {
                let new: FlinkDeployment = typed(object, kind)?;
                decide_deployment(new, old.and_then(stored_from_value), namespace, ctx)
            }
            FlinkKind::SessionJob => {
                let new: FlinkSessionJob = typed(object, kind)?;
                decide_session_job(new, old.and_then(stored_from_value), namespace, ctx)
            }
            FlinkKind::StateSnapshot => {
                let new: FlinkStateSnapshot = typed(object, kind)?;
                decide_state_snapshot(new, old.and_then(stored_from_value), namespace, ctx)
            }
        }
    };
    match (decide(), old) {
        (Err(error), Some(old)) if spec_unchanged(object, old) => Ok(vec![unchanged_invalid_spec(&error)]),
        (decision, _) => decision,
    }
}

/// Whether an UPDATE leaves the spec as stored (it changes metadata, such as the operator adding
/// or removing its finalizer, or labels).
fn spec_unchanged(object: &Value, old: &Value) -> bool {
    object.get("spec") == old.get("spec")
}

/// The warning that admits an UPDATE of an invalid stored spec that leaves the spec alone. The
/// spec was stored before a rule existed (or before the webhook was installed); denying every
/// update of it would keep the operator from removing its finalizer, so the resource could
/// never be deleted, and keep users from labelling it. Changing the spec is checked as always.
fn unchanged_invalid_spec(error: &ValidationError) -> String {
    format!(
        "the stored spec does not pass validation and this update leaves it unchanged, so it is admitted; \
         the operator does not act on it until it is fixed: {error}"
    )
}

fn typed<T: serde::de::DeserializeOwned>(object: &Value, kind: FlinkKind) -> Result<T, ValidationError> {
    T::deserialize(object).map_err(|e| {
        ValidationError::new(
            "request.object",
            format!("cannot be read as a {}: {e}", kind.as_str()),
            "Fix the field named in the error",
        )
    })
}

/// The stored spec as the decision reads it: typed whole, or only its job. The change line reads
/// no more than the job of it once the stored status records a reconciliation ([`StoredSpec`]);
/// typing the rest cost ~4 µs of a ~50 µs review.
enum SpecPart<S> {
    Whole(S),
    Job(Option<JobSpec>),
}

/// The stored object of an UPDATE as the decision reads it: spec and status (its metadata is
/// not read).
struct Stored<T: HasSpec + HasStatus> {
    spec: SpecPart<T::Spec>,
    status: Option<T::Status>,
}

/// A kind whose stored spec the decision may read as its job alone.
trait StoredReading: Resource + HasSpec<Spec: DeserializeOwned> + HasStatus<Status: DeserializeOwned> {
    /// Whether `status` records a reconciliation: the change line then measures from the
    /// recorded spec and reads only the stored spec's job.
    fn records_reconciliation(status: Option<&Self::Status>) -> bool;
}

impl StoredReading for FlinkDeployment {
    fn records_reconciliation(status: Option<&FlinkDeploymentStatus>) -> bool {
        status.is_some_and(|s| s.reconciliation_status.is_some())
    }
}

impl StoredReading for FlinkSessionJob {
    fn records_reconciliation(status: Option<&FlinkSessionJobStatus>) -> bool {
        status.is_some_and(|s| s.reconciliation_status.is_some())
    }
}

/// A snapshot records no reconciled spec (its decision reads only the stored status), so its
/// stored spec is read whole, as before any reconciliation.
impl StoredReading for FlinkStateSnapshot {
    fn records_reconciliation(_: Option<&FlinkStateSnapshotStatus>) -> bool {
        false
    }
}

/// The `job` of a spec, read as the spec's derived `Deserialize` reads it (other fields ignored).
#[derive(Deserialize)]
struct JobOf {
    #[serde(default)]
    job: Option<JobSpec>,
}

/// Reads a stored spec as the decision takes it, given the stored status: its job alone when
/// that status records a reconciliation, whole otherwise.
fn read_stored_spec<'de, T: StoredReading, D: Deserializer<'de>>(
    spec: D,
    stored_status: Option<&T::Status>,
) -> Result<SpecPart<T::Spec>, D::Error> {
    if T::records_reconciliation(stored_status) {
        Ok(SpecPart::Job(JobOf::deserialize(spec)?.job))
    } else {
        Ok(SpecPart::Whole(T::Spec::deserialize(spec)?))
    }
}

/// The stored object as JSON, read as the decision takes it (metadata and spec required, as a
/// custom resource's derived `Deserialize` wants them); `None` when it cannot be read, and the
/// decision then goes without it.
fn stored_from_value<T: StoredReading>(object: &Value) -> Option<Stored<T>> {
    ObjectMeta::deserialize(object.get("metadata")?).ok()?;
    let status = match object.get("status") {
        None | Some(Value::Null) => None,
        Some(status) => Some(T::Status::deserialize(status).ok()?),
    };
    let spec = read_stored_spec::<T, _>(object.get("spec")?, status.as_ref()).ok()?;
    Some(Stored { spec, status })
}

impl<T> Stored<T>
where
    T: HasSpec + HasStatus,
{
    fn parts(&self) -> (StoredSpec<'_, T::Spec>, Option<&T::Status>) {
        let spec = match &self.spec {
            SpecPart::Whole(spec) => StoredSpec::Whole(spec),
            SpecPart::Job(job) => StoredSpec::Job(job.as_ref()),
        };
        (spec, self.status.as_ref())
    }
}

/// Fills what the new object may lack: its namespace from the request, its status from the
/// stored object.
fn complete<T>(new: &mut T, old: Option<&Stored<T>>, namespace: Option<&str>)
where
    T: Resource + HasSpec + HasStatus,
    T::Status: Clone,
{
    if new.meta().namespace.is_none() {
        new.meta_mut().namespace = namespace.map(str::to_string);
    }
    if new.status().is_none()
        && let Some(Some(status)) = old.map(|o| &o.status)
    {
        *new.status_mut() = Some(status.clone());
    }
}

/// Rules, warnings and change line of a FlinkDeployment that passed the schema.
fn decide_deployment(
    mut new: FlinkDeployment,
    old: Option<Stored<FlinkDeployment>>,
    namespace: Option<&str>,
    ctx: &ReviewContext<'_>,
) -> Result<Vec<String>, ValidationError> {
    complete(&mut new, old.as_ref(), namespace);
    let facts = DeploymentFacts::new(&new, ctx.operator);
    validate_deployment_facts(&facts)?;
    let mut warnings = deployment_warnings_facts(&facts);
    if let Some(old) = &old
        && let Some(line) = change_line(old.parts(), &facts)
    {
        warnings.push(line);
    }
    Ok(warnings)
}

/// The planner's line for the stored object (its spec and status) -> `facts.dep`, from the
/// configuration validation derived.
fn change_line(
    (spec, status): (
        StoredSpec<'_, FlinkDeploymentSpec>,
        Option<&FlinkDeploymentStatus>,
    ),
    facts: &DeploymentFacts<'_>,
) -> Option<String> {
    // Validation passed, so the configuration is readable.
    let cfg = facts.config.as_ref().ok()?;
    let deployed = match (recorded_in(status), facts.recorded()) {
        // On a real UPDATE the API server copies the stored status into the object: the same
        // text, already decoded by validation (undecodable: no line, as the planner says).
        (Some(stored), Some(incoming)) if stored == incoming => Cow::Borrowed(facts.previous.as_ref()?),
        _ => deployed_deployment_spec(spec, status)?,
    };
    describe_deployment_change_from(spec, status, facts.dep, &deployed, &cfg.flink, &cfg.operator)
}

/// Rules, warnings and change line of a FlinkSessionJob that passed the schema.
fn decide_session_job(
    mut new: FlinkSessionJob,
    old: Option<Stored<FlinkSessionJob>>,
    namespace: Option<&str>,
    ctx: &ReviewContext<'_>,
) -> Result<Vec<String>, ValidationError> {
    complete(&mut new, old.as_ref(), namespace);
    let ns = new.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let session = new
        .spec
        .deployment_name
        .as_deref()
        .and_then(|name| ctx.sessions.find(&ns, name));
    validate_session_job(&new, session.as_deref(), ctx.operator, ctx.resolver)?;
    let mut warnings = session_job_warnings(&new, session.as_deref(), ctx.operator);
    if let Some(old) = &old
        && let (spec, status) = old.parts()
        && let Some(line) = describe_session_job_change_from(spec, status, &new, ctx.operator)
    {
        warnings.push(line);
    }
    Ok(warnings)
}

/// Rules of a FlinkStateSnapshot that passed the schema. The stored status says whether the
/// operator has processed it (the target rules hold only before); there are no warnings and no
/// change line: a snapshot's spec drives no running job.
fn decide_state_snapshot(
    mut new: FlinkStateSnapshot,
    old: Option<Stored<FlinkStateSnapshot>>,
    namespace: Option<&str>,
    ctx: &ReviewContext<'_>,
) -> Result<Vec<String>, ValidationError> {
    complete(&mut new, old.as_ref(), namespace);
    validate_state_snapshot(&new, snapshot_target(&new, ctx.sessions))?;
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OperatorConfig;
    use crate::validation::ResolvedHosts;
    use crate::webhook::NoSessions;

    const UPDATE: &str = include_str!("../../tests/fixtures/admission/flinkdeployment-update.json");

    fn pair() -> (FlinkDeployment, FlinkDeployment) {
        let review: Value = serde_json::from_str(UPDATE).expect("fixture");
        let typed = |v: &Value| FlinkDeployment::deserialize(v).expect("typed");
        (
            typed(&review["request"]["oldObject"]),
            typed(&review["request"]["object"]),
        )
    }

    /// The stored object as the review takes it.
    fn stored(old: &FlinkDeployment) -> Stored<FlinkDeployment> {
        stored_from_value(&serde_json::to_value(old).expect("JSON")).expect("readable")
    }

    fn set_recorded(dep: &mut FlinkDeployment, text: &str) {
        let status = dep.status.as_mut().expect("status");
        let recorded = status
            .reconciliation_status
            .as_mut()
            .expect("reconciliation status");
        recorded.last_reconciled_spec = Some(text.to_string());
    }

    /// The shared decoding gives the planner's own line whether the incoming status repeats
    /// the stored one (decoded once), differs from it, or cannot be read.
    #[test]
    fn the_change_line_is_the_planners_with_shared_facts() {
        let operator = OperatorConfig::default();
        let ctx = ReviewContext {
            operator: &operator,
            sessions: &NoSessions,
            resolver: &ResolvedHosts::default(),
        };
        let (old, new) = pair();
        let mut other = new.clone();
        // lastReconciledSpec as the operator writes it.
        set_recorded(
            &mut other,
            &crate::api::ReconciledSpec::new(old.spec.clone(), false).encode(),
        );
        let mut unreadable_both = (old.clone(), new.clone());
        set_recorded(&mut unreadable_both.0, "{oops");
        set_recorded(&mut unreadable_both.1, "{oops");
        for (i, (old, new)) in [(old.clone(), new), (old, other), unreadable_both]
            .into_iter()
            .enumerate()
        {
            let line = crate::lifecycle::describe_deployment_change(&old, &new, &operator);
            assert!(i > 0 || line.is_some(), "the realistic update has a line");
            let mut expected = decide_deployment(new.clone(), None, None, &ctx).expect("allowed");
            expected.extend(line);
            assert_eq!(
                decide_deployment(new, Some(stored(&old)), None, &ctx),
                Ok(expected)
            );
        }
    }
}
