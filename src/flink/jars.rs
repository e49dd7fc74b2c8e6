//! Session-cluster jar submission: `POST /jars/upload`, `POST /jars/<id>/run`, `DELETE /jars/<id>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::wire;

/// How a restored job treats the snapshot's files (`claimMode`, 1.20 and 2.x; `restoreMode` is
/// the older name, which both still accept).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ClaimMode {
    /// The job takes ownership and may delete the snapshot later.
    #[serde(rename = "CLAIM")]
    Claim,
    /// The snapshot stays untouched; the first checkpoint is a full one. Flink's default.
    #[serde(rename = "NO_CLAIM")]
    NoClaim,
}

/// `POST /jars/<id>/run` body. Optional fields are omitted so Flink applies its defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JarRunRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_class: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub program_args_list: Vec<String>,
    /// Omitted when `None` or 0 (0 means "cluster default" in the CRD).
    #[serde(skip_serializing_if = "is_unset_parallelism")]
    pub parallelism: Option<u32>,
    /// 32 hex characters; fixes the job id (the reconciler derives it from the resource).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub savepoint_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_non_restored_state: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim_mode: Option<ClaimMode>,
    /// Per-job configuration overrides (Flink ≥ 1.17).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub flink_configuration: BTreeMap<String, String>,
}

fn is_unset_parallelism(p: &Option<u32>) -> bool {
    matches!(p, None | Some(0))
}

#[derive(Deserialize)]
pub(crate) struct UploadResponse {
    #[serde(default)]
    pub filename: String,
}

/// The id of an uploaded jar: the last path component of the upload's `filename`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JarId(pub String);

impl std::fmt::Display for JarId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `POST /jars/<id>/run` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct JarRunResponse {
    #[serde(rename = "jobid")]
    pub job_id: String,
    /// 2.x only.
    #[serde(default, rename = "applicationId", deserialize_with = "wire::opt_string")]
    pub application_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_body_omits_unset_fields_and_uses_camel_case() {
        let req = JarRunRequest {
            entry_class: Some("lifecycle.LifecycleTestJob".into()),
            program_args_list: vec!["--keys".into(), "4".into()],
            parallelism: Some(0),
            job_id: Some("0000000000000000000000000000beef".into()),
            savepoint_path: Some("file:/sp".into()),
            allow_non_restored_state: Some(false),
            claim_mode: Some(ClaimMode::NoClaim),
            flink_configuration: BTreeMap::new(),
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap_or_default(),
            serde_json::json!({
                "entryClass": "lifecycle.LifecycleTestJob",
                "programArgsList": ["--keys", "4"],
                "jobId": "0000000000000000000000000000beef",
                "savepointPath": "file:/sp",
                "allowNonRestoredState": false,
                "claimMode": "NO_CLAIM"
            })
        );
        assert_eq!(
            serde_json::to_value(JarRunRequest::default()).unwrap_or_default(),
            serde_json::json!({})
        );
    }
}
