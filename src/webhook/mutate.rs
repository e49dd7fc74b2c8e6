//! The one mutation, as the reference: a FlinkSessionJob gets the label
//! `target.session: <spec.deploymentName>` (for `kubectl get sessionjob -l target.session=...`).
//! Nothing else is ever rewritten, so GitOps tools see no drift beyond that label.

use serde_json::{Value, json};

/// The label naming a session job's cluster.
pub const TARGET_SESSION_LABEL: &str = "target.session";

/// The object after mutation, or `None` when nothing changes (idempotent: applying the result
/// again gives `None`).
pub fn mutate_session_job(object: &Value) -> Option<Value> {
    let deployment = object.pointer("/spec/deploymentName")?.as_str()?;
    if object
        .pointer("/metadata/labels/target.session")
        .and_then(Value::as_str)
        == Some(deployment)
    {
        return None;
    }
    let mut out = object.clone();
    let metadata = out
        .as_object_mut()?
        .entry("metadata")
        .or_insert_with(|| json!({}));
    let labels = metadata
        .as_object_mut()?
        .entry("labels")
        .or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    labels
        .as_object_mut()?
        .insert(TARGET_SESSION_LABEL.into(), Value::String(deployment.into()));
    Some(out)
}

/// The JSON Patch from `object` to its mutation; `None` when there is nothing to change.
pub fn session_job_patch(object: &Value) -> Option<json_patch::Patch> {
    let mutated = mutate_session_job(object)?;
    let patch = json_patch::diff(object, &mutated);
    (!patch.0.is_empty()).then_some(patch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_fixes_and_then_leaves_alone() {
        let bare = json!({"metadata": {"name": "j"}, "spec": {"deploymentName": "s"}});
        let once = mutate_session_job(&bare).unwrap();
        assert_eq!(once["metadata"]["labels"]["target.session"], "s");
        assert_eq!(mutate_session_job(&once), None, "idempotent");
        let mut patched = bare.clone();
        json_patch::patch(&mut patched, &session_job_patch(&bare).unwrap()).unwrap();
        assert_eq!(patched, once);

        let wrong = json!({"metadata": {"labels": {"target.session": "old", "team": "a"}}, "spec": {"deploymentName": "s"}});
        let fixed = mutate_session_job(&wrong).unwrap();
        assert_eq!(
            fixed["metadata"]["labels"],
            json!({"target.session": "s", "team": "a"})
        );
        assert_eq!(session_job_patch(&wrong).unwrap().0.len(), 1);

        assert_eq!(
            mutate_session_job(&json!({"spec": {}})),
            None,
            "no deploymentName: no label"
        );
    }
}
