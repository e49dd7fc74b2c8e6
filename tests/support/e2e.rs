//! The end-to-end environment: the in-memory Kubernetes API, the test kubelet running rendered
//! JobManagers/TaskManagers as real local Flink processes, and the operator's controllers, which
//! reach each cluster's REST API through the kubelet's loopback ports.
#![allow(dead_code)]

use super::argo_history::StatusHistory;
use super::flink::{FlinkHome, FlinkInstall, TestJob};
use super::flink_runtime::LocalFlinkRuntime;
use super::kube_api::InMemoryKube;
use super::kubelet::Kubelet;
// Each test binary uses a subset of the shared accessors.
#[allow(unused_imports)]
pub use super::status_of::{JobManagerDeployments, error, job_id, job_state, lifecycle};
use flink_lifecycle::api::{FlinkDeployment, FlinkSessionJob};
use flink_lifecycle::config::OperatorConfig;
use flink_lifecycle::controller::{Context, RestUrlResolver};
use flink_lifecycle::flink::{FlinkClientOptions, FlinkRestClient};
use futures::FutureExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The clusters whose REST API the operator cannot reach (a network fault between the operator
/// and the JobManager): their URL points at a loopback port nothing listens on.
type BlockedRest = Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>;

struct KubeletUrls(Arc<Kubelet>, BlockedRest);

impl RestUrlResolver for KubeletUrls {
    fn rest_url(&self, namespace: &str, cluster: &str) -> Option<String> {
        if self.1.lock().is_ok_and(|b| b.contains(cluster)) {
            return Some("http://127.0.0.1:1".into());
        }
        self.0.rest_url(namespace, cluster)
    }
}

/// Flink clusters are heavy on a 2-core machine: at most two scenarios run at once.
static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

pub struct Env {
    _slot: tokio::sync::SemaphorePermit<'static>,
    pub kube: InMemoryKube,
    pub kubelet: Arc<Kubelet>,
    pub home: FlinkHome,
    pub jar: PathBuf,
    pub dir: tempfile::TempDir,
    pub operator: OperatorConfig,
    controller: Option<(CancellationToken, tokio::task::JoinHandle<()>)>,
    rest_blocked: BlockedRest,
    /// Every status the operator wrote, for the Argo CD health checks at the end.
    history: StatusHistory,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some((token, task)) = self.controller.take() {
            token.cancel();
            task.abort();
        }
        // The aborted operator's context still holds the kubelet: its Flink jobs would keep
        // writing into the test's directory after it is removed.
        self.kubelet.stop_all();
        // The operator's calls are held to the install's RBAC: a refused call is a bug in the
        // code or in `flink_lifecycle::rbac` (and so in the manifests), even if the scenario
        // recovered from it.
        let refused = self.kube.rbac.refused();
        if !refused.is_empty() && !std::thread::panicking() {
            panic!("the operator made calls its RBAC does not grant: {refused:?}");
        }
        if !std::thread::panicking() {
            self.history.assert_health_agrees_at_every_write();
        }
    }
}

/// The whole end-to-end binary normally takes 3-6 minutes. A hang (one was seen once, with the
/// test process busy, in the session-job scenario) must fail the run in bounded time rather
/// than hold CI for its 90 minutes; a thread, so a starved async runtime cannot stop it.
fn start_watchdog() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        // E2E_WATCHDOG_SECONDS: a shorter limit, to see the report.
        let limit = std::env::var("E2E_WATCHDOG_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20 * 60);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(limit));
            report_hang(limit);
            super::flink::kill_own_jvms();
            std::process::exit(101);
        });
    });
}

/// Says what every thread of this process is doing, so that a hang in CI leaves its cause in the
/// log. Written to the real stderr: the test harness captures `eprintln!` of the tests' threads
/// (and of threads they spawn), and would drop it at the exit.
fn report_hang(limit_seconds: u64) {
    use std::io::Write;
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "end-to-end tests still running after {limit_seconds} s: aborting (a hang); thread stacks follow"
    );
    let stacks = std::process::Command::new("gdb")
        .args([
            "-p",
            &std::process::id().to_string(),
            "-batch",
            "-ex",
            "thread apply all bt",
        ])
        .status();
    if stacks.is_err() {
        let _ = writeln!(err, "(gdb is not installed: no thread stacks)");
    }
}

/// Fast operator timings for tests.
pub fn test_operator_config() -> OperatorConfig {
    OperatorConfig::from_yaml(
        "kubernetes.operator.reconcile.interval: 2 s\n\
         kubernetes.operator.observer.progress-check.interval: 1 s\n\
         kubernetes.operator.observer.rest-ready.delay: 1 s\n\
         kubernetes.operator.retry.initial.interval: 500 ms\n\
         kubernetes.operator.retry.max.interval: 3 s\n\
         kubernetes.operator.user.artifacts.allowed-schemes: https;file\n",
    )
    .expect("test operator config")
}

impl Env {
    pub async fn start(version: &str) -> Self {
        // RUST_LOG=flink_lifecycle=debug shows the operator's plans (step, reasons, requeue).
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        start_watchdog();
        let slot = SLOTS.acquire().await.expect("scenario slot");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let home =
            FlinkInstall::ensure(version).unwrap_or_else(|e| panic!("Flink {version} install failed: {e}"));
        let jar = TestJob::jar(&home).unwrap_or_else(|e| panic!("test job build failed: {e}"));
        let dir = tempfile::Builder::new()
            .prefix("e2e-")
            .tempdir()
            .expect("temp dir");
        let kube = InMemoryKube::new().await;
        let history = StatusHistory::start(kube.client(), "default");
        let runtime = LocalFlinkRuntime {
            home: home.clone(),
            root: dir.path().join("run"),
            jars: [("lifecycle-test-job.jar".to_string(), jar.clone())]
                .into_iter()
                .collect(),
        };
        let kubelet = Arc::new(Kubelet::start(kube.client(), Arc::new(runtime)));
        let mut env = Self {
            _slot: slot,
            kube,
            kubelet,
            home,
            jar,
            dir,
            operator: test_operator_config(),
            controller: None,
            rest_blocked: BlockedRest::default(),
            history,
        };
        env.start_operator();
        env
    }

    /// Starts the controllers (a fresh process as far as the operator knows).
    pub fn start_operator(&mut self) {
        let ctx = Arc::new(Context::new(
            self.kube.operator_client(),
            self.operator.clone(),
            Arc::new(KubeletUrls(self.kubelet.clone(), self.rest_blocked.clone())),
        ));
        let token = CancellationToken::new();
        let stop = token.clone().cancelled_owned().shared();
        let task = tokio::spawn(flink_lifecycle::controller::run(ctx, stop));
        self.controller = Some((token, task));
    }

    /// Cuts (`true`) or restores the operator's access to cluster `name`'s REST API; Flink keeps
    /// running and the tests still reach it.
    pub fn block_rest(&self, name: &str, blocked: bool) {
        let mut set = self.rest_blocked.lock().expect("rest_blocked lock");
        if blocked {
            set.insert(name.to_string());
        } else {
            set.remove(name);
        }
    }

    /// Kills the controllers wherever they are (no graceful shutdown), like a crashed operator.
    pub fn kill_operator(&mut self) {
        if let Some((_, task)) = self.controller.take() {
            task.abort();
        }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    pub fn deployments(&self) -> Api<FlinkDeployment> {
        Api::namespaced(self.kube.client(), "default")
    }

    pub fn session_jobs(&self) -> Api<FlinkSessionJob> {
        Api::namespaced(self.kube.client(), "default")
    }

    /// An application FlinkDeployment running the test job, standalone mode, with checkpoints
    /// and savepoints under the test's directory.
    pub fn application(&self, name: &str, version: &str, upgrade_mode: &str) -> Value {
        json!({
            "apiVersion": "flink.apache.org/v1beta1",
            "kind": "FlinkDeployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "image": format!("flink:{version}"),
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
                    "args": ["--name", name, "--out-dir", self.path(&format!("{name}/out")),
                             "--fail-file", self.path(&format!("{name}/fail-once")),
                             "--sticky-fail-file", self.path(&format!("{name}/fail-always"))],
                    "parallelism": 1,
                    "upgradeMode": upgrade_mode,
                    "state": "running"
                }
            }
        })
    }

    pub async fn create(&self, obj: &Value) -> FlinkDeployment {
        let d: FlinkDeployment = serde_json::from_value(obj.clone()).expect("FlinkDeployment");
        self.deployments()
            .create(&PostParams::default(), &d)
            .await
            .expect("create")
    }

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

    /// The operator's last Events about resource `name`, oldest first: what it decided, for a
    /// failure message (the status alone shows where it stopped, not why).
    pub async fn events_of(&self, name: &str) -> String {
        use k8s_openapi::api::events::v1::Event;
        let api: Api<Event> = Api::namespaced(self.kube.client(), "default");
        let Ok(list) = api.list(&Default::default()).await else {
            return "  (events not readable)".into();
        };
        let mut lines: Vec<(String, String)> = list
            .items
            .iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| {
                let at = e.event_time.as_ref().map(|t| t.0.to_string()).unwrap_or_default();
                let count = e.series.as_ref().map_or(1, |s| s.count);
                let line = format!(
                    "  {at} {} {} (x{count}): {}",
                    e.type_.as_deref().unwrap_or(""),
                    e.reason.as_deref().unwrap_or(""),
                    e.note.as_deref().unwrap_or("")
                );
                (at, line)
            })
            .collect();
        lines.sort();
        let skip = lines.len().saturating_sub(25);
        lines
            .into_iter()
            .skip(skip)
            .map(|(_, l)| l)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits until `pred` holds for the FlinkDeployment, failing with its last status.
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&FlinkDeployment) -> bool,
    ) -> FlinkDeployment {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let current = self.deployments().get_opt(name).await.expect("get");
            if let Some(d) = &current
                && pred(d)
            {
                return d.clone();
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{name}: not {what} after {timeout:?}; status: {}\nevents:\n{}\nkubelet launches: {}\n{}",
                    serde_json::to_string_pretty(&current.and_then(|d| d.status)).unwrap_or_default(),
                    self.events_of(name).await,
                    self.kubelet.launches().len(),
                    self.kubelet.logs(name)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits for a stable running job and returns it.
    pub async fn wait_stable_running(&self, name: &str) -> FlinkDeployment {
        self.wait_for(name, "stable and running", Duration::from_secs(300), |d| {
            let s = d.status.as_ref();
            let lifecycle = s.and_then(|s| s.lifecycle_state).map(|l| format!("{l:?}"));
            let job = s
                .and_then(|s| s.job_status.as_ref())
                .and_then(|j| j.state)
                .map(|j| j.as_str());
            lifecycle.as_deref() == Some("Stable") && job == Some("RUNNING")
        })
        .await
    }

    /// A REST client for a cluster's JobManager.
    pub fn flink(&self, name: &str) -> FlinkRestClient {
        let url = self
            .kubelet
            .rest_url("default", name)
            .expect("cluster started by the kubelet");
        FlinkRestClient::new(&url, FlinkClientOptions::default()).expect("client")
    }
}

/// Stable and running a job other than `previous` (an upgrade or restart has completed).
pub fn stable_with_new_job(previous: &str) -> impl Fn(&FlinkDeployment) -> bool + '_ {
    move |d| {
        let s = d.status.as_ref();
        let stable = s
            .and_then(|s| s.lifecycle_state)
            .map(|l| format!("{l:?}"))
            .as_deref()
            == Some("Stable");
        let running = s
            .and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.state)
            .map(|j| j.as_str())
            == Some("RUNNING");
        stable && running && job_id(d) != previous && !job_id(d).is_empty()
    }
}

/// Argo CD's view of a live resource: our health check (`argocd/health/...`) and the bundled
/// upstream one, both run by a real Lua 5.1 on the status the operator wrote.
pub struct ArgoHealth {
    pub ours: super::install::Health,
    pub upstream: super::install::Health,
}

pub fn argo_health<K: serde::Serialize + kube::Resource<DynamicType = ()>>(obj: &K) -> ArgoHealth {
    use super::install::{repo, run_script};
    let kind = K::kind(&());
    let case = json!({"name": "live", "object": serde_json::to_value(obj).expect("resource json")});
    let check = |script: PathBuf| run_script(&script, &[&case])["live"].clone();
    ArgoHealth {
        ours: check(repo().join(format!("argocd/health/flink.apache.org/{kind}/health.lua"))),
        upstream: check(repo().join(format!("tests/fixtures/argocd/upstream-{kind}.lua"))),
    }
}

/// Asserts our check's status (and a message fragment) and that the bundled check does not
/// contradict it where it can tell (a healthy job is Healthy there too; never Unknown).
pub fn assert_argo_health<K: serde::Serialize + kube::Resource<DynamicType = ()>>(
    obj: &K,
    status: &str,
    message: &str,
) {
    let h = argo_health(obj);
    assert_eq!(
        h.ours.status, status,
        "our Argo CD health check: {:?}",
        h.ours.message
    );
    assert!(
        h.ours.message.contains(message),
        "our Argo CD health message {:?} lacks {message:?}",
        h.ours.message
    );
    assert_ne!(
        h.upstream.status, "Unknown",
        "bundled check: {}",
        h.upstream.message
    );
    // Argo's bundled check shows a requested suspend as Suspended (ours: Healthy, since Argo
    // treats Suspended as not done and a sync that suspends a job would hang).
    let asked_suspend = h.ours.message.contains("suspended, as the spec asks");
    if status == "Healthy" && !(asked_suspend && h.upstream.status == "Suspended") {
        assert_eq!(
            h.upstream.status, "Healthy",
            "bundled check: {}",
            h.upstream.message
        );
    }
}

/// How long an end-to-end step may take on a loaded 2-core machine.
pub const LONG: Duration = Duration::from_secs(300);

/// Waits until the test job's counter report in `out_dir` satisfies `pred`.
pub async fn counter(
    out_dir: &str,
    what: &str,
    pred: impl Fn(&super::flink::CounterReport) -> bool,
) -> super::flink::CounterReport {
    use super::flink::CounterReport;
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        if let Some(r) = CounterReport::read(std::path::Path::new(out_dir))
            && pred(&r)
        {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "counter in {out_dir}: not {what}: {:?}",
            CounterReport::read(std::path::Path::new(out_dir))
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The test job's arguments for resource `name`, writing its counter to `<name>/<out>`.
pub fn job_args(env: &Env, name: &str, out: &str, extra: &[&str]) -> Value {
    let mut a = vec![
        "--name".to_string(),
        name.to_string(),
        "--out-dir".to_string(),
        env.path(&format!("{name}/{out}")),
        "--fail-file".to_string(),
        env.path(&format!("{name}/fail-once")),
        "--sticky-fail-file".to_string(),
        env.path(&format!("{name}/fail-always")),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    json!(a)
}

/// How many savepoints Flink wrote into `dir`.
pub fn savepoints_in(dir: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("savepoint-"))
                .count()
        })
        .unwrap_or(0)
}

/// Whether a savepoint trigger id is recorded in `status` (of either kind).
pub fn trigger_recorded(job_status: Option<&flink_lifecycle::api::JobStatus>) -> bool {
    job_status
        .and_then(|j| j.savepoint_info.as_ref())
        .is_some_and(|i| i.trigger_id.is_some())
}

/// The newest completed checkpoint recorded in status: Flink's checkpoint id and its path.
pub fn recorded_checkpoint(d: &FlinkDeployment) -> Option<(i64, String)> {
    let r = d
        .status
        .as_ref()?
        .job_status
        .as_ref()?
        .last_completed_checkpoint
        .as_ref()?;
    Some((r.checkpoint_id?, r.path.clone()?))
}

/// When Flink triggered the newest checkpoint recorded in status (epoch millis).
pub fn recorded_checkpoint_time(d: &FlinkDeployment) -> Option<i64> {
    d.status
        .as_ref()?
        .job_status
        .as_ref()?
        .last_completed_checkpoint
        .as_ref()?
        .time_stamp
}

/// The newest `chk-<n>` with a `_metadata` file under a job's checkpoint directory.
pub fn newest_retained_checkpoint(dir: &str) -> Option<(i64, String)> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let id = name.strip_prefix("chk-")?.parse::<i64>().ok()?;
            e.path()
                .join("_metadata")
                .exists()
                .then(|| (id, e.path().display().to_string()))
        })
        .max_by_key(|(id, _)| *id)
}

/// The newest savepoint (with `_metadata`) Flink wrote for job `job_id` into `dir`, as a path.
pub fn newest_savepoint_of(dir: &str, job_id: &str) -> Option<String> {
    let prefix = format!("savepoint-{}", &job_id[..6.min(job_id.len())]);
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("_metadata").exists())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p.display().to_string())
}

/// A status condition's status and reason.
pub fn condition(d: &FlinkDeployment, type_: &str) -> Option<(String, String)> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// Asserts that the job status records is what Flink's `/jobs/overview` says of that job, and
/// that the application cluster runs one job at most.
pub async fn assert_status_agrees_with_flink(env: &Env, d: &FlinkDeployment) {
    let name = d.metadata.name.clone().unwrap_or_default();
    let id = job_id(d);
    let state = job_state(d);
    let jobs = env
        .flink(&name)
        .jobs_overview()
        .await
        .expect("GET /jobs/overview");
    let all: Vec<(String, String)> = jobs
        .jobs
        .iter()
        .map(|j| (j.jid.clone(), j.state.as_str().to_string()))
        .collect();
    assert_eq!(
        jobs.job(&id).map(|j| j.state.as_str().to_string()).as_deref(),
        Some(state.as_str()),
        "{name}: status says job {id} {state}; Flink's /jobs/overview: {all:?}"
    );
    let running = all.iter().filter(|(_, s)| s == "RUNNING").count();
    assert!(
        running <= 1,
        "{name}: {running} jobs run in one application cluster: {all:?}"
    );
}

impl JobManagerDeployments {
    /// Counts resource `name`'s JobManager Deployments in the in-memory API.
    pub fn watch(env: &Env, name: &str) -> Self {
        Self::watch_in(Api::namespaced(env.kube.client(), "default"), name)
    }
}

/// What a person restores after the operator stopped for a rewound job, as its message asks: the
/// newest retained checkpoint of run `job_id` of resource `name` (the recorded one, or a newer one
/// the job completed after the operator's last read: with one checkpoint retained, the job
/// itself discards the recorded one once a newer completes), as a `file:` URI. If the
/// stop-with-savepoint completed just before the fault, the job FINISHED and Flink discarded its
/// checkpoints: its savepoint is then its newest state. Asserts that the record (checkpoint
/// `recorded_id`) is never ahead of what the job retained.
pub fn snapshot_a_person_restores(env: &Env, name: &str, job_id: &str, recorded_id: i64) -> String {
    let checkpoints = env.path(&format!("{name}/checkpoints/{job_id}"));
    let newest = match newest_retained_checkpoint(&checkpoints) {
        Some((newest_id, newest)) => {
            assert!(
                newest_id >= recorded_id,
                "the record is never ahead of what the job retained: recorded {recorded_id}, newest {newest_id}"
            );
            newest
        }
        None => newest_savepoint_of(&env.path(&format!("{name}/savepoints")), job_id)
            .expect("a retained checkpoint or the savepoint of the original run"),
    };
    format!("file:{newest}")
}

/// Where the running job restored from, per Flink's checkpoint statistics.
pub async fn restored_from(env: &Env, d: &FlinkDeployment) -> Option<String> {
    let name = d.metadata.name.clone().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match env.flink(&name).checkpoint_statistics(&job_id(d)).await {
            Ok(stats) => return stats.restored_path().map(str::to_string),
            // The JobMaster may still be initializing right after the job shows up.
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("checkpoint statistics not available yet: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("checkpoint statistics of {name}: {e}"),
        }
    }
}
