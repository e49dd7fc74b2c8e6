//! Where the webhook finds a FlinkDeployment it is asked about (a session job's cluster, a
//! snapshot's target): a kube-runtime reflector store in the cluster, the given files offline.

use crate::api::FlinkDeployment;
use futures::FutureExt;
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::HashMap;
use std::sync::Arc;

/// Finds a FlinkDeployment by namespace and name.
pub trait SessionLookup: Send + Sync {
    fn find(&self, namespace: &str, name: &str) -> Option<Arc<FlinkDeployment>>;

    /// Whether [`find`](Self::find) sees every FlinkDeployment of `namespace`, so that `None`
    /// means there is none: a snapshot of it is then denied, as the reference's informer
    /// decides. `false` (the default) where `None` may only mean "not known here".
    fn lists_all_in(&self, _namespace: &str) -> bool {
        false
    }
}

impl SessionLookup for Store<FlinkDeployment> {
    fn find(&self, namespace: &str, name: &str) -> Option<Arc<FlinkDeployment>> {
        self.get(&ObjectRef::new(name).within(namespace))
    }

    /// Once its first list is in. Before that it is empty, and an empty store must not deny.
    fn lists_all_in(&self, _namespace: &str) -> bool {
        matches!(self.wait_until_ready().now_or_never(), Some(Ok(())))
    }
}

/// One store per watched namespace; other namespaces are not looked in (their resources are
/// not managed by this install).
pub struct NamespacedStores(pub HashMap<String, Store<FlinkDeployment>>);

impl SessionLookup for NamespacedStores {
    fn find(&self, namespace: &str, name: &str) -> Option<Arc<FlinkDeployment>> {
        SessionLookup::find(self.0.get(namespace)?, namespace, name)
    }

    fn lists_all_in(&self, namespace: &str) -> bool {
        self.0.get(namespace).is_some_and(|s| s.lists_all_in(namespace))
    }
}

/// No cluster to look in: every session is unknown (validation then skips the target rules).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSessions;

impl SessionLookup for NoSessions {
    fn find(&self, _: &str, _: &str) -> Option<Arc<FlinkDeployment>> {
        None
    }
}

/// A fixed set of FlinkDeployments (offline validation, tests). Inputs are not the cluster: a
/// resource missing from them may well exist, so none counts as absent.
#[derive(Clone, Debug, Default)]
pub struct KnownSessions(HashMap<(String, String), Arc<FlinkDeployment>>);

impl KnownSessions {
    /// Indexes `deployments` by (namespace, name); a missing namespace counts as `default`.
    pub fn new(deployments: impl IntoIterator<Item = FlinkDeployment>) -> Self {
        Self(
            deployments
                .into_iter()
                .filter_map(|d| {
                    let name = d.metadata.name.clone()?;
                    let ns = d.metadata.namespace.clone().unwrap_or_else(|| "default".into());
                    Some(((ns, name), Arc::new(d)))
                })
                .collect(),
        )
    }
}

impl SessionLookup for KnownSessions {
    fn find(&self, namespace: &str, name: &str) -> Option<Arc<FlinkDeployment>> {
        self.0.get(&(namespace.to_string(), name.to_string())).cloned()
    }
}
