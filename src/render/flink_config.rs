//! The Flink configuration a cluster runs with: the effective configuration without operator
//! keys, plus what the operator owns (cluster id, namespace, job id, restore path, HA ids,
//! resources) and the reference's defaults for keys the user left unset.

use super::pod_template;
use super::resources::{self, Role};
use super::{RenderError, RenderInput};
use crate::api::{FlinkDeployment, FlinkVersion, KubernetesDeploymentMode, UpgradeMode};
use crate::config::OPERATOR_PREFIX;
use crate::config::flink_keys::{
    CHECKPOINT_STATISTICS_CACHE_KEY, HA_STORAGE_DIR_KEY, SAVEPOINT_PATH_KEYS, ha_enabled,
};
use std::collections::BTreeMap;

/// REST port of the JobManager (Service `<name>-rest`).
pub const REST_PORT: i32 = 8081;
/// JobManager RPC port.
pub const RPC_PORT: i32 = 6123;
/// JobManager blob server port.
pub const BLOB_PORT: i32 = 6124;
/// TaskManager RPC port.
pub const TM_RPC_PORT: i32 = 6122;
/// Where the Flink image reads its configuration; the ConfigMap is mounted here.
pub const CONF_DIR: &str = "/opt/flink/conf";
/// File of the TaskManager pod template for native clusters (inside the ConfigMap).
pub const TM_POD_TEMPLATE_FILE: &str = "taskmanager-pod-template.yaml";
/// Restore path that makes a stateful HA restore fail instead of starting empty when the HA
/// metadata vanished (the reference's guard).
pub const LAST_STATE_DUMMY_PATH: &str = "KUBERNETES_OPERATOR_LAST_STATE";

const ALLOW_NON_RESTORED_KEYS: &[&str] = &[
    "execution.state-recovery.ignore-unclaimed-state",
    "execution.savepoint.ignore-unclaimed-state",
];

/// Builds the flat Flink configuration of the cluster.
pub fn build(
    dep: &FlinkDeployment,
    effective: &BTreeMap<String, String>,
    input: &RenderInput,
) -> Result<BTreeMap<String, String>, RenderError> {
    let name = super::name_of(dep)?;
    let namespace = super::namespace_of(dep)?;
    let spec = &dep.spec;
    let version = spec.flink_version.unwrap_or(FlinkVersion::v1_20);
    let mut conf: BTreeMap<String, String> = effective
        .iter()
        .filter(|(k, _)| !k.starts_with(OPERATOR_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    conf.insert("kubernetes.cluster-id".into(), name.to_string());
    conf.insert("kubernetes.namespace".into(), namespace.to_string());
    default(&mut conf, "rest.port", REST_PORT.to_string());
    default(&mut conf, "jobmanager.rpc.port", RPC_PORT.to_string());
    default(&mut conf, "blob.server.port", BLOB_PORT.to_string());
    default(&mut conf, "taskmanager.rpc.port", TM_RPC_PORT.to_string());
    default(
        &mut conf,
        "kubernetes.rest-service.exposed.type",
        "ClusterIP".into(),
    );
    default(&mut conf, "web.cancel.enable", "false".into());
    if version >= FlinkVersion::v1_18 {
        // A stopped job's last checkpoint is read from these statistics only once they were
        // computed after its end: the planner waits out this cache (3 s by default) on every
        // last-state upgrade without HA.
        default(&mut conf, CHECKPOINT_STATISTICS_CACHE_KEY, "500 ms".into());
    }
    default(&mut conf, "taskmanager.numberOfTaskSlots", "1".into());
    // Native TaskManagers are created by Flink with this image (it overrides their template's);
    // without spec.image they run what the operator's TaskManager pods would.
    let tm_template = spec.task_manager.as_ref().and_then(|tm| tm.pod_template.as_ref());
    if let Some((image, _)) = pod_template::role_image(spec, tm_template) {
        conf.insert("kubernetes.container.image.ref".into(), image);
    }
    if let Some(policy) = &spec.image_pull_policy {
        conf.insert("kubernetes.container.image.pull-policy".into(), policy.clone());
    }
    if let Some(sa) = &spec.service_account {
        conf.insert("kubernetes.service-account".into(), sa.clone());
    }
    let jm = spec.job_manager.clone().unwrap_or_default();
    let tm = spec.task_manager.clone().unwrap_or_default();
    conf.insert("kubernetes.jobmanager.replicas".into(), jm.replicas().to_string());

    match spec.mode() {
        KubernetesDeploymentMode::Native => {
            let target = if spec.is_application() {
                "kubernetes-application"
            } else {
                "kubernetes-session"
            };
            conf.insert("execution.target".into(), target.into());
            conf.insert(
                "kubernetes.pod-template-file.taskmanager".into(),
                format!("{CONF_DIR}/{TM_POD_TEMPLATE_FILE}"),
            );
        }
        KubernetesDeploymentMode::Standalone => {
            // TaskManagers find the JobManager through the internal Service `<name>`.
            default(&mut conf, "jobmanager.rpc.address", format!("{name}.{namespace}"));
        }
    }

    conf.extend(resources::flink_keys(
        Role::JobManager,
        jm.resource.as_ref(),
        jm.resources.as_ref(),
    )?);
    conf.extend(resources::flink_keys(
        Role::TaskManager,
        tm.resource.as_ref(),
        tm.resources.as_ref(),
    )?);

    if ha_enabled(&conf) {
        conf.insert("high-availability.cluster-id".into(), name.to_string());
        if let Some(dir) = conf
            .get(HA_STORAGE_DIR_KEY)
            .map(|d| d.trim().trim_end_matches('/').to_string())
            && !dir.is_empty()
        {
            conf.insert(
                "job-result-store.storage-path".into(),
                format!("{dir}/job-result-store/{name}/{}", input.job_result_store_id),
            );
            default(&mut conf, "job-result-store.delete-on-commit", "false".into());
        }
    }

    for k in SAVEPOINT_PATH_KEYS.iter().chain(ALLOW_NON_RESTORED_KEYS) {
        conf.remove(*k);
    }
    if let Some(job) = &spec.job {
        default(&mut conf, "pipeline.name", name.to_string());
        conf.insert("execution.shutdown-on-application-finish".into(), "false".into());
        default(
            &mut conf,
            "execution.submit-failed-job-on-application-error",
            "true".into(),
        );
        default(
            &mut conf,
            "execution.checkpointing.externalized-checkpoint-retention",
            "RETAIN_ON_CANCELLATION".into(),
        );
        if job.upgrade_mode() == UpgradeMode::LastState {
            default(&mut conf, "execution.checkpointing.interval", "5 min".into());
        }
        if let Some(id) = &input.job_id {
            conf.insert("$internal.pipeline.job-id".into(), id.clone());
        }
        if let Some(path) = restore_path(input) {
            conf.insert(restore_key(version).into(), path.to_string());
            if job.allow_non_restored_state == Some(true) {
                let key = if version.is_2x() {
                    ALLOW_NON_RESTORED_KEYS[0]
                } else {
                    ALLOW_NON_RESTORED_KEYS[1]
                };
                conf.insert(key.into(), "true".into());
            }
        }
        if job.parallelism() > 0 {
            conf.insert("parallelism.default".into(), job.parallelism().to_string());
        } else if let Some(replicas) = tm.replicas {
            let slots = task_slots(&conf);
            conf.insert(
                "parallelism.default".into(),
                (i64::from(replicas) * i64::from(slots)).to_string(),
            );
        }
    }
    for (k, v) in &input.config_overrides {
        conf.insert(k.clone(), v.clone());
    }
    Ok(conf)
}

fn default(conf: &mut BTreeMap<String, String>, key: &str, value: String) {
    conf.entry(key.to_string()).or_insert(value);
}

/// The restore path a starting job gets: an explicit savepoint/checkpoint, or the guard path of an
/// HA-based last-state restore.
pub fn restore_path(input: &RenderInput) -> Option<&str> {
    input
        .restore_path
        .as_deref()
        .or(input.ha_last_state_restore.then_some(LAST_STATE_DUMMY_PATH))
}

/// Flink 2.x reads `execution.state-recovery.path`; 1.x `execution.savepoint.path`.
pub fn restore_key(version: FlinkVersion) -> &'static str {
    if version.is_2x() {
        SAVEPOINT_PATH_KEYS[0]
    } else {
        SAVEPOINT_PATH_KEYS[1]
    }
}

/// `taskmanager.numberOfTaskSlots`, at least 1.
pub fn task_slots(conf: &BTreeMap<String, String>) -> i32 {
    conf.get("taskmanager.numberOfTaskSlots")
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(1)
}

/// The configuration file text: flat `key: value` lines, sorted. `config.yaml` (Flink >= 1.19)
/// is real YAML, so values are double-quoted there; the legacy `flink-conf.yaml` parser takes
/// values verbatim.
pub fn config_file_text(conf: &BTreeMap<String, String>, version: FlinkVersion) -> String {
    let yaml = version.config_file_name() == "config.yaml";
    let mut out = String::new();
    for (k, v) in conf {
        out.push_str(k);
        out.push_str(": ");
        if yaml {
            out.push_str(&serde_json::Value::String(v.clone()).to_string());
        } else {
            out.push_str(&v.replace('\n', " "));
        }
        out.push('\n');
    }
    out
}
