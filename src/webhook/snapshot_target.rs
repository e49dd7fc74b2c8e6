//! What admission knows of a FlinkStateSnapshot's target. The webhook already keeps FlinkDeployments
//! in a reflector store for session jobs, so a FlinkDeployment target is looked up there; the
//! webhook keeps no FlinkSessionJobs (that would be a second store and more RBAC), so a
//! FlinkSessionJob target is unknown here and the reconciler reports it when it is missing.

use super::sessions::SessionLookup;
use crate::api::{FlinkStateSnapshot, JobKind};
use crate::validation::SnapshotTarget;

/// The target of `snapshot` (its namespace filled in) as `sessions` knows it.
pub(super) fn snapshot_target(snapshot: &FlinkStateSnapshot, sessions: &dyn SessionLookup) -> SnapshotTarget {
    let Some(reference) = &snapshot.spec.job_reference else {
        return SnapshotTarget::Unknown;
    };
    let (Some(JobKind::FlinkDeployment), Some(name)) = (reference.kind, reference.name.as_deref()) else {
        return SnapshotTarget::Unknown;
    };
    let namespace = snapshot.metadata.namespace.as_deref().unwrap_or("default");
    match sessions.find(namespace, name) {
        Some(dep) => SnapshotTarget::Found {
            flink_version: dep.spec.flink_version,
        },
        None if sessions.lists_all_in(namespace) => SnapshotTarget::Absent,
        None => SnapshotTarget::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{FlinkDeployment, FlinkVersion};
    use crate::webhook::{KnownSessions, NamespacedStores, NoSessions};
    use kube::runtime::reflector::{self, Store};
    use kube::runtime::watcher::Event;
    use serde_json::json;
    use std::collections::HashMap;

    fn deployment(namespace: &str) -> FlinkDeployment {
        serde_json::from_value(json!({
            "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
            "metadata": {"name": "orders", "namespace": namespace},
            "spec": {"flinkVersion": "v1_16", "job": {"jarURI": "local:///job.jar"}}
        }))
        .expect("a FlinkDeployment")
    }

    fn snapshot(kind: &str) -> FlinkStateSnapshot {
        serde_json::from_value(json!({
            "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkStateSnapshot",
            "metadata": {"name": "snap", "namespace": "jobs"},
            "spec": {"jobReference": {"kind": kind, "name": "orders"}, "checkpoint": {}}
        }))
        .expect("a FlinkStateSnapshot")
    }

    /// A reflector store as the webhook's watch fills it; `synced`: its first list is in.
    fn store(deployments: Vec<FlinkDeployment>, synced: bool) -> Store<FlinkDeployment> {
        let (reader, mut writer) = reflector::store();
        writer.apply_watcher_event(&Event::Init);
        for d in deployments {
            writer.apply_watcher_event(&Event::InitApply(d));
        }
        if synced {
            writer.apply_watcher_event(&Event::InitDone);
        }
        reader
    }

    const FOUND: SnapshotTarget = SnapshotTarget::Found {
        flink_version: Some(FlinkVersion::v1_16),
    };

    #[test]
    fn a_synced_store_knows_a_deployment_target_or_its_absence() {
        let app = snapshot("FlinkDeployment");
        assert_eq!(
            snapshot_target(&app, &store(vec![deployment("jobs")], true)),
            FOUND
        );
        assert_eq!(
            snapshot_target(&app, &store(vec![deployment("other")], true)),
            SnapshotTarget::Absent
        );
        let per_namespace =
            |ns: &str| NamespacedStores(HashMap::from([(ns.to_string(), store(vec![], true))]));
        assert_eq!(
            snapshot_target(&app, &per_namespace("jobs")),
            SnapshotTarget::Absent
        );
    }

    #[test]
    fn what_may_be_incomplete_never_makes_a_target_absent() {
        let app = snapshot("FlinkDeployment");
        // Before its first list a store is empty; an unwatched namespace has no store; offline
        // inputs and a webhook without lookups are not the cluster.
        let unwatched = NamespacedStores(HashMap::from([("other".to_string(), store(vec![], true))]));
        let lookups: [&dyn SessionLookup; 4] = [
            &store(vec![], false),
            &unwatched,
            &KnownSessions::default(),
            &NoSessions,
        ];
        for sessions in lookups {
            assert_eq!(snapshot_target(&app, sessions), SnapshotTarget::Unknown);
        }
        assert_eq!(
            snapshot_target(&app, &KnownSessions::new([deployment("jobs")])),
            FOUND
        );
    }

    #[test]
    fn a_session_job_target_is_not_looked_up() {
        let job = snapshot("FlinkSessionJob");
        assert_eq!(
            snapshot_target(&job, &store(vec![deployment("jobs")], true)),
            SnapshotTarget::Unknown
        );
    }
}
