//! FlinkStateSnapshot rules: the reference validator's (`DefaultValidator.validateStateSnapshot`)
//! in its order and with its messages, first error wins, plus two it leaves to its reconciler,
//! where they end a snapshot FAILED or ABANDONED after the fact instead of at `kubectl apply`: an
//! existing savepoint needs its path, and a checkpoint needs Flink 1.17 or later. Pure: what is
//! known of the target is looked up by the caller ([`SnapshotTarget`]).

use super::error::{Rule, reject};
use crate::api::{FlinkStateSnapshot, FlinkVersion, SnapshotState};

/// What the caller knows of the resource `spec.jobReference` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotTarget {
    /// Not looked up, or looked up where not every resource of its kind and namespace is listed
    /// (a FlinkSessionJob, an unwatched namespace, `--session-lookup false`, offline inputs): the
    /// target rules are skipped, and the reconciler reports a missing target.
    Unknown,
    /// Looked up where every resource of its kind and namespace is listed, and not there.
    Absent,
    /// There; its `spec.flinkVersion` when it sets one.
    Found { flink_version: Option<FlinkVersion> },
}

const EXACTLY_ONE: &str = "Exactly one of checkpoint or savepoint configurations has to be set.";
const JOB_REFERENCE: &str = "Job reference must be supplied for this snapshot";
const SET_JOB_REFERENCE: &str = "Set spec.jobReference.kind (FlinkDeployment or FlinkSessionJob) and \
     spec.jobReference.name to the resource in this namespace whose job to snapshot";

/// Validates a FlinkStateSnapshot (its namespace and, on UPDATE, its stored status filled in).
pub fn validate_state_snapshot(snapshot: &FlinkStateSnapshot, target: SnapshotTarget) -> Rule {
    let spec = &snapshot.spec;
    if spec.savepoint.is_some() == spec.checkpoint.is_some() {
        // The reference's message says what to do; a fix would only repeat it.
        return reject("spec", EXACTLY_ONE, "");
    }
    if spec.already_exists() {
        // Nothing is triggered, so no job is needed; but without a path the reconciler can only
        // fail the snapshot, and `initialSavepointPath` could not restore from it.
        let path = spec.savepoint.as_ref().and_then(|s| s.path.as_deref());
        if path.is_none_or(|p| p.trim().is_empty()) {
            return reject(
                "spec.savepoint.path",
                "spec.savepoint.path is required when spec.savepoint.alreadyExists is true",
                "Set it to the path of the existing savepoint, or set spec.savepoint.alreadyExists to false to \
                 take a new savepoint",
            );
        }
        return Ok(());
    }
    let Some(reference) = &spec.job_reference else {
        return reject("spec.jobReference", JOB_REFERENCE, SET_JOB_REFERENCE);
    };
    // The reference only asks for the object; without kind or name it reports the target as
    // not found ("<ns>/null"). Naming the missing field says more.
    let Some(kind) = reference.kind else {
        return reject("spec.jobReference.kind", JOB_REFERENCE, SET_JOB_REFERENCE);
    };
    let Some(name) = reference.name.as_deref().filter(|n| !n.is_empty()) else {
        return reject("spec.jobReference.name", JOB_REFERENCE, SET_JOB_REFERENCE);
    };
    // Once the operator has processed the snapshot, its target may come and go: the rules below
    // are about triggering it, which only a pending snapshot still does (the reference checks
    // the target the same way; a status without a state is not pending there).
    let pending = snapshot
        .status
        .as_ref()
        .is_none_or(|s| s.state == Some(SnapshotState::TriggerPending));
    if !pending {
        return Ok(());
    }
    match target {
        SnapshotTarget::Absent => {
            let namespace = snapshot.metadata.namespace.as_deref().unwrap_or("default");
            reject(
                "spec.jobReference.name",
                format!("Target for snapshot {namespace}/{name} was not found"),
                format!(
                    "Create {} {name} first, or point spec.jobReference at an existing one",
                    kind.as_str()
                ),
            )
        }
        SnapshotTarget::Found {
            flink_version: Some(version),
        } if spec.checkpoint.is_some() && version < FlinkVersion::v1_17 => reject(
            "spec.checkpoint",
            format!(
                "a checkpoint is triggered through Flink's REST API, which Flink offers from 1.17 on, and {} \
                 {name} runs flinkVersion {version}",
                kind.as_str()
            ),
            "Take a savepoint instead (spec.savepoint), or upgrade the job to flinkVersion v1_17 or newer",
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn snapshot(spec: Value, status: Option<Value>) -> FlinkStateSnapshot {
        let mut object = json!({
            "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkStateSnapshot",
            "metadata": {"name": "snap", "namespace": "jobs"},
            "spec": spec,
        });
        if let Some(status) = status {
            object["status"] = status;
        }
        serde_json::from_value(object).expect("a FlinkStateSnapshot")
    }

    fn message(spec: Value, target: SnapshotTarget) -> Result<(), String> {
        validate_state_snapshot(&snapshot(spec, None), target).map_err(|e| e.to_string())
    }

    fn reference() -> Value {
        json!({"kind": "FlinkDeployment", "name": "orders"})
    }

    #[test]
    fn exactly_one_of_savepoint_and_checkpoint() {
        let expected =
            Err("spec: Exactly one of checkpoint or savepoint configurations has to be set.".into());
        for spec in [
            json!({"jobReference": reference()}),
            json!({"jobReference": reference(), "savepoint": {}, "checkpoint": {}}),
            json!({"savepoint": {"alreadyExists": true, "path": "/x"}, "checkpoint": {}}),
        ] {
            assert_eq!(message(spec.clone(), SnapshotTarget::Unknown), expected, "{spec}");
        }
    }

    #[test]
    fn an_existing_savepoint_needs_its_path_and_no_job() {
        let ok = json!({"savepoint": {"alreadyExists": true, "path": "s3://b/sp-1"}});
        assert_eq!(message(ok, SnapshotTarget::Absent), Ok(()));
        for savepoint in [
            json!({"alreadyExists": true}),
            json!({"alreadyExists": true, "path": " "}),
        ] {
            let e = message(json!({"savepoint": savepoint}), SnapshotTarget::Unknown).unwrap_err();
            assert!(
                e.starts_with(
                    "spec.savepoint.path: spec.savepoint.path is required when spec.savepoint.alreadyExists is true. "
                ),
                "{e}"
            );
        }
    }

    #[test]
    fn a_new_snapshot_needs_a_whole_job_reference() {
        for (reference, location) in [
            (None, "spec.jobReference"),
            (Some(json!({"name": "orders"})), "spec.jobReference.kind"),
            (Some(json!({"kind": "FlinkSessionJob"})), "spec.jobReference.name"),
            (
                Some(json!({"kind": "FlinkSessionJob", "name": ""})),
                "spec.jobReference.name",
            ),
        ] {
            let mut spec = json!({"savepoint": {"alreadyExists": false}});
            if let Some(r) = reference {
                spec["jobReference"] = r;
            }
            let e = message(spec, SnapshotTarget::Unknown).unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "{location}: Job reference must be supplied for this snapshot. Set "
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn a_pending_snapshot_of_a_missing_target_is_denied() {
        let spec = json!({"jobReference": reference(), "savepoint": {}});
        let e = message(spec.clone(), SnapshotTarget::Absent).unwrap_err();
        assert!(
            e.starts_with("spec.jobReference.name: Target for snapshot jobs/orders was not found. "),
            "{e}"
        );
        assert_eq!(message(spec.clone(), SnapshotTarget::Unknown), Ok(()));
        let pending = snapshot(spec.clone(), Some(json!({"state": "TRIGGER_PENDING"})));
        assert!(validate_state_snapshot(&pending, SnapshotTarget::Absent).is_err());
        // Processed: its target may be gone (the reference's rule too).
        for status in [json!({"state": "COMPLETED", "path": "/x"}), json!({})] {
            let done = snapshot(spec.clone(), Some(status.clone()));
            assert_eq!(
                validate_state_snapshot(&done, SnapshotTarget::Absent),
                Ok(()),
                "{status}"
            );
        }
    }

    #[test]
    fn a_checkpoint_needs_flink_1_17_when_the_target_says_its_version() {
        let spec = json!({"jobReference": reference(), "checkpoint": {}});
        let found = |v| SnapshotTarget::Found { flink_version: v };
        let e = message(spec.clone(), found(Some(FlinkVersion::v1_16))).unwrap_err();
        assert!(
            e.starts_with("spec.checkpoint: a checkpoint is triggered through Flink's REST API, which Flink offers from 1.17 on, and FlinkDeployment orders runs flinkVersion v1_16. "),
            "{e}"
        );
        for target in [
            found(Some(FlinkVersion::v1_17)),
            found(Some(FlinkVersion::v2_2)),
            found(None),
            SnapshotTarget::Unknown,
        ] {
            assert_eq!(message(spec.clone(), target), Ok(()), "{target:?}");
        }
        let savepoint = json!({"jobReference": reference(), "savepoint": {}});
        assert_eq!(message(savepoint, found(Some(FlinkVersion::v1_16))), Ok(()));
    }
}
