//! A readiness registry: each component registers a named check, starting not ready, and flips
//! it when it can serve (certificate loaded, reflector stores synced, ...). `/readyz` is ready
//! only when every registered check is. A check may carry a detail (why it is not ready, or
//! what is degraded while it still is), shown by `/readyz`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Shared registry of readiness checks. Clone freely.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    checks: Arc<Mutex<BTreeMap<String, Check>>>,
}

/// One check's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Check {
    pub ready: bool,
    /// Why it is not ready, or what is wrong although it still is.
    pub detail: Option<String>,
}

/// One component's readiness switch.
#[derive(Clone, Debug)]
pub struct ReadinessHandle {
    name: String,
    checks: Arc<Mutex<BTreeMap<String, Check>>>,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check named `name` (not ready yet) and returns its switch. Registering a name
    /// twice returns a switch to the same check.
    pub fn register(&self, name: impl Into<String>) -> ReadinessHandle {
        let name = name.into();
        self.lock().entry(name.clone()).or_default();
        ReadinessHandle {
            name,
            checks: self.checks.clone(),
        }
    }

    /// Ready when at least one check is registered and all are ready.
    pub fn is_ready(&self) -> bool {
        let checks = self.lock();
        !checks.is_empty() && checks.values().all(|c| c.ready)
    }

    /// Every check and its state, by name.
    pub fn snapshot(&self) -> BTreeMap<String, bool> {
        self.lock().iter().map(|(k, c)| (k.clone(), c.ready)).collect()
    }

    /// Every check with its detail, by name.
    pub fn details(&self) -> BTreeMap<String, Check> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Check>> {
        self.checks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ReadinessHandle {
    pub fn set_ready(&self, ready: bool) {
        self.checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(self.name.clone())
            .or_default()
            .ready = ready;
    }

    /// Sets (or clears) the detail shown next to the state.
    pub fn set_detail(&self, detail: Option<String>) {
        self.checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(self.name.clone())
            .or_default()
            .detail = detail;
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_all_checks_are() {
        let r = Readiness::new();
        assert!(!r.is_ready(), "nothing registered");
        let tls = r.register("tls-certificate");
        let store = r.register("flinkdeployment-store");
        assert!(!r.is_ready());
        tls.set_ready(true);
        assert!(!r.is_ready());
        store.set_ready(true);
        assert!(r.is_ready());
        tls.set_ready(false);
        assert!(!r.is_ready());
        assert_eq!(r.snapshot().get("tls-certificate"), Some(&false));
    }
}
