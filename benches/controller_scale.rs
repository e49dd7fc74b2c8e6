//! `make bench`: the operator process at scale. The real `flink-lifecycle run` binary is started
//! against the in-memory Kubernetes API (served over loopback HTTP) holding N FlinkDeployments in
//! steady state; the bench measures its resident memory and threads, the time to settle after a
//! (re)start, CPU per no-op reconcile, and the reaction time from a spec change to the first
//! lifecycle action (the JobManager Deployment appearing). Results go to
//! `bench-results/controller.md`. Counts: `BENCH_COUNTS=100,1000` (default 100,1000,10000).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/kube_api/mod.rs"]
mod kube_api;

use flink_lifecycle::api::FlinkDeployment;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// utime + stime in clock ticks (100 Hz on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
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

fn start_operator(kubeconfig: &std::path::Path, certs: &std::path::Path) -> Operator {
    let admin = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_flink-lifecycle"))
        .args([
            "run",
            "--leader-election",
            "false",
            "--webhook-addr",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .args(["--admin-addr", &format!("127.0.0.1:{admin}"), "--tls-dir"])
        .arg(certs)
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start flink-lifecycle run");
    Operator { child, admin }
}

async fn settled(api: &Api<FlinkDeployment>, n: usize, since: Instant) -> Duration {
    loop {
        let list = api.list(&ListParams::default()).await.unwrap();
        let done = list
            .items
            .iter()
            .filter(|d| d.status.as_ref().and_then(|s| s.lifecycle_state).is_some())
            .count();
        if done >= n {
            return since.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs harness-less benches too; only `cargo bench` passes --bench.
    if !std::env::args().any(|a| a == "--bench") {
        println!("controller benchmark: run it with `make bench`");
        return;
    }
    let quiet = Duration::from_secs(70);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let default_counts = "100,1000,10000";
    let counts: Vec<usize> = std::env::var("BENCH_COUNTS")
        .unwrap_or_else(|_| default_counts.into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let status = Command::new(env!("CARGO_BIN_EXE_flink-lifecycle"))
        .args(["certs", "--out"])
        .arg(&certs)
        .args(["--dns", "localhost"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mut report = String::from(
        "# Controller at scale (bench `controller_scale`)\n\n\
         The release `flink-lifecycle run` process against the in-memory Kubernetes API over loopback HTTP;\n\
         N FlinkDeployments in steady state (suspended savepoint-mode jobs: no Flink REST calls).\n\n\
         | FlinkDeployments | RSS idle → with N (MB) | threads | settle after start (s) | settle after restart (s) | CPU per no-op reconcile (µs) | reaction p50 / p99 (ms) |\n|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for n in counts {
        let kube = kube_api::InMemoryKube::new().await;
        let (addr, _server) = kube.serve().await.unwrap();
        let kubeconfig = dir.path().join(format!("kubeconfig-{n}"));
        std::fs::write(&kubeconfig, kube_api::InMemoryKube::kubeconfig(addr)).unwrap();
        let api: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");

        let op = start_operator(&kubeconfig, &certs);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let pid = op.child.id();
        let idle_rss = proc_field(pid, "VmRSS:") as f64 / 1024.0;
        let started = Instant::now();
        for i in 0..n {
            api.create(&PostParams::default(), &deployment(i)).await.unwrap();
        }
        let settle = settled(&api, n, started).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = proc_field(pid, "VmRSS:") as f64 / 1024.0;
        let threads = proc_field(pid, "Threads:");

        // CPU per no-op reconcile over a quiet window (requeues at the reconcile interval).
        let (t0, r0) = (
            cpu_ticks(pid),
            metric(op.admin, "flink_lifecycle_reconcile_duration_seconds_count").await,
        );
        tokio::time::sleep(quiet).await;
        let (t1, r1) = (
            cpu_ticks(pid),
            metric(op.admin, "flink_lifecycle_reconcile_duration_seconds_count").await,
        );
        let per_reconcile_us = if r1 > r0 {
            (t1 - t0) as f64 * 10_000.0 / (r1 - r0)
        } else {
            f64::NAN
        };

        // Reaction: resume one job; the first action is its JobManager Deployment.
        let deps: Api<Deployment> = Api::namespaced(kube.client(), "default");
        let mut reactions = Vec::new();
        for i in 0..20.min(n) {
            let name = format!("job-{i}");
            let t = Instant::now();
            api.patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"job": {"state": "running"}}})),
            )
            .await
            .unwrap();
            while deps.get_opt(&name).await.unwrap().is_none() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            reactions.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        reactions.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            reactions
                .get(((reactions.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };

        // Restart: a fresh process lists and re-reconciles everything.
        drop(op);
        let op = start_operator(&kubeconfig, &certs);
        let restarted = Instant::now();
        let before = metric(op.admin, "flink_lifecycle_reconcile_duration_seconds_count").await;
        let mut resettle = Duration::ZERO;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let done = metric(op.admin, "flink_lifecycle_reconcile_duration_seconds_count").await - before;
            if done >= n as f64 {
                resettle = restarted.elapsed();
                break;
            }
            if restarted.elapsed() > Duration::from_secs(600) {
                break;
            }
        }
        let line = format!(
            "| {n} | {idle_rss:.1} → {rss:.1} | {threads} | {:.2} | {:.2} | {per_reconcile_us:.0} | {:.1} / {:.1} |\n",
            settle.as_secs_f64(),
            resettle.as_secs_f64(),
            pct(0.5),
            pct(0.99)
        );
        print!("{line}");
        report.push_str(&line);
        drop(op);
    }
    std::fs::create_dir_all("bench-results").unwrap();
    let mut f = std::fs::File::create("bench-results/controller.md").unwrap();
    f.write_all(report.as_bytes()).unwrap();
}
