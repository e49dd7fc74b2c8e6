//! Where the webhook finds a session job's target FlinkDeployment: a kube-runtime reflector
//! store in the cluster, the given files offline.

use crate::api::FlinkDeployment;
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::HashMap;
use std::sync::Arc;

/// Finds a FlinkDeployment by namespace and name.
pub trait SessionLookup: Send + Sync {
    fn find(&self, namespace: &str, name: &str) -> Option<Arc<FlinkDeployment>>;
}

impl SessionLookup for Store<FlinkDeployment> {
    fn find(&self, namespace: &str, name: &str) -> Option<Arc<FlinkDeployment>> {
        self.get(&ObjectRef::new(name).within(namespace))
    }
}

/// One store per watched namespace; other namespaces are not looked in (their resources are
/// not managed by this install).
pub struct NamespacedStores(pub HashMap<String, Store<FlinkDeployment>>);

impl SessionLookup for NamespacedStores {
    fn find(&self, namespace: &str, name: &str) -> Option<Arc<FlinkDeployment>> {
        SessionLookup::find(self.0.get(namespace)?, namespace, name)
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

/// A fixed set of FlinkDeployments (offline validation, tests).
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
