//! What wakes a controller for its own kind: a change the user or Kubernetes made — the spec
//! (generation), deletion, finalizers — not the operator's own status writes. A status write
//! that woke the reconcile at once would make any step that fails fast (Flink refuses a
//! savepoint while the job's tasks are still deploying) spin without pause; the plan's requeue
//! paces those retries instead.

use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Controller, Predicate, PredicateConfig, WatchStreamExt, predicates, watcher};
use std::fmt::Debug;
use std::hash::Hash;

/// Whether the object is being deleted (deletion sets no new generation on custom resources).
fn deleting<K: Resource>(obj: &K) -> Option<u64> {
    Some(u64::from(obj.meta().deletion_timestamp.is_some()))
}

/// The hash of what a user or Kubernetes changes about an object.
pub fn intent<K: Resource>(obj: &K) -> Option<u64> {
    predicates::generation
        .combine(predicates::finalizers)
        .combine(deleting)
        .hash_property(obj)
}

/// A controller for `api`'s kind, woken by [`intent`] changes (and by its requeues).
pub fn controller<K>(api: Api<K>) -> Controller<K>
where
    K: Resource + Clone + Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default + Clone + Eq + Hash + Unpin,
{
    let (reader, writer): (Store<K>, _) = reflector::store();
    let trigger = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(intent, PredicateConfig::default());
    Controller::for_stream(trigger, reader)
}

#[cfg(test)]
mod tests {
    use super::intent;
    use crate::api::{FlinkDeployment, FlinkDeploymentStatus};

    #[test]
    fn status_writes_do_not_change_the_intent_but_spec_deletion_and_finalizers_do() {
        let mut d = FlinkDeployment::new("a", Default::default());
        d.metadata.generation = Some(1);
        let base = intent(&d);
        let mut status_only = d.clone();
        status_only.status = Some(FlinkDeploymentStatus::default());
        status_only.metadata.resource_version = Some("42".into());
        assert_eq!(intent(&status_only), base);
        let mut spec = d.clone();
        spec.metadata.generation = Some(2);
        assert_ne!(intent(&spec), base);
        let mut deleting = d.clone();
        deleting.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::UNIX_EPOCH,
        ));
        assert_ne!(intent(&deleting), base);
        let mut finalized = d.clone();
        finalized.metadata.finalizers = Some(vec!["x".into()]);
        assert_ne!(intent(&finalized), base);
    }
}
