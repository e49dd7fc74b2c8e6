//! The common requests answered from the [`Envelope`]: CREATE and UPDATE of a FlinkDeployment,
//! FlinkSessionJob or FlinkStateSnapshot on /validate, and on /mutate of a FlinkDeployment or
//! FlinkStateSnapshot (never patched) or of a FlinkSessionJob that already has its label (nothing
//! to patch). The objects are read from the raw text of `object` and `oldObject` in one pass
//! each; see [`read_objects`]. Everything else (other kinds and operations,
//! canaries, session-job patches, objects that do not type) goes to the reference reading in
//! [`super::review`], which gives it the answer it always had; those requests are rare.

use super::answer::{allowed, deny, finish};
use super::checked_meta::CheckedMeta;
use super::decode::{BadReview, host_to_lookup, parse_review, request_kind};
use super::envelope::{Envelope, RawObject, read_envelope};
use super::mutate::TARGET_SESSION_LABEL;
use super::review::{Endpoint, review};
use super::rules::{
    Part, ReviewContext, SpecPart, Stored, StoredReading, decide_deployment, decide_session_job,
    decide_state_snapshot, read_stored_spec,
};
use crate::api::{FlinkDeployment, FlinkSessionJob, FlinkStateSnapshot};
use crate::config::OperatorConfig;
use crate::validation::{FlinkKind, ValidationError, host_to_resolve, validate_schema};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use kube::core::object::HasStatus;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// A review body, read the fast way when it can be.
pub struct Incoming<'a> {
    body: &'a [u8],
    reading: Reading<'a>,
}

// One per request, on the stack: boxing the envelope would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Reading<'a> {
    Fast(Envelope<'a>),
    Reference(Box<AdmissionRequest<DynamicObject>>),
}

impl<'a> Incoming<'a> {
    /// Reads an AdmissionReview body; the error is what a body that is not one gets.
    pub fn read(body: &'a [u8]) -> Result<Self, BadReview> {
        let reading = match read_envelope(body) {
            Some(envelope) => Reading::Fast(envelope),
            None => Reading::Reference(Box::new(parse_review(body)?)),
        };
        Ok(Self { body, reading })
    }

    /// The kind of the request if this webhook handles it.
    pub fn kind(&self) -> Option<FlinkKind> {
        match &self.reading {
            Reading::Fast(e) => e.flink_kind(),
            Reading::Reference(req) => request_kind(req),
        }
    }

    pub fn operation(&self) -> &Operation {
        match &self.reading {
            Reading::Fast(e) => &e.operation,
            Reading::Reference(req) => &req.operation,
        }
    }

    /// The host a validation of this request will resolve (a session job's jarURI host).
    pub fn host_to_lookup(&self, operator: &OperatorConfig) -> Option<String> {
        match &self.reading {
            Reading::Reference(req) => host_to_lookup(req, operator),
            Reading::Fast(e) => {
                if e.flink_kind() != Some(FlinkKind::SessionJob) || !creates_or_updates(e) {
                    return None;
                }
                let spec: Value = serde_json::from_str(e.object.as_ref()?.spec.get()).ok()?;
                host_to_resolve(spec.pointer("/job/jarURI")?.as_str()?, operator)
            }
        }
    }

    /// Answers the request, taking the objects read apart into the typed ones. An error only
    /// when the fast reading handed the body to the reference reading and that one cannot read
    /// it either.
    pub fn answer(self, endpoint: Endpoint, ctx: &ReviewContext<'_>) -> Result<AdmissionResponse, BadReview> {
        match self.reading {
            Reading::Reference(req) => Ok(review(endpoint, &req, ctx)),
            Reading::Fast(e) => match fast_answer(endpoint, e, ctx) {
                Some(resp) => Ok(resp),
                None => Ok(review(endpoint, &parse_review(self.body)?, ctx)),
            },
        }
    }
}

fn creates_or_updates(e: &Envelope<'_>) -> bool {
    matches!(e.operation, Operation::Create | Operation::Update) && e.sub_resource.is_none()
}

/// The answer, or `None` for a request the reference reading answers.
fn fast_answer(endpoint: Endpoint, e: Envelope<'_>, ctx: &ReviewContext<'_>) -> Option<AdmissionResponse> {
    let kind = e.flink_kind()?;
    if !creates_or_updates(&e) {
        return None;
    }
    let resp = allowed(&e.uid);
    match (endpoint, kind) {
        (Endpoint::Mutate, FlinkKind::Deployment) => {
            // Deployments are never patched; the objects must still be readable.
            read_objects::<FlinkDeployment>(e.object?, e.old_object)?.into_objects()?;
            Some(resp)
        }
        (Endpoint::Mutate, FlinkKind::StateSnapshot) => {
            // Snapshots are never patched either (the reference's mutator leaves them as they are).
            read_objects::<FlinkStateSnapshot>(e.object?, e.old_object)?.into_objects()?;
            Some(resp)
        }
        (Endpoint::Mutate, FlinkKind::SessionJob) => already_labelled(e.object.as_ref()?).then_some(resp),
        (Endpoint::Validate, FlinkKind::Deployment) => {
            validate::<FlinkDeployment>(e, kind, resp, ctx, decide_deployment)
        }
        (Endpoint::Validate, FlinkKind::SessionJob) => {
            validate::<FlinkSessionJob>(e, kind, resp, ctx, decide_session_job)
        }
        (Endpoint::Validate, FlinkKind::StateSnapshot) => {
            validate::<FlinkStateSnapshot>(e, kind, resp, ctx, decide_state_snapshot)
        }
    }
}

/// A kind's decision on the typed new object and the stored one, in the given namespace.
type Decide<T> =
    fn(T, Option<Stored<T>>, Option<&str>, &ReviewContext<'_>) -> Result<Vec<String>, ValidationError>;

/// /validate of any kind: canaries pass, then the schema checks and the kind's decision.
fn validate<T: Parts>(
    e: Envelope<'_>,
    kind: FlinkKind,
    resp: AdmissionResponse,
    ctx: &ReviewContext<'_>,
    decide: Decide<T>,
) -> Option<AdmissionResponse> {
    // An UPDATE that would be denied goes to the reference reading, which admits it when it
    // leaves an invalid stored spec unchanged (see `rules::validate_value`).
    let update = e.old_object.is_some();
    let read = read_objects::<T>(e.object?, e.old_object)?;
    if crate::api::is_canary(&read.metadata) {
        return Some(resp);
    }
    if let Err(error) = validate_schema(kind, &read.schema_value) {
        return (!update).then(|| deny(resp, &error));
    }
    let namespace = read.metadata.namespace.clone().or(e.namespace);
    let (new, old) = read.into_objects()?;
    match decide(new, old, namespace.as_deref(), ctx) {
        Err(_) if update => None,
        decision => Some(finish(resp, decision)),
    }
}

/// Whether a session job already carries the label the mutation would add, so that the reference
/// reading would patch nothing (true of every UPDATE once the label is set). The rest, where a
/// patch is built, goes to the reference reading.
fn already_labelled(object: &RawObject<'_>) -> bool {
    let Ok(spec) = serde_json::from_str::<Value>(object.spec.get()) else {
        return false;
    };
    let deployment = spec.pointer("/deploymentName").and_then(Value::as_str);
    let label = object
        .metadata
        .0
        .labels
        .as_ref()
        .and_then(|l| l.get(TARGET_SESSION_LABEL))
        .map(String::as_str);
    deployment.is_some() && label == deployment
}

/// The reading step of a FlinkDeployment review alone, to the typed new object (the webhook
/// bench times each stage of a decision).
pub fn read_deployment(e: Envelope<'_>) -> Option<FlinkDeployment> {
    read_objects::<FlinkDeployment>(e.object?, e.old_object)?
        .into_objects()
        .map(|(new, _)| new)
}

/// A custom resource whose parts the fast path types one by one (FlinkDeployment,
/// FlinkSessionJob, FlinkStateSnapshot: kube's derive implements all of these).
trait Parts: StoredReading + HasStatus<Status: Clone> + Default {}

impl<T> Parts for T where T: StoredReading + HasStatus<Status: Clone> + Default {}

/// The resource put together from its parts, as its derived `Deserialize` would.
fn from_parts<T: Parts>(metadata: ObjectMeta, spec: T::Spec, status: Option<T::Status>) -> T {
    let mut object = T::default();
    *object.meta_mut() = metadata;
    *object.spec_mut() = spec;
    *object.status_mut() = status;
    object
}

/// The objects of a review, read: the new one's metadata and status typed, its spec as the
/// JSON the schema checks read (a review's status is not theirs to check:
/// [`super::rules::SchemaScope::Spec`]), and the stored one's parts that differ typed.
struct ReadObjects<T: Parts> {
    metadata: ObjectMeta,
    /// `{"spec": ...}`.
    schema_value: Value,
    status: Option<T::Status>,
    old: Option<Stored<T>>,
}

impl<T: Parts> ReadObjects<T> {
    /// The typed objects; `None` when the new spec does not type (the reference reading then
    /// reports it). The spec is moved out of the schema value, which the checks are done with,
    /// as the reference reading types its object from its JSON.
    fn into_objects(self) -> Option<(T, Option<Stored<T>>)> {
        let Value::Object(mut parts) = self.schema_value else {
            return None;
        };
        let spec = T::Spec::deserialize(parts.remove("spec")?).ok()?;
        Some((from_parts(self.metadata, spec, self.status), self.old))
    }
}

/// Reads `object` and `oldObject`; `None` when a part other than the new spec does not type (the
/// reference reading then reports the new object's problem, or ignores an unreadable stored
/// one). The new spec is read once into the value the schema checks need and typed from it
/// afterwards ([`ReadObjects::into_objects`]); the new status is typed straight from its text.
/// On an UPDATE the API server copies the stored status into the new object, and most updates
/// leave the spec alone: a stored part with the same text as the new one is neither read again
/// nor copied ([`Part::AsNew`]). A stored spec that differs is read as the decision takes it
/// ([`read_stored_spec`]: its job alone once a reconciliation is recorded). The stored metadata
/// was checked with the envelope (a body whose metadata does not type is the reference
/// reading's), and the decision does not read it.
/// Only `spec` goes into the schema value: the CRD schemas declare no other property and do not
/// close the root, so `metadata` cannot change their verdict.
fn read_objects<T: Parts>(
    new: RawObject<'_>,
    stored: Option<RawObject<'_, CheckedMeta>>,
) -> Option<ReadObjects<T>> {
    let spec_value: Value = serde_json::from_str(new.spec.get()).ok()?;
    let status: Option<T::Status> = match new.status {
        Some(raw) => Some(serde_json::from_str(raw.get()).ok()?),
        None => None,
    };
    let old = match stored {
        None => None,
        Some(stored) => {
            let stored_status = match stored.status {
                None => Part::Own(None),
                Some(s) if Some(s.get()) == new.status.map(RawValue::get) => Part::AsNew,
                Some(s) => Part::Own(Some(serde_json::from_str(s.get()).ok()?)),
            };
            let spec = if stored.spec.get() == new.spec.get() {
                SpecPart::AsNew
            } else {
                let status_read = match &stored_status {
                    Part::AsNew => status.as_ref(),
                    Part::Own(own) => own.as_ref(),
                };
                let mut text = serde_json::Deserializer::from_str(stored.spec.get());
                let spec = read_stored_spec::<T, _>(&mut text, status_read).ok()?;
                text.end().ok()?;
                spec
            };
            Some(Stored::<T> {
                spec,
                status: stored_status,
            })
        }
    };
    let mut schema_value = serde_json::Map::new();
    schema_value.insert("spec".to_string(), spec_value);
    Some(ReadObjects {
        metadata: new.metadata.0,
        schema_value: Value::Object(schema_value),
        status,
        old,
    })
}

#[cfg(test)]
mod tests;
