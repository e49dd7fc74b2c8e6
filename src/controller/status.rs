//! Writing status with server-side apply on the status subresource, only when it changed, and
//! the finalizer that guarantees a final savepoint or cancel before a resource disappears.

use super::error::{Error, Result};
use super::execute::FIELD_MANAGER;
use super::fresh::KnownVersions;
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

/// The status subresource of one resource as a write-ahead log. Every write is conditional on
/// the resourceVersion the operator last knew (the planned object's, then each of its own
/// writes'), so a plan made from an older object can never overwrite a newer status: the write
/// fails with [`Error::StaleStatus`] and the reconcile plans again from the current object.
/// Server-side apply keeps `force`: it settles field ownership with another manager (a takeover
/// from the reference operator), never the version.
pub struct StatusLog<'a, K> {
    api: &'a Api<K>,
    known: &'a KnownVersions,
    name: String,
    uid: Option<String>,
    version: Option<String>,
}

impl<'a, K> StatusLog<'a, K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    /// The log of `obj`, at the version it was read at.
    pub fn new(api: &'a Api<K>, known: &'a KnownVersions, obj: &K) -> Self {
        Self {
            api,
            known,
            name: obj.name_any(),
            uid: obj.uid(),
            version: obj.resource_version(),
        }
    }

    /// Applies `status` unless it equals `current`; returns whether anything was sent.
    pub async fn write<S>(&mut self, current: Option<&S>, status: &S) -> Result<bool>
    where
        S: Serialize + PartialEq,
    {
        if current == Some(status) {
            return Ok(false);
        }
        let body = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "metadata": {"resourceVersion": self.version},
            "status": status,
        });
        let written = self
            .api
            .patch_status(
                &self.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await;
        match written {
            Ok(obj) => {
                self.version = obj.resource_version();
                if let (Some(uid), Some(v)) = (&self.uid, &self.version) {
                    self.known.remember(uid, v);
                }
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                if let Some(uid) = &self.uid {
                    self.known.mark_unknown(uid);
                }
                Err(Error::StaleStatus(self.name.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Adds `finalizer` unless present. A JSON patch that appends (or creates the list), so no
/// resourceVersion is needed and other controllers' finalizers are kept.
pub async fn add_finalizer<K>(api: &Api<K>, known: &KnownVersions, obj: &K, finalizer: &str) -> Result<()>
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
    let patch: json_patch::Patch = serde_json::from_value(ops).map_err(Error::Patch)?;
    let patched = api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::<()>::Json(patch),
        )
        .await?;
    // The next reconcile must not plan from a cache without the finalizer (it would add it twice).
    if let (Some(uid), Some(v)) = (patched.uid(), patched.resource_version()) {
        known.remember(&uid, &v);
    }
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
pub async fn remove_finalizer<K>(api: &Api<K>, known: &KnownVersions, obj: &K, finalizer: &str) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    if let Some(uid) = obj.uid() {
        known.forget(&uid);
    }
    let Some(index) = obj.finalizers().iter().position(|f| f == finalizer) else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{index}");
    let ops = json!([{"op": "test", "path": path, "value": finalizer}, {"op": "remove", "path": path}]);
    let patch: json_patch::Patch = serde_json::from_value(ops).map_err(Error::Patch)?;
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
