//! Flink configuration keys the lifecycle reads, under both their Flink 2.x names and the 1.x
//! (deprecated) names, so users' configuration means the same on every version.

use std::collections::BTreeMap;

/// Checkpoint directory: 2.x name first, then the deprecated spellings.
pub const CHECKPOINT_DIR_KEYS: &[&str] = &[
    "execution.checkpointing.dir",
    "state.checkpoints.dir",
    "state.backend.fs.checkpointdir",
];

/// Savepoint directory: 2.x name first, then the deprecated spellings.
pub const SAVEPOINT_DIR_KEYS: &[&str] = &[
    "execution.checkpointing.savepoint-dir",
    "state.savepoints.dir",
    "savepoints.state.backend.fs.dir",
];

/// High-availability mode: 2.x name first, then the deprecated spellings.
pub const HA_TYPE_KEYS: &[&str] = &["high-availability.type", "high-availability", "recovery.mode"];

/// HA storage directory.
pub const HA_STORAGE_DIR_KEY: &str = "high-availability.storageDir";

/// Checkpoint interval: 2.x name first, then the deprecated spelling.
pub const CHECKPOINT_INTERVAL_KEYS: &[&str] = &["execution.checkpointing.interval"];

/// Restore path given to a starting job.
pub const SAVEPOINT_PATH_KEYS: &[&str] = &["execution.state-recovery.path", "execution.savepoint.path"];

/// Keys the operator owns; users may not set them.
pub const FORBIDDEN_KEYS: &[&str] = &[
    "kubernetes.namespace",
    "kubernetes.cluster-id",
    "high-availability.cluster-id",
];

/// Kubernetes HA factory class (the long spelling of `kubernetes`).
pub const KUBERNETES_HA_FACTORY: &str =
    "org.apache.flink.kubernetes.highavailability.KubernetesHaServicesFactory";

/// The first non-blank value among `keys`, with the key it came from.
pub fn first_set<'a>(
    conf: &'a BTreeMap<String, String>,
    keys: &[&'static str],
) -> Option<(&'static str, &'a str)> {
    keys.iter().find_map(|k| {
        conf.get(*k)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(|v| (*k, v))
    })
}

/// How long a JobManager caches a job's checkpoint statistics: Flink >= 1.18's
/// `rest.cache.checkpoint-statistics.timeout`, which defaults to `web.refresh-interval`
/// (itself 3 s by default; before 1.18 it alone governs the cache).
pub const CHECKPOINT_STATISTICS_CACHE_KEY: &str = "rest.cache.checkpoint-statistics.timeout";

/// The checkpoint-statistics cache of a JobManager with configuration `conf`.
pub fn checkpoint_statistics_cache(conf: &BTreeMap<String, String>) -> std::time::Duration {
    [CHECKPOINT_STATISTICS_CACHE_KEY, "web.refresh-interval"]
        .iter()
        .find_map(|k| conf.get(*k))
        .and_then(|v| super::parse_flink_duration(v))
        .unwrap_or(std::time::Duration::from_secs(3))
}

/// The checkpoint directory, if configured.
pub fn checkpoint_dir(conf: &BTreeMap<String, String>) -> Option<&str> {
    first_set(conf, CHECKPOINT_DIR_KEYS).map(|(_, v)| v)
}

/// The savepoint directory, if configured.
pub fn savepoint_dir(conf: &BTreeMap<String, String>) -> Option<&str> {
    first_set(conf, SAVEPOINT_DIR_KEYS).map(|(_, v)| v)
}

/// The configured HA mode, if any (raw value).
pub fn ha_type(conf: &BTreeMap<String, String>) -> Option<&str> {
    first_set(conf, HA_TYPE_KEYS).map(|(_, v)| v)
}

/// HA is active unless unset or `NONE`/`standalone` (any case).
pub fn ha_enabled(conf: &BTreeMap<String, String>) -> bool {
    ha_type(conf).is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "none" | "standalone"))
}

/// Kubernetes HA specifically (`kubernetes` or its factory class).
pub fn kubernetes_ha_enabled(conf: &BTreeMap<String, String>) -> bool {
    ha_type(conf).is_some_and(|v| v.eq_ignore_ascii_case("kubernetes") || v == KUBERNETES_HA_FACTORY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn both_generations_of_key_names_are_read() {
        assert_eq!(
            checkpoint_dir(&conf(&[("state.checkpoints.dir", "file:///c")])),
            Some("file:///c")
        );
        assert_eq!(
            checkpoint_dir(&conf(&[("execution.checkpointing.dir", "s3://c")])),
            Some("s3://c")
        );
        assert_eq!(checkpoint_dir(&conf(&[("state.checkpoints.dir", "  ")])), None);
        assert_eq!(
            savepoint_dir(&conf(&[("state.savepoints.dir", "file:///s")])),
            Some("file:///s")
        );
        assert_eq!(
            savepoint_dir(&conf(&[("execution.checkpointing.savepoint-dir", "file:///s2")])),
            Some("file:///s2")
        );
    }

    #[test]
    fn ha_detection_follows_the_reference() {
        assert!(!ha_enabled(&conf(&[])));
        assert!(!ha_enabled(&conf(&[("high-availability", "NONE")])));
        assert!(!ha_enabled(&conf(&[("high-availability.type", "standalone")])));
        assert!(ha_enabled(&conf(&[("high-availability.type", "zookeeper")])));
        assert!(ha_enabled(&conf(&[("high-availability", KUBERNETES_HA_FACTORY)])));
        assert!(kubernetes_ha_enabled(&conf(&[(
            "high-availability",
            KUBERNETES_HA_FACTORY
        )])));
        assert!(kubernetes_ha_enabled(&conf(&[(
            "high-availability.type",
            "Kubernetes"
        )])));
        assert!(!kubernetes_ha_enabled(&conf(&[(
            "high-availability.type",
            "zookeeper"
        )])));
    }
}
