//! Decoding an AdmissionReview body into kube-core's typed request: parse loosely
//! (`DynamicObject`), keeping the uid of a request whose object does not type so that its answer
//! can still name it. What a body that is not a review gets is decided here too, since only the
//! decoder knows how far it got.

use crate::config::OperatorConfig;
use crate::validation::{FlinkKind, host_to_resolve};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde_json::Value;

const ADMISSION_API_VERSION: &str = "admission.k8s.io/v1";

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
