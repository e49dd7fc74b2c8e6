//! A test kubelet: it watches apps/v1 Deployments in the in-memory API and runs the containers the
//! operator rendered as real local processes, through a [`ContainerRuntime`] (real Flink in the
//! end-to-end tests). Like a kubelet it starts a container when a Deployment wants replicas,
//! restarts it when it dies or its pod template changes, stops it when the Deployment goes away or
//! scales to zero, and reports availability in the Deployment's status. It also answers where a
//! cluster's REST service `<name>-rest.<namespace>` is reachable locally.
#![allow(dead_code)]

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Everything needed to run one rendered container locally.
#[derive(Clone, Debug)]
pub struct ContainerLaunch {
    pub namespace: String,
    pub deployment: String,
    /// The `app` label: the Flink cluster this container belongs to.
    pub cluster: String,
    /// The `component` label: `jobmanager` or `taskmanager`.
    pub component: String,
    /// The main container's args (the flink image entrypoint's arguments).
    pub args: Vec<String>,
    /// The main container's environment (literal values only).
    pub env: Vec<(String, String)>,
    /// Files of the ConfigMap mounted as the Flink configuration directory.
    pub config_files: BTreeMap<String, String>,
    /// Loopback ports this cluster uses locally.
    pub ports: ClusterPorts,
    /// Flink settings the node adds, as a kubelet mounts a pod's ServiceAccount token (the
    /// real-cluster node: `kubernetes.config.file` for Kubernetes HA).
    pub extra_conf: BTreeMap<String, String>,
}

/// Loopback ports of one local Flink cluster, shared by its JobManager and TaskManagers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterPorts {
    pub rest: u16,
    pub rpc: u16,
}

/// Runs containers as local processes.
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Starts the container; dropping the handle stops it.
    fn start(&self, launch: &ContainerLaunch) -> Result<Box<dyn RunningContainer>, String>;
}

/// A running container.
pub trait RunningContainer: Send {
    fn is_alive(&mut self) -> bool;
    /// The end of the container's log, for test failure messages.
    fn log_tail(&self) -> String {
        String::new()
    }
    /// SIGKILLs the container's process (a crash; the kubelet restarts it); whether it was alive.
    fn kill(&mut self) -> bool {
        false
    }
    /// Stops (`true`: SIGSTOP) or resumes (SIGCONT) the container's process, as a long garbage
    /// collection or a frozen node would; whether it was signalled.
    fn freeze(&mut self, _frozen: bool) -> bool {
        false
    }
}

struct Running {
    template_hash: u64,
    handle: Box<dyn RunningContainer>,
    restarts: u32,
    launch: ContainerLaunch,
}

/// The kubelet; dropping it stops every container it started.
pub struct Kubelet {
    ports: Arc<Mutex<HashMap<(String, String), ClusterPorts>>>,
    running: Arc<Mutex<HashMap<String, Running>>>,
    launches: Arc<Mutex<Vec<ContainerLaunch>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

impl Kubelet {
    /// Starts watching Deployments in every namespace.
    pub fn start(client: kube::Client, runtime: Arc<dyn ContainerRuntime>) -> Self {
        let ports = Arc::new(Mutex::new(HashMap::new()));
        let running: Arc<Mutex<HashMap<String, Running>>> = Arc::new(Mutex::new(HashMap::new()));
        let launches = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(run(
            client,
            runtime,
            ports.clone(),
            running.clone(),
            launches.clone(),
        ));
        Self {
            ports,
            running,
            launches,
            task,
        }
    }

    /// Stops watching and stops every container now (their processes end before this returns),
    /// also while other owners (an aborted operator's context) still hold the kubelet.
    pub fn stop_all(&self) {
        self.task.abort();
        if let Ok(mut r) = self.running.lock() {
            r.clear();
        }
    }

    /// `http://127.0.0.1:<port>` of a cluster's REST service, once its JobManager was started.
    pub fn rest_url(&self, namespace: &str, cluster: &str) -> Option<String> {
        let ports = self.ports.lock().ok()?;
        ports
            .get(&(namespace.to_string(), cluster.to_string()))
            .map(|p| format!("http://127.0.0.1:{}", p.rest))
    }

    /// Every container launch so far (restarts included), oldest first.
    pub fn launches(&self) -> Vec<ContainerLaunch> {
        self.launches.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// How many times a component (`jobmanager`, `taskmanager`) of one cluster was started.
    pub fn launches_of(&self, cluster: &str, component: &str) -> usize {
        self.launches
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|l| l.cluster == cluster && l.component == component)
                    .count()
            })
            .unwrap_or(0)
    }

    /// The log ends of the running containers of one cluster.
    pub fn logs(&self, cluster: &str) -> String {
        let Ok(r) = self.running.lock() else {
            return String::new();
        };
        r.iter()
            .filter(|(_, run)| run.launch.cluster == cluster)
            .map(|(k, run)| format!("--- {k} (restarts: {})\n{}", run.restarts, run.handle.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// SIGKILLs the running container of one component of a cluster, as a crash would; the
    /// kubelet restarts it on its next sync, with the same pod template. Whether one was killed.
    pub fn kill(&self, cluster: &str, component: &str) -> bool {
        let Ok(mut r) = self.running.lock() else {
            return false;
        };
        r.values_mut()
            .filter(|run| run.launch.cluster == cluster && run.launch.component == component)
            .map(|run| run.handle.kill())
            .filter(|killed| *killed)
            .count()
            > 0
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the running container of one component of a cluster;
    /// whether one was signalled.
    pub fn freeze(&self, cluster: &str, component: &str, frozen: bool) -> bool {
        let Ok(mut r) = self.running.lock() else {
            return false;
        };
        r.values_mut()
            .filter(|run| run.launch.cluster == cluster && run.launch.component == component)
            .map(|run| run.handle.freeze(frozen))
            .filter(|signalled| *signalled)
            .count()
            > 0
    }

    /// Names of Deployments with a running container.
    pub fn running(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .running
            .lock()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }
}

async fn run(
    client: kube::Client,
    runtime: Arc<dyn ContainerRuntime>,
    ports: Arc<Mutex<HashMap<(String, String), ClusterPorts>>>,
    running: Arc<Mutex<HashMap<String, Running>>>,
    launches: Arc<Mutex<Vec<ContainerLaunch>>>,
) {
    let deployments: Api<Deployment> = Api::all(client.clone());
    // Without a backoff a failing watch is retried at once, and each retry runs a sync here.
    let mut events = watcher(deployments, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut desired: HashMap<String, Deployment> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(300));
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d))) => {
                    desired.insert(key(&d), d);
                }
                Some(Ok(watcher::Event::Delete(d))) => {
                    desired.remove(&key(&d));
                }
                Some(Ok(_)) | Some(Err(_)) => {}
                None => return,
            },
            _ = tick.tick() => {}
        }
        sync(&client, runtime.as_ref(), &ports, &running, &launches, &desired).await;
    }
}

fn key(d: &Deployment) -> String {
    format!(
        "{}/{}",
        d.metadata.namespace.as_deref().unwrap_or("default"),
        d.metadata.name.as_deref().unwrap_or_default()
    )
}

fn wants_to_run(d: &Deployment) -> bool {
    d.metadata.deletion_timestamp.is_none() && d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1) > 0
}

/// Like a real kubelet, only a pod template change replaces a container (a changed ConfigMap does
/// not restart it).
fn template_hash(d: &Deployment) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&d.spec.as_ref().map(|s| &s.template))
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

async fn sync(
    client: &kube::Client,
    runtime: &dyn ContainerRuntime,
    ports: &Mutex<HashMap<(String, String), ClusterPorts>>,
    running: &Mutex<HashMap<String, Running>>,
    launches: &Mutex<Vec<ContainerLaunch>>,
    desired: &HashMap<String, Deployment>,
) {
    // Stop what is no longer wanted.
    let stale: Vec<String> = running
        .lock()
        .map(|r| {
            r.keys()
                .filter(|k| !desired.get(*k).is_some_and(wants_to_run))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    for k in stale {
        if let Ok(mut r) = running.lock() {
            r.remove(&k);
        }
        if let Some(d) = desired.get(&k) {
            report(client, d, 0).await;
        }
    }
    for (k, d) in desired.iter().filter(|(_, d)| wants_to_run(d)) {
        let Some(launch) = describe(client, d, ports).await else {
            continue;
        };
        let hash = template_hash(d);
        let needs_start = running
            .lock()
            .map(|mut r| match r.get_mut(k) {
                None => true,
                Some(run) if run.template_hash != hash => {
                    r.remove(k);
                    true
                }
                Some(run) => !run.handle.is_alive(),
            })
            .unwrap_or(false);
        if !needs_start {
            continue;
        }
        let restarts = running
            .lock()
            .ok()
            .and_then(|r| r.get(k).map(|x| x.restarts + 1))
            .unwrap_or(0);
        if let Ok(mut r) = running.lock() {
            r.remove(k);
        }
        match runtime.start(&launch) {
            Ok(handle) => {
                if let Ok(mut l) = launches.lock() {
                    l.push(launch.clone());
                }
                if let Ok(mut r) = running.lock() {
                    r.insert(
                        k.clone(),
                        Running {
                            template_hash: hash,
                            handle,
                            restarts,
                            launch,
                        },
                    );
                }
                let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                report(client, d, replicas).await;
            }
            Err(e) => eprintln!("kubelet: cannot start {k}: {e}"),
        }
    }
}

/// Reads what the Deployment's main container needs: args, env and the mounted Flink config.
async fn describe(
    client: &kube::Client,
    d: &Deployment,
    ports: &Mutex<HashMap<(String, String), ClusterPorts>>,
) -> Option<ContainerLaunch> {
    let namespace = d.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let labels = d.metadata.labels.clone().unwrap_or_default();
    let cluster = labels
        .get("app")
        .cloned()
        .unwrap_or_else(|| d.metadata.name.clone().unwrap_or_default());
    let component = labels.get("component").cloned().unwrap_or_default();
    let pod = d.spec.as_ref()?.template.spec.as_ref()?;
    let (args, env, config_files) = main_container(client, &namespace, pod).await?;
    let ports = {
        let mut p = ports.lock().ok()?;
        *p.entry((namespace.clone(), cluster.clone()))
            .or_insert_with(|| ClusterPorts {
                rest: free_port(),
                rpc: free_port(),
            })
    };
    Some(ContainerLaunch {
        namespace,
        deployment: d.metadata.name.clone().unwrap_or_default(),
        cluster,
        component,
        args,
        env,
        config_files,
        ports,
        extra_conf: BTreeMap::new(),
    })
}

/// What a pod spec's main container runs with: its args, its literal env and the files of the
/// ConfigMap mounted as the Flink configuration; `None` while that ConfigMap is missing (a
/// kubelet does not start such a container). Shared with the real-cluster node.
pub async fn main_container(
    client: &kube::Client,
    namespace: &str,
    pod: &k8s_openapi::api::core::v1::PodSpec,
) -> Option<(Vec<String>, Vec<(String, String)>, BTreeMap<String, String>)> {
    let container = pod
        .containers
        .iter()
        .find(|c| c.name == "flink-main-container")
        .or_else(|| pod.containers.first())?;
    let config_map_name = pod
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| v.config_map.as_ref().map(|c| c.name.clone()))
        .find(|n| n.contains("config"));
    let mut config_files = BTreeMap::new();
    if let Some(name) = config_map_name {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        config_files = cms.get_opt(&name).await.ok()??.data.unwrap_or_default();
    }
    let env = container
        .env
        .iter()
        .flatten()
        .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
        .collect();
    Some((container.args.clone().unwrap_or_default(), env, config_files))
}

/// Reports availability the way the Deployment controller would.
async fn report(client: &kube::Client, d: &Deployment, available: i32) {
    let Some(ns) = d.metadata.namespace.as_deref() else {
        return;
    };
    let Some(name) = d.metadata.name.as_deref() else {
        return;
    };
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let status = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "status": {
            "observedGeneration": d.metadata.generation,
            "replicas": available, "readyReplicas": available, "availableReplicas": available,
            "updatedReplicas": available,
            "conditions": [{"type": "Available", "status": if available > 0 { "True" } else { "False" },
                            "reason": if available > 0 { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" }}]
        }
    });
    let pp = PatchParams::apply("test-kubelet").force();
    if let Err(e) = api.patch_status(name, &pp, &Patch::Apply(&status)).await {
        eprintln!("kubelet: cannot report status of {ns}/{name}: {e}");
    }
}
