//! `spec.job`: the Flink job of an application cluster or a session job.

use super::enums::{JobState, UpgradeMode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Flink job to run and how its lifecycle is managed.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// URI of the job jar. Application clusters: usually `local://` inside the image (absent:
    /// the jar is on the classpath). Session jobs: fetched by the operator and uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "jarURI")]
    pub jar_uri: Option<String>,
    /// Job parallelism. Must be at least 1 unless `taskManager.replicas` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    /// Fully qualified main class of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_class: Option<String>,
    /// Arguments passed to the job's main method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Desired state of the job: `running` or `suspended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobState>,
    /// Deprecated: change to trigger a manual savepoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_trigger_nonce: Option<i64>,
    /// Savepoint to start from on the first deployment and on a savepoint redeploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_savepoint_path: Option<String>,
    /// Deprecated: change to trigger a manual checkpoint (Flink >= 1.17).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_trigger_nonce: Option<i64>,
    /// How state is carried over on upgrades: `stateless`, `savepoint` or `last-state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_mode: Option<UpgradeMode>,
    /// Allow restoring a savepoint that contains state no operator claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_non_restored_state: Option<bool>,
    /// Change to a new value to redeploy the job from `initialSavepointPath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_redeploy_nonce: Option<i64>,
    /// Change to reset the autoscaler state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaler_reset_nonce: Option<i64>,
}

impl JobSpec {
    /// Desired state; the API default is `running`.
    pub fn desired_state(&self) -> JobState {
        self.state.unwrap_or_default()
    }

    /// Upgrade mode; the API default is `stateless`.
    pub fn upgrade_mode(&self) -> UpgradeMode {
        self.upgrade_mode.unwrap_or_default()
    }

    /// The spec with the defaults the reference fills in when it records a spec (`state: running`,
    /// `args: []`, `upgradeMode: stateless`, `parallelism: 0`), so a spec recorded by the reference
    /// and the same spec written by a user without defaults compare equal.
    pub fn normalized(&self) -> Self {
        Self {
            args: Some(self.args.clone().unwrap_or_default()),
            state: Some(self.desired_state()),
            upgrade_mode: Some(self.upgrade_mode()),
            parallelism: Some(self.parallelism()),
            ..self.clone()
        }
    }

    /// Parallelism as the reference reads it (an omitted value is 0).
    pub fn parallelism(&self) -> i32 {
        self.parallelism.unwrap_or(0)
    }
}
