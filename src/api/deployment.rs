//! The `FlinkDeployment` kind: a Flink cluster, with a job (application cluster) or without
//! (session cluster).

use super::absent_spec::spec_may_be_absent;
use super::enums::{FlinkVersion, KubernetesDeploymentMode};
use super::flink_configuration::FlinkConfiguration;
use super::job_spec::JobSpec;
use super::resources::{IngressSpec, JobManagerSpec, TaskManagerSpec};
use super::schema::{preserve_unknown_object, string_map};
use super::status::FlinkDeploymentStatus;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A Flink cluster on Kubernetes: an application cluster running `job`, or a session cluster
/// (no `job`) that runs FlinkSessionJobs.
// kube's printcolumn(...) attributes repeat `type_`, which clippy mistakes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "flink.apache.org",
    version = "v1beta1",
    kind = "FlinkDeployment",
    plural = "flinkdeployments",
    shortname = "flinkdep",
    namespaced,
    derive = "Default",
    derive = "PartialEq",
    status = "FlinkDeploymentStatus",
    scale(
        spec_replicas_path = ".spec.taskManager.replicas",
        status_replicas_path = ".status.taskManager.replicas",
        label_selector_path = ".status.taskManager.labelSelector"
    ),
    printcolumn(
        name = "Job Status",
        type_ = "string",
        json_path = ".status.jobStatus.state",
        description = "Last observed state of the job"
    ),
    printcolumn(
        name = "Lifecycle State",
        type_ = "string",
        json_path = ".status.lifecycleState",
        description = "Lifecycle state of the Flink resource"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    doc = "A Flink cluster managed by flink-lifecycle (API of the Apache Flink Kubernetes Operator)."
)]
// `remote = "Self"`: the derives write inherent functions, wrapped by `spec_may_be_absent!`.
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct FlinkDeploymentSpec {
    /// The job of an application cluster; absent for a session cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobSpec>,
    /// Change to a new value to restart the cluster and job with the current upgrade mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_nonce: Option<i64>,
    /// Flink configuration overrides (flat keys or nested YAML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_configuration: Option<FlinkConfiguration>,
    /// Flink image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Image pull policy: `Always`, `IfNotPresent` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Kubernetes service account of the Flink pods (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Flink version of the image (required; v1_15 or newer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_version: Option<FlinkVersion>,
    /// Operator-managed Ingress for the REST API and web UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
    /// Base pod template (core/v1 PodTemplateSpec) for JobManager and TaskManager pods; the
    /// main container is named `flink-main-container`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub pod_template: Option<Value>,
    /// JobManager settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_manager: Option<JobManagerSpec>,
    /// TaskManager settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_manager: Option<TaskManagerSpec>,
    /// Logging configuration files: `log4j-console.properties` or `logback-console.xml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "string_map")]
    pub log_configuration: Option<BTreeMap<String, String>>,
    /// Deployment mode: `native` (default) or `standalone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<KubernetesDeploymentMode>,
}

spec_may_be_absent!(FlinkDeploymentSpec);

impl FlinkDeploymentSpec {
    /// The Flink configuration as Flink reads it (flat keys).
    pub fn flat_configuration(&self) -> BTreeMap<String, String> {
        self.flink_configuration
            .as_ref()
            .map(FlinkConfiguration::flatten)
            .unwrap_or_default()
    }

    /// The spec with the reference's defaults filled in (see [`JobSpec::normalized`];
    /// `jobManager.replicas: 1`, an empty `flinkConfiguration` as absent). Compare specs in this
    /// form: the reference records specs with defaults, users often omit them.
    pub fn normalized(&self) -> Self {
        let mut out = self.clone();
        out.job = self.job.as_ref().map(JobSpec::normalized);
        if let Some(jm) = out.job_manager.as_mut() {
            jm.replicas = Some(jm.replicas());
        }
        if out
            .flink_configuration
            .as_ref()
            .is_some_and(FlinkConfiguration::is_empty)
        {
            out.flink_configuration = None;
        }
        out
    }

    /// Deployment mode; absent means `native`.
    pub fn mode(&self) -> KubernetesDeploymentMode {
        self.mode.unwrap_or_default()
    }

    /// An application cluster runs a job; a session cluster does not.
    pub fn is_application(&self) -> bool {
        self.job.is_some()
    }
}
