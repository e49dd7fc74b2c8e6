//! The typed decision on one object, shared by both readings of a review (the borrowed fast one
//! in [`super::fast`] and the reference `DynamicObject` one in [`super::review`]) and by the
//! offline `validate` command: schema, rules, warnings and the planner's change line.

use super::review::ReviewContext;
use crate::api::{FlinkDeployment, FlinkDeploymentSpec, FlinkDeploymentStatus, FlinkSessionJob};
use crate::lifecycle::{
    deployed_deployment_spec, describe_deployment_change_from, describe_session_job_change_from,
};
use crate::validation::{
    DeploymentFacts, FlinkKind, ValidationError, deployment_warnings_facts, recorded_in,
    session_job_warnings, validate_deployment_facts, validate_schema, validate_session_job,
};
use kube::Resource;
use kube::core::object::{HasSpec, HasStatus};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

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
            let old = old.and_then(|o| FlinkDeployment::deserialize(o).ok());
            decide_deployment(new, old.map(Stored::of), namespace, ctx)
        }
        FlinkKind::SessionJob => {
            let new: FlinkSessionJob = typed(object, kind)?;
            let old = old.and_then(|o| FlinkSessionJob::deserialize(o).ok());
            decide_session_job(new, old.map(Stored::of), namespace, ctx)
        }
    }
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

/// One part of the stored object as the decision gets it: its own, or the same as the new
/// object's. On an UPDATE the API server copies the stored status into the new object, and
/// most updates leave the spec alone: the fast reading then does not copy the part.
pub(super) enum Part<P> {
    AsNew,
    Own(P),
}

/// The stored object of an UPDATE as the decision reads it: spec and status (its metadata is
/// not read).
pub(super) struct Stored<T: HasSpec + HasStatus> {
    pub spec: Part<T::Spec>,
    pub status: Part<Option<T::Status>>,
}

impl<T> Stored<T>
where
    T: HasSpec + HasStatus,
    T::Spec: Default,
{
    fn of(mut object: T) -> Self {
        Self {
            spec: Part::Own(std::mem::take(object.spec_mut())),
            status: Part::Own(object.status_mut().take()),
        }
    }

    /// Spec and status, from `new` where they are the same.
    fn parts<'a>(&'a self, new: &'a T) -> (&'a T::Spec, Option<&'a T::Status>) {
        let spec = match &self.spec {
            Part::AsNew => new.spec(),
            Part::Own(spec) => spec,
        };
        let status = match &self.status {
            Part::AsNew => new.status(),
            Part::Own(status) => status.as_ref(),
        };
        (spec, status)
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
        && let Some(Part::Own(Some(status))) = old.map(|o| &o.status)
    {
        *new.status_mut() = Some(status.clone());
    }
}

/// Rules, warnings and change line of a FlinkDeployment that passed the schema.
pub(super) fn decide_deployment(
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
        && let Some(line) = change_line(old.parts(&new), &facts)
    {
        warnings.push(line);
    }
    Ok(warnings)
}

/// The planner's line for the stored object (its spec and status) -> `facts.dep`, from the
/// configuration validation derived.
fn change_line(
    (spec, status): (&FlinkDeploymentSpec, Option<&FlinkDeploymentStatus>),
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
pub(super) fn decide_session_job(
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
        && let (spec, status) = old.parts(&new)
        && let Some(line) = describe_session_job_change_from(spec, status, &new, ctx.operator)
    {
        warnings.push(line);
    }
    Ok(warnings)
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
                decide_deployment(new, Some(Stored::of(old)), None, &ctx),
                Ok(expected)
            );
        }
    }
}
