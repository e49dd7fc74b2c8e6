//! Spec diff: which fields changed between the deployed spec (`lastReconciledSpec`) and the
//! desired one, and how much of a restart that needs. Field rules follow the reference
//! (reference study §1.1, §1.2, §4.2): every field is an UPGRADE unless listed otherwise.

use crate::api::{
    FlinkDeploymentSpec, FlinkSessionJobSpec, JobManagerSpec, JobSpec, KubernetesDeploymentMode,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// How disruptive a change is; ordered, the diff of a spec is the largest of its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiffType {
    /// No effect on the running job (upgrade mode, nonces of manual snapshots, operator keys...).
    Ignore,
    /// Parallelism only (rescale).
    Scale,
    /// Needs a restart of the job with its upgrade mode.
    Upgrade,
    /// Redeploy from `initialSavepointPath` (new `savepointRedeployNonce`).
    SavepointRedeploy,
}

impl DiffType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ignore => "IGNORE",
            Self::Scale => "SCALE",
            Self::Upgrade => "UPGRADE",
            Self::SavepointRedeploy => "SAVEPOINT_REDEPLOY",
        }
    }
}

impl fmt::Display for DiffType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One changed field.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    /// Dotted path, e.g. `job.parallelism` or `flinkConfiguration.taskmanager.numberOfTaskSlots`.
    pub path: String,
    pub before: String,
    pub after: String,
    pub kind: DiffType,
}

/// All changed fields and the resulting diff type.
#[derive(Clone, Debug, PartialEq, Serialize, Default)]
pub struct SpecDiff {
    pub changes: Vec<FieldChange>,
}

impl SpecDiff {
    /// The largest change; IGNORE when nothing changed.
    pub fn kind(&self) -> DiffType {
        self.changes
            .iter()
            .map(|c| c.kind)
            .max()
            .unwrap_or(DiffType::Ignore)
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Whether `path` (exact) is among the changed fields.
    pub fn touches(&self, path: &str) -> bool {
        self.changes.iter().any(|c| c.path == path)
    }

    /// Changed fields of at least `min` kind, as `path : before -> after`.
    pub fn summary(&self, min: DiffType) -> String {
        self.changes
            .iter()
            .filter(|c| c.kind >= min)
            .map(|c| format!("{} : {} -> {}", c.path, c.before, c.after))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn push<T: Serialize + PartialEq>(&mut self, path: &str, before: &T, after: &T, kind: DiffType) {
        if before != after {
            self.changes.push(FieldChange {
                path: path.to_string(),
                before: show(before),
                after: show(after),
                kind,
            });
        }
    }

    /// Nonces whose change to `null` is not a change (`onNullIgnore`).
    fn push_nonce(&mut self, path: &str, before: Option<i64>, after: Option<i64>, kind: DiffType) {
        if after.is_some() && before != after {
            self.push(path, &before, &after, kind);
        }
    }
}

fn show<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::Null) | Err(_) => "null".to_string(),
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
    }
}

/// Parallelism-like fields are SCALE only where the reference can rescale them.
fn scale_in(mode: KubernetesDeploymentMode, wanted: KubernetesDeploymentMode) -> DiffType {
    if mode == wanted {
        DiffType::Scale
    } else {
        DiffType::Upgrade
    }
}

/// Diff of two FlinkDeployment specs (both compared in normalized form).
pub fn deployment_diff(before: &FlinkDeploymentSpec, after: &FlinkDeploymentSpec) -> SpecDiff {
    deployment_diff_with_job(before, before.job.as_ref(), after)
}

/// [`deployment_diff`] with `before_job` in place of `before.job` (the webhook's change line
/// compares the user's own previous upgrade mode, not the recorded one). Only the job, the
/// JobManager's replicas and an empty configuration have a normal form, so the specs are not
/// cloned whole to normalize them: the webhook diffs on every review.
pub fn deployment_diff_with_job(
    b: &FlinkDeploymentSpec,
    before_job: Option<&JobSpec>,
    a: &FlinkDeploymentSpec,
) -> SpecDiff {
    let mode = a.mode();
    let mut d = SpecDiff::default();
    job_diff(
        &mut d,
        before_job.map(JobSpec::normalized).as_ref(),
        a.job.as_ref().map(JobSpec::normalized).as_ref(),
        mode,
    );
    d.push_nonce(
        "restartNonce",
        b.restart_nonce,
        a.restart_nonce,
        DiffType::Upgrade,
    );
    // Equal as written, equal flattened (an empty map flattens as no map does).
    if b.flink_configuration != a.flink_configuration {
        config_diff(&mut d, &b.flat_configuration(), &a.flat_configuration(), mode);
    }
    d.push("image", &b.image, &a.image, DiffType::Upgrade);
    d.push(
        "imagePullPolicy",
        &b.image_pull_policy,
        &a.image_pull_policy,
        DiffType::Upgrade,
    );
    d.push(
        "serviceAccount",
        &b.service_account,
        &a.service_account,
        DiffType::Upgrade,
    );
    d.push(
        "flinkVersion",
        &b.flink_version,
        &a.flink_version,
        DiffType::Upgrade,
    );
    d.push("ingress", &b.ingress, &a.ingress, DiffType::Upgrade);
    d.push("podTemplate", &b.pod_template, &a.pod_template, DiffType::Upgrade);
    if b.job_manager != a.job_manager {
        let normal = |jm: &Option<JobManagerSpec>| {
            jm.clone().map(|mut jm| {
                jm.replicas = Some(jm.replicas());
                jm
            })
        };
        d.push(
            "jobManager",
            &normal(&b.job_manager),
            &normal(&a.job_manager),
            DiffType::Upgrade,
        );
    }
    match (&b.task_manager, &a.task_manager) {
        (Some(tb), Some(ta)) => {
            d.push(
                "taskManager.resource",
                &tb.resource,
                &ta.resource,
                DiffType::Upgrade,
            );
            d.push(
                "taskManager.resources",
                &tb.resources,
                &ta.resources,
                DiffType::Upgrade,
            );
            d.push(
                "taskManager.replicas",
                &tb.replicas,
                &ta.replicas,
                scale_in(mode, KubernetesDeploymentMode::Standalone),
            );
            d.push(
                "taskManager.podTemplate",
                &tb.pod_template,
                &ta.pod_template,
                DiffType::Upgrade,
            );
        }
        (tb, ta) => d.push("taskManager", tb, ta, DiffType::Upgrade),
    }
    d.push(
        "logConfiguration",
        &b.log_configuration,
        &a.log_configuration,
        DiffType::Upgrade,
    );
    d.push("mode", &b.mode, &a.mode, DiffType::Upgrade);
    d
}

/// Diff of two FlinkSessionJob specs (both compared in normalized form). Session jobs have no
/// standalone rescale, so parallelism is an UPGRADE.
pub fn session_job_diff(before: &FlinkSessionJobSpec, after: &FlinkSessionJobSpec) -> SpecDiff {
    let (b, a) = (before.normalized(), after.normalized());
    let mode = KubernetesDeploymentMode::Native;
    let mut d = SpecDiff::default();
    d.push(
        "deploymentName",
        &b.deployment_name,
        &a.deployment_name,
        DiffType::Upgrade,
    );
    job_diff(&mut d, b.job.as_ref(), a.job.as_ref(), mode);
    d.push_nonce(
        "restartNonce",
        b.restart_nonce,
        a.restart_nonce,
        DiffType::Upgrade,
    );
    config_diff(&mut d, &b.flat_configuration(), &a.flat_configuration(), mode);
    d
}

fn job_diff(
    d: &mut SpecDiff,
    before: Option<&JobSpec>,
    after: Option<&JobSpec>,
    mode: KubernetesDeploymentMode,
) {
    let (b, a) = match (before, after) {
        (Some(b), Some(a)) => (b, a),
        (b, a) => return d.push("job", &b, &a, DiffType::Upgrade),
    };
    use DiffType::{Ignore, Upgrade};
    d.push("job.jarURI", &b.jar_uri, &a.jar_uri, Upgrade);
    d.push(
        "job.parallelism",
        &b.parallelism,
        &a.parallelism,
        scale_in(mode, KubernetesDeploymentMode::Standalone),
    );
    d.push("job.entryClass", &b.entry_class, &a.entry_class, Upgrade);
    d.push("job.args", &b.args, &a.args, Upgrade);
    d.push("job.state", &b.state, &a.state, Upgrade);
    d.push(
        "job.savepointTriggerNonce",
        &b.savepoint_trigger_nonce,
        &a.savepoint_trigger_nonce,
        Ignore,
    );
    d.push(
        "job.initialSavepointPath",
        &b.initial_savepoint_path,
        &a.initial_savepoint_path,
        Ignore,
    );
    d.push(
        "job.checkpointTriggerNonce",
        &b.checkpoint_trigger_nonce,
        &a.checkpoint_trigger_nonce,
        Ignore,
    );
    d.push("job.upgradeMode", &b.upgrade_mode, &a.upgrade_mode, Ignore);
    d.push(
        "job.allowNonRestoredState",
        &b.allow_non_restored_state,
        &a.allow_non_restored_state,
        Ignore,
    );
    d.push_nonce(
        "job.savepointRedeployNonce",
        b.savepoint_redeploy_nonce,
        a.savepoint_redeploy_nonce,
        DiffType::SavepointRedeploy,
    );
    d.push(
        "job.autoscalerResetNonce",
        &b.autoscaler_reset_nonce,
        &a.autoscaler_reset_nonce,
        Ignore,
    );
}

/// The diff type of one changed `flinkConfiguration` key.
pub fn config_key_kind(key: &str, mode: KubernetesDeploymentMode) -> DiffType {
    if key.starts_with("job.autoscaler")
        || key.starts_with("kubernetes.operator")
        || key == "parallelism.default"
    {
        DiffType::Ignore
    } else if key == "pipeline.jobvertex-parallelism-overrides" {
        scale_in(mode, KubernetesDeploymentMode::Native)
    } else {
        DiffType::Upgrade
    }
}

fn config_diff(
    d: &mut SpecDiff,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    mode: KubernetesDeploymentMode,
) {
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for key in keys {
        let (b, a) = (before.get(key), after.get(key));
        // The path is only built for a changed key (a spec has dozens of unchanged ones).
        if b != a {
            d.push(
                &format!("flinkConfiguration.{key}"),
                &b,
                &a,
                config_key_kind(key, mode),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{FlinkConfiguration, TaskManagerSpec, UpgradeMode};

    fn app(parallelism: i32) -> FlinkDeploymentSpec {
        FlinkDeploymentSpec {
            image: Some("flink:1.20".into()),
            job: Some(JobSpec {
                jar_uri: Some("local:///job.jar".into()),
                parallelism: Some(parallelism),
                ..JobSpec::default()
            }),
            ..FlinkDeploymentSpec::default()
        }
    }

    /// The diff normalizes only what differs as written: the result is the diff of the
    /// normalized specs.
    #[test]
    fn the_diff_is_the_diff_of_the_normalized_specs() {
        use crate::api::JobManagerSpec;
        let base = app(2);
        let with = |f: &dyn Fn(&mut FlinkDeploymentSpec)| {
            let mut s = base.clone();
            f(&mut s);
            s
        };
        let variants = [
            base.clone(),
            with(&|s| s.flink_configuration = Some(FlinkConfiguration::default())),
            with(&|s| {
                s.flink_configuration = Some(FlinkConfiguration::from_flat([
                    ("a.b", "1"),
                    ("kubernetes.operator.x", "y"),
                ]))
            }),
            with(&|s| {
                s.flink_configuration = serde_json::from_value(serde_json::json!({"a": {"b": 1}})).ok();
            }),
            with(&|s| {
                s.job_manager = Some(JobManagerSpec {
                    replicas: Some(1),
                    ..Default::default()
                })
            }),
            with(&|s| s.job_manager = Some(JobManagerSpec::default())),
            with(&|s| {
                s.job_manager = Some(JobManagerSpec {
                    replicas: Some(2),
                    ..Default::default()
                })
            }),
            with(&|s| s.job.as_mut().unwrap().upgrade_mode = Some(UpgradeMode::Savepoint)),
            with(&|s| s.job = None),
            with(&|s| s.image = Some("flink:2.1".into())),
        ];
        for b in &variants {
            for a in &variants {
                assert_eq!(
                    deployment_diff(b, a),
                    deployment_diff(&b.normalized(), &a.normalized()),
                    "{b:?} -> {a:?}"
                );
            }
        }
        assert!(
            deployment_diff(&variants[0], &variants[1]).is_empty(),
            "an empty configuration is none"
        );
        assert!(
            deployment_diff(&variants[2], &variants[3]).touches("flinkConfiguration.kubernetes.operator.x")
        );
        assert!(
            deployment_diff(&variants[4], &variants[5]).is_empty(),
            "one JobManager, written or not"
        );
        assert!(deployment_diff(&variants[5], &variants[6]).touches("jobManager"));
    }

    #[test]
    fn defaults_written_or_omitted_compare_equal() {
        let mut a = app(2);
        let b = app(2);
        let job = a.job.as_mut().unwrap();
        job.state = Some(crate::api::JobState::Running);
        job.args = Some(vec![]);
        job.upgrade_mode = Some(UpgradeMode::Stateless);
        assert!(deployment_diff(&a, &b).is_empty());
    }

    #[test]
    fn parallelism_is_upgrade_in_native_and_scale_in_standalone() {
        assert_eq!(deployment_diff(&app(1), &app(2)).kind(), DiffType::Upgrade);
        let mut a = app(1);
        let mut b = app(2);
        a.mode = Some(KubernetesDeploymentMode::Standalone);
        b.mode = Some(KubernetesDeploymentMode::Standalone);
        assert_eq!(deployment_diff(&a, &b).kind(), DiffType::Scale);
        a.task_manager = Some(TaskManagerSpec {
            replicas: Some(1),
            ..Default::default()
        });
        b.job = a.job.clone();
        b.task_manager = Some(TaskManagerSpec {
            replicas: Some(3),
            ..Default::default()
        });
        assert_eq!(deployment_diff(&a, &b).kind(), DiffType::Scale);
    }

    #[test]
    fn config_key_rules() {
        let native = KubernetesDeploymentMode::Native;
        assert_eq!(config_key_kind("kubernetes.operator.x", native), DiffType::Ignore);
        assert_eq!(
            config_key_kind("job.autoscaler.enabled", native),
            DiffType::Ignore
        );
        assert_eq!(config_key_kind("parallelism.default", native), DiffType::Ignore);
        assert_eq!(
            config_key_kind("pipeline.jobvertex-parallelism-overrides", native),
            DiffType::Scale
        );
        assert_eq!(
            config_key_kind(
                "pipeline.jobvertex-parallelism-overrides",
                KubernetesDeploymentMode::Standalone
            ),
            DiffType::Upgrade
        );
        assert_eq!(
            config_key_kind("taskmanager.numberOfTaskSlots", native),
            DiffType::Upgrade
        );
        let mut a = app(1);
        let mut b = app(1);
        a.flink_configuration = Some(FlinkConfiguration::from_flat([("kubernetes.operator.a", "1")]));
        b.flink_configuration = Some(FlinkConfiguration::from_flat([("kubernetes.operator.a", "2")]));
        let d = deployment_diff(&a, &b);
        assert_eq!(d.kind(), DiffType::Ignore);
        assert!(d.touches("flinkConfiguration.kubernetes.operator.a"));
    }

    #[test]
    fn nonces_changed_to_null_are_ignored() {
        let mut a = app(1);
        a.restart_nonce = Some(3);
        let b = app(1);
        assert!(deployment_diff(&a, &b).is_empty());
        assert_eq!(deployment_diff(&b, &a).kind(), DiffType::Upgrade);
        let mut c = app(1);
        c.job.as_mut().unwrap().savepoint_redeploy_nonce = Some(1);
        assert_eq!(deployment_diff(&b, &c).kind(), DiffType::SavepointRedeploy);
        assert!(deployment_diff(&c, &b).is_empty());
    }

    #[test]
    fn summary_names_fields_like_the_reference() {
        let d = deployment_diff(&app(1), &app(2));
        assert_eq!(d.summary(DiffType::Scale), "job.parallelism : 1 -> 2");
    }
}
