//! Pure rendering of the Kubernetes objects of a Flink cluster for a `FlinkDeployment`: the
//! JobManager (and, in standalone mode, TaskManager) Deployment, the Flink configuration
//! ConfigMap, the REST and internal Services and the optional Ingress. No I/O: the caller gives
//! the resource, its effective flat Flink configuration and a [`RenderInput`] (job id, restore
//! path, generation, job result store id) and applies the result.
//!
//! The rendered container args and ConfigMap are plain data: a local test harness can run them as
//! real Flink processes (`/docker-entrypoint.sh standalone-job ...` ≙
//! `bin/standalone-job.sh start-foreground ...`), with [`RenderInput::config_overrides`] for
//! host-specific keys (addresses, ports, tmp dirs).

mod flink_config;
mod ingress;
pub mod memory;
pub mod pod_template;
pub mod resources;
mod workloads;

pub use flink_config::{
    BLOB_PORT, CONF_DIR, LAST_STATE_DUMMY_PATH, REST_PORT, RPC_PORT, TM_POD_TEMPLATE_FILE, TM_RPC_PORT,
    config_file_text, restore_key, restore_path, task_slots,
};
pub use ingress::ingress_host_path;
pub use pod_template::{CONFIG_VOLUME, MAIN_CONTAINER};
pub use workloads::{jobmanager_args, taskmanager_replicas};

use crate::api::{FlinkDeployment, FlinkVersion, KubernetesDeploymentMode};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use std::collections::BTreeMap;

/// Annotation carrying the `metadata.generation` of the spec a Deployment was rendered from.
pub const GENERATION_ANNOTATION: &str = "flinkdeployment.flink.apache.org/generation";
/// Label `type` of native clusters (Flink's own value; HA ConfigMaps carry it too).
pub const NATIVE_TYPE: &str = "flink-native-kubernetes";
/// Label `type` of standalone clusters.
pub const STANDALONE_TYPE: &str = "flink-standalone-kubernetes";

/// What the lifecycle decided for this deployment of the cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RenderInput {
    /// Flink JobID (32 hex characters) of the application's job.
    pub job_id: Option<String>,
    /// Savepoint or checkpoint to restore from; `None` starts from empty state (unless
    /// `ha_last_state_restore`).
    pub restore_path: Option<String>,
    /// Last-state restore from HA metadata: Flink restores the latest checkpoint itself; a guard
    /// path ([`LAST_STATE_DUMMY_PATH`]) makes the start fail if the HA metadata vanished.
    pub ha_last_state_restore: bool,
    /// `metadata.generation` recorded in [`GENERATION_ANNOTATION`].
    pub generation: i64,
    /// Unique id of this deployment's job result store directory (a UUID made by the shell).
    pub job_result_store_id: String,
    /// Keys set last, over everything (a local harness sets host-specific keys here).
    pub config_overrides: BTreeMap<String, String>,
}

/// Why a resource cannot be rendered.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RenderError {
    #[error("{field}: {message}")]
    InvalidSpec { field: String, message: String },
    #[error("the FlinkDeployment has no {0}")]
    MissingMetadata(&'static str),
}

/// Every object of one cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedCluster {
    /// The flat Flink configuration (also in `config_map` as the config file).
    pub flink_config: BTreeMap<String, String>,
    /// `flink-config-<name>`: config file, log configuration, native TM pod template.
    pub config_map: ConfigMap,
    /// `<name>`: the JobManager.
    pub jobmanager: Deployment,
    /// `<name>-taskmanager` (standalone only; native JobManagers create their TaskManagers).
    pub taskmanager: Option<Deployment>,
    /// `<name>-rest`: the REST API on port 8081.
    pub rest_service: Service,
    /// `<name>`: JobManager RPC and blob ports, for TaskManagers.
    pub internal_service: Service,
    /// `<name>` when `spec.ingress` is set.
    pub ingress: Option<Ingress>,
}

/// Renders the cluster of `dep`. `effective` is the resource's effective flat Flink
/// configuration (see [`crate::config::effective_flink_config`]).
pub fn render(
    dep: &FlinkDeployment,
    effective: &BTreeMap<String, String>,
    input: &RenderInput,
) -> Result<RenderedCluster, RenderError> {
    let name = name_of(dep)?;
    let conf = flink_config::build(dep, effective, input)?;
    let version = dep.spec.flink_version.unwrap_or(FlinkVersion::v1_20);
    let (jobmanager, tm_template) = workloads::jobmanager(dep, &conf, input)?;
    let taskmanager = match dep.spec.mode() {
        KubernetesDeploymentMode::Standalone => Some(workloads::taskmanager(dep, &conf, input)?),
        KubernetesDeploymentMode::Native => None,
    };
    let mut data = BTreeMap::new();
    data.insert(
        version.config_file_name().to_string(),
        config_file_text(&conf, version),
    );
    let logs = dep.spec.log_configuration.clone().unwrap_or_default();
    if logs.is_empty() {
        data.insert("log4j-console.properties".into(), DEFAULT_LOG4J.into());
    }
    data.extend(logs);
    if let Some(t) = tm_template {
        data.insert(TM_POD_TEMPLATE_FILE.into(), t);
    }
    let config_map = ConfigMap {
        metadata: object_meta(dep, &config_map_name(name), None)?,
        data: Some(data),
        ..Default::default()
    };
    Ok(RenderedCluster {
        rest_service: rest_service(dep, &conf)?,
        internal_service: internal_service(dep, &conf)?,
        ingress: ingress::ingress(dep)?,
        flink_config: conf,
        config_map,
        jobmanager,
        taskmanager,
    })
}

/// Name of the ConfigMap with the Flink configuration.
pub fn config_map_name(name: &str) -> String {
    format!("flink-config-{name}")
}

/// Name of the REST Service.
pub fn rest_service_name(name: &str) -> String {
    format!("{name}-rest")
}

/// Name of the TaskManager Deployment (standalone).
pub fn taskmanager_name(name: &str) -> String {
    format!("{name}-taskmanager")
}

/// The labels of a cluster's pods and objects (`component` when given).
pub fn cluster_labels(dep: &FlinkDeployment, component: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert("app".to_string(), dep.metadata.name.clone().unwrap_or_default());
    let ty = match dep.spec.mode() {
        KubernetesDeploymentMode::Native => NATIVE_TYPE,
        KubernetesDeploymentMode::Standalone => STANDALONE_TYPE,
    };
    labels.insert("type".to_string(), ty.to_string());
    if let Some(c) = component {
        labels.insert("component".to_string(), c.to_string());
    }
    labels
}

/// The controller owner reference to the FlinkDeployment.
pub fn owner_reference(dep: &FlinkDeployment) -> Result<OwnerReference, RenderError> {
    let mut r = dep
        .controller_owner_ref(&())
        .ok_or(RenderError::MissingMetadata("metadata.uid"))?;
    r.block_owner_deletion = Some(true);
    Ok(r)
}

fn object_meta(
    dep: &FlinkDeployment,
    name: &str,
    component: Option<&str>,
) -> Result<ObjectMeta, RenderError> {
    Ok(ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace_of(dep)?.to_string()),
        labels: Some(cluster_labels(dep, component)),
        owner_references: Some(vec![owner_reference(dep)?]),
        ..Default::default()
    })
}

pub(crate) fn name_of(dep: &FlinkDeployment) -> Result<&str, RenderError> {
    dep.metadata
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or(RenderError::MissingMetadata("metadata.name"))
}

pub(crate) fn namespace_of(dep: &FlinkDeployment) -> Result<&str, RenderError> {
    dep.metadata
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or(RenderError::MissingMetadata("metadata.namespace"))
}

fn port_of(conf: &BTreeMap<String, String>, key: &str, default: i32) -> i32 {
    conf.get(key)
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(default)
}

fn service_port(name: &str, port: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_string()),
        port,
        target_port: Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(
            port,
        )),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn rest_service(dep: &FlinkDeployment, conf: &BTreeMap<String, String>) -> Result<Service, RenderError> {
    let name = name_of(dep)?;
    let exposed = conf
        .get("kubernetes.rest-service.exposed.type")
        .cloned()
        .unwrap_or_else(|| "ClusterIP".into());
    Ok(Service {
        metadata: object_meta(dep, &rest_service_name(name), Some("jobmanager"))?,
        spec: Some(ServiceSpec {
            type_: Some(exposed),
            selector: Some(cluster_labels(dep, Some("jobmanager"))),
            ports: Some(vec![service_port("rest", port_of(conf, "rest.port", REST_PORT))]),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn internal_service(dep: &FlinkDeployment, conf: &BTreeMap<String, String>) -> Result<Service, RenderError> {
    let name = name_of(dep)?;
    Ok(Service {
        metadata: object_meta(dep, name, Some("jobmanager"))?,
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(cluster_labels(dep, Some("jobmanager"))),
            ports: Some(vec![
                service_port("jobmanager-rpc", port_of(conf, "jobmanager.rpc.port", RPC_PORT)),
                service_port("blobserver", port_of(conf, "blob.server.port", BLOB_PORT)),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    })
}

const DEFAULT_LOG4J: &str = "rootLogger.level = INFO\n\
rootLogger.appenderRef.console.ref = ConsoleAppender\n\
appender.console.name = ConsoleAppender\n\
appender.console.type = CONSOLE\n\
appender.console.layout.type = PatternLayout\n\
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n\n";
