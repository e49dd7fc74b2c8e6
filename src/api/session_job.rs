//! The `FlinkSessionJob` kind: a job submitted to a session `FlinkDeployment`.

use super::absent_spec::spec_may_be_absent;
use super::flink_configuration::FlinkConfiguration;
use super::job_spec::JobSpec;
use super::status::FlinkSessionJobStatus;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A Flink job running on a session cluster (a FlinkDeployment without `job`).
// kube's printcolumn(...) attributes repeat `type_`, which clippy mistakes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "flink.apache.org",
    version = "v1beta1",
    kind = "FlinkSessionJob",
    plural = "flinksessionjobs",
    shortname = "sessionjob",
    namespaced,
    derive = "Default",
    derive = "PartialEq",
    status = "FlinkSessionJobStatus",
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
    doc = "A Flink job on a session cluster, managed by flink-lifecycle (API of the Apache Flink Kubernetes Operator)."
)]
// `remote = "Self"`: the derives write inherent functions, wrapped by `spec_may_be_absent!`.
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct FlinkSessionJobSpec {
    /// Name of the session FlinkDeployment in the same namespace (immutable once deployed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_name: Option<String>,
    /// The job to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobSpec>,
    /// Change to a new value to restart the job with the current upgrade mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_nonce: Option<i64>,
    /// Flink configuration overrides, merged over the session cluster's configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_configuration: Option<FlinkConfiguration>,
}

spec_may_be_absent!(FlinkSessionJobSpec);

impl FlinkSessionJobSpec {
    /// The spec with the reference's defaults filled in (see [`JobSpec::normalized`]).
    pub fn normalized(&self) -> Self {
        let mut out = self.clone();
        out.job = self.job.as_ref().map(JobSpec::normalized);
        if out
            .flink_configuration
            .as_ref()
            .is_some_and(FlinkConfiguration::is_empty)
        {
            out.flink_configuration = None;
        }
        out
    }

    /// The job's own Flink configuration (flat keys).
    pub fn flat_configuration(&self) -> BTreeMap<String, String> {
        self.flink_configuration
            .as_ref()
            .map(FlinkConfiguration::flatten)
            .unwrap_or_default()
    }
}
