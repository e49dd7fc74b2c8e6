//! The JobManager and TaskManager Deployments: pod template merged with the operator's main
//! container, which runs the Flink image's entrypoint with the rendered args and the ConfigMap
//! mounted at `/opt/flink/conf`.

use super::flink_config::{BLOB_PORT, CONF_DIR, REST_PORT, RPC_PORT, TM_RPC_PORT, restore_path, task_slots};
use super::pod_template::{self, CONFIG_VOLUME, MAIN_CONTAINER};
use super::resources::{self, Role};
use super::{
    GENERATION_ANNOTATION, RenderError, RenderInput, cluster_labels, config_map_name, name_of, object_meta,
};
use crate::api::{FlinkDeployment, FlinkVersion, KubernetesDeploymentMode};
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const ENTRYPOINT: &str = "/docker-entrypoint.sh";

/// The JobManager container args (after `/docker-entrypoint.sh`).
///
/// Standalone application: `standalone-job [--jars <jarURI>] [--job-classname C] [--job-id J]
/// [--fromSavepoint P [--allowNonRestoredState]] <job args>` (`--jars` first: it takes every
/// following non-option token). Standalone session: `jobmanager`. Native: Flink's own
/// `bash -c "kubernetes-jobmanager.sh kubernetes-application|kubernetes-session"`.
pub fn jobmanager_args(dep: &FlinkDeployment, input: &RenderInput) -> Vec<String> {
    let spec = &dep.spec;
    match (spec.mode(), &spec.job) {
        (KubernetesDeploymentMode::Native, job) => {
            let target = if job.is_some() {
                "kubernetes-application"
            } else {
                "kubernetes-session"
            };
            vec![
                "bash".into(),
                "-c".into(),
                format!("kubernetes-jobmanager.sh {target}"),
            ]
        }
        (KubernetesDeploymentMode::Standalone, None) => vec!["jobmanager".into()],
        (KubernetesDeploymentMode::Standalone, Some(job)) => {
            let version = spec.flink_version.unwrap_or(FlinkVersion::v1_20);
            let mut args = vec!["standalone-job".to_string()];
            // `--jars` (artifact fetching) exists from Flink 1.19; older images need the jar in usrlib.
            if let Some(jar) = job.jar_uri.as_deref().filter(|j| !j.is_empty())
                && version >= FlinkVersion::v1_19
            {
                args.extend(["--jars".into(), jar.to_string()]);
            }
            if let Some(class) = job.entry_class.as_deref().filter(|c| !c.is_empty()) {
                args.extend(["--job-classname".into(), class.to_string()]);
            }
            if let Some(id) = &input.job_id {
                args.extend(["--job-id".into(), id.clone()]);
            }
            if let Some(path) = restore_path(input) {
                args.extend(["--fromSavepoint".into(), path.to_string()]);
                if job.allow_non_restored_state == Some(true) {
                    args.push("--allowNonRestoredState".into());
                }
            }
            args.extend(job.args.clone().unwrap_or_default());
            args
        }
    }
}

/// TaskManager replicas: `taskManager.replicas`, else ceil(parallelism / slots) (at least 1).
pub fn taskmanager_replicas(dep: &FlinkDeployment, conf: &BTreeMap<String, String>) -> i32 {
    if let Some(r) = dep.spec.task_manager.as_ref().and_then(|t| t.replicas) {
        return r.max(0);
    }
    let parallelism = dep.spec.job.as_ref().map(|j| j.parallelism()).unwrap_or(0);
    let slots = task_slots(conf);
    ((parallelism + slots - 1) / slots).max(1)
}

/// The JobManager Deployment, and for native clusters the TaskManager pod template file text.
pub(super) fn jobmanager(
    dep: &FlinkDeployment,
    conf: &BTreeMap<String, String>,
    input: &RenderInput,
) -> Result<(Deployment, Option<String>), RenderError> {
    let name = name_of(dep)?;
    let jm = dep.spec.job_manager.clone().unwrap_or_default();
    let ports = vec![
        port("rest", conf, "rest.port", REST_PORT),
        port("jobmanager-rpc", conf, "jobmanager.rpc.port", RPC_PORT),
        port("blobserver", conf, "blob.server.port", BLOB_PORT),
    ];
    let resources = resources::container_requirements(
        Role::JobManager,
        jm.resource.as_ref(),
        jm.resources.as_ref(),
        conf,
    )?;
    let mut main = main_container(dep, jobmanager_args(dep, input), ports, resources);
    let rest = port_number(conf, "rest.port", REST_PORT);
    main["startupProbe"] = json!({
        "httpGet": {"path": "/config", "port": rest},
        "periodSeconds": 1,
        "failureThreshold": 300
    });
    let template = pod(
        dep,
        Role::JobManager,
        jm.pod_template.as_ref(),
        main,
        "spec.jobManager.podTemplate",
    )?;
    let deployment = deployment(dep, name, Role::JobManager, jm.replicas(), template, input)?;
    let tm_template = match dep.spec.mode() {
        KubernetesDeploymentMode::Native => {
            let tm = dep.spec.task_manager.clone().unwrap_or_default();
            let t = pod_template::role_template(dep.spec.pod_template.as_ref(), tm.pod_template.as_ref());
            Some(
                serde_json::to_string_pretty(&t).map_err(|e| RenderError::InvalidSpec {
                    field: "spec.taskManager.podTemplate".into(),
                    message: e.to_string(),
                })?,
            )
        }
        KubernetesDeploymentMode::Standalone => None,
    };
    Ok((deployment, tm_template))
}

/// The TaskManager Deployment of a standalone cluster.
pub(super) fn taskmanager(
    dep: &FlinkDeployment,
    conf: &BTreeMap<String, String>,
    input: &RenderInput,
) -> Result<Deployment, RenderError> {
    let name = name_of(dep)?;
    let tm = dep.spec.task_manager.clone().unwrap_or_default();
    let ports = vec![port("rpc", conf, "taskmanager.rpc.port", TM_RPC_PORT)];
    let resources = resources::container_requirements(
        Role::TaskManager,
        tm.resource.as_ref(),
        tm.resources.as_ref(),
        conf,
    )?;
    let main = main_container(dep, vec!["taskmanager".into()], ports, resources);
    let template = pod(
        dep,
        Role::TaskManager,
        tm.pod_template.as_ref(),
        main,
        "spec.taskManager.podTemplate",
    )?;
    deployment(
        dep,
        &super::taskmanager_name(name),
        Role::TaskManager,
        taskmanager_replicas(dep, conf),
        template,
        input,
    )
}

fn port_number(conf: &BTreeMap<String, String>, key: &str, default: i32) -> i32 {
    conf.get(key)
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(default)
}

fn port(name: &str, conf: &BTreeMap<String, String>, key: &str, default: i32) -> Value {
    json!({"name": name, "containerPort": port_number(conf, key, default), "protocol": "TCP"})
}

fn main_container(
    dep: &FlinkDeployment,
    args: Vec<String>,
    ports: Vec<Value>,
    resources: Option<k8s_openapi::api::core::v1::ResourceRequirements>,
) -> Value {
    let mut c = json!({
        "name": MAIN_CONTAINER,
        "command": [ENTRYPOINT],
        "args": args,
        "ports": ports,
        "env": [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
            {"name": "FLINK_CONF_DIR", "value": CONF_DIR}
        ],
        "volumeMounts": [{"name": CONFIG_VOLUME, "mountPath": CONF_DIR}],
    });
    if let Some(image) = dep.spec.image.as_deref().filter(|i| !i.is_empty()) {
        c["image"] = json!(image);
    }
    if let Some(policy) = &dep.spec.image_pull_policy {
        c["imagePullPolicy"] = json!(policy);
    }
    if let Some(r) = resources
        && let Ok(v) = serde_json::to_value(r)
    {
        c["resources"] = v;
    }
    c
}

fn pod(
    dep: &FlinkDeployment,
    role: Role,
    role_template: Option<&Value>,
    mut main: Value,
    field: &str,
) -> Result<Value, RenderError> {
    let merged = pod_template::role_template(dep.spec.pod_template.as_ref(), role_template);
    if !merged.is_object() {
        return Err(RenderError::InvalidSpec {
            field: field.into(),
            message: "a pod template must be an object (core/v1 PodTemplateSpec)".into(),
        });
    }
    if let Some((image, true)) = pod_template::role_image(&dep.spec, role_template) {
        main["image"] = json!(image);
    }
    let mut t = pod_template::with_main_container(&merged, &main);
    let name = name_of(dep)?;
    pod_template::add_named(
        &mut t,
        "volumes",
        vec![json!({"name": CONFIG_VOLUME, "configMap": {"name": config_map_name(name)}})],
    );
    if let Some(sa) = &dep.spec.service_account {
        t["spec"]["serviceAccountName"] = json!(sa);
    }
    let labels = cluster_labels(dep, Some(role.as_str()));
    let meta = t
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})));
    if let Some(meta) = meta {
        if !meta.is_object() {
            *meta = json!({});
        }
        let merged_labels = pod_template::merge(meta.get("labels").unwrap_or(&json!({})), &json!(labels));
        meta["labels"] = merged_labels;
    }
    Ok(t)
}

fn deployment(
    dep: &FlinkDeployment,
    name: &str,
    role: Role,
    replicas: i32,
    template: Value,
    input: &RenderInput,
) -> Result<Deployment, RenderError> {
    let mut meta = object_meta(dep, name, Some(role.as_str()))?;
    meta.annotations = Some(BTreeMap::from([(
        GENERATION_ANNOTATION.to_string(),
        input.generation.to_string(),
    )]));
    let value = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": cluster_labels(dep, Some(role.as_str()))},
            "template": template,
        }
    });
    serde_json::from_value(value).map_err(|e| RenderError::InvalidSpec {
        field: match role {
            Role::JobManager => "spec.jobManager.podTemplate".into(),
            Role::TaskManager => "spec.taskManager.podTemplate".into(),
        },
        message: format!("not a valid pod template: {e}"),
    })
}
