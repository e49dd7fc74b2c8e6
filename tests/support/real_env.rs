//! The real-cluster lifecycle environment: a real control plane (tests/cluster/), the install as
//! the README tells users (`kubectl apply -k manifests/overlays/self-signed`, then
//! `examples/flink-serviceaccount.yaml`), the test node running Flink pods as real processes,
//! and the operator's controllers authenticated with the operator ServiceAccount's token, so
//! they hold exactly the manifests' RBAC.
//!
//! Include with `argo_history`, `status_of`, `control_plane`, `elected`, `flink`, `flink_runtime`, `install`,
//! `kubelet`, `node` and `pod_process` beside it.
#![allow(dead_code)]

use crate::argo_history::StatusHistory;
use crate::control_plane::ControlPlane;
use crate::elected::ElectedOperator;
use crate::flink::{CounterReport, FlinkHome, FlinkInstall, TestJob};
use crate::flink_runtime::LocalFlinkRuntime;
use crate::node::{ApiserverAccess, Node};
// Each test binary uses a subset of the shared accessors.
#[allow(unused_imports)]
pub use crate::status_of::{
    JobManagerDeployments, error, job_id, job_state, lifecycle, reconciliation_state, start_time,
};
use flink_lifecycle::api::FlinkDeployment;
use flink_lifecycle::config::OperatorConfig;
use flink_lifecycle::controller::{Context, RestUrlResolver};
use flink_lifecycle::flink::{FlinkClientOptions, FlinkRestClient};
use futures::FutureExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const OVERLAY: &str = "manifests/overlays/self-signed";
pub const OPERATOR_NS: &str = "flink-lifecycle";
pub const OPERATOR_SA: &str = "flink-lifecycle";
/// The namespace of the examples, where `examples/flink-serviceaccount.yaml` puts `flink`.
pub const JOBS_NS: &str = "flink-jobs";
/// How long one lifecycle step may take on a loaded 2-core machine.
pub const LONG: Duration = Duration::from_secs(300);

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct NodeUrls(Arc<Node>);

impl RestUrlResolver for NodeUrls {
    fn rest_url(&self, namespace: &str, cluster: &str) -> Option<String> {
        self.0.rest_url(namespace, cluster)
    }
}

/// Fields drop in order: the node (its Flink processes) before the control plane.
pub struct RealEnv {
    pub node: Arc<Node>,
    pub cp: ControlPlane,
    pub home: FlinkHome,
    pub dir: tempfile::TempDir,
    operator_client: kube::Client,
    operator_token: String,
    operator: Option<(CancellationToken, tokio::task::JoinHandle<()>)>,
    /// Every status written in [`JOBS_NS`], for the Argo CD health checks at the end.
    history: StatusHistory,
}

impl Drop for RealEnv {
    fn drop(&mut self) {
        self.kill_operator();
        // The aborted operator's context still holds the node: its Flink jobs would keep
        // writing into the test's directory after it is removed.
        self.node.stop_all();
        if !std::thread::panicking() {
            self.history.assert_health_agrees_at_every_write();
        }
    }
}

/// Fast operator timings (as tests/support/e2e.rs).
pub fn operator_config() -> OperatorConfig {
    OperatorConfig::from_yaml(
        "kubernetes.operator.reconcile.interval: 2 s\n\
         kubernetes.operator.observer.progress-check.interval: 1 s\n\
         kubernetes.operator.observer.rest-ready.delay: 1 s\n\
         kubernetes.operator.retry.initial.interval: 500 ms\n\
         kubernetes.operator.retry.max.interval: 3 s\n\
         kubernetes.operator.user.artifacts.allowed-schemes: https;file\n",
    )
    .expect("operator config")
}

impl RealEnv {
    pub async fn start(version: &str) -> Self {
        let mut env = Self::prepare(version, None, |cp| {
            let repo = repo().display().to_string();
            cp.kubectl_ok(&["apply", "-k", &format!("{repo}/{OVERLAY}")]);
            for crd in ["flinkdeployments", "flinksessionjobs"] {
                cp.kubectl_ok(&[
                    "wait",
                    "--for=condition=Established",
                    &format!("crd/{crd}.flink.apache.org"),
                    "--timeout=60s",
                ]);
            }
            // The operator runs in this process (below) with its ServiceAccount's token, and
            // nothing serves the webhooks here: tests/real_cluster_api.rs covers admission, and
            // tests/real_cluster_operator_pod.rs runs the operator's own Pod.
            cp.kubectl_ok(&[
                "delete",
                "validatingwebhookconfiguration/flink-lifecycle",
                "mutatingwebhookconfiguration/flink-lifecycle",
            ]);
            cp.kubectl_ok(&[
                "-n",
                OPERATOR_NS,
                "scale",
                "deployment/flink-lifecycle",
                "--replicas=0",
            ]);
        })
        .await;
        env.start_operator();
        env
    }

    /// The environment with no operator in this process: `install` installs it (the node runs
    /// the operator's Pods from the built binary). The node is serving when `install` runs.
    pub async fn with_operator_pod(version: &str, install: impl FnOnce(&ControlPlane)) -> Self {
        let binary = PathBuf::from(env!("CARGO_BIN_EXE_flink-lifecycle"));
        // The node gives the operator Pod its own /etc/hosts through a mount namespace: say so
        // at once where that is not allowed, instead of a Pod that never becomes ready.
        let probe = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "true"])
            .output();
        match probe {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "the operator-Pod tier runs the operator in a mount namespace (`unshare --mount`, as root): {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!("the operator-Pod tier needs util-linux's unshare: {e}"),
        }
        Self::prepare(version, Some(binary), install).await
    }

    async fn prepare(
        version: &str,
        operator_binary: Option<PathBuf>,
        install: impl FnOnce(&ControlPlane),
    ) -> Self {
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        // The test node would bind and run Pods in somebody else's cluster.
        assert!(
            std::env::var_os("E2E_KUBECONFIG").is_none(),
            "the real-cluster lifecycle tier brings its own control plane and test node; run it without E2E_KUBECONFIG (make e2e runs only the API suite against a named cluster)"
        );
        let home =
            FlinkInstall::ensure(version).unwrap_or_else(|e| panic!("Flink {version} install failed: {e}"));
        let jar = TestJob::jar(&home).unwrap_or_else(|e| panic!("test job build failed: {e}"));
        let cp = ControlPlane::start().await;
        let repo = repo().display().to_string();
        // Before the install: the watch-namespaces overlay grants Roles in it.
        cp.kubectl_ok(&["create", "namespace", JOBS_NS]);
        let dir = tempfile::Builder::new()
            .prefix("real-lifecycle-")
            .tempdir()
            .expect("temp dir");
        let runtime = LocalFlinkRuntime {
            home: home.clone(),
            root: dir.path().join("run"),
            jars: [("lifecycle-test-job.jar".to_string(), jar)]
                .into_iter()
                .collect(),
        };
        let access = ApiserverAccess {
            server: cp.server.clone(),
            ca_pem: cp.ca_pem.clone(),
            dir: dir.path().join("node"),
        };
        let node = Arc::new(
            Node::register_with_operator(cp.client.clone(), Arc::new(runtime), access, operator_binary).await,
        );
        // The install waits (kubectl, health polls) while the node serves on the runtime.
        tokio::task::block_in_place(|| install(&cp));
        cp.kubectl_ok(&[
            "apply",
            "-f",
            &format!("{repo}/examples/flink-serviceaccount.yaml"),
        ]);
        let token = cp.kubectl_ok(&["-n", OPERATOR_NS, "create", "token", OPERATOR_SA, "--duration=2h"]);
        let operator_client = cp.client_with_token(token.trim()).await;
        let history = StatusHistory::start(cp.client.clone(), JOBS_NS);
        Self {
            node,
            cp,
            home,
            dir,
            operator_client,
            operator_token: token.trim().to_string(),
            operator: None,
            history,
        }
    }

    /// Starts the controllers (a fresh operator process as far as it knows).
    pub fn start_operator(&mut self) {
        let ctx = Arc::new(Context::new(
            self.operator_client.clone(),
            operator_config(),
            Arc::new(NodeUrls(self.node.clone())),
        ));
        let token = CancellationToken::new();
        let stop = token.clone().cancelled_owned().shared();
        let task = tokio::spawn(flink_lifecycle::controller::run(ctx, stop));
        self.operator = Some((token, task));
    }

    /// An operator instance behind leader election, as the Deployment runs it with
    /// `--leader-election` (call inside `tokio::task::block_in_place`).
    pub fn elected_operator(&self, identity: &str) -> ElectedOperator {
        ElectedOperator::start(
            &self.cp,
            identity,
            &self.operator_token,
            operator_config(),
            Arc::new(NodeUrls(self.node.clone())),
        )
    }

    /// Stops the controllers with no graceful shutdown, like a crashed operator.
    pub fn kill_operator(&mut self) {
        if let Some((token, task)) = self.operator.take() {
            token.cancel();
            task.abort();
        }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    pub fn deployments(&self) -> Api<FlinkDeployment> {
        Api::namespaced(self.cp.client.clone(), JOBS_NS)
    }

    /// The test job's args for resource `name`, its counter in `<name>/<out>`.
    pub fn args(&self, name: &str, out: &str) -> Value {
        json!([
            "--name",
            name,
            "--out-dir",
            self.path(&format!("{name}/{out}")),
            "--fail-file",
            self.path(&format!("{name}/fail-once")),
            "--sticky-fail-file",
            self.path(&format!("{name}/fail-always"))
        ])
    }

    /// An application FlinkDeployment of the test job in [`JOBS_NS`], as a user writes it.
    pub fn application(&self, name: &str, version: &str, upgrade_mode: &str) -> Value {
        json!({
            "apiVersion": "flink.apache.org/v1beta1",
            "kind": "FlinkDeployment",
            "metadata": {"name": name, "namespace": JOBS_NS},
            "spec": {
                "image": format!("flink:{}", version.trim_start_matches('v').replace('_', ".")),
                "flinkVersion": version,
                "mode": "standalone",
                "serviceAccount": "flink",
                "flinkConfiguration": {
                    "taskmanager.numberOfTaskSlots": "2",
                    "execution.checkpointing.dir": format!("file://{}", self.path(&format!("{name}/checkpoints"))),
                    "execution.checkpointing.savepoint-dir": format!("file://{}", self.path(&format!("{name}/savepoints"))),
                    "execution.checkpointing.interval": "1 s",
                    "restart-strategy.type": "fixed-delay",
                    "restart-strategy.fixed-delay.attempts": "3",
                    "restart-strategy.fixed-delay.delay": "1 s"
                },
                "jobManager": {"resource": {"memory": "1024m", "cpu": 1}},
                "taskManager": {"resource": {"memory": "1024m", "cpu": 1}},
                "job": {
                    "jarURI": "local:///opt/flink/usrlib/lifecycle-test-job.jar",
                    "entryClass": TestJob::MAIN_CLASS,
                    "args": self.args(name, "out-1"),
                    "parallelism": 1,
                    "upgradeMode": upgrade_mode,
                    "state": "running"
                }
            }
        })
    }

    /// [`Self::application`] with Kubernetes HA (its ConfigMaps in the real apiserver).
    pub fn ha_application(&self, name: &str, version: &str, upgrade_mode: &str) -> Value {
        let mut spec = self.application(name, version, upgrade_mode);
        spec["spec"]["flinkConfiguration"]["high-availability.type"] = json!("kubernetes");
        spec["spec"]["flinkConfiguration"]["high-availability.storageDir"] =
            json!(format!("file://{}", self.path(&format!("{name}/ha"))));
        spec
    }

    /// `kubectl apply -f -`, as a user (or Argo CD) applies a resource.
    pub fn apply(&self, obj: &Value) {
        let text = serde_json::to_string_pretty(obj).expect("json");
        let out = self.cp.kubectl_stdin(&["apply", "-f", "-"], &text);
        assert!(
            out.status.success(),
            "kubectl apply: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `kubectl apply --server-side -f -` with kubectl's own field manager, without
    /// `--force-conflicts`: it fails if another manager (the operator) owns a field it sets.
    pub fn apply_server_side(&self, obj: &Value) {
        let text = serde_json::to_string_pretty(obj).expect("json");
        let out = self
            .cp
            .kubectl_stdin(&["apply", "--server-side", "-f", "-"], &text);
        assert!(
            out.status.success(),
            "kubectl apply --server-side: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A merge patch of the spec, as `kubectl patch --type merge` sends it.
    pub async fn patch_spec(&self, name: &str, spec_patch: Value) {
        self.deployments()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": spec_patch})),
            )
            .await
            .expect("patch spec");
    }

    /// Status as `kubectl get -o json` shows it.
    pub fn status_by_kubectl(&self, name: &str) -> Value {
        let out = self
            .cp
            .kubectl_ok(&["-n", JOBS_NS, "get", "flinkdeployment", name, "-o", "json"]);
        let v: Value = serde_json::from_str(&out).expect("kubectl get -o json");
        v["status"].clone()
    }

    /// Waits until `pred` holds, failing with the status and the cluster's logs.
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(&FlinkDeployment) -> bool,
    ) -> FlinkDeployment {
        let deadline = tokio::time::Instant::now() + LONG;
        loop {
            let current = self.deployments().get_opt(name).await.expect("get");
            if let Some(d) = &current
                && pred(d)
            {
                return d.clone();
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{name}: not {what} after {LONG:?}; status: {}\n{}",
                    serde_json::to_string_pretty(&current.and_then(|d| d.status)).unwrap_or_default(),
                    self.node.logs(name)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until `check` answers, up to [`LONG`].
    pub async fn until<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + LONG;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not {what} after {LONG:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A REST client for a cluster's JobManager, through the node.
    pub fn flink(&self, name: &str) -> FlinkRestClient {
        let url = self
            .node
            .rest_url(JOBS_NS, name)
            .unwrap_or_else(|| panic!("no JobManager of {name} runs on the node"));
        FlinkRestClient::new(&url, FlinkClientOptions::default()).expect("client")
    }
}

pub fn stable_with_new_job(previous: &str) -> impl Fn(&FlinkDeployment) -> bool + '_ {
    move |d| {
        lifecycle(d) == "Stable"
            && job_state(d) == "RUNNING"
            && !job_id(d).is_empty()
            && job_id(d) != previous
            && d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation
    }
}

/// With HA the job keeps its id across upgrades (application mode derives it from the cluster
/// id): a new run shows as a new start time.
pub fn stable_with_new_start(previous: &str) -> impl Fn(&FlinkDeployment) -> bool + '_ {
    move |d| {
        lifecycle(d) == "Stable"
            && job_state(d) == "RUNNING"
            && !start_time(d).is_empty()
            && start_time(d) != previous
            && d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation
    }
}

/// Waits until the job's counter in `out` satisfies `pred`.
pub async fn counter(
    env: &RealEnv,
    out: &str,
    what: &str,
    pred: impl Fn(&CounterReport) -> bool,
) -> CounterReport {
    let dir = env.path(out);
    env.until(&format!("counter {out} {what}"), || {
        let r = CounterReport::read(Path::new(&dir)).filter(|r| pred(r));
        async move { r }
    })
    .await
}

/// Where the running job restored from, per Flink's checkpoint statistics.
pub async fn restored_from(env: &RealEnv, d: &FlinkDeployment) -> Option<String> {
    let name = d.metadata.name.clone().unwrap();
    let id = job_id(d);
    env.until("checkpoint statistics readable", || {
        let flink = env.flink(&name);
        let id = id.clone();
        async move { flink.checkpoint_statistics(&id).await.ok() }
    })
    .await
    .restored_path()
    .map(str::to_string)
}

/// Status as kubectl shows it names the job Flink runs, in the state Flink reports.
pub async fn assert_status_agrees_with_flink(env: &RealEnv, name: &str) {
    let status = env.status_by_kubectl(name);
    let id = status["jobStatus"]["jobId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let state = status["jobStatus"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let jobs = env.flink(name).jobs_overview().await.expect("GET /jobs/overview");
    let flink_state = jobs.job(&id).map(|j| j.state.as_str().to_string());
    assert_eq!(
        flink_state.as_deref(),
        Some(state.as_str()),
        "{name}: kubectl shows job {id} {state}; Flink's /jobs/overview: {:?}",
        jobs.jobs
            .iter()
            .map(|j| (&j.jid, j.state.as_str()))
            .collect::<Vec<_>>()
    );
    let running = jobs.jobs.iter().filter(|j| j.state.as_str() == "RUNNING").count();
    assert!(
        running <= 1,
        "{name}: {running} jobs run in one application cluster"
    );
}

impl JobManagerDeployments {
    /// Counts resource `name`'s JobManager Deployments in the real apiserver.
    pub fn watch(env: &RealEnv, name: &str) -> Self {
        Self::watch_in(Api::namespaced(env.cp.client.clone(), JOBS_NS), name)
    }
}

/// The newest checkpoint recorded in status: Flink's checkpoint id and when Flink triggered it
/// (epoch millis).
pub fn recorded_checkpoint(d: &FlinkDeployment) -> Option<(i64, i64)> {
    let c = d
        .status
        .as_ref()?
        .job_status
        .as_ref()?
        .last_completed_checkpoint
        .as_ref()?;
    Some((c.checkpoint_id?, c.time_stamp?))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// As `fault_cells::running_with_recorded_state` for the in-memory environment: resource
/// `name` (created by the caller, its counter in `<name>/out-1`) stable and running with
/// `checkpoints` checkpoints recorded, and a lower bound of the state its newest recorded
/// checkpoint holds: the counter read before a checkpoint Flink triggered later was recorded
/// (the test job's keys count within one of each other). A job restored from that checkpoint
/// or anything newer reports `restored_min` at least this; an empty start reports 0, an older
/// snapshot less. Returns the resource as recorded then, and the bound.
pub async fn running_with_recorded_state(
    env: &RealEnv,
    name: &str,
    checkpoints: i64,
) -> (FlinkDeployment, i64) {
    env.wait_for(name, "stable and running", stable_with_new_job(""))
        .await;
    let out = format!("{name}/out-1");
    counter(env, &out, "counting", |r| r.max >= 5).await;
    env.wait_for(name, "checkpoints recorded", |d| {
        recorded_checkpoint(d).is_some_and(|(id, _)| id >= checkpoints)
    })
    .await;
    let read_at = now_ms();
    let before = CounterReport::read(Path::new(&env.path(&out))).expect("a counter report");
    let d = env
        .wait_for(name, "a checkpoint triggered after the counter was read", |d| {
            recorded_checkpoint(d).is_some_and(|(_, t)| t > read_at)
        })
        .await;
    (d, before.max - 1)
}

/// The counter of the job that runs now in `<out>`: the report an earlier attempt left (a
/// killed JobManager's job, the run before a restart) is removed first, so only a report the
/// running job writes after this call counts.
pub async fn fresh_counter(env: &RealEnv, out: &str, what: &str) -> CounterReport {
    CounterReport::forget(Path::new(&env.path(out)));
    counter(env, out, what, |r| r.max > 0).await
}

/// The first moment `pred` holds of resource `name` (polled every 20 ms).
pub async fn as_soon_as(
    env: &RealEnv,
    name: &str,
    what: &str,
    pred: impl Fn(&FlinkDeployment) -> bool,
) -> FlinkDeployment {
    crate::status_of::as_soon_as_in(&env.deployments(), name, what, LONG, pred).await
}

pub async fn jm_deployment(env: &RealEnv, name: &str) -> Option<Deployment> {
    let api: Api<Deployment> = Api::namespaced(env.cp.client.clone(), JOBS_NS);
    api.get_opt(name).await.unwrap()
}

pub async fn pods_of(env: &RealEnv, name: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(env.cp.client.clone(), JOBS_NS);
    api.list(&ListParams::default().labels(&format!("app={name}")))
        .await
        .unwrap()
        .items
}

pub async fn ha_config_maps(env: &RealEnv, name: &str) -> Vec<ConfigMap> {
    let api: Api<ConfigMap> = Api::namespaced(env.cp.client.clone(), JOBS_NS);
    api.list(&ListParams::default().labels(&format!("app={name},configmap-type=high-availability")))
        .await
        .unwrap()
        .items
}
