//! The common requests answered from the [`Envelope`]: CREATE and UPDATE of a FlinkDeployment
//! or FlinkSessionJob on /validate, and of a FlinkDeployment on /mutate (never patched). The
//! typed objects are read straight from the raw text of `object` and `oldObject`, the JSON value
//! for the schema checks from the same text. Everything else (other kinds and operations,
//! canaries, session-job patches, objects that do not type) goes to the reference reading in
//! [`super::review`], which gives it the answer it always had; those requests are rare.

use super::envelope::{Envelope, read_envelope};
use super::review::{
    ADMISSION_API_VERSION, BadReview, CANARY_LABEL, Endpoint, ReviewContext, deny, host_to_lookup,
    parse_review, request_kind, review, with_warnings,
};
use super::rules::{decide_deployment, decide_session_job};
use crate::api::{FlinkDeployment, FlinkSessionJob};
use crate::config::OperatorConfig;
use crate::validation::{FlinkKind, ValidationError, host_to_resolve, validate_schema};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use kube::core::{DynamicObject, Status, TypeMeta};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

/// A review body, read the fast way when it can be.
pub struct Incoming<'a> {
    body: &'a [u8],
    reading: Reading<'a>,
}

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
                let object: Value = serde_json::from_str(e.object?.get()).ok()?;
                host_to_resolve(object.pointer("/spec/job/jarURI")?.as_str()?, operator)
            }
        }
    }

    /// Answers the request. An error only when the fast reading handed the body to the
    /// reference reading and that one cannot read it either.
    pub fn answer(
        &self,
        endpoint: Endpoint,
        ctx: &ReviewContext<'_>,
    ) -> Result<AdmissionResponse, BadReview> {
        match &self.reading {
            Reading::Reference(req) => Ok(review(endpoint, req, ctx)),
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
fn fast_answer(endpoint: Endpoint, e: &Envelope<'_>, ctx: &ReviewContext<'_>) -> Option<AdmissionResponse> {
    let kind = e.flink_kind()?;
    if !creates_or_updates(e) {
        return None;
    }
    let resp = allowed(&e.uid);
    match (endpoint, kind) {
        (Endpoint::Mutate, FlinkKind::Deployment) => {
            // Deployments are never patched; the objects must still be readable.
            typed_pair::<FlinkDeployment>(e)?;
            Some(resp)
        }
        (Endpoint::Mutate, FlinkKind::SessionJob) => None,
        (Endpoint::Validate, FlinkKind::Deployment) => {
            let (new, old) = typed_pair::<FlinkDeployment>(e)?;
            if is_canary(&new.metadata) {
                return Some(resp);
            }
            let namespace = new.metadata.namespace.clone().or_else(|| e.namespace.clone());
            let decision = schema(kind, e)?
                .and_then(|()| decide_deployment(new, old.as_ref(), namespace.as_deref(), ctx));
            Some(finish(resp, decision))
        }
        (Endpoint::Validate, FlinkKind::SessionJob) => {
            let (new, old) = typed_pair::<FlinkSessionJob>(e)?;
            if is_canary(&new.metadata) {
                return Some(resp);
            }
            let namespace = new.metadata.namespace.clone().or_else(|| e.namespace.clone());
            let decision = schema(kind, e)?
                .and_then(|()| decide_session_job(new, old.as_ref(), namespace.as_deref(), ctx));
            Some(finish(resp, decision))
        }
    }
}

/// The new object and the stored one, typed from their raw text; `None` when either does not
/// type (the reference reading then reports the new one's problem, or ignores an unreadable
/// stored one). A typed object is also a valid `DynamicObject`: a JSON object whose
/// `metadata` is an `ObjectMeta`.
fn typed_pair<T: DeserializeOwned>(e: &Envelope<'_>) -> Option<(T, Option<T>)> {
    let new = typed(e.object?)?;
    let old = match e.old_object {
        None => None,
        Some(raw) => Some(typed(raw)?),
    };
    Some((new, old))
}

fn typed<T: DeserializeOwned>(raw: &RawValue) -> Option<T> {
    // serde also types a struct from an array, which the reference reading rejects.
    if !raw.get().starts_with('{') {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

fn is_canary(metadata: &ObjectMeta) -> bool {
    metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CANARY_LABEL))
        .map(String::as_str)
        == Some("true")
}

/// The schema checks over the object as JSON, read from the same raw text. Only `spec` and
/// `status` are read into the value: the CRD schemas declare no other property and do not close
/// the root, so `metadata` (a third of a stored object) cannot change their verdict.
fn schema(kind: FlinkKind, e: &Envelope<'_>) -> Option<Result<(), ValidationError>> {
    let parts: SchemaParts = serde_json::from_str(e.object?.get()).ok()?;
    let mut value = serde_json::Map::new();
    // An explicit null counts as absent in the schema checks, as here.
    for (key, part) in [("spec", parts.spec), ("status", parts.status)] {
        if let Some(part) = part {
            value.insert(key.to_string(), part);
        }
    }
    Some(validate_schema(kind, &Value::Object(value)))
}

#[derive(Deserialize)]
struct SchemaParts {
    spec: Option<Value>,
    status: Option<Value>,
}

fn finish(resp: AdmissionResponse, decision: Result<Vec<String>, ValidationError>) -> AdmissionResponse {
    match decision {
        Ok(warnings) => with_warnings(resp, warnings),
        Err(e) => deny(resp, &e),
    }
}

/// What kube-core's `AdmissionResponse::from(&request)` gives: allowed, the uid, empty status.
fn allowed(uid: &str) -> AdmissionResponse {
    let mut resp = AdmissionResponse::invalid("");
    resp.types = TypeMeta {
        api_version: ADMISSION_API_VERSION.into(),
        kind: "AdmissionReview".into(),
    };
    resp.uid = uid.to_string();
    resp.allowed = true;
    resp.result = Status::default();
    resp
}

#[cfg(test)]
mod tests;
