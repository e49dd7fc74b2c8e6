//! Argo CD's sync order (gitops-engine's `syncTasks`): phase, then sync wave, then kind, then
//! name. Shared by the order checks over the rendered overlays and the wave-by-wave install into
//! the real apiserver.

use super::{kind, name};
use serde_json::Value;

/// gitops-engine's kind order within a phase and wave (`kindOrder` in pkg/sync/sync_tasks.go).
/// Kinds not listed (custom resources, webhook configurations, ...) come after all of these.
pub const KIND_ORDER: &[&str] = &[
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

pub fn annotation<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o["metadata"]["annotations"][key].as_str()
}

/// The sync phase: PreSync 0, Sync 1 (no hook annotation), PostSync 2.
pub fn phase(o: &Value) -> u8 {
    match annotation(o, "argocd.argoproj.io/hook") {
        Some(h) if h.contains("PreSync") => 0,
        Some(h) if h.contains("PostSync") => 2,
        _ => 1,
    }
}

/// The sync wave (0 when unannotated).
pub fn wave(o: &Value) -> i64 {
    annotation(o, "argocd.argoproj.io/sync-wave").map_or(0, |w| {
        w.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{} {}: sync-wave {w:?} is not an integer", kind(o), name(o)))
    })
}

pub fn kind_rank(o: &Value) -> usize {
    KIND_ORDER
        .iter()
        .position(|k| *k == kind(o))
        .unwrap_or(KIND_ORDER.len())
}

pub type SyncKey = (u8, i64, usize, String);

/// Where Argo CD puts an object in a sync.
pub fn sync_key(o: &Value) -> SyncKey {
    (phase(o), wave(o), kind_rank(o), name(o).to_string())
}

/// The objects of a sync grouped as Argo CD runs them: one group per (phase, wave), in order,
/// each group in Argo's order. Argo applies a group, waits until all of it is healthy, then
/// starts the next.
pub fn waves(mut objs: Vec<Value>) -> Vec<((u8, i64), Vec<Value>)> {
    objs.sort_by_key(sync_key);
    let mut out: Vec<((u8, i64), Vec<Value>)> = Vec::new();
    for o in objs {
        let at = (phase(&o), wave(&o));
        match out.last_mut() {
            Some((k, group)) if *k == at => group.push(o),
            _ => out.push((at, vec![o])),
        }
    }
    out
}

/// Argo CD's built-in health of a live object (gitops-engine's `pkg/health` and Argo's bundled
/// CRD check), for the kinds the install holds: `Ok` when healthy, else why not. Kinds without a
/// check are healthy once they exist.
pub fn health(live: &Value) -> Result<(), String> {
    let status = &live["status"];
    match kind(live) {
        "Deployment" => {
            let generation = live["metadata"]["generation"].as_i64().unwrap_or(0);
            let observed = status["observedGeneration"].as_i64().unwrap_or(0);
            let want = live["spec"]["replicas"].as_i64().unwrap_or(1);
            let updated = status["updatedReplicas"].as_i64().unwrap_or(0);
            let available = status["availableReplicas"].as_i64().unwrap_or(0);
            if observed < generation {
                Err(format!("observedGeneration {observed} < generation {generation}"))
            } else if updated < want {
                Err(format!("{updated} of {want} updated replicas"))
            } else if available < want {
                Err(format!("{available} of {want} available replicas"))
            } else {
                Ok(())
            }
        }
        "CustomResourceDefinition" => {
            let established = status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Established" && c["status"] == "True");
            if established {
                Ok(())
            } else {
                Err("not Established".into())
            }
        }
        "PodDisruptionBudget" => {
            let current = status["currentHealthy"].as_i64().unwrap_or(0);
            let desired = status["desiredHealthy"].as_i64().unwrap_or(i64::MAX);
            if current >= desired {
                Ok(())
            } else {
                Err(format!("{current} of {desired} healthy pods"))
            }
        }
        _ => Ok(()),
    }
}
