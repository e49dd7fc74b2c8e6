//! With `kubernetes.operator.snapshot.resource.enabled`, every savepoint in a resource's history
//! (upgrade, periodic, manual) is also a FlinkStateSnapshot, as the reference records them: GitOps
//! users list them, restore from one, and see them go when the history retires them. The status
//! history stays the operator's own record; these objects mirror it. Only records the operator
//! created (its `managed-by` label) are ever deleted here.

use super::context::Context;
use super::error::Result;
use crate::api::{FlinkStateSnapshot, JobKind, Savepoint, SnapshotTriggerType};
use crate::config::OperatorConfig;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// Marks the records this operator created.
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "flink-lifecycle");

/// The record of one history entry: a COMPLETED savepoint (`alreadyExists`) of `owner`.
pub fn record_for(
    kind: JobKind,
    owner: &str,
    entry: &Savepoint,
    dispose_on_delete: bool,
) -> Option<FlinkStateSnapshot> {
    let path = entry.location.clone()?;
    let trigger = trigger_label(entry.trigger_type);
    let name = record_name(owner, trigger, entry.time_stamp.unwrap_or(0));
    serde_json::from_value(json!({
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkStateSnapshot",
        "metadata": {
            "name": name,
            "labels": super::snapshot::reference_labels(kind, owner)
                .into_iter()
                .chain([
                    (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
                    ("snapshot.trigger-type".to_string(), trigger.to_string()),
                ])
                .collect::<std::collections::BTreeMap<_, _>>(),
        },
        "spec": {
            "jobReference": {"kind": kind.as_str(), "name": owner},
            "savepoint": {"alreadyExists": true, "path": path, "disposeOnDelete": dispose_on_delete},
            "backoffLimit": 0,
        },
    }))
    .ok()
}

fn trigger_label(t: Option<SnapshotTriggerType>) -> &'static str {
    match t {
        Some(SnapshotTriggerType::Manual) => "MANUAL",
        Some(SnapshotTriggerType::Periodic) => "PERIODIC",
        Some(SnapshotTriggerType::Upgrade) => "UPGRADE",
        _ => "UNKNOWN",
    }
}

/// `<owner>-<trigger>-<millis>`, within the 253 characters of an object name.
fn record_name(owner: &str, trigger: &str, time_ms: i64) -> String {
    let suffix = format!("-{}-{time_ms}", trigger.to_ascii_lowercase());
    let keep = 253usize.saturating_sub(suffix.len());
    let owner: String = owner.chars().take(keep).collect();
    format!("{}{suffix}", owner.trim_end_matches(['-', '.']))
}

fn fingerprint(kind: JobKind, owner: &str, history: &[Savepoint], dispose: bool) -> u64 {
    let mut h = DefaultHasher::new();
    (kind.as_str(), owner, dispose).hash(&mut h);
    for s in history {
        (s.location.as_deref(), s.time_stamp).hash(&mut h);
    }
    h.finish()
}

/// Makes the records of `owner` (uid `uid`) mirror `history`: one per entry, none for entries
/// that left it. Runs again only when the history changed since this process last synced it.
pub async fn sync(
    ctx: &Context,
    operator: &OperatorConfig,
    namespace: &str,
    kind: JobKind,
    owner: &str,
    uid: &str,
    history: &[Savepoint],
) -> Result<()> {
    let dispose = operator.savepoint_dispose_on_delete;
    let print = fingerprint(kind, owner, history, dispose);
    if ctx.snapshot_records.synced(uid) == Some(print) {
        return Ok(());
    }
    let api: Api<FlinkStateSnapshot> = Api::namespaced(ctx.client.clone(), namespace);
    let wanted: Vec<FlinkStateSnapshot> = history
        .iter()
        .filter_map(|s| record_for(kind, owner, s, dispose))
        .collect();
    // The owner's name may be too long for a label value: filter on the spec instead.
    let selector = format!(
        "{}={},job-reference.kind={}",
        MANAGED_BY.0,
        MANAGED_BY.1,
        kind.as_str()
    );
    let mut existing = api.list(&ListParams::default().labels(&selector)).await?;
    existing
        .items
        .retain(|e| e.spec.job_reference.as_ref().and_then(|r| r.name.as_deref()) == Some(owner));
    for record in &wanted {
        if existing.items.iter().any(|e| e.name_any() == record.name_any()) {
            continue;
        }
        match api.create(&PostParams::default(), record).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    for stale in existing
        .items
        .iter()
        .filter(|e| !wanted.iter().any(|w| w.name_any() == e.name_any()))
    {
        match api.delete(&stale.name_any(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    ctx.snapshot_records.remember(uid, print);
    Ok(())
}

/// [`sync`] when `operator` asks for records; a failure is logged, never fatal: the records
/// mirror the status history, and the lifecycle must not wait on them.
pub async fn sync_if_enabled(
    ctx: &Context,
    operator: &OperatorConfig,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    kind: JobKind,
    job: Option<&crate::api::JobStatus>,
) {
    if !operator.snapshot_resource_enabled || meta.deletion_timestamp.is_some() {
        return;
    }
    let (Some(ns), Some(name), Some(uid)) = (&meta.namespace, &meta.name, &meta.uid) else {
        return;
    };
    let history = job
        .and_then(|j| j.savepoint_info.as_ref())
        .and_then(|i| i.savepoint_history.as_deref())
        .unwrap_or_default();
    if let Err(e) = sync(ctx, operator, ns, kind, name, uid, history).await {
        tracing::warn!(error = %e, "cannot record the savepoint history as FlinkStateSnapshots; retrying at the next reconcile");
    }
}

/// What this process last synced, per owner uid (a restart syncs each owner once again).
#[derive(Default)]
pub struct SyncedRecords(std::sync::Mutex<std::collections::HashMap<String, u64>>);

impl SyncedRecords {
    fn synced(&self, uid: &str) -> Option<u64> {
        self.0.lock().ok()?.get(uid).copied()
    }

    fn remember(&self, uid: &str, print: u64) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(uid.to_string(), print);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(t: SnapshotTriggerType, ts: i64, path: &str) -> Savepoint {
        Savepoint {
            time_stamp: Some(ts),
            location: Some(path.into()),
            trigger_type: Some(t),
            ..Default::default()
        }
    }

    #[test]
    fn a_record_is_a_completed_existing_savepoint_named_after_its_owner_and_trigger() {
        let r = record_for(
            JobKind::FlinkDeployment,
            "orders",
            &entry(
                SnapshotTriggerType::Upgrade,
                1_700_000_000_123,
                "file:///sp/savepoint-1",
            ),
            false,
        )
        .expect("record");
        assert_eq!(r.name_any(), "orders-upgrade-1700000000123");
        assert!(r.spec.already_exists());
        assert!(!r.spec.dispose_on_delete());
        assert_eq!(
            r.spec.savepoint.as_ref().and_then(|s| s.path.as_deref()),
            Some("file:///sp/savepoint-1")
        );
        assert_eq!(
            r.labels().get("snapshot.trigger-type").map(String::as_str),
            Some("UPGRADE")
        );
        assert_eq!(
            r.labels().get(MANAGED_BY.0).map(String::as_str),
            Some(MANAGED_BY.1)
        );
        let no_path = Savepoint::default();
        assert!(record_for(JobKind::FlinkDeployment, "orders", &no_path, false).is_none());
    }

    #[test]
    fn long_owner_names_still_make_valid_names() {
        let owner = "a".repeat(300);
        let name = record_name(&owner, "PERIODIC", 1);
        assert_eq!(name.len(), 253);
        assert!(name.ends_with("-periodic-1"));
    }

    #[test]
    fn the_fingerprint_changes_with_the_history_only() {
        let h = vec![entry(SnapshotTriggerType::Periodic, 1, "file:///a")];
        let a = fingerprint(JobKind::FlinkDeployment, "x", &h, false);
        assert_eq!(a, fingerprint(JobKind::FlinkDeployment, "x", &h, false));
        let mut longer = h.clone();
        longer.push(entry(SnapshotTriggerType::Upgrade, 2, "file:///b"));
        assert_ne!(a, fingerprint(JobKind::FlinkDeployment, "x", &longer, false));
    }
}
