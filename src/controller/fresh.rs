//! Read-your-writes for the status write-ahead log. A watch cache can lag the operator's own
//! status write by a moment; a plan made from the older object would repeat a step the newer
//! record already took (a second stop-with-savepoint makes Flink decline the first). So each
//! reconcile plans from an object at least as new as the last one the operator wrote or read
//! fresh for it, and reads the object anew when the cache shows anything else.

use super::error::Result;
use kube::api::Api;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

/// The resourceVersion each object had after the operator's last write or fresh read, by uid.
#[derive(Debug, Default)]
pub struct KnownVersions {
    by_uid: Mutex<HashMap<String, String>>,
}

impl Clone for KnownVersions {
    /// A copy of what is known now (the lifecycle model forks worlds that carry one).
    fn clone(&self) -> Self {
        let by_uid = self.by_uid.lock().map(|m| m.clone()).unwrap_or_default();
        Self {
            by_uid: Mutex::new(by_uid),
        }
    }
}

/// Never equal to a resourceVersion: the next reconcile reads the object anew.
const UNKNOWN: &str = "";

impl KnownVersions {
    /// The operator wrote or read `version` of the object `uid`.
    pub fn remember(&self, uid: &str, version: &str) {
        if let Ok(mut m) = self.by_uid.lock() {
            m.insert(uid.to_string(), version.to_string());
        }
    }

    /// The object changed in a way the operator did not see (a conflicting write).
    pub fn mark_unknown(&self, uid: &str) {
        self.remember(uid, UNKNOWN);
    }

    /// The object is gone: nothing to remember.
    pub fn forget(&self, uid: &str) {
        if let Ok(mut m) = self.by_uid.lock() {
            m.remove(uid);
        }
    }

    /// Whether a cached object with `version` may be older than what the operator knows.
    pub fn is_behind(&self, uid: &str, version: Option<&str>) -> bool {
        self.by_uid
            .lock()
            .map(|m| m.get(uid).is_some_and(|known| Some(known.as_str()) != version))
            .unwrap_or(true)
    }

    /// How many objects are remembered (for tests and metrics).
    pub fn len(&self) -> usize {
        self.by_uid.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The object to plan from: the cached one when it is what the operator last knew, else a
    /// fresh read (an etcd quorum read). `None` when the object is gone.
    pub async fn current<K>(&self, api: &Api<K>, cached: Arc<K>) -> Result<Option<Arc<K>>>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    {
        let Some(uid) = cached.uid() else {
            return Ok(Some(cached));
        };
        if !self.is_behind(&uid, cached.resource_version().as_deref()) {
            return Ok(Some(cached));
        }
        match api.get_opt(&cached.name_any()).await? {
            Some(fresh) if fresh.uid().as_deref() == Some(uid.as_str()) => {
                if let Some(v) = fresh.resource_version() {
                    self.remember(&uid, &v);
                }
                Ok(Some(Arc::new(fresh)))
            }
            _ => {
                self.forget(&uid);
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::KnownVersions;

    #[test]
    fn a_cache_is_behind_only_when_it_differs_from_the_known_version() {
        let known = KnownVersions::default();
        assert!(
            !known.is_behind("a", Some("5")),
            "nothing known: the cache is trusted"
        );
        known.remember("a", "7");
        assert!(known.is_behind("a", Some("5")));
        assert!(!known.is_behind("a", Some("7")));
        known.mark_unknown("a");
        assert!(
            known.is_behind("a", Some("7")),
            "after a conflict every cached version is suspect"
        );
        known.forget("a");
        assert!(known.is_empty());
    }
}
