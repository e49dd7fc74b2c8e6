//! Events are aggregated: the process's one recorder turns a repeated event (a deletion blocked
//! every second, a savepoint retried) into one Event whose series counts the repeats, instead of
//! one Event per repeat.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/kube_api/mod.rs"]
mod kube_api;

use flink_lifecycle::api::{FlinkDeployment, FlinkDeploymentSpec};
use flink_lifecycle::config::OperatorConfig;
use flink_lifecycle::controller::{Context, RestUrlResolver, publish_event};
use flink_lifecycle::lifecycle::{Event, EventType};
use k8s_openapi::api::events::v1::Event as KubeEvent;
use kube::api::{Api, ListParams, PostParams};
use kube_api::InMemoryKube;
use std::sync::Arc;

struct NoRest;

impl RestUrlResolver for NoRest {
    fn rest_url(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

#[tokio::test]
async fn a_repeated_event_is_one_event_with_a_count() {
    let kube = InMemoryKube::new().await;
    let api: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");
    let mut d = FlinkDeployment::new(
        "session",
        FlinkDeploymentSpec {
            image: Some("flink:1.20".into()),
            ..Default::default()
        },
    );
    d.metadata.namespace = Some("default".into());
    let d = api.create(&PostParams::default(), &d).await.unwrap();
    let ctx = Context::new(kube.client(), OperatorConfig::default(), Arc::new(NoRest));
    let blocked = Event {
        type_: EventType::Warning,
        reason: "CleanupFailed".into(),
        message: "deletion waits for 1 FlinkSessionJob".into(),
    };
    for _ in 0..5 {
        publish_event(&ctx, &d, &blocked).await;
    }
    let other = Event {
        type_: EventType::Normal,
        reason: "Cleanup".into(),
        message: "deleting".into(),
    };
    publish_event(&ctx, &d, &other).await;

    let events: Api<KubeEvent> = Api::namespaced(kube.client(), "default");
    let list = events.list(&ListParams::default()).await.unwrap().items;
    let cleanup_failed: Vec<&KubeEvent> = list
        .iter()
        .filter(|e| e.reason.as_deref() == Some("CleanupFailed"))
        .collect();
    assert_eq!(cleanup_failed.len(), 1, "one Event for five repeats: {list:?}");
    let series = cleanup_failed[0].series.as_ref().expect("a series");
    assert_eq!(series.count, 5);
    assert_eq!(list.len(), 2, "a different reason is its own Event");
}
