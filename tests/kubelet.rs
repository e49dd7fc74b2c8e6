//! The test kubelet runs what Deployments ask for, restarts changed or dead containers, stops
//! removed ones, and reports availability — checked here with a fake container runtime.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/kube_api/mod.rs"]
mod kube_api;
#[path = "support/kubelet.rs"]
mod kubelet;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kubelet::{ContainerLaunch, ContainerRuntime, Kubelet, RunningContainer};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct FakeRuntime {
    alive: Mutex<Vec<Arc<AtomicBool>>>,
    started: AtomicUsize,
}

struct FakeContainer(Arc<AtomicBool>);

impl RunningContainer for FakeContainer {
    fn is_alive(&mut self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for FakeContainer {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl ContainerRuntime for FakeRuntime {
    fn start(&self, _launch: &ContainerLaunch) -> Result<Box<dyn RunningContainer>, String> {
        let flag = Arc::new(AtomicBool::new(true));
        self.alive.lock().unwrap().push(flag.clone());
        self.started.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(FakeContainer(flag)))
    }
}

impl ContainerRuntime for Arc<FakeRuntime> {
    fn start(&self, launch: &ContainerLaunch) -> Result<Box<dyn RunningContainer>, String> {
        self.as_ref().start(launch)
    }
}

fn jm_deployment(args: &[&str]) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "job", "namespace": "default", "labels": {"app": "job", "component": "jobmanager"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "job", "component": "jobmanager"}},
            "template": {
                "metadata": {"labels": {"app": "job", "component": "jobmanager"}},
                "spec": {
                    "containers": [{"name": "flink-main-container", "image": "flink:1.20", "args": args,
                                    "env": [{"name": "A", "value": "1"}]}],
                    "volumes": [{"name": "flink-config-volume", "configMap": {"name": "flink-config-job"}}]
                }
            }
        }
    }))
    .unwrap()
}

async fn wait_for(mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn runs_restarts_and_stops_containers_like_a_kubelet() {
    let kube = kube_api::InMemoryKube::new().await;
    let client = kube.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "flink-config-job"}, "data": {"config.yaml": "parallelism.default: 2\n"}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let runtime = Arc::new(FakeRuntime::default());
    let kubelet = Kubelet::start(client.clone(), Arc::new(runtime.clone()));
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deps.create(
        &PostParams::default(),
        &jm_deployment(&["standalone-job", "--job-id", "a"]),
    )
    .await
    .unwrap();

    wait_for(|| runtime.started.load(Ordering::SeqCst) == 1).await;
    let launch = kubelet.launches()[0].clone();
    assert_eq!(launch.args, ["standalone-job", "--job-id", "a"]);
    assert_eq!(launch.component, "jobmanager");
    assert_eq!(launch.config_files["config.yaml"], "parallelism.default: 2\n");
    assert_eq!(launch.env, [("A".to_string(), "1".to_string())]);
    let url = kubelet.rest_url("default", "job").unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // Availability is reported in status.
    let mut available = 0;
    for _ in 0..100 {
        available = deps
            .get("job")
            .await
            .unwrap()
            .status
            .and_then(|s| s.available_replicas)
            .unwrap_or(0);
        if available == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(available, 1);

    // A pod template change replaces the container.
    deps.patch(
        "job",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [
            {"name": "flink-main-container", "image": "flink:1.20", "args": ["standalone-job", "--job-id", "b"]}
        ]}}}})),
    )
    .await
    .unwrap();
    wait_for(|| runtime.started.load(Ordering::SeqCst) == 2).await;
    assert_eq!(kubelet.launches()[1].args[2], "b");
    assert!(
        !runtime.alive.lock().unwrap()[0].load(Ordering::SeqCst),
        "the old container was stopped"
    );

    // A dead container is restarted.
    runtime.alive.lock().unwrap()[1].store(false, Ordering::SeqCst);
    wait_for(|| runtime.started.load(Ordering::SeqCst) == 3).await;

    // Deleting the Deployment stops it.
    deps.delete("job", &DeleteParams::default()).await.unwrap();
    wait_for(|| kubelet.running().is_empty()).await;
    assert!(!runtime.alive.lock().unwrap()[2].load(Ordering::SeqCst));
}
