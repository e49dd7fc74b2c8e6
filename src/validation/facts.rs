//! What the FlinkDeployment rules, its warnings and the webhook's change line all read: the
//! decoded `lastReconciledSpec` and the layered configuration. Decoding and layering are the
//! costly parts of a decision, so a review computes them once and hands them to each step.

use super::error::{ValidationError, config_error};
use super::previous::last_reconciled_deployment_spec;
use crate::api::{FlinkDeployment, FlinkDeploymentSpec, FlinkDeploymentStatus};
use crate::config::{OperatorConfig, effective_flink_config};
use std::collections::BTreeMap;

/// One FlinkDeployment with its derived inputs.
pub struct DeploymentFacts<'a> {
    pub dep: &'a FlinkDeployment,
    /// `status.reconciliationStatus.lastReconciledSpec` decoded; `None` before the first
    /// deployment or when the recorded text cannot be read.
    pub previous: Option<FlinkDeploymentSpec>,
    /// The effective configuration, or the rejection of an unreadable operator override.
    pub config: Result<DeploymentConfig, ValidationError>,
}

impl<'a> DeploymentFacts<'a> {
    pub fn new(dep: &'a FlinkDeployment, operator: &OperatorConfig) -> Self {
        Self {
            dep,
            previous: last_reconciled_deployment_spec(dep),
            config: deployment_config(dep, operator),
        }
    }

    /// The recorded `lastReconciledSpec` text, decodable or not.
    pub fn recorded(&self) -> Option<&'a str> {
        recorded_text(self.dep)
    }
}

/// `status.reconciliationStatus.lastReconciledSpec` as written.
pub fn recorded_text(dep: &FlinkDeployment) -> Option<&str> {
    recorded_in(dep.status.as_ref())
}

/// [`recorded_text`] of a status.
pub fn recorded_in(status: Option<&FlinkDeploymentStatus>) -> Option<&str> {
    status?
        .reconciliation_status
        .as_ref()?
        .last_reconciled_spec
        .as_deref()
}

/// The configuration a FlinkDeployment runs with: operator defaults (namespace- and
/// version-scoped) overlaid with its own `flinkConfiguration`, plus the operator settings that
/// apply to it after its dynamic overrides.
pub struct DeploymentConfig {
    pub flink: BTreeMap<String, String>,
    pub operator: OperatorConfig,
}

/// Builds [`DeploymentConfig`]; an unreadable operator override in the spec is a rejection.
pub fn deployment_config(
    dep: &FlinkDeployment,
    operator: &OperatorConfig,
) -> Result<DeploymentConfig, ValidationError> {
    let own = dep.spec.flat_configuration();
    let flink = effective_flink_config(
        operator,
        dep.metadata.namespace.as_deref(),
        dep.spec.flink_version,
        &own,
    );
    let operator = operator.for_resource(&own).map_err(config_error)?;
    Ok(DeploymentConfig { flink, operator })
}
