//! Writing status with server-side apply on the status subresource, only when it changed, and
//! the finalizer that guarantees a final savepoint or cancel before a resource disappears.

use super::error::Result;
use super::execute::FIELD_MANAGER;
use crate::api::ReconciliationStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;

/// Finalizer of FlinkDeployments (the reference's name, so a migration keeps working).
pub const DEPLOYMENT_FINALIZER: &str = "flinkdeployments.flink.apache.org/finalizer";
/// Finalizer of FlinkSessionJobs.
pub const SESSION_JOB_FINALIZER: &str = "flinksessionjobs.flink.apache.org/finalizer";

/// Applies `status` unless it equals `current`; returns whether anything was sent.
pub async fn write_status<K, S>(api: &Api<K>, obj: &K, current: Option<&S>, status: &S) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize + PartialEq,
{
    if current == Some(status) {
        return Ok(false);
    }
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(true)
}

/// Adds `finalizer` unless present. A JSON patch that appends (or creates the list), so no
/// resourceVersion is needed and other controllers' finalizers are kept.
pub async fn add_finalizer<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    if obj.finalizers().iter().any(|f| f == finalizer) {
        return Ok(());
    }
    let ops = if obj.meta().finalizers.is_none() {
        json!([{"op": "add", "path": "/metadata/finalizers", "value": [finalizer]}])
    } else {
        json!([{"op": "add", "path": "/metadata/finalizers/-", "value": finalizer}])
    };
    let patch: json_patch::Patch =
        serde_json::from_value(ops).map_err(|e| super::error::Error::Invalid(e.to_string()))?;
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::<()>::Json(patch),
    )
    .await?;
    Ok(())
}

/// A resource being deleted with no reconciliation recorded: the operator records one before
/// it deploys or submits anything, so there is nothing to clean up and its finalizer can go.
/// Without this, a spec that was never valid would keep its resource terminating forever.
pub fn deleting_undeployed(meta: &ObjectMeta, reconciliation: Option<&ReconciliationStatus>) -> bool {
    meta.deletion_timestamp.is_some() && reconciliation.is_none_or(|r| r.last_reconciled_spec.is_none())
}

/// Removes `finalizer`, letting Kubernetes delete the object. The patch tests that the entry is
/// still ours at that index, so it never removes someone else's finalizer.
pub async fn remove_finalizer<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let Some(index) = obj.finalizers().iter().position(|f| f == finalizer) else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{index}");
    let ops = json!([{"op": "test", "path": path, "value": finalizer}, {"op": "remove", "path": path}]);
    let patch: json_patch::Patch =
        serde_json::from_value(ops).map_err(|e| super::error::Error::Invalid(e.to_string()))?;
    match api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::<()>::Json(patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}
