//! The table of operator keys: name (without `kubernetes.operator.`), deprecated aliases,
//! the reference default, and whether a resource may override it.

use std::collections::HashMap;
use std::sync::LazyLock;

/// Where a key may be set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Operator config only.
    System,
    /// Operator config, overridable in a resource's `spec.flinkConfiguration`.
    Dynamic,
}

/// One operator key.
#[derive(Clone, Copy, Debug)]
pub struct KeyDef {
    pub key: &'static str,
    pub aliases: &'static [&'static str],
    pub default: Option<&'static str>,
    pub scope: Scope,
}

const fn sys(key: &'static str, default: Option<&'static str>) -> KeyDef {
    KeyDef {
        key,
        aliases: &[],
        default,
        scope: Scope::System,
    }
}

const fn dynamic(key: &'static str, default: Option<&'static str>) -> KeyDef {
    KeyDef {
        key,
        aliases: &[],
        default,
        scope: Scope::Dynamic,
    }
}

const fn aliased(mut def: KeyDef, aliases: &'static [&'static str]) -> KeyDef {
    def.aliases = aliases;
    def
}

/// Every key the lifecycle reads, with the reference defaults.
pub const KEYS: &[KeyDef] = &[
    aliased(
        sys("reconcile.interval", Some("60 s")),
        &["reconciler.reschedule.interval"],
    ),
    sys("observer.progress-check.interval", Some("10 s")),
    sys("observer.rest-ready.delay", Some("10 s")),
    sys("flink.client.timeout", Some("10 s")),
    sys("flink.client.cancel.timeout", Some("1 min")),
    sys("job.submission.timeout", Some("10 min")),
    sys("resource.cleanup.timeout", Some("5 min")),
    sys("user.artifacts.allowed-schemes", Some("https")),
    sys("user.artifacts.disallow-restricted-hosts", Some("true")),
    sys("retry.initial.interval", Some("5 s")),
    sys("retry.interval.multiplier", Some("1.5")),
    sys("retry.max.attempts", Some("15")),
    sys("retry.max.interval", None),
    sys("watched.namespaces", None),
    sys("leader-election.enabled", Some("false")),
    sys("leader-election.lease-name", None),
    sys("reconcile.parallelism", Some("50")),
    dynamic("deployment.rollback.enabled", Some("false")),
    dynamic("deployment.readiness.timeout", Some("5 min")),
    aliased(
        dynamic("jm-deployment-recovery.enabled", Some("true")),
        &["reconciler.jm-deployment-recovery.enabled"],
    ),
    dynamic("cluster.health-check.enabled", Some("false")),
    dynamic("cluster.health-check.restarts.window", Some("2 min")),
    dynamic("cluster.health-check.restarts.threshold", Some("64")),
    dynamic("cluster.health-check.checkpoint-progress.enabled", Some("true")),
    dynamic("cluster.health-check.checkpoint-progress.window", None),
    dynamic("job.restart.failed", Some("false")),
    dynamic("jm-deployment.shutdown-ttl", Some("1 d")),
    dynamic("job.upgrade.ignore-pending-savepoint", Some("false")),
    dynamic("job.upgrade.last-state-fallback.enabled", Some("true")),
    dynamic("job.upgrade.last-state.max.allowed.checkpoint.age", None),
    dynamic("job.upgrade.last-state.job-cancel.enabled", Some("false")),
    dynamic("job.savepoint-on-deletion", Some("false")),
    dynamic("job.drain-on-savepoint-deletion", Some("false")),
    dynamic("savepoint.format.type", Some("CANONICAL")),
    aliased(
        dynamic("savepoint.trigger.grace-period", Some("1 min")),
        &["observer.savepoint.trigger.grace-period"],
    ),
    dynamic("periodic.savepoint.interval", None),
    dynamic("checkpoint.type", Some("FULL")),
    dynamic("checkpoint.trigger.grace-period", Some("1 min")),
    dynamic("periodic.checkpoint.interval", None),
    dynamic("savepoint.history.max.count", Some("10")),
    dynamic("savepoint.history.max.age", Some("24 h")),
    dynamic("savepoint.cleanup.enabled", Some("true")),
    dynamic("savepoint.dispose-on-delete", Some("false")),
    dynamic("snapshot.resource.enabled", Some("false")),
    dynamic("session.deletion.block-on-session-jobs", Some("true")),
    aliased(
        dynamic("session.deletion.block-on-unmanaged-jobs", Some("true")),
        &["session.block-on-unmanaged-jobs"],
    ),
];

/// The table by key and by alias: a configuration is built on every webhook review, and a
/// scan of the table per key was a third of that.
static BY_NAME: LazyLock<HashMap<&'static str, &'static KeyDef>> = LazyLock::new(|| {
    KEYS.iter()
        .flat_map(|d| {
            std::iter::once(d.key)
                .chain(d.aliases.iter().copied())
                .map(move |name| (name, d))
        })
        .collect()
});

/// The definition of a key the code reads; the table above lists every such key.
pub(super) fn def(key: &str) -> &'static KeyDef {
    match BY_NAME.get(key) {
        Some(d) if d.key == key => d,
        _ => panic!("operator key {key} missing from the key table"),
    }
}

/// The name a key (without prefix) or one of its aliases is defined under; `None` for a key
/// the code does not read.
pub(super) fn canonical(name: &str) -> Option<&'static str> {
    BY_NAME.get(name).map(|d| d.key)
}

/// Whether a key (without prefix, or one of its aliases) may be overridden per resource.
pub fn is_dynamic(key: &str) -> bool {
    BY_NAME.get(key).is_some_and(|d| d.scope == Scope::Dynamic)
}
