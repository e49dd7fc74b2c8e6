//! Building the AdmissionResponse from a decision, and its body as the API server reads it.

use crate::validation::ValidationError;
use kube::core::admission::AdmissionResponse;
use serde_json::Value;

/// Denied with the rule's message, as HTTP 403 Forbidden in the answer's status.
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
