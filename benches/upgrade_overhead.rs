//! `make bench`: what an upgrade costs on REAL Flink (1.20, standalone application clusters run
//! by the test kubelet as local processes, the operator against the in-memory Kubernetes API with
//! the reference's default timings), split into Flink's own work, read from Flink's timestamps,
//! and the time the operator adds. Per upgrade mode, `UPGRADE_RUNS` (default 3) upgrades:
//!
//! - total: the spec patch accepted → the new job RUNNING (Flink's timestamp);
//! - Flink stop: savepoint mode, the stop-with-savepoint from the trigger the operator recorded
//!   to the job's end-time; last-state without HA, the cancel (CANCELLING → CANCELED);
//! - cluster start: the new JobManager launched → the new job RUNNING (JVM start, job
//!   submission, TaskManager registration and scheduling: what a pod start and Flink cost);
//! - operator: total − Flink stop − cluster start: deciding, recording status, polling, deleting
//!   and creating Kubernetes objects, and for cancel-based last-state the deliberate wait for
//!   Flink's checkpoint statistics to include the job's end;
//! - status lag: the new job RUNNING → the resource's status says STABLE.
//!
//! Writes bench-results/upgrade.md.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../tests/support/argo_history.rs"]
mod argo_history;
#[path = "../tests/support/e2e.rs"]
mod e2e;
#[path = "../tests/support/flink.rs"]
mod flink;
#[path = "../tests/support/flink_runtime.rs"]
mod flink_runtime;
#[path = "../tests/install/mod.rs"]
mod install;
#[path = "../tests/support/kube_api/mod.rs"]
mod kube_api;
#[path = "../tests/support/kubelet.rs"]
mod kubelet;
#[path = "../tests/support/status_of.rs"]
mod status_of;

use e2e::{Env, job_id, stable_with_new_job};
use flink::{FLINK_1_20, TestJob};
use flink_lifecycle::config::OperatorConfig;
use flink_lifecycle::flink::JobState;
use serde_json::json;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

#[derive(Clone, Copy, Debug, Default)]
struct Split {
    total: i64,
    flink_stop: i64,
    cluster_start: i64,
    operator: i64,
    status_lag: i64,
    /// Stop-with-savepoint attempts Flink refused (savepoint mode): each retry is recorded under
    /// a new trigger id before it is sent, so this is the number of trigger ids seen, minus one.
    refused: i64,
}

/// One upgrade of `name`, sampled every 50 ms.
async fn upgrade(env: &Env, name: &str, round: usize, savepoint: bool) -> Split {
    let before = env.deployments().get(name).await.unwrap();
    let old = job_id(&before);
    let old_rest = env.flink(name);
    let launches_before = env.kubelet.launches_of(name, "jobmanager");
    let patched = now_ms();
    env.patch_spec(
        name,
        json!({"job": {"args": ["--name", name, "--out-dir", env.path(&format!("{name}/out-{round}"))]}}),
    )
    .await;
    let (mut stop_started, mut stop_done) = (None, None);
    let mut launched = None;
    let mut triggers = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let stable = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "upgrade {round} of {name} did not finish"
        );
        if launched.is_none() {
            if !savepoint && let Ok(details) = old_rest.job_details(&old).await {
                stop_started = details.entered(&JobState::Cancelling).or(stop_started);
                stop_done = details.entered(&JobState::Canceled).or(stop_done);
            }
            // Checkpoint statistics are cached (web.refresh-interval): the stop is timed from the
            // trigger the operator recorded to the end-time Flink's uncached job overview reports.
            if savepoint {
                let status = env.deployments().get(name).await.unwrap().status;
                let trigger = status
                    .as_ref()
                    .and_then(|s| s.job_status.as_ref())
                    .and_then(|j| j.savepoint_info.as_ref())
                    .and_then(|i| i.trigger_timestamp);
                stop_started = stop_started.or(trigger);
                if let Some(id) = status
                    .as_ref()
                    .and_then(|s| s.job_status.as_ref())
                    .and_then(|j| j.savepoint_info.as_ref())
                    .and_then(|i| i.trigger_id.clone())
                {
                    triggers.insert(id);
                }
                if let Ok(jobs) = old_rest.jobs_overview().await
                    && let Some(end) = jobs.job(&old).and_then(|j| j.end_time).filter(|t| *t > 0)
                {
                    stop_done = Some(end);
                }
            }
            if env.kubelet.launches_of(name, "jobmanager") > launches_before {
                launched = Some(now_ms());
            }
        }
        let d = env.deployments().get(name).await.unwrap();
        if stable_with_new_job(&old)(&d) {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stable_at = now_ms();
    let details = env.flink(name).job_details(&job_id(&stable)).await.unwrap();
    let running = details.entered(&JobState::Running).expect("RUNNING timestamp");
    let flink_stop = match (stop_started, stop_done) {
        (Some(a), Some(b)) if b >= a => b - a,
        _ => 0,
    };
    let cluster_start = launched.map_or(0, |l| running - l);
    let total = running - patched;
    Split {
        total,
        flink_stop,
        cluster_start,
        operator: total - flink_stop - cluster_start,
        status_lag: stable_at - running,
        refused: i64::try_from(triggers.len().saturating_sub(1)).unwrap(),
    }
}

fn median(mut v: Vec<i64>) -> i64 {
    v.sort_unstable();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo test --all-targets` runs harness-less benches too; only `cargo bench` passes --bench.
    if !std::env::args().any(|a| a == "--bench") {
        println!("upgrade benchmark: run it with `make bench`");
        return;
    }
    // RUST_LOG=flink_lifecycle=debug shows each plan's step and reasons.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let runs: usize = std::env::var("UPGRADE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut env = Env::start(FLINK_1_20).await;
    // The reference's default timings (progress check 10 s, reconcile 60 s), not the tests' fast ones.
    env.kill_operator();
    env.operator = OperatorConfig::default();
    env.start_operator();
    let mut report = String::new();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    writeln!(
        report,
        "# Upgrade overhead on real Flink\n\n`make bench` (`benches/upgrade_overhead.rs`), {} UTC, {} cores, load average {}. \
         Flink {FLINK_1_20} standalone application clusters run as local processes by the test kubelet; the operator \
         with the default operator configuration (progress check 10 s) against the in-memory Kubernetes API; \
         {runs} upgrades per mode (a changed job argument), medians in ms.\n",
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M"),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
    .unwrap();
    writeln!(
        report,
        "| upgrade | total | Flink stop | cluster start | operator | status lag | savepoints refused (all runs) |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    .unwrap();
    let modes = std::env::var("UPGRADE_MODES").unwrap_or_else(|_| "savepoint,last-state".into());
    for (mode, savepoint) in [("savepoint", true), ("last-state", false)] {
        if !modes.split(',').any(|m| m.trim() == mode) {
            continue;
        }
        let name = if savepoint { "sp" } else { "ls" };
        let mut spec = env.application(name, "v1_20", mode);
        spec["spec"]["job"]["args"] =
            json!(["--name", name, "--out-dir", env.path(&format!("{name}/out-0"))]);
        spec["spec"]["job"]["entryClass"] = json!(TestJob::MAIN_CLASS);
        env.create(&spec).await;
        env.wait_stable_running(name).await;
        let mut splits = Vec::new();
        for round in 1..=runs {
            // Let a checkpoint complete first, as in production.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let s = upgrade(&env, name, round, savepoint).await;
            eprintln!("{mode} upgrade {round}: {s:?}");
            splits.push(s);
        }
        let m = |f: fn(&Split) -> i64| median(splits.iter().map(f).collect());
        writeln!(
            report,
            "| {mode}{} | {} | {} | {} | {} | {} | {} |",
            if savepoint {
                ""
            } else {
                " (no HA: cancel + last checkpoint)"
            },
            m(|s| s.total),
            m(|s| s.flink_stop),
            m(|s| s.cluster_start),
            m(|s| s.operator),
            m(|s| s.status_lag),
            if savepoint {
                splits.iter().map(|s| s.refused).sum::<i64>().to_string()
            } else {
                "—".to_string()
            }
        )
        .unwrap();
    }
    writeln!(
        report,
        "\nTarget: the operator adds <= 1 s to a savepoint upgrade over Flink's own time. The operator column holds \
         the wall time outside Flink's work: reading and deciding, status writes, the JobManager Deployment's deletion \
         and creation through the API, and the polls of pending operations (after 250 ms, then a quarter of the \
         operation's age). For last-state without HA it also holds the deliberate wait for Flink's checkpoint \
         statistics to include the cancelled job's end (the JobManager's statistics cache + 1 s: 500 ms as rendered for \
         Flink >= 1.18, 3 s by default), which keeps a subsumed \
         checkpoint from being chosen."
    )
    .unwrap();
    print!("{report}");
    std::fs::create_dir_all("bench-results").unwrap();
    // The generated part is rewritten; the written sections after it (`## ...`) are kept.
    let written = std::fs::read_to_string("bench-results/upgrade.md").unwrap_or_default();
    let kept = written.find("\n## ").map_or("", |at| &written[at..]);
    std::fs::write("bench-results/upgrade.md", format!("{report}{kept}")).unwrap();
}
