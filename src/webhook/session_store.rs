//! The FlinkDeployment stores behind the webhook's session lookups: reflector watches started
//! with the process, slimmed to what the lookups read.

use super::sessions::{NamespacedStores, SessionLookup};
use crate::admin::Readiness;
use crate::api::FlinkDeployment;
use futures::StreamExt;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Reflector stores of the FlinkDeployments the webhook may be asked about: one cluster-wide, or
/// one per watched namespace (an install with namespaced Roles may not list cluster-wide). Ready
/// (in `readiness`) once each first list is in.
pub fn session_store(
    client: kube::Client,
    namespaces: &[String],
    readiness: &Readiness,
    shutdown: CancellationToken,
) -> Arc<dyn SessionLookup> {
    if namespaces.is_empty() {
        return Arc::new(watched_store(
            kube::Api::all(client),
            readiness.register("flinkdeployment-store"),
            shutdown,
        ));
    }
    let stores = namespaces
        .iter()
        .map(|ns| {
            let store = watched_store(
                kube::Api::namespaced(client.clone(), ns),
                readiness.register(format!("flinkdeployment-store/{ns}")),
                shutdown.clone(),
            );
            (ns.clone(), store)
        })
        .collect();
    Arc::new(NamespacedStores(stores))
}

fn watched_store(
    api: kube::Api<FlinkDeployment>,
    ready: crate::admin::ReadinessHandle,
    shutdown: CancellationToken,
) -> reflector::Store<FlinkDeployment> {
    let (reader, writer) = reflector::store();
    let events = watcher(api, watcher::Config::default()).modify(slim_for_session_lookups);
    let stream = reflector(writer, events)
        .default_backoff()
        .touched_objects()
        .for_each(|event| async move {
            if let Err(e) = event {
                tracing::warn!(error = %e, "FlinkDeployment watch error");
            }
        });
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = stream => {}
        }
    });
    let waiting = reader.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            synced = waiting.wait_until_ready() => ready.set_ready(synced.is_ok()),
        }
    });
    reader
}

/// What the session store keeps of a FlinkDeployment. The webhook looks clusters up as targets
/// of session jobs and of snapshots: a session cluster is kept whole (its spec and configuration
/// are validated against), an application cluster only as "exists, has spec.job, runs this
/// flinkVersion" (enough to reject it as a session job's target, and to check that a checkpoint
/// snapshot of it needs Flink 1.17). With thousands of application clusters this keeps the store
/// a few hundred bytes per object instead of a second full copy next to the controller's.
pub fn slim_for_session_lookups(dep: &mut FlinkDeployment) {
    dep.metadata.managed_fields = None;
    if dep.spec.job.is_some() {
        dep.spec = crate::api::FlinkDeploymentSpec {
            job: Some(crate::api::JobSpec::default()),
            flink_version: dep.spec.flink_version,
            ..Default::default()
        };
        dep.status = None;
        dep.metadata.annotations = None;
        dep.metadata.labels = None;
        dep.metadata.finalizers = None;
        dep.metadata.owner_references = None;
    }
}

#[cfg(test)]
mod tests {
    use super::slim_for_session_lookups;
    use crate::api::{FlinkDeployment, FlinkSessionJob};
    use crate::config::OperatorConfig;
    use crate::validation::{NoDns, validate_session_job};
    use serde_json::json;

    fn cluster(job: bool) -> FlinkDeployment {
        let mut spec = json!({"image": "flink:1.20", "flinkVersion": "v1_20", "serviceAccount": "flink",
                              "flinkConfiguration": {"taskmanager.numberOfTaskSlots": "4"}});
        if job {
            spec["job"] = json!({"jarURI": "local:///opt/flink/job.jar", "parallelism": 2});
        }
        serde_json::from_value(json!({
            "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
            "metadata": {"name": "cluster", "namespace": "default", "labels": {"team": "a"}},
            "spec": spec,
            "status": {"lifecycleState": "STABLE"}
        }))
        .unwrap_or_else(|e| panic!("test cluster: {e}"))
    }

    fn session_job() -> FlinkSessionJob {
        serde_json::from_value(json!({
            "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkSessionJob",
            "metadata": {"name": "job", "namespace": "default"},
            "spec": {"deploymentName": "cluster",
                     "job": {"jarURI": "https://repo.example/job.jar", "parallelism": 2}}
        }))
        .unwrap_or_else(|e| panic!("test session job: {e}"))
    }

    #[test]
    fn a_slimmed_store_answers_session_job_and_snapshot_validation_as_the_full_object_does() {
        let operator = OperatorConfig::default();
        for job in [true, false] {
            let full = cluster(job);
            let mut slim = full.clone();
            slim_for_session_lookups(&mut slim);
            let verdict = |target: &FlinkDeployment| {
                validate_session_job(&session_job(), Some(target), &operator, &NoDns)
                    .map_err(|e| e.to_string())
            };
            assert_eq!(verdict(&slim), verdict(&full), "application cluster: {job}");
            if job {
                assert!(
                    verdict(&slim).is_err(),
                    "an application cluster is no session target"
                );
                assert!(
                    slim.status.is_none() && slim.metadata.labels.is_none(),
                    "only the stub is kept"
                );
                // A checkpoint snapshot of it is checked against its version.
                assert_eq!(slim.spec.flink_version, full.spec.flink_version);
            } else {
                assert_eq!(
                    serde_json::to_value(&slim).ok(),
                    serde_json::to_value(&full).ok(),
                    "session clusters are kept whole"
                );
            }
        }
    }
}
