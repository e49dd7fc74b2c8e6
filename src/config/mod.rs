//! Operator configuration: the `kubernetes.operator.*` keys the lifecycle needs, with the
//! reference defaults, read from a YAML file of flat keys (the operator ConfigMap) and, for the
//! keys the reference marks dynamic, overridable per resource in `spec.flinkConfiguration`.

mod duration;
mod effective;
pub mod flink_keys;
mod keys;

pub use duration::{DURATION_FORMS, format_flink_duration, parse_flink_duration};
pub use effective::effective_flink_config;
pub use keys::{KEYS, KeyDef, Scope};

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
    pub periodic_savepoint_interval: Option<String>,
    pub savepoint_history_max_count: u32,
    pub savepoint_history_max_age: Duration,
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

    fn opt_string(&self, key: &'static str) -> Option<String> {
        self.text(key)
            .1
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
    }
}

impl OperatorConfig {
    /// Builds the configuration from flat keys; missing keys take the reference defaults.
    pub fn from_flat(map: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        Self::read(Lookup::new(map), map)
    }

    fn read(l: Lookup<'_>, map: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let savepoint_format = l.field(
            "savepoint.format.type",
            |c| &c.savepoint_format,
            |l, key| {
                let (k, v) = l.text(key);
                let v = v.unwrap_or_default();
                match v.trim().to_ascii_uppercase().as_str() {
                    "CANONICAL" => Ok(SavepointFormat::Canonical),
                    "NATIVE" => Ok(SavepointFormat::Native),
                    _ => Err(Lookup::invalid(k, v, "CANONICAL or NATIVE")),
                }
            },
        )?;
        let watched = l.field(
            "watched.namespaces",
            |c| &c.watched_namespaces,
            |l, key| {
                Ok(l.list(key)
                    .into_iter()
                    .filter(|ns| ns != "JOSDK_ALL_NAMESPACES")
                    .collect())
            },
        )?;
        Ok(Self {
            reconcile_interval: l.field("reconcile.interval", |c| &c.reconcile_interval, Lookup::duration)?,
            progress_check_interval: l.field(
                "observer.progress-check.interval",
                |c| &c.progress_check_interval,
                Lookup::duration,
            )?,
            rest_ready_delay: l.field(
                "observer.rest-ready.delay",
                |c| &c.rest_ready_delay,
                Lookup::duration,
            )?,
            flink_client_timeout: l.field(
                "flink.client.timeout",
                |c| &c.flink_client_timeout,
                Lookup::duration,
            )?,
            flink_client_cancel_timeout: l.field(
                "flink.client.cancel.timeout",
                |c| &c.flink_client_cancel_timeout,
                Lookup::duration,
            )?,
            job_submission_timeout: l.field(
                "job.submission.timeout",
                |c| &c.job_submission_timeout,
                Lookup::duration,
            )?,
            resource_cleanup_timeout: l.field(
                "resource.cleanup.timeout",
                |c| &c.resource_cleanup_timeout,
                Lookup::duration,
            )?,
            artifacts_allowed_schemes: l.field(
                "user.artifacts.allowed-schemes",
                |c| &c.artifacts_allowed_schemes,
                |l, key| Ok(l.list(key).into_iter().map(|s| s.to_ascii_lowercase()).collect()),
            )?,
            artifacts_disallow_restricted_hosts: l.field(
                "user.artifacts.disallow-restricted-hosts",
                |c| &c.artifacts_disallow_restricted_hosts,
                Lookup::bool,
            )?,
            retry_initial_interval: l.field(
                "retry.initial.interval",
                |c| &c.retry_initial_interval,
                Lookup::duration,
            )?,
            retry_interval_multiplier: l.field(
                "retry.interval.multiplier",
                |c| &c.retry_interval_multiplier,
                Lookup::f64,
            )?,
            retry_max_attempts: l.field("retry.max.attempts", |c| &c.retry_max_attempts, Lookup::u32)?,
            retry_max_interval: l.field(
                "retry.max.interval",
                |c| &c.retry_max_interval,
                Lookup::opt_duration,
            )?,
            watched_namespaces: watched,
            leader_election_enabled: l.field(
                "leader-election.enabled",
                |c| &c.leader_election_enabled,
                Lookup::bool,
            )?,
            leader_election_lease_name: l.field(
                "leader-election.lease-name",
                |c| &c.leader_election_lease_name,
                |l, key| Ok(l.opt_string(key)),
            )?,
            reconcile_parallelism: l.field(
                "reconcile.parallelism",
                |c| &c.reconcile_parallelism,
                Lookup::u32,
            )?,
            rollback_enabled: l.field(
                "deployment.rollback.enabled",
                |c| &c.rollback_enabled,
                Lookup::bool,
            )?,
            readiness_timeout: l.field(
                "deployment.readiness.timeout",
                |c| &c.readiness_timeout,
                Lookup::duration,
            )?,
            jm_deployment_recovery_enabled: l.field(
                "jm-deployment-recovery.enabled",
                |c| &c.jm_deployment_recovery_enabled,
                Lookup::bool,
            )?,
            health_check_enabled: l.field(
                "cluster.health-check.enabled",
                |c| &c.health_check_enabled,
                Lookup::bool,
            )?,
            health_check_restarts_window: l.field(
                "cluster.health-check.restarts.window",
                |c| &c.health_check_restarts_window,
                Lookup::duration,
            )?,
            health_check_restarts_threshold: l.field(
                "cluster.health-check.restarts.threshold",
                |c| &c.health_check_restarts_threshold,
                Lookup::u32,
            )?,
            health_check_checkpoint_progress_enabled: l.field(
                "cluster.health-check.checkpoint-progress.enabled",
                |c| &c.health_check_checkpoint_progress_enabled,
                Lookup::bool,
            )?,
            health_check_checkpoint_progress_window: l.field(
                "cluster.health-check.checkpoint-progress.window",
                |c| &c.health_check_checkpoint_progress_window,
                Lookup::opt_duration,
            )?,
            job_restart_failed: l.field("job.restart.failed", |c| &c.job_restart_failed, Lookup::bool)?,
            jm_shutdown_ttl: l.field(
                "jm-deployment.shutdown-ttl",
                |c| &c.jm_shutdown_ttl,
                Lookup::duration,
            )?,
            ignore_pending_savepoint: l.field(
                "job.upgrade.ignore-pending-savepoint",
                |c| &c.ignore_pending_savepoint,
                Lookup::bool,
            )?,
            last_state_fallback_enabled: l.field(
                "job.upgrade.last-state-fallback.enabled",
                |c| &c.last_state_fallback_enabled,
                Lookup::bool,
            )?,
            last_state_max_checkpoint_age: l.field(
                "job.upgrade.last-state.max.allowed.checkpoint.age",
                |c| &c.last_state_max_checkpoint_age,
                Lookup::opt_duration,
            )?,
            last_state_job_cancel_enabled: l.field(
                "job.upgrade.last-state.job-cancel.enabled",
                |c| &c.last_state_job_cancel_enabled,
                Lookup::bool,
            )?,
            savepoint_on_deletion: l.field(
                "job.savepoint-on-deletion",
                |c| &c.savepoint_on_deletion,
                Lookup::bool,
            )?,
            drain_on_savepoint_deletion: l.field(
                "job.drain-on-savepoint-deletion",
                |c| &c.drain_on_savepoint_deletion,
                Lookup::bool,
            )?,
            savepoint_format,
            savepoint_trigger_grace_period: l.field(
                "savepoint.trigger.grace-period",
                |c| &c.savepoint_trigger_grace_period,
                Lookup::duration,
            )?,
            periodic_savepoint_interval: l.field(
                "periodic.savepoint.interval",
                |c| &c.periodic_savepoint_interval,
                |l, key| Ok(l.opt_string(key)),
            )?,
            savepoint_history_max_count: l.field(
                "savepoint.history.max.count",
                |c| &c.savepoint_history_max_count,
                Lookup::u32,
            )?,
            savepoint_history_max_age: l.field(
                "savepoint.history.max.age",
                |c| &c.savepoint_history_max_age,
                Lookup::duration,
            )?,
            session_block_on_session_jobs: l.field(
                "session.deletion.block-on-session-jobs",
                |c| &c.session_block_on_session_jobs,
                Lookup::bool,
            )?,
            session_block_on_unmanaged_jobs: l.field(
                "session.deletion.block-on-unmanaged-jobs",
                |c| &c.session_block_on_unmanaged_jobs,
                Lookup::bool,
            )?,
            raw: map.clone(),
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
        let mut overrides = resource_flink_config
            .iter()
            .filter(|(k, _)| k.strip_prefix(OPERATOR_PREFIX).is_some_and(keys::is_dynamic))
            .peekable();
        // Most resources override nothing; reading every key again costs a webhook review ~3 µs.
        if overrides.peek().is_none() {
            return Ok(self.clone());
        }
        let mut merged = self.raw.clone();
        merged.extend(overrides.map(|(k, v)| (k.clone(), v.clone())));
        // Only the fields whose keys the resource overrides are parsed again (reading all of
        // them was ~1.5 µs of a webhook review).
        let lookup = Lookup {
            map: short_names(&merged),
            base: Some((
                self,
                short_names(resource_flink_config)
                    .into_keys()
                    .filter_map(keys::canonical)
                    .collect(),
            )),
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
