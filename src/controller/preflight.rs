//! Preflight of an upgrade: the cluster the new spec renders to, applied as a dry run while the
//! old job still runs. Admission policies (Kyverno, Gatekeeper), quotas and schema rules the
//! webhook cannot know then refuse it before the job is stopped for an upgrade that could not
//! deploy, instead of after.

use super::context::Context;
use super::error::{Error, Result};
use super::execute::{FIELD_MANAGER, apply_cluster};
use crate::api::{FlinkDeployment, JobState, ReconciliationState};
use crate::config::effective_flink_config;
use crate::render::RenderInput;
use kube::ResourceExt;
use kube::api::PatchParams;

/// The API server's refusal of the cluster `dep`'s spec renders to, when a spec change waits
/// to be applied to a deployed cluster; `None` when it would be accepted or nothing waits.
/// Errors that say nothing about the spec (unreachable API server, conflicts, throttling) are
/// errors: the reconcile is retried.
pub async fn cluster_refusal(ctx: &Context, dep: &FlinkDeployment) -> Result<Option<String>> {
    if !change_waits(dep) {
        return Ok(None);
    }
    let ns = dep.namespace().unwrap_or_default();
    let effective = effective_flink_config(
        &ctx.operator,
        Some(&ns),
        dep.spec.flink_version,
        &dep.spec.flat_configuration(),
    );
    let input = RenderInput {
        job_id: Some(PLACEHOLDER_JOB_ID.into()),
        restore_path: None,
        ha_last_state_restore: false,
        generation: dep.metadata.generation.unwrap_or_default(),
        job_result_store_id: "preflight".into(),
        config_overrides: Default::default(),
    };
    let rendered = match crate::render::render(dep, &effective, &input) {
        Ok(r) => r,
        Err(e) => return Ok(Some(format!("the spec cannot be rendered: {e}"))),
    };
    let dry_run = PatchParams::apply(FIELD_MANAGER).force().dry_run();
    match apply_cluster(ctx, &ns, &rendered, &dry_run).await {
        Ok(()) => Ok(None),
        Err(Error::Kube(kube::Error::Api(status))) if refuses_the_object(status.code) => {
            Ok(Some(status.message))
        }
        Err(e) => Err(e),
    }
}

/// Any job id renders the same objects but for the id itself.
const PLACEHOLDER_JOB_ID: &str = "00000000000000000000000000000000";

/// A spec change not yet reconciled, for a cluster already deployed and not being stopped or
/// rolled back, that deploys a cluster (a suspend deploys none).
fn change_waits(dep: &FlinkDeployment) -> bool {
    let Some(status) = dep.status.as_ref() else {
        return false;
    };
    let Some(recon) = status.reconciliation_status.as_ref() else {
        return false;
    };
    let busy = matches!(
        recon.state,
        Some(ReconciliationState::Upgrading | ReconciliationState::RollingBack)
    );
    let suspends = dep
        .spec
        .job
        .as_ref()
        .is_some_and(|j| j.state == Some(JobState::Suspended));
    recon.last_reconciled_spec.is_some()
        && status.observed_generation != dep.metadata.generation
        && !busy
        && !suspends
}

/// 4xx answers about the object itself: invalid (422), denied by an admission webhook (400),
/// forbidden (403, also by quota). Not conflicts or throttling, which a retry clears.
fn refuses_the_object(code: u16) -> bool {
    matches!(code, 400 | 403 | 422)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(status: serde_json::Value, generation: i64, state: &str) -> FlinkDeployment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
            "metadata": {"name": "a", "namespace": "default", "generation": generation},
            "spec": {"job": {"jarURI": "local:///j.jar", "state": state}},
            "status": status,
        }))
        .expect("a FlinkDeployment")
    }

    #[test]
    fn only_a_waiting_change_to_a_deployed_cluster_is_checked() {
        let deployed = serde_json::json!({
            "observedGeneration": 1,
            "reconciliationStatus": {"lastReconciledSpec": "{}", "state": "DEPLOYED"},
        });
        assert!(change_waits(&deployment(deployed.clone(), 2, "running")));
        assert!(
            !change_waits(&deployment(deployed.clone(), 1, "running")),
            "nothing waits"
        );
        assert!(
            !change_waits(&deployment(deployed.clone(), 2, "suspended")),
            "a suspend deploys nothing"
        );
        let upgrading = serde_json::json!({
            "observedGeneration": 1,
            "reconciliationStatus": {"lastReconciledSpec": "{}", "state": "UPGRADING"},
        });
        assert!(
            !change_waits(&deployment(upgrading, 2, "running")),
            "the stop is under way"
        );
        let first = serde_json::json!({"reconciliationStatus": {"state": "UPGRADING"}});
        assert!(!change_waits(&deployment(first, 1, "running")), "never deployed");
    }

    /// A waiting change whose spec cannot be rendered (a webhook would have refused it) is
    /// refused before the running job is stopped, without asking the API server.
    #[tokio::test]
    async fn a_spec_that_cannot_be_rendered_is_refused() {
        let client = kube_fake_client::ClientBuilder::new()
            .build()
            .await
            .expect("an in-memory API server");
        let ctx = Context::new(
            client,
            crate::config::OperatorConfig::default(),
            std::sync::Arc::new(super::super::context::ServiceDns),
        );
        let deployed = serde_json::json!({
            "observedGeneration": 1,
            "reconciliationStatus": {"lastReconciledSpec": "{}", "state": "DEPLOYED"},
        });
        let mut dep = deployment(deployed, 2, "running");
        dep.metadata.uid = Some("0b5c5b5e-0000-4000-8000-000000000001".into());
        dep.spec.job_manager = Some(
            serde_json::from_value(serde_json::json!({"podTemplate": "not a pod template"}))
                .expect("a JobManager spec"),
        );
        let refusal = cluster_refusal(&ctx, &dep).await.expect("no API error");
        let refusal = refusal.expect("refused");
        assert!(
            refusal.starts_with("the spec cannot be rendered: ")
                && refusal.contains("pod template must be an object"),
            "{refusal}"
        );
    }

    #[test]
    fn refusals_are_about_the_object_and_retries_are_not() {
        assert!(refuses_the_object(400));
        assert!(refuses_the_object(403));
        assert!(refuses_the_object(422));
        assert!(!refuses_the_object(409));
        assert!(!refuses_the_object(429));
        assert!(!refuses_the_object(500));
    }
}
