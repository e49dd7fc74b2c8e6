//! The status write-ahead log never goes backwards: a write planned from an older object is
//! refused (the apiserver's resourceVersion precondition on server-side apply), and the next
//! reconcile reads the object anew instead of planning from a watch cache that lags the
//! operator's own write. Against the in-memory API, which keeps that precondition as the
//! apiserver does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/kube_api/mod.rs"]
mod kube_api;

use flink_lifecycle::api::{
    FlinkDeployment, FlinkDeploymentSpec, FlinkDeploymentStatus, JobStatus, SavepointInfo,
};
use flink_lifecycle::controller::{Error, KnownVersions, StatusLog};
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use kube_api::InMemoryKube;
use std::sync::Arc;

fn deployment(name: &str) -> FlinkDeployment {
    let mut d = FlinkDeployment::new(
        name,
        FlinkDeploymentSpec {
            image: Some("flink:1.20".into()),
            ..Default::default()
        },
    );
    d.metadata.namespace = Some("default".into());
    d
}

fn with_trigger(id: Option<&str>) -> FlinkDeploymentStatus {
    FlinkDeploymentStatus {
        job_status: Some(JobStatus {
            savepoint_info: Some(SavepointInfo {
                trigger_id: id.map(str::to_string),
                trigger_timestamp: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn trigger_of(d: &FlinkDeployment) -> Option<String> {
    d.status
        .as_ref()?
        .job_status
        .as_ref()?
        .savepoint_info
        .as_ref()?
        .trigger_id
        .clone()
}

#[tokio::test]
async fn a_status_planned_from_an_older_object_never_overwrites_a_newer_one() {
    let kube = InMemoryKube::new().await;
    let api: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");
    let created = api
        .create(&PostParams::default(), &deployment("c3"))
        .await
        .unwrap();
    let known = KnownVersions::default();

    // One reconcile writes the step, then the trigger id Flink returned (each write conditional
    // on the previous one).
    let mut log = StatusLog::new(&api, &known, &created);
    assert!(log.write(None, &with_trigger(None)).await.unwrap());
    assert!(
        log.write(Some(&with_trigger(None)), &with_trigger(Some("t-1")))
            .await
            .unwrap()
    );

    // A reconcile started from the watch cache's older copy (no trigger id) plans "ask again":
    // its write is refused, and the trigger id stays.
    let stale = Arc::new(created.clone());
    let mut stale_log = StatusLog::new(&api, &known, stale.as_ref());
    let refused = stale_log.write(None, &with_trigger(None)).await;
    assert!(matches!(refused, Err(Error::StaleStatus(_))), "{refused:?}");
    let now = api.get("c3").await.unwrap();
    assert_eq!(trigger_of(&now).as_deref(), Some("t-1"));

    // Read-your-writes: the stale copy is replaced by a fresh read before planning.
    let uid = created.uid().unwrap();
    assert!(known.is_behind(&uid, created.resource_version().as_deref()));
    let planned_from = known.current(&api, stale).await.unwrap().unwrap();
    assert_eq!(trigger_of(&planned_from).as_deref(), Some("t-1"));
    assert_eq!(planned_from.resource_version(), now.resource_version());
    // Once the cache holds that version, it is used as is (no read).
    assert!(!known.is_behind(&uid, now.resource_version().as_deref()));
}

#[tokio::test]
async fn a_deleted_object_is_forgotten_and_not_planned() {
    let kube = InMemoryKube::new().await;
    let api: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");
    let created = api
        .create(&PostParams::default(), &deployment("gone"))
        .await
        .unwrap();
    let known = KnownVersions::default();
    StatusLog::new(&api, &known, &created)
        .write(None, &with_trigger(None))
        .await
        .unwrap();
    api.delete("gone", &Default::default()).await.unwrap();
    assert!(known.current(&api, Arc::new(created)).await.unwrap().is_none());
    assert!(known.is_empty(), "nothing is kept for a deleted object");
}
