//! The decision: a decoded request ([`super::decode`]) through the rules ([`super::rules`]) to
//! its answer ([`super::answer`]). Every answer to a readable request carries its uid. DNS for
//! the jarURI rule is resolved by the caller beforehand.

use super::answer::{deny, with_warnings};
use super::decode::request_kind;
use super::mutate::session_job_patch;
use super::rules::{ReviewContext, SchemaScope, validate_value};
use crate::validation::{FlinkKind, ValidationError};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use serde_json::Value;

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
