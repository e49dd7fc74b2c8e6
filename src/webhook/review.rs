//! The admission decision, pure: an AdmissionReview body in, an AdmissionResponse out.
//! The reference reading: parse loosely (`DynamicObject`), then type strictly; every answer to
//! a readable request carries its uid. [`super::fast`] answers the common requests without the
//! `DynamicObject` round trip and hands everything else to this one. DNS for the jarURI rule is
//! resolved by the caller beforehand.

use super::mutate::session_job_patch;
use super::rules::{SchemaScope, validate_value};
use crate::config::OperatorConfig;
use crate::validation::{FlinkKind, ValidationError, host_to_resolve};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde_json::Value;

/// Label that exempts the operator's health canaries from validation (as the reference).
pub use crate::api::CANARY_LABEL;
pub(super) const ADMISSION_API_VERSION: &str = "admission.k8s.io/v1";

/// The two webhook endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Validate,
    Mutate,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validate => "validate",
            Self::Mutate => "mutate",
        }
    }
}

/// What a body that is not an admissible AdmissionReview gets.
#[derive(Debug, PartialEq)]
pub enum BadReview {
    /// Not JSON, or not an `admission.k8s.io/v1` AdmissionReview: HTTP 400 with this message.
    Malformed(String),
    /// JSON without a readable request and without a uid: a well-formed answer with an empty uid.
    NoRequest(Box<AdmissionResponse>),
    /// A request with a uid whose body could not be typed: denied, uid kept.
    Unreadable(Box<AdmissionResponse>),
}

/// Reads an AdmissionReview body.
pub fn parse_review(body: &[u8]) -> Result<AdmissionRequest<DynamicObject>, BadReview> {
    match serde_json::from_slice::<AdmissionReview<DynamicObject>>(body) {
        Ok(review) => {
            if review.types.api_version != ADMISSION_API_VERSION || review.types.kind != "AdmissionReview" {
                return Err(BadReview::Malformed(format!(
                    "expected kind AdmissionReview of apiVersion {ADMISSION_API_VERSION}, got kind '{}' of apiVersion '{}'",
                    review.types.kind, review.types.api_version
                )));
            }
            review.try_into().map_err(|_| {
                BadReview::NoRequest(Box::new(AdmissionResponse::invalid(
                    "the AdmissionReview has no request",
                )))
            })
        }
        Err(e) => Err(salvage(body, &e.to_string())),
    }
}

/// A body that does not type: keep the uid if there is one.
fn salvage(body: &[u8], error: &str) -> BadReview {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return BadReview::Malformed(format!("the body is not JSON: {error}"));
    };
    if !value.is_object() {
        return BadReview::Malformed("the body is not a JSON object (expected an AdmissionReview)".into());
    }
    let uid = value.pointer("/request/uid").and_then(Value::as_str);
    match (value.get("request"), uid) {
        (Some(_), Some(uid)) if !uid.is_empty() => {
            let mut resp =
                AdmissionResponse::invalid(format!("the admission request cannot be read: {error}"));
            resp.uid = uid.to_string();
            resp.result.code = 400;
            BadReview::Unreadable(Box::new(resp))
        }
        (None, _) => BadReview::NoRequest(Box::new(AdmissionResponse::invalid(
            "the AdmissionReview has no request",
        ))),
        _ => BadReview::NoRequest(Box::new(AdmissionResponse::invalid(format!(
            "the admission request cannot be read: {error}"
        )))),
    }
}

pub use super::rules::ReviewContext;

/// The kind of the request if this webhook handles it.
pub fn request_kind(req: &AdmissionRequest<DynamicObject>) -> Option<FlinkKind> {
    (req.kind.group == crate::api::GROUP)
        .then(|| FlinkKind::from_kind(&req.kind.kind))
        .flatten()
}

/// The host a validation of this request will resolve (a session job's jarURI host).
pub fn host_to_lookup(req: &AdmissionRequest<DynamicObject>, operator: &OperatorConfig) -> Option<String> {
    if request_kind(req) != Some(FlinkKind::SessionJob)
        || !matches!(req.operation, Operation::Create | Operation::Update)
    {
        return None;
    }
    let uri = req.object.as_ref()?.data.pointer("/spec/job/jarURI")?.as_str()?;
    host_to_resolve(uri, operator)
}

/// Answers one request.
pub fn review(
    endpoint: Endpoint,
    req: &AdmissionRequest<DynamicObject>,
    ctx: &ReviewContext<'_>,
) -> AdmissionResponse {
    let resp = AdmissionResponse::from(req);
    let Some(kind) = request_kind(req) else {
        let mut resp = resp;
        resp.warnings = Some(vec![format!(
            "flink-lifecycle does not check {}/{}; allowed unchanged",
            req.kind.group, req.kind.kind
        )]);
        return resp;
    };
    if !matches!(req.operation, Operation::Create | Operation::Update) || req.sub_resource.is_some() {
        return resp;
    }
    let Some(object) = req.object.as_ref() else {
        return deny(
            resp,
            &ValidationError::new("request.object", "the request carries no object", ""),
        );
    };
    let value = match serde_json::to_value(object) {
        Ok(v) => v,
        Err(e) => return deny(resp, &ValidationError::new("request.object", e.to_string(), "")),
    };
    match endpoint {
        Endpoint::Mutate => mutate(resp, kind, &value),
        Endpoint::Validate => {
            if crate::api::is_canary(&object.metadata) {
                return resp;
            }
            let old = req.old_object.as_ref().and_then(|o| serde_json::to_value(o).ok());
            let namespace = object
                .metadata
                .namespace
                .clone()
                .or_else(|| req.namespace.clone());
            match validate_value(
                kind,
                &value,
                old.as_ref(),
                namespace.as_deref(),
                SchemaScope::Spec,
                ctx,
            ) {
                Ok(warnings) => with_warnings(resp, warnings),
                Err(e) => deny(resp, &e),
            }
        }
    }
}

fn mutate(resp: AdmissionResponse, kind: FlinkKind, object: &Value) -> AdmissionResponse {
    if kind != FlinkKind::SessionJob {
        return resp;
    }
    match session_job_patch(object) {
        None => resp,
        Some(patch) => match resp.clone().with_patch(patch) {
            Ok(r) => r,
            Err(e) => deny(resp, &ValidationError::new("metadata.labels", e.to_string(), "")),
        },
    }
}

pub(super) fn deny(mut resp: AdmissionResponse, e: &ValidationError) -> AdmissionResponse {
    resp = resp.deny(e.to_string());
    resp.result.code = 403;
    resp.result.reason = "Forbidden".into();
    resp
}

pub(super) fn with_warnings(mut resp: AdmissionResponse, warnings: Vec<String>) -> AdmissionResponse {
    if !warnings.is_empty() {
        resp.warnings = Some(warnings);
    }
    resp
}

/// The response as an AdmissionReview body, with `patch` base64-encoded as the API documents
/// it (kube-core would write the bytes as a number array).
pub fn encode_review(resp: AdmissionResponse) -> Result<Vec<u8>, serde_json::Error> {
    use base64::Engine;
    let patch = resp.patch.clone();
    let mut value = serde_json::to_value(resp.into_review())?;
    if let Some(bytes) = patch
        && let Some(slot) = value.pointer_mut("/response/patch")
    {
        *slot = Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    serde_json::to_vec(&value)
}
