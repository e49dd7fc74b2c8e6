//! Cluster shapes: `GET /overview`, `GET /config`, `GET /jobmanager/config`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::wire;

/// `GET /overview`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ClusterOverview {
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub taskmanagers: Option<i64>,
    #[serde(default, rename = "slots-total", deserialize_with = "wire::opt_i64")]
    pub slots_total: Option<i64>,
    #[serde(default, rename = "slots-available", deserialize_with = "wire::opt_i64")]
    pub slots_available: Option<i64>,
    #[serde(default, rename = "jobs-running", deserialize_with = "wire::opt_i64")]
    pub jobs_running: Option<i64>,
    #[serde(default, rename = "jobs-finished", deserialize_with = "wire::opt_i64")]
    pub jobs_finished: Option<i64>,
    #[serde(default, rename = "jobs-cancelled", deserialize_with = "wire::opt_i64")]
    pub jobs_cancelled: Option<i64>,
    #[serde(default, rename = "jobs-failed", deserialize_with = "wire::opt_i64")]
    pub jobs_failed: Option<i64>,
    #[serde(default, rename = "flink-version", deserialize_with = "wire::opt_string")]
    pub flink_version: Option<String>,
    #[serde(default, rename = "flink-commit", deserialize_with = "wire::opt_string")]
    pub flink_commit: Option<String>,
}

/// `GET /config` (the web UI's cluster configuration).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct DashboardConfig {
    #[serde(default, rename = "flink-version", deserialize_with = "wire::opt_string")]
    pub flink_version: Option<String>,
    #[serde(default, rename = "flink-revision", deserialize_with = "wire::opt_string")]
    pub flink_revision: Option<String>,
    #[serde(default, rename = "timezone-name", deserialize_with = "wire::opt_string")]
    pub timezone_name: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ConfigEntry {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// `GET /jobmanager/config`: the JobManager's effective configuration as flat keys.
pub(crate) fn config_entries_to_map(entries: Vec<ConfigEntry>) -> BTreeMap<String, String> {
    entries.into_iter().map(|e| (e.key, e.value)).collect()
}
