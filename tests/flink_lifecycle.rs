//! The Flink REST client against real Flink clusters (1.20.x and the newest 2.x), started by the
//! project's own harness (`tests/support/flink.rs`). Each version reuses one session cluster for
//! several scenarios, run in sequence; an application cluster covers restore at startup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/flink.rs"]
mod flink;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flink::{
    CounterReport, FLINK_1_20, FLINK_2, FlinkHome, FlinkInstall, LocalCluster, TestJob, TestJobArgs,
};
use flink_lifecycle::flink::{FlinkRestClient, JarId, JarRunRequest, JobState};

const WAIT: Duration = Duration::from_secs(60);

/// Everything a scenario needs: the cluster, a client, the uploaded jar and a timing log.
struct Ctx {
    cluster: LocalCluster,
    client: FlinkRestClient,
    jar: JarId,
    timings: Vec<(String, Duration)>,
}

impl Ctx {
    async fn session(version: &str) -> Self {
        let mut timings = Vec::new();
        let started = Instant::now();
        let home = install(version);
        let jar_path = TestJob::jar(&home).unwrap_or_else(|e| panic!("test job: {e}"));
        timings.push(("install + build job (cached)".to_string(), started.elapsed()));
        let started = Instant::now();
        let cluster = LocalCluster::start_session(&home, &BTreeMap::new())
            .await
            .unwrap_or_else(|e| panic!("Flink {version} session cluster did not start: {e}"));
        timings.push((
            "session cluster start -> TM registered".to_string(),
            started.elapsed(),
        ));
        let client = cluster.client();
        let started = Instant::now();
        let jar = client.upload_jar(&jar_path).await.expect("jar upload");
        timings.push(("upload jar".to_string(), started.elapsed()));
        Self {
            cluster,
            client,
            jar,
            timings,
        }
    }

    fn record(&mut self, what: &str, took: Duration) {
        self.timings.push((what.to_string(), took));
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "Flink {}: {what}\n{}",
            self.cluster.home.version,
            self.cluster.logs_tail(30)
        )
    }

    fn run_dir(&self) -> &Path {
        &self.cluster.run_dir
    }

    fn job_args(&self, name: &str) -> (TestJobArgs, PathBuf) {
        let out = self.run_dir().join("out").join(name);
        (
            TestJobArgs {
                name: Some(name.to_string()),
                out_dir: Some(out.clone()),
                fail_file: Some(self.run_dir().join(format!("{name}.fail-once"))),
                sticky_fail_file: Some(self.run_dir().join(format!("{name}.fail-always"))),
                keys: Some(4),
                rate: Some(200),
                ..Default::default()
            },
            out,
        )
    }

    async fn submit(&mut self, args: &TestJobArgs, savepoint: Option<&str>) -> String {
        let started = Instant::now();
        let request = JarRunRequest {
            entry_class: Some(TestJob::MAIN_CLASS.to_string()),
            program_args_list: args.to_args(),
            parallelism: Some(1),
            savepoint_path: savepoint.map(str::to_string),
            allow_non_restored_state: savepoint.map(|_| false),
            ..Default::default()
        };
        let run = self
            .client
            .run_jar(&self.jar, &request)
            .await
            .unwrap_or_else(|e| self.fail(&format!("run_jar: {e}")));
        self.record("run jar (REST call)", started.elapsed());
        run.job_id
    }

    /// Polls job details until the job and all its vertices are RUNNING.
    async fn wait_running(&mut self, job: &str) {
        let started = Instant::now();
        loop {
            match self.client.job_details(job).await {
                Ok(d) if d.state == JobState::Running && d.all_vertices_running() => break,
                Ok(d) if d.state.is_globally_terminal() => {
                    self.fail(&format!("job {job} ended {} instead of RUNNING", d.state))
                }
                _ if started.elapsed() > WAIT => self.fail(&format!("job {job} not RUNNING")),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        self.record("submit -> all tasks RUNNING", started.elapsed());
    }
}

fn install(version: &str) -> FlinkHome {
    FlinkInstall::ensure(version).unwrap_or_else(|e| panic!("Flink {version} could not be installed: {e}"))
}

async fn wait_counter(out: &Path, what: &str, ok: impl Fn(&CounterReport) -> bool) -> CounterReport {
    let started = Instant::now();
    loop {
        if let Some(r) = CounterReport::read(out)
            && ok(&r)
        {
            return r;
        }
        assert!(
            started.elapsed() < WAIT,
            "{what}: counter report in {} is {:?}",
            out.display(),
            CounterReport::read(out)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn session_lifecycle(version: &str) {
    let mut ctx = Ctx::session(version).await;
    let overview = ctx.client.cluster_overview().await.expect("overview");
    assert_eq!(overview.flink_version.as_deref(), Some(version));
    assert_eq!(overview.taskmanagers, Some(1));
    let config = ctx.client.dashboard_config().await.expect("config");
    assert_eq!(config.flink_version.as_deref(), Some(version));

    // Submit, observe RUNNING and the job's own counter moving.
    let (args, out) = ctx.job_args("first");
    let job = ctx.submit(&args, None).await;
    ctx.wait_running(&job).await;
    let jobs = ctx.client.jobs_overview().await.expect("jobs overview");
    assert_eq!(jobs.job(&job).map(|j| j.state.clone()), Some(JobState::Running));
    assert_eq!(jobs.job(&job).map(|j| j.name.as_str()), Some("first"));
    let report = wait_counter(&out, "first job counts", |r| r.max >= 5).await;
    assert_eq!(report.restored_min, 0, "a fresh job starts from empty state");

    for (what, took) in &ctx.timings {
        eprintln!("[flink {version}] {what}: {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flink_1_20_session_lifecycle() {
    session_lifecycle(FLINK_1_20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flink_2_session_lifecycle() {
    session_lifecycle(FLINK_2).await;
}

/// Connection refused (nothing listens) and a silent peer (accepts, never answers) are both
/// `Unreachable`, returned within the client timeout, retries included.
#[tokio::test]
async fn rest_unreachable_is_a_typed_error_within_the_timeout() {
    use flink_lifecycle::flink::{FlinkClientOptions, FlinkError, UnreachableKind};
    let timeout = Duration::from_millis(800);
    let options = FlinkClientOptions {
        timeout,
        ..Default::default()
    };

    let closed_port = flink::free_port();
    let client = FlinkRestClient::new(&format!("http://127.0.0.1:{closed_port}"), options).unwrap();
    let started = Instant::now();
    let err = client.jobs_overview().await.unwrap_err();
    assert!(
        started.elapsed() < timeout + Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    match &err {
        FlinkError::Unreachable { kind, endpoint, .. } => {
            assert_eq!(*kind, UnreachableKind::Connect, "{err}");
            assert_eq!(endpoint, "GET /jobs/overview");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(err.to_string().contains("unreachable"), "{err}");

    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    let client = FlinkRestClient::new(&format!("http://{addr}"), options).unwrap();
    let started = Instant::now();
    let err = client
        .job_details("00000000000000000000000000000000")
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= timeout - Duration::from_millis(50) && took < timeout + Duration::from_millis(300),
        "{took:?}"
    );
    assert!(
        matches!(
            err,
            FlinkError::Unreachable {
                kind: UnreachableKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    // A non-idempotent call is not retried either and also ends within the timeout.
    let started = Instant::now();
    let err = client
        .cancel_job("00000000000000000000000000000000")
        .await
        .unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert!(started.elapsed() < timeout + Duration::from_millis(300));
    hold.abort();
}
