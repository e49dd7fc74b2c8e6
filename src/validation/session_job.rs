//! FlinkSessionJob rules (reference §2.5): its own rules always; the job-spec and autoscaler
//! rules against the merged configuration when its session FlinkDeployment is known.

use super::autoscaler::validate_autoscaler;
use super::deployment::validate_redeploy_nonce;
use super::error::config_error;
use super::error::{Rule, ValidationError, reject};
use super::jar_uri::{HostResolver, validate_jar_uri};
use super::job::validate_job_spec;
use super::names::{NAME_RULE, is_valid_cluster_name};
use super::previous::last_reconciled_session_job_spec;
use crate::api::{FlinkDeployment, FlinkSessionJob};
use crate::config::{OperatorConfig, effective_flink_config};
use std::collections::BTreeMap;

/// The configuration a session job runs with: the session cluster's effective configuration
/// overlaid with the job's own `flinkConfiguration`.
pub fn session_job_flink_config(
    job: &FlinkSessionJob,
    session: &FlinkDeployment,
    operator: &OperatorConfig,
) -> BTreeMap<String, String> {
    let mut own = session.spec.flat_configuration();
    own.extend(job.spec.flat_configuration());
    effective_flink_config(
        operator,
        job.metadata.namespace.as_deref(),
        session.spec.flink_version,
        &own,
    )
}

/// Validates a FlinkSessionJob. `session` is its target FlinkDeployment (`spec.deploymentName`
/// in the job's namespace) when it exists; `resolver` answers DNS for the jarURI host rule.
/// Pure given the resolver.
pub fn validate_session_job(
    job: &FlinkSessionJob,
    session: Option<&FlinkDeployment>,
    operator: &OperatorConfig,
    resolver: &dyn HostResolver,
) -> Result<(), ValidationError> {
    let spec = &job.spec;
    let Some(deployment_name) = spec.deployment_name.as_deref() else {
        return reject(
            "spec.deploymentName",
            "the session cluster of the job is not set",
            "Set spec.deploymentName to the name of a session FlinkDeployment (one without spec.job) in this namespace",
        );
    };
    if !is_valid_cluster_name(deployment_name) {
        return reject(
            "spec.deploymentName",
            format!("'{deployment_name}' cannot name a FlinkDeployment: a FlinkDeployment name {NAME_RULE}"),
            "Set spec.deploymentName to the name of an existing session FlinkDeployment",
        );
    }
    let Some(job_spec) = &spec.job else {
        return reject(
            "spec.job",
            "the job spec is empty",
            "Set spec.job with at least jarURI and parallelism",
        );
    };
    if let Some(old) = last_reconciled_session_job_spec(job) {
        if old.deployment_name.as_deref() != Some(deployment_name) {
            return reject(
                "spec.deploymentName",
                format!(
                    "the session cluster cannot change once the job is deployed (deployed on '{}')",
                    old.deployment_name.as_deref().unwrap_or_default()
                ),
                "Set spec.deploymentName back, or delete this FlinkSessionJob and create a new one for the other cluster",
            );
        }
        if let Some(old_job) = &old.job {
            validate_redeploy_nonce(old_job, job_spec)?;
        }
    }
    if let Some(uri) = job_spec.jar_uri.as_deref() {
        validate_jar_uri(uri, operator, resolver)?;
    }
    let Some(session) = session else { return Ok(()) };
    validate_target(deployment_name, session)?;
    let conf = session_job_flink_config(job, session, operator);
    validate_job_spec(job_spec, None, &conf, session.spec.flink_version)?;
    let resource_operator = operator.for_resource(&conf).map_err(config_error)?;
    let interval = conf
        .get("kubernetes.operator.reconcile.interval")
        .and_then(|v| crate::config::parse_flink_duration(v))
        .unwrap_or(resource_operator.reconcile_interval);
    validate_autoscaler(&conf, interval)
}

fn validate_target(deployment_name: &str, session: &FlinkDeployment) -> Rule {
    if session.spec.job.is_some() {
        return reject(
            "spec.deploymentName",
            format!(
                "FlinkDeployment '{deployment_name}' is an application cluster (it has spec.job); session jobs need a session cluster"
            ),
            "Point spec.deploymentName at a FlinkDeployment without spec.job",
        );
    }
    if session.metadata.name.as_deref() != Some(deployment_name) {
        return reject(
            "spec.deploymentName",
            "the session job's cluster id does not match the session cluster",
            "Set spec.deploymentName to the session FlinkDeployment's name",
        );
    }
    Ok(())
}
