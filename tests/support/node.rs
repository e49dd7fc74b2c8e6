//! The real-cluster tier's node: a test kubelet registered with a real kube-apiserver. It
//! registers a Node and keeps its Lease and Ready condition fresh (or the node lifecycle
//! controller would taint it and evict its pods), binds the Pods that the real ReplicaSet
//! controller creates (no scheduler runs), runs their main containers as real local processes
//! through a [`ContainerRuntime`], reports Pod status, restarts dead containers, and on
//! graceful deletion stops the process before it removes the Pod, as a kubelet does.
//!
//! What it maps, and why: this machine lets tests send traffic only to loopback addresses, and
//! the apiserver refuses loopback addresses in EndpointSlices, so no Service routes here. Each
//! Flink cluster gets a loopback address of its own (`127.x.y.z`), shared by its JobManager and
//! TaskManager Pods (as the containers of a Pod share its address) and reported as their
//! `podIP`; the REST API listens there on its real port (8081), the RPC and blob servers on
//! free ports of the wildcard address, as the flink image binds them. [`Node::rest_url`] and the
//! node's hosts file answer what cluster DNS and the `<cluster>-rest` Service answer in a
//! cluster: the address of the cluster's running JobManager. A Pod's ServiceAccount token
//! (TokenRequest, bound to the Pod) is handed to Flink as a kubeconfig in
//! `kubernetes.config.file`, so Kubernetes HA talks to the real apiserver with exactly the
//! permissions the user's RBAC gives the `flink` ServiceAccount.
//!
//! With an operator binary given ([`Node::register_with_operator`]), the node also runs the
//! operator's own Pod (image `flink-lifecycle`) from that binary: see `pod_process.rs` for what
//! it maps.
#![allow(dead_code)]

use crate::kubelet::{ClusterPorts, ContainerLaunch, ContainerRuntime, RunningContainer};
use crate::pod_process::{self, PodProcess};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node as NodeObject, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const NODE_NAME: &str = "flink-lifecycle-test-node";
/// What the node's kubelet reports itself as (node lifecycle and Lease holder).
const NODE_LEASE_NS: &str = "kube-node-lease";
/// The node's own address (its Node object's InternalIP).
const NODE_IP: &str = "127.0.0.1";
/// Flink's REST port, as the rendered Services and the operator expect it.
const FLINK_REST_PORT: u16 = 8081;

/// Where the Flink processes reach the apiserver: its URL and CA.
#[derive(Clone)]
pub struct ApiserverAccess {
    pub server: String,
    pub ca_pem: Vec<u8>,
    /// Kubeconfigs with Pod tokens, the hosts file and the operator Pods' directories are
    /// written here.
    pub dir: PathBuf,
}

impl ApiserverAccess {
    /// The node's `/etc/hosts` for the Pods it runs in their own mount namespace.
    pub fn hosts_file(&self) -> PathBuf {
        self.dir.join("hosts")
    }
}

struct Running {
    uid: String,
    handle: Box<dyn RunningContainer>,
    restarts: i32,
    launch: ContainerLaunch,
    started_at: String,
    /// When the node saw the container dead (the restart back-off counts from there).
    died_at: Option<std::time::Instant>,
    pod_ip: String,
    /// The readiness probe's URL; without one the container is ready once it runs.
    readiness_url: Option<String>,
    ready: bool,
}

#[derive(Default)]
struct State {
    ports: HashMap<(String, String), ClusterPorts>,
    /// Each Flink cluster's loopback address.
    addresses: HashMap<(String, String), String>,
    /// `<namespace>/<pod>` → its running main container.
    running: HashMap<String, Running>,
    launches: Vec<ContainerLaunch>,
}

/// The node; dropping it stops every container it started (the Node object stays: the control
/// plane is thrown away with it).
pub struct Node {
    state: Arc<Mutex<State>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn now() -> String {
    // Kubernetes writes times at second precision.
    let secs = jiff::Timestamp::now().as_second();
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A `MicroTime` (six fractional digits), as Leases hold.
fn micro_time() -> String {
    let micros = jiff::Timestamp::now().subsec_microsecond();
    format!("{}.{micros:06}Z", now().trim_end_matches('Z'))
}

impl Node {
    /// Registers the Node (Ready) and starts serving Pods; `admin` acts as the node's kubelet.
    pub async fn register(
        admin: kube::Client,
        runtime: Arc<dyn ContainerRuntime>,
        access: ApiserverAccess,
    ) -> Self {
        Self::register_with_operator(admin, runtime, access, None).await
    }

    /// [`Self::register`], also running the operator's Pods from `operator_binary`.
    pub async fn register_with_operator(
        admin: kube::Client,
        runtime: Arc<dyn ContainerRuntime>,
        access: ApiserverAccess,
        operator_binary: Option<PathBuf>,
    ) -> Self {
        let nodes: Api<NodeObject> = Api::all(admin.clone());
        let node: NodeObject = serde_json::from_value(json!({
            "metadata": {"name": NODE_NAME, "labels": {
                "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux"}},
            "spec": {}
        }))
        .expect("Node object");
        match nodes.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("register Node {NODE_NAME}: {e}"),
        }
        heartbeat(&admin).await;
        if let Err(e) = std::fs::create_dir_all(&access.dir) {
            panic!("node directory {}: {e}", access.dir.display());
        }
        let state = Arc::new(Mutex::new(State::default()));
        let tasks = vec![
            tokio::spawn(heartbeats(admin.clone())),
            tokio::spawn(serve(admin, runtime, access, operator_binary, state.clone())),
        ];
        Self { state, tasks }
    }

    /// Stops serving and stops every container now, also while other owners (an aborted
    /// operator's context) still hold the node.
    pub fn stop_all(&self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Ok(mut s) = self.state.lock() {
            s.running.clear();
        }
    }

    /// `http://<address>:8081` of a cluster's REST service while a JobManager pod of it runs.
    pub fn rest_url(&self, namespace: &str, cluster: &str) -> Option<String> {
        let mut s = self.state.lock().ok()?;
        let serving = s.running.values_mut().any(|r| {
            r.launch.namespace == namespace
                && r.launch.cluster == cluster
                && r.launch.component == "jobmanager"
                && r.handle.is_alive()
        });
        let at = (namespace.to_string(), cluster.to_string());
        let port = s.ports.get(&at)?.rest;
        let address = s.addresses.get(&at)?;
        serving.then(|| format!("http://{address}:{port}"))
    }

    /// How many times a component of one cluster was started (restarts included).
    pub fn launches_of(&self, cluster: &str, component: &str) -> usize {
        self.state
            .lock()
            .map(|s| {
                s.launches
                    .iter()
                    .filter(|l| l.cluster == cluster && l.component == component)
                    .count()
            })
            .unwrap_or(0)
    }

    /// Running containers of one component of a cluster (Pods on this node).
    pub fn running_of(&self, cluster: &str, component: &str) -> usize {
        self.state
            .lock()
            .map(|mut s| {
                s.running
                    .values_mut()
                    .filter(|r| r.launch.cluster == cluster && r.launch.component == component)
                    .filter_map(|r| r.handle.is_alive().then_some(()))
                    .count()
            })
            .unwrap_or(0)
    }

    /// SIGKILLs a component's container, as a crash would; the node restarts it. Whether one was.
    pub fn kill(&self, cluster: &str, component: &str) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        s.running
            .values_mut()
            .filter(|r| r.launch.cluster == cluster && r.launch.component == component)
            .map(|r| r.handle.kill())
            .filter(|k| *k)
            .count()
            > 0
    }

    /// The log ends of a cluster's containers.
    pub fn logs(&self, cluster: &str) -> String {
        let Ok(s) = self.state.lock() else {
            return String::new();
        };
        s.running
            .iter()
            .filter(|(_, r)| r.launch.cluster == cluster)
            .map(|(k, r)| format!("--- {k} (restarts: {})\n{}", r.restarts, r.handle.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The kubelet's heartbeat: the node Lease and the Ready condition.
async fn heartbeat(admin: &kube::Client) {
    let nodes: Api<NodeObject> = Api::all(admin.clone());
    let t = now();
    let status = json!({"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "the flink-lifecycle test kubelet is serving",
                        "lastHeartbeatTime": t, "lastTransitionTime": t}],
        "addresses": [{"type": "InternalIP", "address": NODE_IP},
                      {"type": "Hostname", "address": NODE_NAME}],
        "capacity": {"cpu": "64", "memory": "256Gi", "pods": "110"},
        "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "110"},
        "nodeInfo": {"kubeletVersion": "test", "operatingSystem": "linux", "architecture": "amd64",
                     "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "",
                     "osImage": "", "containerRuntimeVersion": "local-processes://0",
                     "kubeProxyVersion": ""}
    }});
    if let Err(e) = nodes
        .patch_status(NODE_NAME, &PatchParams::default(), &Patch::Merge(&status))
        .await
    {
        eprintln!("node: heartbeat status: {e}");
    }
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(admin.clone(), NODE_LEASE_NS);
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": NODE_NAME},
        "spec": {"holderIdentity": NODE_NAME, "leaseDurationSeconds": 40,
                 "renewTime": micro_time()}
    });
    let pp = PatchParams::apply("test-kubelet").force();
    if let Err(e) = leases.patch(NODE_NAME, &pp, &Patch::Apply(&lease)).await {
        eprintln!("node: heartbeat lease: {e}");
    }
}

async fn heartbeats(admin: kube::Client) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        heartbeat(&admin).await;
    }
}

fn key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

async fn serve(
    admin: kube::Client,
    runtime: Arc<dyn ContainerRuntime>,
    access: ApiserverAccess,
    operator_binary: Option<PathBuf>,
    state: Arc<Mutex<State>>,
) {
    let pods: Api<Pod> = Api::all(admin.clone());
    let mut events = watcher(pods, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut known: HashMap<String, Pod> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(300));
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p))) => {
                    known.insert(key(&p), p);
                }
                Some(Ok(watcher::Event::Delete(p))) => {
                    known.remove(&key(&p));
                }
                Some(Ok(_)) | Some(Err(_)) => {}
                None => return,
            },
            _ = tick.tick() => {}
        }
        let runtimes = Runtimes {
            flink: runtime.as_ref(),
            operator: operator_binary.as_deref(),
        };
        sync(&admin, &runtimes, &access, &state, &known).await;
        write_hosts(&access, &state);
        probe_readiness(&admin, &state, &known).await;
    }
}

/// What the node can run: Flink images, and the operator's image when a binary is given.
struct Runtimes<'a> {
    flink: &'a dyn ContainerRuntime,
    operator: Option<&'a std::path::Path>,
}

/// Which runtime a Pod's image needs.
#[derive(PartialEq)]
enum Image {
    Flink,
    Operator,
    Unavailable,
}

/// `<service>.<namespace>[.svc[.cluster.local]]` of a Flink cluster's REST and JobManager
/// Services → the cluster's address, while its JobManager runs (as cluster DNS answers from
/// ready endpoints). Written in place: bind mounts of it see the change.
fn write_hosts(access: &ApiserverAccess, state: &Mutex<State>) {
    let Ok(mut s) = state.lock() else {
        return;
    };
    let mut lines = vec!["127.0.0.1 localhost".to_string(), "::1 localhost".to_string()];
    let mut serving: Vec<(String, String)> = s
        .running
        .values_mut()
        .filter_map(|r| {
            (r.launch.component == "jobmanager" && r.handle.is_alive())
                .then(|| (r.launch.namespace.clone(), r.launch.cluster.clone()))
        })
        .collect();
    serving.sort();
    serving.dedup();
    for (ns, cluster) in serving {
        let Some(address) = s.addresses.get(&(ns.clone(), cluster.clone())) else {
            continue;
        };
        let names: Vec<String> = [format!("{cluster}-rest"), cluster.clone()]
            .iter()
            .flat_map(|svc| ["", ".svc", ".svc.cluster.local"].map(|suffix| format!("{svc}.{ns}{suffix}")))
            .collect();
        lines.push(format!("{address} {}", names.join(" ")));
    }
    let text = lines.join("\n") + "\n";
    let path = access.hosts_file();
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str())
        && let Err(e) = std::fs::write(&path, text)
    {
        eprintln!("node: cannot write {}: {e}", path.display());
    }
}

/// Polls the readiness probes of running containers that have one and reports changes.
async fn probe_readiness(admin: &kube::Client, state: &Mutex<State>, known: &HashMap<String, Pod>) {
    let probes: Vec<(String, String, bool)> = state
        .lock()
        .map(|s| {
            s.running
                .iter()
                .filter_map(|(k, r)| Some((k.clone(), r.readiness_url.clone()?, r.ready)))
                .collect()
        })
        .unwrap_or_default();
    for (k, url, was_ready) in probes {
        let ready = pod_process::probe(&url).await;
        if ready == was_ready {
            continue;
        }
        let Some(pod) = known.get(&k) else {
            continue;
        };
        if let Ok(mut s) = state.lock()
            && let Some(r) = s.running.get_mut(&k)
        {
            r.ready = ready;
        }
        let api: Api<Pod> = Api::namespaced(
            admin.clone(),
            pod.metadata.namespace.as_deref().unwrap_or_default(),
        );
        report_ready(&api, pod, ready).await;
    }
}

fn is_jobmanager(pod: &Pod) -> bool {
    label(pod, "component") == "jobmanager"
}

fn label(pod: &Pod, name: &str) -> String {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(name).cloned())
        .unwrap_or_default()
}

async fn sync(
    admin: &kube::Client,
    runtimes: &Runtimes<'_>,
    access: &ApiserverAccess,
    state: &Mutex<State>,
    known: &HashMap<String, Pod>,
) {
    // Containers of Pods that are gone, replaced (new uid) or terminating stop first, so a
    // cluster's ports are free before its next JobManager starts.
    let stale: Vec<String> = state
        .lock()
        .map(|s| {
            s.running
                .iter()
                .filter(|(k, r)| {
                    known.get(*k).is_none_or(|p| {
                        p.metadata.deletion_timestamp.is_some()
                            || p.metadata.uid.as_deref() != Some(r.uid.as_str())
                    })
                })
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    for k in stale {
        let stopped = state.lock().ok().and_then(|mut s| s.running.remove(&k));
        drop(stopped);
    }
    for (k, pod) in known {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(admin.clone(), &ns);
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        if pod.metadata.deletion_timestamp.is_some() {
            if node.as_deref() == Some(NODE_NAME) || node.is_none() {
                // The container is stopped (above): the kubelet's final delete.
                let dp = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions {
                        uid: pod.metadata.uid.clone(),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                let _ = api.delete(&name, &dp).await;
            }
            continue;
        }
        match node.as_deref() {
            None => {
                bind(&api, &name).await;
                continue;
            }
            Some(NODE_NAME) => {}
            Some(_) => continue,
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
        if matches!(phase.as_deref(), Some("Succeeded" | "Failed")) {
            continue;
        }
        let image = image_of(pod, runtimes);
        if image == Image::Unavailable {
            report_unavailable_image(&api, pod).await;
            continue;
        }
        let (alive, restarts, died_at) = state
            .lock()
            .map(|mut s| match s.running.get_mut(k) {
                Some(r) => {
                    let alive = r.handle.is_alive();
                    if !alive && r.died_at.is_none() {
                        r.died_at = Some(std::time::Instant::now());
                    }
                    (alive, Some(r.restarts), r.died_at)
                }
                None => (false, None, None),
            })
            .unwrap_or((false, None, None));
        if alive {
            continue;
        }
        // A kubelet's restart back-off: the first restart at once, then 10 s doubling to 5 min,
        // with the Pod showing CrashLoopBackOff meanwhile (what the operator reads for a
        // JobManager that cannot start).
        if let (Some(n), Some(died)) = (restarts, died_at)
            && n >= 1
        {
            let delay = Duration::from_secs((10u64 << (n - 1).min(5)).min(300));
            if died.elapsed() < delay {
                report_back_off(&api, pod, n, delay).await;
                continue;
            }
        }
        // One JobManager per cluster at a time: the ports are the cluster's.
        if is_jobmanager(pod) {
            let cluster = label(pod, "app");
            let other_jm = state
                .lock()
                .map(|mut s| {
                    s.running.iter_mut().any(|(other, r)| {
                        other != k
                            && r.launch.namespace == ns
                            && r.launch.cluster == cluster
                            && r.launch.component == "jobmanager"
                            && r.handle.is_alive()
                    })
                })
                .unwrap_or(true);
            if other_jm {
                continue;
            }
        }
        let restarts = restarts.map(|r| r + 1).unwrap_or(0);
        let started = match (image, runtimes.operator) {
            (Image::Operator, Some(binary)) => start_operator(admin, pod, binary, access).await,
            _ => match describe(admin, pod, access, state).await {
                Some((launch, pod_ip)) => runtimes
                    .flink
                    .start(&launch)
                    .map(|handle| (launch, handle, pod_ip, None)),
                None => continue,
            },
        };
        if let Ok(mut s) = state.lock() {
            s.running.remove(k);
        }
        match started {
            Ok((launch, handle, pod_ip, readiness_url)) => {
                let started_at = now();
                let ready = readiness_url.is_none();
                if let Ok(mut s) = state.lock() {
                    s.launches.push(launch.clone());
                    s.running.insert(
                        k.clone(),
                        Running {
                            uid: pod.metadata.uid.clone().unwrap_or_default(),
                            handle,
                            restarts,
                            launch,
                            started_at: started_at.clone(),
                            died_at: None,
                            pod_ip: pod_ip.clone(),
                            readiness_url,
                            ready,
                        },
                    );
                }
                report_running(&api, pod, restarts, &started_at, &pod_ip, ready).await;
            }
            Err(e) => eprintln!("node: cannot start {k}: {e}"),
        }
    }
}

/// `CrashLoopBackOff`, once per back-off (the status already saying it is left alone).
async fn report_back_off(api: &Api<Pod>, pod: &Pod, restarts: i32, delay: Duration) {
    let Some(name) = pod.metadata.name.as_deref() else {
        return;
    };
    let said = pod
        .status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .any(|c| {
            c.restart_count == restarts
                && c.state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    == Some("CrashLoopBackOff")
        });
    if said {
        return;
    }
    let container = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let t = now();
    let status = json!({"status": {
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": t},
                       {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": t}],
        "containerStatuses": [{
            "name": container, "image": main_image(pod), "imageID": "local-process",
            "ready": false, "started": false, "restartCount": restarts,
            "state": {"waiting": {"reason": "CrashLoopBackOff",
                "message": format!("back-off {}s restarting failed container={container} pod={name}", delay.as_secs())}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": t}}
        }]
    }});
    if let Err(e) = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
    {
        eprintln!("node: cannot report status of pod {name}: {e}");
    }
}

/// The node runs Flink images (as local Flink processes) and, given its binary, the operator's
/// image (`flink-lifecycle`, any registry or tag); nothing else.
fn image_of(pod: &Pod, runtimes: &Runtimes<'_>) -> Image {
    let image = main_image(pod);
    let last = image.rsplit('/').next().unwrap_or_default();
    let repository = last.split([':', '@']).next().unwrap_or_default();
    match repository {
        "flink" if last.starts_with("flink:") => Image::Flink,
        "flink-lifecycle" if runtimes.operator.is_some() => Image::Operator,
        _ => Image::Unavailable,
    }
}

/// Starts an operator Pod from the binary, at a loopback address of its own.
async fn start_operator(
    admin: &kube::Client,
    pod: &Pod,
    binary: &std::path::Path,
    access: &ApiserverAccess,
) -> Result<(ContainerLaunch, Box<dyn RunningContainer>, String, Option<String>), String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let ports: Vec<u16> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| u16::try_from(p.container_port).ok())
        .collect();
    let ip = pod_process::loopback_address(&ports);
    let sa = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .unwrap_or_else(|| "default".into());
    let kubeconfig = pod_kubeconfig(admin, pod, &sa, access).await?;
    let dir = access.dir.join("pods").join(format!("{ns}-{name}"));
    let launch = pod_process::describe(admin, pod, binary, &ip, &dir, &kubeconfig).await?;
    let process = PodProcess::start(&launch, &access.hosts_file())?;
    let described = ContainerLaunch {
        namespace: ns,
        deployment: name,
        cluster: label(pod, "app.kubernetes.io/name"),
        component: "operator".into(),
        args: launch.args.clone(),
        env: launch.env.clone(),
        config_files: BTreeMap::new(),
        ports: ClusterPorts { rest: 0, rpc: 0 },
        extra_conf: BTreeMap::new(),
    };
    Ok((described, Box::new(process), ip, launch.readiness_url))
}

fn main_image(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// Says once, in the Pod's status, why its container cannot start here.
async fn report_unavailable_image(api: &Api<Pod>, pod: &Pod) {
    let said = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|c| !c.is_empty());
    let Some(name) = pod.metadata.name.as_deref().filter(|_| !said) else {
        return;
    };
    let container = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let status = json!({"status": {
        "phase": "Pending",
        "containerStatuses": [{
            "name": container, "image": main_image(pod), "imageID": "", "ready": false,
            "restartCount": 0,
            "state": {"waiting": {"reason": "ErrImageNeverPull",
                "message": "the flink-lifecycle test node runs only flink images, as local Flink processes"}}
        }]
    }});
    if let Err(e) = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
    {
        eprintln!("node: cannot report status of pod {name}: {e}");
    }
}

/// What no scheduler does here: `pods/binding` to this node.
async fn bind(api: &Api<Pod>, name: &str) {
    let binding = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name},
        "target": {"apiVersion": "v1", "kind": "Node", "name": NODE_NAME}
    });
    match api
        .create_subresource::<Value, Value>("binding", name, &PostParams::default(), &binding)
        .await
    {
        // Bound by an earlier sync whose result the watch has not shown yet.
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => eprintln!("node: cannot bind pod {name}: {e}"),
        Ok(_) => {}
    }
}

async fn report_running(
    api: &Api<Pod>,
    pod: &Pod,
    restarts: i32,
    started_at: &str,
    pod_ip: &str,
    ready: bool,
) {
    let Some(name) = pod.metadata.name.as_deref() else {
        return;
    };
    let container = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .unwrap_or_default();
    let t = now();
    let condition = |kind: &str, up: bool| json!({"type": kind, "status": if up { "True" } else { "False" }, "lastTransitionTime": t});
    let status = json!({"status": {
        "phase": "Running",
        "hostIP": NODE_IP, "hostIPs": [{"ip": NODE_IP}],
        "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
        "startTime": pod.status.as_ref().and_then(|s| s.start_time.clone()).map(|t| json!(t)).unwrap_or(json!(started_at)),
        "conditions": [condition("PodReadyToStartContainers", true), condition("Initialized", true),
                       condition("ContainersReady", ready), condition("Ready", ready),
                       condition("PodScheduled", true)],
        "containerStatuses": [{
            "name": container.0, "image": container.1, "imageID": "local-process",
            "containerID": format!("local://{}", pod.metadata.uid.as_deref().unwrap_or_default()),
            "ready": ready, "started": true, "restartCount": restarts,
            "state": {"running": {"startedAt": started_at}}
        }]
    }});
    if let Err(e) = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
    {
        eprintln!("node: cannot report status of pod {name}: {e}");
    }
}

/// The Ready conditions and the container's `ready`, after a readiness probe changed its answer.
async fn report_ready(api: &Api<Pod>, pod: &Pod, ready: bool) {
    let Some(name) = pod.metadata.name.as_deref() else {
        return;
    };
    let mut containers: Vec<Value> = pod
        .status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .map(|c| serde_json::to_value(c).unwrap_or_default())
        .collect();
    for c in &mut containers {
        c["ready"] = json!(ready);
    }
    let t = now();
    let up = if ready { "True" } else { "False" };
    let status = json!({"status": {
        "conditions": [{"type": "ContainersReady", "status": up, "lastTransitionTime": t},
                       {"type": "Ready", "status": up, "lastTransitionTime": t}],
        "containerStatuses": containers
    }});
    if let Err(e) = api
        .patch_status(name, &PatchParams::default(), &Patch::Strategic(&status))
        .await
    {
        eprintln!("node: cannot report readiness of pod {name}: {e}");
    }
}

/// Reads what the Pod's main container needs: args, env, the mounted Flink config and, for
/// Kubernetes HA, a kubeconfig with a token of the Pod's ServiceAccount bound to the Pod.
async fn describe(
    admin: &kube::Client,
    pod: &Pod,
    access: &ApiserverAccess,
    state: &Mutex<State>,
) -> Option<(ContainerLaunch, String)> {
    let namespace = pod.metadata.namespace.clone()?;
    let cluster = label(pod, "app");
    let component = label(pod, "component");
    let spec = pod.spec.as_ref()?;
    let (args, env, config_files) = crate::kubelet::main_container(admin, &namespace, spec).await?;
    let mut extra_conf = BTreeMap::new();
    let sa = spec
        .service_account_name
        .clone()
        .unwrap_or_else(|| "default".into());
    match pod_kubeconfig(admin, pod, &sa, access).await {
        Ok(path) => {
            extra_conf.insert("kubernetes.config.file".into(), path.display().to_string());
        }
        Err(e) => {
            eprintln!("node: no token for pod {namespace}/{:?}: {e}", pod.metadata.name);
            return None;
        }
    }
    let (ports, address) = {
        let mut s = state.lock().ok()?;
        let at = (namespace.clone(), cluster.clone());
        let address = s
            .addresses
            .entry(at.clone())
            .or_insert_with(|| pod_process::loopback_address(&[FLINK_REST_PORT]))
            .clone();
        let ports = *s.ports.entry(at).or_insert_with(|| ClusterPorts {
            rest: FLINK_REST_PORT,
            rpc: pod_process::free_port_on(&address),
        });
        (ports, address)
    };
    // The cluster's processes advertise its address (their Pods' podIP) and serve REST there on
    // the real port. RPC and blob servers bind the wildcard, as in the flink image: an
    // application's embedded client reaches its own BlobServer as `localhost` (a Pod's own
    // address in Kubernetes), and their ports are free ones, so clusters do not clash.
    for key in [
        "jobmanager.rpc.address",
        "taskmanager.host",
        "rest.address",
        "rest.bind-address",
    ] {
        extra_conf.insert(key.into(), address.clone());
    }
    for key in ["jobmanager.bind-host", "taskmanager.bind-host"] {
        extra_conf.insert(key.into(), "0.0.0.0".into());
    }
    let launch = ContainerLaunch {
        namespace,
        deployment: pod.metadata.name.clone().unwrap_or_default(),
        cluster,
        component,
        args,
        env,
        config_files,
        ports,
        extra_conf,
    };
    Some((launch, address))
}

/// A kubeconfig for the Pod's ServiceAccount (TokenRequest bound to the Pod, as the projected
/// token volume a kubelet mounts).
async fn pod_kubeconfig(
    admin: &kube::Client,
    pod: &Pod,
    service_account: &str,
    access: &ApiserverAccess,
) -> Result<PathBuf, String> {
    use base64::Engine;
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), ns);
    let request = json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600,
                 "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": name,
                                    "uid": pod.metadata.uid}}
    });
    let answer: Value = sas
        .create_subresource("token", service_account, &PostParams::default(), &request)
        .await
        .map_err(|e| format!("TokenRequest for {ns}/{service_account}: {e}"))?;
    let token = answer["status"]["token"]
        .as_str()
        .ok_or("TokenRequest answered no token")?;
    let ca = base64::engine::general_purpose::STANDARD.encode(&access.ca_pem);
    let yaml = format!(
        "apiVersion: v1\nkind: Config\n\
         clusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\n\
         users:\n- name: u\n  user:\n    token: {token}\n\
         contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n    namespace: {ns}\n\
         current-context: x\n",
        access.server
    );
    std::fs::create_dir_all(&access.dir).map_err(|e| e.to_string())?;
    let path = access.dir.join(format!("{ns}-{name}.kubeconfig"));
    std::fs::write(&path, yaml).map_err(|e| e.to_string())?;
    Ok(path)
}
