//! Risky but legal specs: admitted, with a one-line warning (kubectl and Argo CD print them).
//! Pure functions; call them on specs that passed validation.

use super::facts::DeploymentFacts;
use super::previous::last_reconciled_session_job_spec;
use super::session_job::session_job_flink_config;
use crate::api::{FlinkDeployment, FlinkSessionJob, JobSpec, JobState, UpgradeMode};
use crate::config::{OperatorConfig, flink_keys};
use crate::render::pod_template::role_image;
use std::collections::BTreeMap;

/// Warnings for a FlinkDeployment.
pub fn deployment_warnings(dep: &FlinkDeployment, operator: &OperatorConfig) -> Vec<String> {
    deployment_warnings_facts(&DeploymentFacts::new(dep, operator))
}

/// [`deployment_warnings`] over inputs already derived.
pub fn deployment_warnings_facts(facts: &DeploymentFacts<'_>) -> Vec<String> {
    let dep = facts.dep;
    let mut out = Vec::new();
    let spec = &dep.spec;
    if let Some(v) = spec.flink_version
        && v.is_supported()
        && v.is_deprecated()
    {
        out.push(format!(
            "spec.flinkVersion {v} is deprecated and support will be removed; plan an upgrade to v1_19 or newer"
        ));
    }
    if facts.recorded().is_some() && facts.previous.is_none() {
        out.push(UNREADABLE.into());
    }
    let role_templates = [
        spec.job_manager.as_ref().and_then(|jm| jm.pod_template.as_ref()),
        spec.task_manager.as_ref().and_then(|tm| tm.pod_template.as_ref()),
    ];
    if let Some(image) = role_templates
        .into_iter()
        .find_map(|t| role_image(spec, t).filter(|(_, defaulted)| *defaulted))
        .map(|(image, _)| image)
    {
        out.push(format!(
            "spec.image is not set: the Flink pods will run {image}, Docker's official image of spec.flinkVersion; \
             set spec.image to the image with your job"
        ));
    }
    for (path, deprecated) in [
        (
            "spec.jobManager.resource",
            spec.job_manager.as_ref().is_some_and(|j| j.resource.is_some()),
        ),
        (
            "spec.taskManager.resource",
            spec.task_manager.as_ref().is_some_and(|t| t.resource.is_some()),
        ),
    ] {
        if deprecated {
            out.push(format!(
                "{path} is deprecated; use {path}s (Kubernetes requests/limits) instead"
            ));
        }
    }
    if let Ok(cfg) = &facts.config
        && let Some(job) = &spec.job
    {
        job_warnings(&mut out, job, &cfg.flink, cfg.operator.savepoint_on_deletion);
        if cfg.operator.rollback_enabled
            && !flink_keys::ha_enabled(&cfg.flink)
            && job.upgrade_mode() != UpgradeMode::Stateless
        {
            out.push(
                "kubernetes.operator.deployment.rollback.enabled without high availability: only an upgrade whose new \
                 JobManager never started is rolled back (from the upgrade's savepoint); a new job that started and \
                 then failed stays as it is, since its newer state is only reachable through HA metadata; set \
                 high-availability.type: kubernetes to roll those back too"
                    .into(),
            );
        }
    }
    out
}

/// Warnings for a FlinkSessionJob; `session` is its target FlinkDeployment when known.
pub fn session_job_warnings(
    job: &FlinkSessionJob,
    session: Option<&FlinkDeployment>,
    operator: &OperatorConfig,
) -> Vec<String> {
    let mut out = Vec::new();
    if recorded_but_unreadable(job.status.as_ref().and_then(|s| s.reconciliation_status.as_ref()))
        && last_reconciled_session_job_spec(job).is_none()
    {
        out.push(UNREADABLE.into());
    }
    let Some(job_spec) = &job.spec.job else { return out };
    match session {
        None => {
            let name = job.spec.deployment_name.as_deref().unwrap_or_default();
            out.push(format!(
                "session FlinkDeployment '{name}' was not found in this namespace; the job is submitted once it exists"
            ));
        }
        Some(session) => {
            let conf = session_job_flink_config(job, session, operator);
            let on_deletion = operator
                .for_resource(&conf)
                .map(|o| o.savepoint_on_deletion)
                .unwrap_or(operator.savepoint_on_deletion);
            job_warnings(&mut out, job_spec, &conf, on_deletion);
        }
    }
    out
}

const UNREADABLE: &str = "status.reconciliationStatus.lastReconciledSpec cannot be read; rules that compare with \
     the deployed spec were skipped";

fn recorded_but_unreadable(status: Option<&crate::api::ReconciliationStatus>) -> bool {
    status.and_then(|s| s.last_reconciled_spec.as_deref()).is_some()
}

fn job_warnings(
    out: &mut Vec<String>,
    job: &JobSpec,
    conf: &BTreeMap<String, String>,
    savepoint_on_deletion: bool,
) {
    let has_checkpoints = flink_keys::checkpoint_dir(conf).is_some();
    match job.upgrade_mode() {
        UpgradeMode::LastState if !flink_keys::ha_enabled(conf) => out.push(
            "upgradeMode last-state without high availability: upgrades cancel the job and restore it from the last \
             checkpoint the operator observed; set high-availability.type: kubernetes for exact restores"
                .into(),
        ),
        UpgradeMode::Stateless if has_checkpoints && job.desired_state() == JobState::Running => out.push(
            "upgradeMode stateless: every spec change restarts the job from empty state although checkpointing is \
             configured; use savepoint or last-state to keep state"
                .into(),
        ),
        _ => {}
    }
    if savepoint_on_deletion && flink_keys::savepoint_dir(conf).is_none() {
        out.push(
            "kubernetes.operator.job.savepoint-on-deletion is on but no savepoint directory is configured: deleting \
             the resource cannot take a final savepoint; set execution.checkpointing.savepoint-dir"
                .into(),
        );
    }
    if job.savepoint_trigger_nonce.is_some() {
        out.push(
            "spec.job.savepointTriggerNonce is deprecated; it still triggers a savepoint when changed".into(),
        );
    }
    if job.checkpoint_trigger_nonce.is_some() {
        out.push(
            "spec.job.checkpointTriggerNonce is deprecated; it still triggers a checkpoint when changed"
                .into(),
        );
    }
}
