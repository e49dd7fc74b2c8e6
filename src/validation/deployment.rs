//! FlinkDeployment rules (reference §2.1), in the reference's order; the first failing rule wins.

use super::api_server_values::PULL_POLICIES;
use super::autoscaler::validate_autoscaler;
use super::components::{validate_job_manager, validate_task_manager};
use super::error::{Rule, ValidationError, reject};
use super::facts::{DeploymentConfig, DeploymentFacts};
use super::job::validate_job_spec;
use super::keys::conf_location;
use super::names::{NAME_RULE, is_dns_subdomain, is_valid_cluster_name};
use super::pod_templates::validate_pod_templates;
use crate::api::{
    FlinkDeployment, FlinkDeploymentSpec, FlinkVersion, JobState, KubernetesDeploymentMode, UpgradeMode,
};
use crate::config::{OperatorConfig, flink_keys};
use std::time::Duration;

const LOG_CONFIG_KEYS: [&str; 2] = ["log4j-console.properties", "logback-console.xml"];

/// Validates a FlinkDeployment as the operator will run it. Rules that compare with the
/// previous spec read `status.reconciliationStatus.lastReconciledSpec` (on UPDATE the API
/// server has copied the stored status into the object). Pure: no I/O, no clock.
pub fn validate_deployment(dep: &FlinkDeployment, operator: &OperatorConfig) -> Result<(), ValidationError> {
    validate_deployment_facts(&DeploymentFacts::new(dep, operator))
}

/// [`validate_deployment`] over inputs already derived (the webhook shares them with the
/// warnings and the change line).
pub fn validate_deployment_facts(facts: &DeploymentFacts<'_>) -> Result<(), ValidationError> {
    let dep = facts.dep;
    let spec = &dep.spec;
    if let Some(name) = dep.metadata.name.as_deref()
        && !is_valid_cluster_name(name)
    {
        return reject(
            "metadata.name",
            format!("FlinkDeployment name '{name}' is invalid: it {NAME_RULE}"),
            "Rename the resource, e.g. my-job-1",
        );
    }
    let previous = facts.previous.as_ref();
    validate_version(spec, previous)?;
    let cfg = facts.config.as_ref().map_err(Clone::clone)?;
    validate_cluster_config(cfg)?;
    validate_ingress(dep)?;
    validate_log_config(spec)?;
    if let Some(job) = &spec.job {
        validate_job_spec(job, spec.task_manager.as_ref(), &cfg.flink, spec.flink_version)?;
    }
    validate_job_manager(spec.job_manager.as_ref(), &cfg.flink)?;
    validate_task_manager(spec.task_manager.as_ref(), &cfg.flink)?;
    if let Some(old) = previous {
        validate_spec_change(old, spec)?;
    }
    if spec.service_account.is_none() {
        return reject(
            "spec.serviceAccount",
            "the service account of the Flink pods is not set",
            "Set spec.serviceAccount to a ServiceAccount allowed to manage the Flink pods (e.g. flink)",
        );
    }
    validate_autoscaler(&cfg.flink, reconcile_interval(cfg))?;
    validate_rendered_pod_fields(spec)?;
    validate_pod_templates(spec)
}

/// Spec fields the operator copies into the Flink pods, checked as the API server will check
/// them there (the reference does not): a value it refuses would fail the Deployment after
/// admission, when an upgrade may already have stopped the old job.
fn validate_rendered_pod_fields(spec: &FlinkDeploymentSpec) -> Rule {
    if let Some(policy) = spec.image_pull_policy.as_deref()
        && !policy.is_empty()
        && !PULL_POLICIES.contains(&policy)
    {
        return reject(
            "spec.imagePullPolicy",
            format!(
                "'{policy}' is not an image pull policy (Kubernetes accepts {})",
                PULL_POLICIES.join(", ")
            ),
            "Set spec.imagePullPolicy to IfNotPresent, Always or Never (they are case-sensitive), or leave it out",
        );
    }
    // Empty is the namespace's `default` ServiceAccount to the API server.
    if let Some(account) = spec.service_account.as_deref()
        && !account.is_empty()
        && !is_dns_subdomain(account)
    {
        return reject(
            "spec.serviceAccount",
            format!("'{account}' is not a valid ServiceAccount name"),
            "Use the name of a ServiceAccount: lower case letters, digits, '-' and '.', starting and ending with a letter or digit",
        );
    }
    Ok(())
}

/// The reconcile interval as the autoscaler rule sees it (a CR override counts).
pub(crate) fn reconcile_interval(cfg: &DeploymentConfig) -> Duration {
    cfg.flink
        .get("kubernetes.operator.reconcile.interval")
        .and_then(|v| crate::config::parse_flink_duration(v))
        .unwrap_or(cfg.operator.reconcile_interval)
}

fn validate_version(spec: &FlinkDeploymentSpec, previous: Option<&FlinkDeploymentSpec>) -> Rule {
    let Some(version) = spec.flink_version else {
        return reject(
            "spec.flinkVersion",
            "the Flink version is not set",
            "Set spec.flinkVersion to the Flink version of the image, e.g. v1_20 or v2_1",
        );
    };
    if !version.is_supported() {
        return reject(
            "spec.flinkVersion",
            format!("Flink version {version} is not supported (the oldest supported is v1_15)"),
            "Upgrade the image to Flink 1.15 or newer and set spec.flinkVersion accordingly",
        );
    }
    if let Some(old) = previous
        && let (Some(old_job), Some(new_job)) = (&old.job, &spec.job)
        && new_job.upgrade_mode() != UpgradeMode::Stateless
        && old_job.desired_state() == JobState::Suspended
        && old_job.upgrade_mode() == UpgradeMode::LastState
        && old.flink_version != spec.flink_version
    {
        let old_v = old.flink_version.map_or("unset", FlinkVersion::as_str);
        return reject(
            "spec.flinkVersion",
            format!(
                "changing the Flink version ({old_v} → {version}) while the job is suspended with last-state is not \
                 allowed: the new version cannot restore the old one's HA metadata"
            ),
            format!(
                "Resume the job with flinkVersion {old_v} first, then upgrade the version as a separate change"
            ),
        );
    }
    Ok(())
}

fn validate_cluster_config(cfg: &DeploymentConfig) -> Rule {
    if let Some(key) = flink_keys::FORBIDDEN_KEYS
        .iter()
        .find(|k| cfg.flink.contains_key(**k))
    {
        return reject(
            conf_location(key),
            format!("{key} is managed by the operator and must not be set"),
            format!("Remove {key} from spec.flinkConfiguration and the operator's default configuration"),
        );
    }
    // Flink cannot start ZooKeeper HA without a quorum, and the operator could not read the HA
    // metadata it keeps the job's state pointers in.
    if flink_keys::ha_type(&cfg.flink).is_some_and(|t| t.eq_ignore_ascii_case("zookeeper"))
        && cfg
            .flink
            .get("high-availability.zookeeper.quorum")
            .is_none_or(|q| q.trim().is_empty())
    {
        return reject(
            conf_location("high-availability.zookeeper.quorum"),
            "ZooKeeper high availability needs high-availability.zookeeper.quorum",
            "Set high-availability.zookeeper.quorum to the ZooKeeper servers (host:port, comma-separated)",
        );
    }
    if cfg.operator.health_check_enabled && !cfg.operator.jm_deployment_recovery_enabled {
        return reject(
            conf_location("kubernetes.operator.cluster.health-check.enabled"),
            "the cluster health check restarts unhealthy clusters through JobManager deployment recovery, \
             which is disabled (kubernetes.operator.jm-deployment-recovery.enabled: false)",
            "Enable kubernetes.operator.jm-deployment-recovery.enabled, or disable the health check",
        );
    }
    Ok(())
}

fn validate_ingress(dep: &FlinkDeployment) -> Rule {
    let Some(ingress) = &dep.spec.ingress else {
        return Ok(());
    };
    let Some(template) = ingress.template.as_deref() else {
        return reject(
            "spec.ingress.template",
            "an ingress is configured without a template",
            "Set spec.ingress.template, e.g. flink.example.com/{{namespace}}/{{name}}(/|$)(.*)",
        );
    };
    let rendered = template
        .replace("{{name}}", dep.metadata.name.as_deref().unwrap_or_default())
        .replace(
            "{{namespace}}",
            dep.metadata.namespace.as_deref().unwrap_or_default(),
        );
    let without_scheme = rendered
        .strip_prefix("https://")
        .or_else(|| rendered.strip_prefix("http://"))
        .unwrap_or(&rendered);
    let authority = without_scheme.split('/').next().unwrap_or_default();
    let port = authority
        .rsplit_once(':')
        .map(|(_, p)| p)
        .filter(|_| !authority.ends_with(']'));
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return reject(
            "spec.ingress.template",
            format!(
                "the ingress template '{template}' does not render to a valid URL: port '{port}' is not a number"
            ),
            "Write the template as host[:port]/path, e.g. flink.example.com/{{namespace}}/{{name}}",
        );
    }
    Ok(())
}

fn validate_log_config(spec: &FlinkDeploymentSpec) -> Rule {
    let Some(logs) = &spec.log_configuration else {
        return Ok(());
    };
    if let Some(key) = logs.keys().find(|k| !LOG_CONFIG_KEYS.contains(&k.as_str())) {
        return reject(
            format!("spec.logConfiguration[{key}]"),
            format!("'{key}' is not a logging configuration file Flink reads"),
            format!("Use one of {}", LOG_CONFIG_KEYS.join(", ")),
        );
    }
    Ok(())
}

fn validate_spec_change(old: &FlinkDeploymentSpec, new: &FlinkDeploymentSpec) -> Rule {
    match (&old.job, &new.job) {
        (None, Some(_)) => {
            return reject(
                "spec.job",
                "a session cluster cannot become an application cluster",
                "Run the job as a FlinkSessionJob on this cluster, or create a new FlinkDeployment for it",
            );
        }
        (Some(_), None) => {
            return reject(
                "spec.job",
                "an application cluster cannot become a session cluster (spec.job was removed)",
                "Restore spec.job (use state: suspended to stop it), or create a new FlinkDeployment for the session",
            );
        }
        _ => {}
    }
    let (old_mode, new_mode) = (old.mode(), new.mode());
    if old_mode != new_mode {
        let name = |m: KubernetesDeploymentMode| match m {
            KubernetesDeploymentMode::Native => "native",
            KubernetesDeploymentMode::Standalone => "standalone",
        };
        return reject(
            "spec.mode",
            format!(
                "the deployment mode cannot change from {} to {}",
                name(old_mode),
                name(new_mode)
            ),
            format!(
                "Set spec.mode back to {}, or create a new FlinkDeployment",
                name(old_mode)
            ),
        );
    }
    if let (Some(old_job), Some(new_job)) = (&old.job, &new.job) {
        validate_redeploy_nonce(old_job, new_job)?;
    }
    Ok(())
}

pub(crate) fn validate_redeploy_nonce(old: &crate::api::JobSpec, new: &crate::api::JobSpec) -> Rule {
    if new.savepoint_redeploy_nonce.is_some()
        && new.savepoint_redeploy_nonce != old.savepoint_redeploy_nonce
        && new
            .initial_savepoint_path
            .as_deref()
            .is_none_or(|p| p.trim().is_empty())
    {
        return reject(
            "spec.job.initialSavepointPath",
            "spec.job.savepointRedeployNonce changed, which redeploys the job from spec.job.initialSavepointPath, \
             but that path is empty",
            "Set spec.job.initialSavepointPath to the savepoint to redeploy from, in the same change",
        );
    }
    Ok(())
}
