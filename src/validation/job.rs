//! Job spec rules (reference §2.3), shared by FlinkDeployment and FlinkSessionJob: what the
//! upgrade mode and savepoint features need from the effective Flink configuration, and a
//! usable parallelism.

use super::error::{Rule, reject};
use super::keys::{checkpoint_dir_keys, conf_location, savepoint_dir_keys};
use crate::api::{FlinkVersion, JobSpec, TaskManagerSpec, UpgradeMode};
use crate::config::flink_keys;
use std::collections::BTreeMap;

pub(crate) const PERIODIC_SAVEPOINT_KEY: &str = "kubernetes.operator.periodic.savepoint.interval";
pub(crate) const PERIODIC_CHECKPOINT_KEY: &str = "kubernetes.operator.periodic.checkpoint.interval";
pub(crate) const MAX_CHECKPOINT_AGE_KEY: &str =
    "kubernetes.operator.job.upgrade.last-state.max.allowed.checkpoint.age";

/// Checks `job` against the effective Flink configuration `conf`. `tm` is the FlinkDeployment's
/// TaskManager spec (`None` for session jobs: their parallelism must be set).
pub fn validate_job_spec(
    job: &JobSpec,
    tm: Option<&TaskManagerSpec>,
    conf: &BTreeMap<String, String>,
    version: Option<FlinkVersion>,
) -> Rule {
    let mode = job.upgrade_mode();
    let too_old_for_checkpoints = version.is_some_and(|v| v < FlinkVersion::v1_17);
    if too_old_for_checkpoints && job.checkpoint_trigger_nonce.is_some() {
        return reject(
            "spec.job.checkpointTriggerNonce",
            "spec.job.checkpointTriggerNonce requests a checkpoint through Flink's REST API, which Flink \
             offers from 1.17 on",
            "Use flinkVersion v1_17 or newer, or savepointTriggerNonce for a savepoint",
        );
    }
    if too_old_for_checkpoints && conf.contains_key(PERIODIC_CHECKPOINT_KEY) {
        return reject(
            conf_location(PERIODIC_CHECKPOINT_KEY),
            format!(
                "{PERIODIC_CHECKPOINT_KEY} triggers checkpoints through Flink's REST API, which Flink offers \
                 from 1.17 on"
            ),
            format!("Use flinkVersion v1_17 or newer, or remove {PERIODIC_CHECKPOINT_KEY}"),
        );
    }
    if mode != UpgradeMode::Stateless && flink_keys::checkpoint_dir(conf).is_none() {
        return reject(
            conf_location(flink_keys::CHECKPOINT_DIR_KEYS[0]),
            format!(
                "spec.job.upgradeMode is {mode}, which restores the job from a checkpoint or savepoint, \
                 but no checkpoint directory is configured"
            ),
            format!(
                "Set {} to a durable path (e.g. s3://bucket/checkpoints) in spec.flinkConfiguration or the \
                 operator's default configuration, or use upgradeMode: stateless",
                checkpoint_dir_keys(version)
            ),
        );
    }
    if flink_keys::savepoint_dir(conf).is_none() {
        let keys = savepoint_dir_keys(version);
        let location = conf_location(flink_keys::SAVEPOINT_DIR_KEYS[0]);
        let fix = format!(
            "Set {keys} to a durable path (e.g. s3://bucket/savepoints) in spec.flinkConfiguration or the \
             operator's default configuration"
        );
        if mode == UpgradeMode::Savepoint {
            return reject(
                location,
                "spec.job.upgradeMode is savepoint, but no savepoint directory is configured, so the job \
                 could not be stopped with a savepoint on upgrade",
                format!("{fix}, or use upgradeMode: last-state"),
            );
        }
        if job.savepoint_trigger_nonce.is_some() {
            return reject(
                location,
                "spec.job.savepointTriggerNonce requests a manual savepoint, but no savepoint directory is \
                 configured",
                format!("{fix}, or remove savepointTriggerNonce"),
            );
        }
        if conf.contains_key(PERIODIC_SAVEPOINT_KEY) {
            return reject(
                location,
                format!(
                    "{PERIODIC_SAVEPOINT_KEY} enables periodic savepoints, but no savepoint directory is configured"
                ),
                format!("{fix}, or remove {PERIODIC_SAVEPOINT_KEY}"),
            );
        }
        if conf.contains_key(MAX_CHECKPOINT_AGE_KEY) {
            return reject(
                location,
                format!(
                    "{MAX_CHECKPOINT_AGE_KEY} makes upgrades fall back to a savepoint when the last checkpoint is \
                     too old, but no savepoint directory is configured"
                ),
                format!("{fix}, or remove {MAX_CHECKPOINT_AGE_KEY}"),
            );
        }
    }
    match tm.and_then(|t| t.replicas) {
        Some(replicas) if replicas < 1 => reject(
            "spec.taskManager.replicas",
            format!("TaskManager replicas must be larger than 0, got {replicas}"),
            "Set spec.taskManager.replicas to 1 or more, or remove it and set spec.job.parallelism",
        ),
        None if job.parallelism() < 1 => reject(
            "spec.job.parallelism",
            format!("job parallelism must be larger than 0, got {}", job.parallelism()),
            "Set spec.job.parallelism to 1 or more (or set spec.taskManager.replicas on a FlinkDeployment)",
        ),
        _ => Ok(()),
    }
}
