//! `make bench`: the operator process at scale. The real `flink-lifecycle run` binary is started
//! against the in-memory Kubernetes API (served over loopback HTTP) holding N FlinkDeployments in
//! steady state; the bench measures its resident memory and threads, the time to settle after a
//! (re)start, CPU per no-op reconcile, and the reaction time from a spec change to the first
//! lifecycle action (the JobManager Deployment appearing). It also measures the idle footprint of
//! the release binary and its size. Results go to `bench-results/controller.md`.
//! Counts: `BENCH_COUNTS=100,1000` (default 100,1000,10000); rows of counts not run this time are
//! kept from the previous file, and so is its hand-written "Reading the numbers" section.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/kube_api/mod.rs"]
mod kube_api;

use flink_lifecycle::api::FlinkDeployment;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Spec changes timed per count.
const REACTION_SAMPLES: usize = 50;
/// Marks the hand-written part of the results file, kept across runs.
const READING: &str = "## Reading the numbers";

fn proc_field(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

fn mb(pid: u32, key: &str) -> f64 {
    proc_field(pid, key) as f64 / 1024.0
}

/// utime + stime in clock ticks (100 Hz on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gb = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .trim()
                .trim_end_matches(" kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!("{cores} cores ({model}), {mem_gb:.0} GB RAM")
}

async fn metric(admin: u16, name: &str) -> f64 {
    // A freshly started operator may not listen yet.
    let mut body = String::new();
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{admin}/metrics")).await {
            body = r.text().await.unwrap_or_default();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    body.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

const RECONCILES: &str = "flink_lifecycle_reconcile_duration_seconds_count";

fn deployment(i: usize) -> FlinkDeployment {
    serde_json::from_value(json!({
        "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
        "metadata": {"name": format!("job-{i}"), "namespace": "default"},
        "spec": {
            "image": "flink:1.20", "flinkVersion": "v1_20", "serviceAccount": "flink",
            "flinkConfiguration": {"taskmanager.numberOfTaskSlots": "2",
                                   "state.checkpoints.dir": "s3://bucket/cp", "state.savepoints.dir": "s3://bucket/sp"},
            "jobManager": {"resource": {"memory": "1024m", "cpu": 1}},
            "taskManager": {"resource": {"memory": "1024m", "cpu": 1}},
            "job": {"jarURI": "local:///opt/flink/usrlib/job.jar", "parallelism": 2,
                    "upgradeMode": "savepoint", "state": "suspended"}
        }
    }))
    .unwrap()
}

struct Operator {
    child: Child,
    admin: u16,
}

impl Operator {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_operator(binary: &Path, kubeconfig: &Path, certs: &Path) -> Operator {
    let admin = free_port();
    let child = Command::new(binary)
        .args([
            "run",
            "--leader-election",
            "false",
            "--webhook-addr",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .args(["--admin-addr", &format!("127.0.0.1:{admin}"), "--tls-dir"])
        .arg(certs)
        // Resumed jobs get a JobManager Deployment but no pods: their REST calls should fail at
        // once (connection refused on the discard port) rather than wait on DNS for a Service
        // that only exists in the in-memory API.
        .args(["--rest-url-template", "http://127.0.0.1:9/{namespace}/{name}"])
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start flink-lifecycle run");
    Operator { child, admin }
}

/// Waits until the operator's admin endpoint answers (its startup is done).
async fn wait_up(op: &Operator) {
    metric(op.admin, RECONCILES).await;
}

/// Counts FlinkDeployments with a lifecycle state through a watch (a list every few ms of 10,000
/// objects would cost the bench more CPU than the operator); returns when all `n` have one.
fn settle_watch(api: Api<FlinkDeployment>, n: usize, since: Instant) -> tokio::task::JoinHandle<Duration> {
    tokio::spawn(async move {
        let mut done = HashSet::new();
        let mut events = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(ev) = events.next().await {
            let Ok(d) = ev else { continue };
            if d.status.as_ref().and_then(|s| s.lifecycle_state).is_some() {
                done.insert(d.name_any());
                if done.len() >= n {
                    break;
                }
            }
        }
        since.elapsed()
    })
}

/// When each JobManager Deployment first appeared (seen through a watch, not by polling).
fn deployment_arrivals(
    api: Api<Deployment>,
) -> (Arc<Mutex<HashMap<String, Instant>>>, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let sink = seen.clone();
    let task = tokio::spawn(async move {
        let mut events = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Ok(Some(d)) = events.try_next().await {
            let now = Instant::now();
            sink.lock().unwrap().entry(d.name_any()).or_insert(now);
        }
    });
    (seen, task)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

struct Row {
    n: usize,
    text: String,
}

async fn measure(n: usize, binary: &Path, dir: &Path, certs: &Path) -> Row {
    let load_before = load_average();
    let kube = kube_api::InMemoryKube::new().await;
    let (addr, _server) = kube.serve().await.unwrap();
    let kubeconfig = dir.join(format!("kubeconfig-{n}"));
    std::fs::write(&kubeconfig, kube_api::InMemoryKube::kubeconfig(addr)).unwrap();
    let api: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");

    let op = start_operator(binary, &kubeconfig, certs);
    wait_up(&op).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = op.pid();
    let idle_rss = mb(pid, "VmRSS:");
    let started = Instant::now();
    let settle = settle_watch(api.clone(), n, started);
    for i in 0..n {
        api.create(&PostParams::default(), &deployment(i)).await.unwrap();
    }
    let settle = settle.await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = mb(pid, "VmRSS:");
    let anon = mb(pid, "RssAnon:");
    let peak = mb(pid, "VmHWM:");
    let threads = proc_field(pid, "Threads:");
    eprintln!(
        "n={n}: settled in {:.1}s, RSS {rss:.1} MB (peak {peak:.1}), {threads} threads",
        settle.as_secs_f64()
    );

    // CPU per no-op reconcile over a quiet window longer than the reconcile interval (60 s), so
    // every resource is requeued about once; API writes in the window show whether "no-op" holds.
    let quiet = Duration::from_secs(70);
    let (t0, r0, w0) = (
        cpu_ticks(pid),
        metric(op.admin, RECONCILES).await,
        kube.resource_version(),
    );
    tokio::time::sleep(quiet).await;
    let (t1, r1, w1) = (
        cpu_ticks(pid),
        metric(op.admin, RECONCILES).await,
        kube.resource_version(),
    );
    let reconciles = r1 - r0;
    let per_reconcile_us = if reconciles > 0.0 {
        (t1 - t0) as f64 * 10_000.0 / reconciles
    } else {
        f64::NAN
    };
    let idle_cpu_pct = (t1 - t0) as f64 / quiet.as_secs_f64();
    let writes = w1 - w0;
    eprintln!(
        "n={n}: {reconciles} reconciles in {}s, {per_reconcile_us:.0} µs each, {writes} API writes",
        quiet.as_secs()
    );

    // Reaction: resume one suspended job at a time; its first lifecycle action is creating its
    // JobManager Deployment. Timed from the patch being accepted to the Deployment's event.
    let (arrivals, arrivals_task) = deployment_arrivals(Api::namespaced(kube.client(), "default"));
    let mut reactions = Vec::new();
    for i in 0..REACTION_SAMPLES.min(n) {
        let name = format!("job-{i}");
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"job": {"state": "running"}}})),
        )
        .await
        .unwrap();
        let accepted = Instant::now();
        let deadline = accepted + Duration::from_secs(60);
        let seen = loop {
            if let Some(t) = arrivals.lock().unwrap().get(&name).copied() {
                break Some(t);
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        match seen {
            Some(t) => reactions.push(t.saturating_duration_since(accepted).as_secs_f64() * 1000.0),
            None => eprintln!("n={n}: {name} was not deployed within 60 s"),
        }
        // Let the previous job's follow-up (status write, progress checks) start first, as a
        // spaced-out spec change would find it.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    arrivals_task.abort();
    reactions.sort_by(f64::total_cmp);
    eprintln!(
        "n={n}: reaction p50 {:.1} ms, p99 {:.1} ms over {}",
        percentile(&reactions, 0.5),
        percentile(&reactions, 0.99),
        reactions.len()
    );

    // Restart: a fresh process lists and re-reconciles everything.
    drop(op);
    let op = start_operator(binary, &kubeconfig, certs);
    let restarted = Instant::now();
    let mut resettle = f64::NAN;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A fresh process: its reconcile count starts at 0.
        if metric(op.admin, RECONCILES).await >= n as f64 {
            resettle = restarted.elapsed().as_secs_f64();
            break;
        }
        if restarted.elapsed() > Duration::from_secs(600) {
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restart_rss = mb(op.pid(), "VmRSS:");
    let restart_peak = mb(op.pid(), "VmHWM:");
    drop(op);
    let text = format!(
        "| {n} | {idle_rss:.1} → {rss:.1} ({anon:.1}) | {peak:.1} | {restart_rss:.1} / {restart_peak:.1} | {threads} | {:.2} | {resettle:.2} | {per_reconcile_us:.0} ({reconciles:.0} in {}s, {idle_cpu_pct:.1}% CPU) | {writes} | {:.1} / {:.1} ({}) | {load_before} |\n",
        settle.as_secs_f64(),
        quiet.as_secs(),
        percentile(&reactions, 0.5),
        percentile(&reactions, 0.99),
        reactions.len(),
    );
    eprint!("{text}");
    Row { n, text }
}

/// RSS and threads of `binary run` against an empty cluster after it has settled.
async fn idle_footprint(label: &str, binary: &Path, dir: &Path, certs: &Path) -> String {
    let kube = kube_api::InMemoryKube::new().await;
    let (addr, _server) = kube.serve().await.unwrap();
    let kubeconfig = dir.join("kubeconfig-idle");
    std::fs::write(&kubeconfig, kube_api::InMemoryKube::kubeconfig(addr)).unwrap();
    let op = start_operator(binary, &kubeconfig, certs);
    wait_up(&op).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pid = op.pid();
    let line = format!(
        "| {label} | {:.1} | {:.1} | {:.1} | {:.1} | {} |\n",
        mb(pid, "VmRSS:"),
        mb(pid, "RssAnon:"),
        mb(pid, "RssFile:"),
        mb(pid, "VmHWM:"),
        proc_field(pid, "Threads:")
    );
    drop(op);
    line
}

/// Size of `binary` and of a copy with its symbols stripped (`strip`), in MB.
fn sizes(label: &str, binary: &Path, dir: &Path) -> String {
    let size = |p: &Path| std::fs::metadata(p).map_or(f64::NAN, |m| m.len() as f64 / 1e6);
    let copy = dir.join("stripped");
    let stripped = std::fs::copy(binary, &copy)
        .ok()
        .and_then(|_| Command::new("strip").arg(&copy).status().ok())
        .filter(|s| s.success())
        .map_or(f64::NAN, |_| size(&copy));
    format!("| {label} | {:.1} | {stripped:.1} |\n", size(binary))
}

/// Rows of the previous results file for counts not measured this time, and its reading section.
fn previous(path: &Path, measured: &[usize]) -> (Vec<Row>, Option<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let rows = text
        .lines()
        .filter_map(|l| {
            let n: usize = l.strip_prefix("| ")?.split(' ').next()?.parse().ok()?;
            (!measured.contains(&n)).then(|| Row {
                n,
                text: format!("{l}\n"),
            })
        })
        .collect();
    let reading = text.find(READING).map(|i| text[i..].to_string());
    (rows, reading)
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs harness-less benches too; only `cargo bench` passes --bench.
    if !std::env::args().any(|a| a == "--bench") {
        println!("controller benchmark: run it with `make bench`");
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let counts: Vec<usize> = std::env::var("BENCH_COUNTS")
        .unwrap_or_else(|_| "100,1000,10000".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let bench_binary = PathBuf::from(env!("CARGO_BIN_EXE_flink-lifecycle"));
    // `make bench` builds the release binary (unstripped, see the Makefile) and copies it aside:
    // the bench profile writes its binary to the same target/release path.
    let release = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/flink-lifecycle.release"
    ));
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let status = Command::new(&bench_binary)
        .args(["certs", "--out"])
        .arg(&certs)
        .args(["--dns", "localhost"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let started = jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC").to_string();
    let load_before = load_average();

    let mut footprint = String::new();
    let mut size_rows = String::new();
    let binaries = [
        ("release (thin LTO; `target/flink-lifecycle.release`)", &release),
        ("bench profile (no LTO; the one measured at scale)", &bench_binary),
    ];
    for (label, binary) in binaries {
        if binary.exists() {
            footprint.push_str(&idle_footprint(label, binary, dir.path(), &certs).await);
            size_rows.push_str(&sizes(label, binary, dir.path()));
        } else {
            eprintln!(
                "{} is missing: run `make bench` to build the release binary",
                binary.display()
            );
        }
    }
    eprint!("{footprint}{size_rows}");

    let mut rows = Vec::new();
    for &n in &counts {
        rows.push(measure(n, &bench_binary, dir.path(), &certs).await);
    }

    let out = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bench-results/controller.md"
    ));
    let (kept, reading) = previous(out, &counts);
    rows.extend(kept);
    rows.sort_by_key(|r| r.n);
    let mut report = format!(
        "# Controller at scale (bench `controller_scale`)\n\n\
         `make bench` ({started}), {}, load average before/after: {load_before} / {}. \
         The optimised `flink-lifecycle run` process (bench profile: release without LTO) against the in-memory \
         Kubernetes API over loopback HTTP, in the same machine as the bench; N FlinkDeployments in steady state \
         (suspended savepoint-mode jobs: no Flink REST calls). Rows of counts not run this time are from earlier runs \
         (their load average is in the last column).\n\n\
         - RSS: resident memory of the operator with an empty cluster → after N resources settled (in brackets its \
         anonymous part, the heap); peak (VmHWM) during \
         the initial list and first reconciles; after a restart (steady / peak).\n\
         - Settle: from the first create (or the restart) until every resource has a lifecycle state (or was \
         reconciled once).\n\
         - CPU per no-op reconcile: the process's CPU time over a 70 s quiet window (one reconcile interval and a bit) \
         divided by the reconciles in it; API writes in the window should be 0.\n\
         - Reaction: {REACTION_SAMPLES} spec changes (suspended → running), from the patch being accepted to the JobManager \
         Deployment's watch event.\n\n\
         | FlinkDeployments | RSS idle → with N (anonymous) (MB) | peak RSS (MB) | RSS after restart / peak (MB) | threads | settle after start (s) | settle after restart (s) | CPU per no-op reconcile (µs) | API writes in quiet window | reaction p50 / p99 (ms, samples) | load average |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        machine(),
        load_average(),
    );
    for r in &rows {
        report.push_str(&r.text);
    }
    report.push_str(
        "\n## Idle footprint\n\n`flink-lifecycle run` (webhook, admin endpoint and controllers) against an empty cluster, 5 s after start. \
         RSS splits into anonymous memory (the heap: private to the process) and file pages (the executable's code and \
         data mapped from the page cache: shared, and reclaimable under memory pressure).\n\n\
         | binary | RSS (MB) | anonymous (MB) | file (MB) | peak RSS (MB) | threads |\n|---|---:|---:|---:|---:|---:|\n",
    );
    report.push_str(&footprint);
    report.push_str(
        "\n## Binary size\n\n`make bench` builds the release profile unstripped; the image ships it stripped (the release profile's \
         `strip = true`). Stripped here with `strip`.\n\n\
         | binary | size (MB) | stripped (MB) |\n|---|---:|---:|\n",
    );
    report.push_str(&size_rows);
    report.push('\n');
    if let Some(reading) = reading {
        report.push_str(&reading);
    }
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(out, report).unwrap();
    println!("wrote {}", out.display());
}
