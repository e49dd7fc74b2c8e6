//! Operator configuration: the `kubernetes.operator.*` keys the lifecycle needs, with the
//! reference defaults, read from a YAML file of flat keys (the operator ConfigMap) and, for the
//! keys the reference marks dynamic, overridable per resource in `spec.flinkConfiguration`.

mod duration;
mod effective;
pub mod flink_keys;
mod keys;
mod schedule;

pub use duration::{DURATION_FORMS, format_flink_duration, parse_flink_duration};
pub use effective::effective_flink_config;
pub use keys::{KEYS, KeyDef, Scope};
pub use schedule::{SCHEDULE_FORMS, SnapshotSchedule};

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Prefix of every operator key.
pub const OPERATOR_PREFIX: &str = "kubernetes.operator.";

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("invalid value '{value}' for {key}: expected {expected}")]
    InvalidValue {
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("operator config file {path}: {message}")]
    File { path: String, message: String },
}

/// Savepoint format used for savepoints the operator triggers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SavepointFormat {
    Canonical,
    Native,
}

impl SavepointFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Canonical => "CANONICAL",
            Self::Native => "NATIVE",
        }
    }
}

/// The typed operator configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct OperatorConfig {
    // System scope: operator-wide only.
    pub reconcile_interval: Duration,
    pub progress_check_interval: Duration,
    pub rest_ready_delay: Duration,
    pub flink_client_timeout: Duration,
    pub flink_client_cancel_timeout: Duration,
    pub job_submission_timeout: Duration,
    pub resource_cleanup_timeout: Duration,
    pub artifacts_allowed_schemes: Vec<String>,
    pub artifacts_disallow_restricted_hosts: bool,
    pub retry_initial_interval: Duration,
    pub retry_interval_multiplier: f64,
    pub retry_max_attempts: u32,
    pub retry_max_interval: Option<Duration>,
    pub watched_namespaces: Vec<String>,
    pub leader_election_enabled: bool,
    pub leader_election_lease_name: Option<String>,
    pub reconcile_parallelism: u32,
    // Dynamic scope: overridable per resource.
    pub rollback_enabled: bool,
    pub readiness_timeout: Duration,
    pub jm_deployment_recovery_enabled: bool,
    pub health_check_enabled: bool,
    pub health_check_restarts_window: Duration,
    pub health_check_restarts_threshold: u32,
    pub health_check_checkpoint_progress_enabled: bool,
    pub health_check_checkpoint_progress_window: Option<Duration>,
    pub job_restart_failed: bool,
    pub jm_shutdown_ttl: Duration,
    pub ignore_pending_savepoint: bool,
    pub last_state_fallback_enabled: bool,
    pub last_state_max_checkpoint_age: Option<Duration>,
    pub last_state_job_cancel_enabled: bool,
    pub savepoint_on_deletion: bool,
    pub drain_on_savepoint_deletion: bool,
    pub savepoint_format: SavepointFormat,
    pub savepoint_trigger_grace_period: Duration,
    /// When periodic savepoints are due (`None`: never).
    pub periodic_savepoint_interval: Option<SnapshotSchedule>,
    /// Manual and periodic checkpoints: `FULL`, `INCREMENTAL` or `CONFIGURED`.
    pub checkpoint_type: String,
    pub checkpoint_trigger_grace_period: Duration,
    /// When periodic checkpoints are due (`None`: never).
    pub periodic_checkpoint_interval: Option<SnapshotSchedule>,
    pub savepoint_history_max_count: u32,
    pub savepoint_history_max_age: Duration,
    /// Savepoints retired from the history are disposed of (`POST /savepoint-disposal`).
    pub savepoint_cleanup_enabled: bool,
    /// FlinkStateSnapshots the operator records get `disposeOnDelete` from this.
    pub savepoint_dispose_on_delete: bool,
    /// Each savepoint in a resource's history is also recorded as a FlinkStateSnapshot.
    pub snapshot_resource_enabled: bool,
    pub session_block_on_session_jobs: bool,
    pub session_block_on_unmanaged_jobs: bool,
    /// Every key of the operator file (Flink defaults included), for effective configs.
    pub raw: BTreeMap<String, String>,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        // The defaults are the table's; an empty map cannot hold an invalid value.
        Self::from_flat(&BTreeMap::new()).unwrap_or_else(|_| unreachable_defaults())
    }
}

#[cold]
fn unreachable_defaults() -> OperatorConfig {
    panic!("built-in operator defaults failed to parse")
}

/// The operator keys of a flat configuration, by their names without the operator prefix
/// (looking them up is most of building a configuration, once per webhook review).
struct Lookup<'a> {
    map: BTreeMap<&'a str, &'a str>,
    /// A configuration already read from the same keys but the `changed` ones (by the names
    /// they are defined under): a field whose key did not change is taken from it instead of
    /// being parsed again.
    base: Option<(&'a OperatorConfig, BTreeSet<&'static str>)>,
}

fn short_names(flat: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    flat.iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(OPERATOR_PREFIX)?, v.as_str())))
        .collect()
}

impl<'a> Lookup<'a> {
    fn new(flat: &'a BTreeMap<String, String>) -> Self {
        Self {
            map: short_names(flat),
            base: None,
        }
    }

    /// The field named `key`: `base_field` of the base configuration when `key` (under its
    /// name or an alias) did not change, else as `read` parses it.
    fn field<T: Clone>(
        &self,
        key: &'static str,
        base_field: impl FnOnce(&OperatorConfig) -> &T,
        read: impl FnOnce(&Self, &'static str) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        match &self.base {
            Some((base, changed)) if !changed.contains(key) => Ok(base_field(base).clone()),
            _ => read(self, key),
        }
    }

    /// The raw text of a key (or one of its deprecated aliases), else the table default, with
    /// the short name it was found under.
    fn text(&self, key: &'static str) -> (&'static str, Option<&'a str>) {
        let def = keys::def(key);
        if let Some(v) = self.map.get(key) {
            return (key, Some(v));
        }
        for alias in def.aliases {
            if let Some(v) = self.map.get(alias) {
                return (alias, Some(v));
            }
        }
        (key, def.default)
    }

    fn invalid(key: &str, value: &str, expected: &'static str) -> ConfigError {
        ConfigError::InvalidValue {
            key: format!("{OPERATOR_PREFIX}{key}"),
            value: value.to_string(),
            expected,
        }
    }

    fn duration(&self, key: &'static str) -> Result<Duration, ConfigError> {
        self.opt_duration(key)?
            .ok_or_else(|| Self::invalid(key, "", DURATION_FORMS))
    }

    fn opt_duration(&self, key: &'static str) -> Result<Option<Duration>, ConfigError> {
        match self.text(key) {
            (_, None) => Ok(None),
            (_, Some(v)) if v.trim().is_empty() => Ok(None),
            (k, Some(v)) => parse_flink_duration(v)
                .map(Some)
                .ok_or_else(|| Self::invalid(k, v, DURATION_FORMS)),
        }
    }

    fn bool(&self, key: &'static str) -> Result<bool, ConfigError> {
        let (k, v) = self.text(key);
        let v = v.unwrap_or_default();
        match v.trim() {
            t if t.eq_ignore_ascii_case("true") => Ok(true),
            t if t.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(Self::invalid(k, v, "true or false")),
        }
    }

    fn u32(&self, key: &'static str) -> Result<u32, ConfigError> {
        let (k, v) = self.text(key);
        let v = v.unwrap_or_default();
        v.trim()
            .parse()
            .map_err(|_| Self::invalid(k, v, "a non-negative integer"))
    }

    fn f64(&self, key: &'static str) -> Result<f64, ConfigError> {
        let (k, v) = self.text(key);
        let v = v.unwrap_or_default();
        match v.trim().parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
            _ => Err(Self::invalid(k, v, "a positive number")),
        }
    }

    fn list(&self, key: &'static str) -> Vec<String> {
        self.text(key)
            .1
            .unwrap_or_default()
            .split([';', ','])
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn checkpoint_type(&self, key: &'static str) -> Result<String, ConfigError> {
        let (k, v) = self.text(key);
        let v = v.unwrap_or_default();
        let upper = v.trim().to_ascii_uppercase();
        match upper.as_str() {
            "FULL" | "INCREMENTAL" | "CONFIGURED" => Ok(upper),
            _ => Err(Self::invalid(k, v, "FULL, INCREMENTAL or CONFIGURED")),
        }
    }

    fn schedule(&self, key: &'static str) -> Result<Option<SnapshotSchedule>, ConfigError> {
        match self.text(key) {
            (_, None) => Ok(None),
            (k, Some(v)) => SnapshotSchedule::parse(v).map_err(|_| Self::invalid(k, v, SCHEDULE_FORMS)),
        }
    }

    fn opt_string(&self, key: &'static str) -> Result<Option<String>, ConfigError> {
        Ok(self
            .text(key)
            .1
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string))
    }

    /// A list of URI schemes, compared lowercase.
    fn schemes(&self, key: &'static str) -> Result<Vec<String>, ConfigError> {
        Ok(self
            .list(key)
            .into_iter()
            .map(|s| s.to_ascii_lowercase())
            .collect())
    }

    /// A list of namespaces; the reference's "all namespaces" marker is the empty list.
    fn namespaces(&self, key: &'static str) -> Result<Vec<String>, ConfigError> {
        Ok(self
            .list(key)
            .into_iter()
            .filter(|ns| ns != "JOSDK_ALL_NAMESPACES")
            .collect())
    }

    fn savepoint_format(&self, key: &'static str) -> Result<SavepointFormat, ConfigError> {
        let (k, v) = self.text(key);
        let v = v.unwrap_or_default();
        match v.trim().to_ascii_uppercase().as_str() {
            "CANONICAL" => Ok(SavepointFormat::Canonical),
            "NATIVE" => Ok(SavepointFormat::Native),
            _ => Err(Self::invalid(k, v, "CANONICAL or NATIVE")),
        }
    }
}

impl OperatorConfig {
    /// Builds the configuration from flat keys; missing keys take the reference defaults.
    pub fn from_flat(map: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        Self::read(Lookup::new(map), map)
    }

    fn read(l: Lookup<'_>, map: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        // Each field once, with how its key is read: `l.field` takes it from the base
        // configuration instead when the key did not change.
        macro_rules! read_fields {
            ($($field:ident: $how:ident($key:literal),)*) => {
                Self {
                    $($field: l.field($key, |c| &c.$field, Lookup::$how)?,)*
                    raw: map.clone(),
                }
            };
        }
        Ok(read_fields! {
            reconcile_interval: duration("reconcile.interval"),
            progress_check_interval: duration("observer.progress-check.interval"),
            rest_ready_delay: duration("observer.rest-ready.delay"),
            flink_client_timeout: duration("flink.client.timeout"),
            flink_client_cancel_timeout: duration("flink.client.cancel.timeout"),
            job_submission_timeout: duration("job.submission.timeout"),
            resource_cleanup_timeout: duration("resource.cleanup.timeout"),
            artifacts_allowed_schemes: schemes("user.artifacts.allowed-schemes"),
            artifacts_disallow_restricted_hosts: bool("user.artifacts.disallow-restricted-hosts"),
            retry_initial_interval: duration("retry.initial.interval"),
            retry_interval_multiplier: f64("retry.interval.multiplier"),
            retry_max_attempts: u32("retry.max.attempts"),
            retry_max_interval: opt_duration("retry.max.interval"),
            watched_namespaces: namespaces("watched.namespaces"),
            leader_election_enabled: bool("leader-election.enabled"),
            leader_election_lease_name: opt_string("leader-election.lease-name"),
            reconcile_parallelism: u32("reconcile.parallelism"),
            rollback_enabled: bool("deployment.rollback.enabled"),
            readiness_timeout: duration("deployment.readiness.timeout"),
            jm_deployment_recovery_enabled: bool("jm-deployment-recovery.enabled"),
            health_check_enabled: bool("cluster.health-check.enabled"),
            health_check_restarts_window: duration("cluster.health-check.restarts.window"),
            health_check_restarts_threshold: u32("cluster.health-check.restarts.threshold"),
            health_check_checkpoint_progress_enabled: bool("cluster.health-check.checkpoint-progress.enabled"),
            health_check_checkpoint_progress_window: opt_duration("cluster.health-check.checkpoint-progress.window"),
            job_restart_failed: bool("job.restart.failed"),
            jm_shutdown_ttl: duration("jm-deployment.shutdown-ttl"),
            ignore_pending_savepoint: bool("job.upgrade.ignore-pending-savepoint"),
            last_state_fallback_enabled: bool("job.upgrade.last-state-fallback.enabled"),
            last_state_max_checkpoint_age: opt_duration("job.upgrade.last-state.max.allowed.checkpoint.age"),
            last_state_job_cancel_enabled: bool("job.upgrade.last-state.job-cancel.enabled"),
            savepoint_on_deletion: bool("job.savepoint-on-deletion"),
            drain_on_savepoint_deletion: bool("job.drain-on-savepoint-deletion"),
            savepoint_format: savepoint_format("savepoint.format.type"),
            savepoint_trigger_grace_period: duration("savepoint.trigger.grace-period"),
            periodic_savepoint_interval: schedule("periodic.savepoint.interval"),
            checkpoint_type: checkpoint_type("checkpoint.type"),
            checkpoint_trigger_grace_period: duration("checkpoint.trigger.grace-period"),
            periodic_checkpoint_interval: schedule("periodic.checkpoint.interval"),
            savepoint_history_max_count: u32("savepoint.history.max.count"),
            savepoint_history_max_age: duration("savepoint.history.max.age"),
            savepoint_cleanup_enabled: bool("savepoint.cleanup.enabled"),
            savepoint_dispose_on_delete: bool("savepoint.dispose-on-delete"),
            snapshot_resource_enabled: bool("snapshot.resource.enabled"),
            session_block_on_session_jobs: bool("session.deletion.block-on-session-jobs"),
            session_block_on_unmanaged_jobs: bool("session.deletion.block-on-unmanaged-jobs"),
        })
    }

    /// Parses the operator config file: YAML of flat keys (nested YAML is flattened too).
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let flat = flat_yaml(text).map_err(|message| ConfigError::File {
            path: "<config>".into(),
            message,
        })?;
        Self::from_flat(&flat)
    }

    /// Reads the operator config file from disk.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_yaml(&text).map_err(|e| match e {
            ConfigError::File { message, .. } => ConfigError::File {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// The configuration for one resource: dynamic keys of `resource_flink_config` (the
    /// resource's flattened `spec.flinkConfiguration`) override the operator's.
    pub fn for_resource(
        &self,
        resource_flink_config: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let overrides: BTreeMap<&str, &str> = short_names(resource_flink_config)
            .into_iter()
            .filter(|(k, _)| keys::is_dynamic(k))
            .collect();
        // Most resources override nothing; reading every key again costs a webhook review ~3 µs.
        if overrides.is_empty() {
            return Ok(self.clone());
        }
        // Only the fields whose keys the resource overrides are parsed again (reading all of
        // them was ~1.5 µs of a webhook review), from the operator's keys with the overrides on
        // top, borrowed rather than copied.
        let changed = overrides.keys().filter_map(|k| keys::canonical(k)).collect();
        let mut map = short_names(&self.raw);
        map.extend(overrides);
        let lookup = Lookup {
            map,
            base: Some((self, changed)),
        };
        Self::read(lookup, &self.raw)
    }
}

/// Flattens a YAML document of (possibly nested) keys into Flink's flat form.
pub fn flat_yaml(text: &str) -> Result<BTreeMap<String, String>, String> {
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let value: serde_json::Value = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    match value {
        serde_json::Value::Null => Ok(BTreeMap::new()),
        serde_json::Value::Object(map) => Ok(crate::api::FlinkConfiguration(map).flatten()),
        _ => Err("expected a map of configuration keys".into()),
    }
}

#[cfg(test)]
mod tests;
