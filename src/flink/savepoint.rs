//! Savepoints, stop-with-savepoint and savepoint disposal: the asynchronous "trigger, then poll
//! `/…/<trigger-id>`" operations.

use serde::{Deserialize, Serialize};

use crate::config::SavepointFormat;

/// `POST /jobs/<id>/savepoints` body (kebab-case keys on the wire).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SavepointRequest {
    /// `None`: the cluster's `execution.checkpointing.savepoint-dir`.
    #[serde(rename = "target-directory", skip_serializing_if = "Option::is_none")]
    pub target_directory: Option<String>,
    #[serde(rename = "cancel-job")]
    pub cancel_job: bool,
    #[serde(
        rename = "formatType",
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_format"
    )]
    pub format: Option<SavepointFormat>,
    /// A caller-chosen 32-hex trigger id makes the trigger idempotent: re-posting it returns the
    /// same operation instead of starting a second savepoint.
    #[serde(rename = "triggerId", skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
}

/// `POST /jobs/<id>/stop` body (camelCase keys on the wire, unlike the savepoint body).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StopRequest {
    #[serde(rename = "targetDirectory", skip_serializing_if = "Option::is_none")]
    pub target_directory: Option<String>,
    /// Emit MAX_WATERMARK and flush event-time state before stopping.
    pub drain: bool,
    #[serde(
        rename = "formatType",
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_format"
    )]
    pub format: Option<SavepointFormat>,
    #[serde(rename = "triggerId", skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
}

fn ser_format<S: serde::Serializer>(f: &Option<SavepointFormat>, s: S) -> Result<S::Ok, S::Error> {
    match f {
        Some(f) => s.serialize_str(f.as_str()),
        None => s.serialize_none(),
    }
}

/// The id of an asynchronous operation (`{"request-id": "..."}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
pub struct TriggerId(pub String);

impl std::fmt::Display for TriggerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Deserialize)]
pub(crate) struct TriggerResponse {
    #[serde(rename = "request-id")]
    pub request_id: String,
}

/// The state of a savepoint or stop-with-savepoint operation.
///
/// Flink reports a failed savepoint as `status.id == "COMPLETED"` with
/// `operation.failure-cause`; that is [`SavepointStatus::Failed`] here, never a success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SavepointStatus {
    InProgress,
    Completed { location: String },
    Failed { cause: String },
}

impl SavepointStatus {
    /// Parses a `GET /jobs/<id>/savepoints/<trigger>` body.
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        let body: AsyncOperationBody = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        savepoint_status(body)
    }

    pub fn is_finished(&self) -> bool {
        !matches!(self, Self::InProgress)
    }
}

/// The state of a savepoint disposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationStatus {
    InProgress,
    Completed,
    Failed { cause: String },
}

#[derive(Deserialize, Default)]
pub(crate) struct AsyncOperationBody {
    #[serde(default)]
    pub status: Option<StatusId>,
    #[serde(default)]
    pub operation: Option<OperationBody>,
}

#[derive(Deserialize, Default)]
pub(crate) struct StatusId {
    #[serde(default)]
    pub id: String,
}

#[derive(Deserialize, Default)]
pub(crate) struct OperationBody {
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default, rename = "failure-cause")]
    pub failure_cause: Option<FailureCause>,
    /// The checkpoint a triggered checkpoint became (checkpoint operations only).
    #[serde(default, rename = "checkpointId")]
    pub checkpoint_id: Option<i64>,
}

#[derive(Deserialize, Default)]
pub(crate) struct FailureCause {
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default, rename = "stack-trace")]
    pub stack_trace: Option<String>,
}

impl FailureCause {
    fn text(&self) -> String {
        let trace = self
            .stack_trace
            .as_deref()
            .map(super::error::summarize_java_error)
            .unwrap_or_default();
        if !trace.is_empty() {
            trace
        } else {
            self.class
                .clone()
                .unwrap_or_else(|| "unknown failure".to_string())
        }
    }
}

/// Classifies an operation body; `Err` is a description of a shape that is none of the three.
pub(crate) fn savepoint_status(body: AsyncOperationBody) -> Result<SavepointStatus, String> {
    let status = body.status.map(|s| s.id).unwrap_or_default();
    match status.as_str() {
        "IN_PROGRESS" => Ok(SavepointStatus::InProgress),
        "COMPLETED" => {
            let op = body.operation.unwrap_or_default();
            match (op.failure_cause, op.location) {
                (Some(cause), _) => Ok(SavepointStatus::Failed { cause: cause.text() }),
                (None, Some(location)) if !location.is_empty() => Ok(SavepointStatus::Completed { location }),
                _ => Err("COMPLETED without location or failure-cause".to_string()),
            }
        }
        other => Err(format!("unknown operation status {other:?}")),
    }
}

pub(crate) fn operation_status(body: AsyncOperationBody) -> Result<OperationStatus, String> {
    let status = body.status.map(|s| s.id).unwrap_or_default();
    match status.as_str() {
        "IN_PROGRESS" => Ok(OperationStatus::InProgress),
        "COMPLETED" => match body.operation.and_then(|o| o.failure_cause) {
            Some(cause) => Ok(OperationStatus::Failed { cause: cause.text() }),
            None => Ok(OperationStatus::Completed),
        },
        other => Err(format!("unknown operation status {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<SavepointStatus, String> {
        savepoint_status(serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn request_bodies_use_each_endpoints_key_style() {
        let sp = SavepointRequest {
            target_directory: Some("file:///sp".into()),
            cancel_job: false,
            format: Some(SavepointFormat::Canonical),
            trigger_id: None,
        };
        assert_eq!(
            serde_json::to_value(&sp).unwrap_or_default(),
            serde_json::json!({"target-directory":"file:///sp","cancel-job":false,"formatType":"CANONICAL"})
        );
        let stop = StopRequest {
            target_directory: Some("file:///sp".into()),
            drain: true,
            format: None,
            trigger_id: None,
        };
        assert_eq!(
            serde_json::to_value(&stop).unwrap_or_default(),
            serde_json::json!({"targetDirectory":"file:///sp","drain":true})
        );
    }

    #[test]
    fn completed_with_failure_cause_is_a_failure() {
        assert_eq!(
            parse(r#"{"status":{"id":"IN_PROGRESS"},"operation":null}"#),
            Ok(SavepointStatus::InProgress)
        );
        assert_eq!(
            parse(r#"{"status":{"id":"COMPLETED"},"operation":{"location":"file:/sp/savepoint-1"}}"#),
            Ok(SavepointStatus::Completed {
                location: "file:/sp/savepoint-1".into()
            })
        );
        let failed = parse(
            r#"{"status":{"id":"COMPLETED"},"operation":{"failure-cause":{"class":"java.util.concurrent.CompletionException","stack-trace":"java.util.concurrent.CompletionException: org.apache.flink.runtime.checkpoint.CheckpointException: Checkpoint triggering task Source (1/1) is not being executed at the moment.\n\tat x.y(Z.java:1)\n","serialized-throwable":"rO0AB"}}}"#,
        );
        assert_eq!(
            failed,
            Ok(SavepointStatus::Failed {
                cause: "java.util.concurrent.CompletionException: org.apache.flink.runtime.checkpoint.CheckpointException: Checkpoint triggering task Source (1/1) is not being executed at the moment.".into()
            })
        );
        assert!(parse(r#"{"status":{"id":"COMPLETED"},"operation":{}}"#).is_err());
        assert!(parse(r#"{"status":{"id":"WEIRD"}}"#).is_err());
    }
}
