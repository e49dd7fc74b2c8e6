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
    ApplicationArgs, CounterReport, FLINK_1_20, FLINK_2, FlinkHome, FlinkInstall, LocalCluster, TestJob,
    TestJobArgs,
};
use flink_lifecycle::flink::{
    CancelOutcome, CheckpointStatistics, FlinkError, FlinkRestClient, JarId, JarRunRequest, JobHealthMetrics,
    JobState, OperationStatus, SavepointRequest, SavepointStatus, StopRequest, TriggerId, await_savepoint,
};

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

fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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

impl Ctx {
    async fn wait_state(&mut self, job: &str, want: JobState, label: &str) {
        let started = Instant::now();
        loop {
            match self.client.job_state(job).await {
                Ok(s) if s == want => break,
                Ok(s) if s.is_globally_terminal() => {
                    self.fail(&format!("job {job} ended {s}, expected {want}"))
                }
                Err(e) if started.elapsed() > WAIT => self.fail(&format!("job state: {e}")),
                _ if started.elapsed() > WAIT => self.fail(&format!("job {job} never {want}")),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        self.record(label, started.elapsed());
    }

    async fn await_savepoint(
        &mut self,
        job: &str,
        trigger: &TriggerId,
        label: &str,
        started: Instant,
    ) -> SavepointStatus {
        let status = await_savepoint(&self.client, job, trigger, Duration::from_millis(20), WAIT)
            .await
            .unwrap_or_else(|e| self.fail(&format!("{label}: {e}")));
        self.record(label, started.elapsed());
        status
    }

    async fn wait_stats(
        &mut self,
        job: &str,
        label: &str,
        ok: impl Fn(&CheckpointStatistics) -> bool,
    ) -> CheckpointStatistics {
        let started = Instant::now();
        loop {
            let stats = self.client.checkpoint_statistics(job).await;
            if let Ok(stats) = &stats
                && ok(stats)
            {
                self.record(label, started.elapsed());
                return stats.clone();
            }
            if started.elapsed() > WAIT {
                self.fail(&format!("{label}: {stats:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for a completed checkpoint triggered after `epoch_ms` and returns its path.
    async fn wait_checkpoint_triggered_after(&mut self, job: &str, epoch_ms: i64) -> String {
        let stats = self
            .wait_stats(job, "checkpoint after a point in time", |s| {
                s.latest
                    .completed
                    .as_ref()
                    .is_some_and(|c| c.trigger_timestamp.unwrap_or(0) > epoch_ms && c.external_path.is_some())
            })
            .await;
        stats
            .latest
            .completed
            .and_then(|c| c.external_path)
            .unwrap_or_default()
    }

    /// Waits for a completed checkpoint with an id above `after` and returns (id, path).
    async fn wait_checkpoint_after(&mut self, job: &str, after: i64) -> (i64, String) {
        let started = Instant::now();
        loop {
            let stats = self.client.checkpoint_statistics(job).await;
            if let Ok(stats) = &stats
                && let Some(c) = &stats.latest.completed
                && let (Some(id), Some(path)) = (c.id, c.external_path.clone())
                && id > after
            {
                return (id, path);
            }
            if started.elapsed() > WAIT {
                self.fail(&format!("no checkpoint after {after}: {stats:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_restarts(&mut self, job: &str, at_least: i64) -> i64 {
        let started = Instant::now();
        loop {
            let m = self.client.job_health_metrics(job).await;
            if let Ok(JobHealthMetrics {
                num_restarts: Some(n),
                ..
            }) = m
                && n >= at_least
            {
                self.record("failure -> numRestarts visible", started.elapsed());
                return n;
            }
            if started.elapsed() > WAIT {
                self.fail(&format!("numRestarts never reached {at_least}: {m:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a raw GET body as a parsing fixture when FLINK_LIFECYCLE_CAPTURE_FIXTURES is set.
    async fn capture(&self, name: &str, path: &str) {
        if std::env::var_os("FLINK_LIFECYCLE_CAPTURE_FIXTURES").is_none() {
            return;
        }
        let body = reqwest::get(format!("{}{path}", self.cluster.rest_url()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/flink-rest")
            .join(&self.cluster.home.version);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.json")), body).unwrap();
    }

    fn print_timings(&self) {
        for (what, took) in &self.timings {
            eprintln!("[flink {}] {what}: {took:.2?}", self.cluster.home.version);
        }
    }
}

async fn session_lifecycle(version: &str) {
    let mut ctx = Ctx::session(version).await;
    let overview = ctx.client.cluster_overview().await.expect("overview");
    assert_eq!(overview.flink_version.as_deref(), Some(version));
    assert_eq!(overview.taskmanagers, Some(1));
    let config = ctx.client.dashboard_config().await.expect("config");
    assert_eq!(config.flink_version.as_deref(), Some(version));
    let jm_config = ctx.client.jobmanager_config().await.expect("jobmanager config");
    assert_eq!(
        jm_config.get("rest.port").map(String::as_str),
        Some(ctx.cluster.ports.rest.to_string().as_str())
    );
    ctx.capture("overview", "/overview").await;
    ctx.capture("config", "/config").await;

    // Submit, observe RUNNING and the job's own counter moving from empty state.
    let (args, out) = ctx.job_args("first");
    let job = ctx.submit(&args, None).await;
    ctx.wait_running(&job).await;
    let jobs = ctx.client.jobs_overview().await.expect("jobs overview");
    assert_eq!(jobs.job(&job).map(|j| j.state.clone()), Some(JobState::Running));
    assert_eq!(jobs.job(&job).map(|j| j.name.as_str()), Some("first"));
    let report = wait_counter(&out, "first job counts", |r| r.max >= 5).await;
    assert_eq!(report.restored_min, 0, "a fresh job starts from empty state");
    let (first_cp, first_cp_path) = ctx.wait_checkpoint_after(&job, 0).await;
    assert!(first_cp_path.contains(&job), "{first_cp_path}");
    ctx.capture("jobs-overview", "/jobs/overview").await;
    ctx.capture("job-details-running", &format!("/jobs/{job}")).await;
    ctx.capture("checkpoints-running", &format!("/jobs/{job}/checkpoints"))
        .await;

    // Trigger a savepoint and wait for it; checkpoint statistics show it as latest savepoint.
    let started = Instant::now();
    let trigger = ctx
        .client
        .trigger_savepoint(
            &job,
            &SavepointRequest {
                target_directory: Some(ctx.cluster.savepoint_dir()),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| ctx.fail(&format!("trigger savepoint: {e}")));
    let first_savepoint = match ctx
        .await_savepoint(&job, &trigger, "savepoint trigger -> COMPLETED", started)
        .await
    {
        SavepointStatus::Completed { location } => location,
        other => ctx.fail(&format!("savepoint: {other:?}")),
    };
    ctx.capture(
        "savepoint-status-completed",
        &format!("/jobs/{job}/savepoints/{trigger}"),
    )
    .await;
    // Checkpoint statistics are cached by the REST handler (web.refresh-interval): poll.
    let stats = ctx
        .wait_stats(&job, "savepoint -> visible in checkpoint statistics", |s| {
            s.latest
                .savepoint
                .as_ref()
                .and_then(|s| s.external_path.as_deref())
                == Some(first_savepoint.as_str())
        })
        .await;
    assert!(stats.counts.completed.unwrap_or(0) >= 2, "{:?}", stats.counts);
    assert!(stats.latest_snapshot().map(|s| s.id).unwrap_or(0) > first_cp);
    // An induced failure raises numRestarts; the exception is readable.
    std::fs::write(args.fail_file.as_ref().unwrap(), b"").unwrap();
    ctx.wait_restarts(&job, 1).await;
    ctx.wait_state(&job, JobState::Running, "restart -> RUNNING again")
        .await;
    let details = ctx.client.job_details(&job).await.expect("details");
    assert!(
        details.entered(&JobState::Restarting).is_some(),
        "{:?}",
        details.timestamps
    );
    let exceptions = ctx.client.job_exceptions(&job).await.expect("exceptions");
    let summary = exceptions.latest_summary().unwrap_or_default();
    assert!(summary.contains("induced failure via"), "{summary}");
    ctx.capture("exceptions-after-failure", &format!("/jobs/{job}/exceptions"))
        .await;
    ctx.capture(
        "metrics",
        &format!("/jobs/{job}/metrics?get=numRestarts,fullRestarts,numberOfCompletedCheckpoints"),
    )
    .await;
    ctx.capture(
        "metrics-unknown",
        &format!("/jobs/{job}/metrics?get=noSuchMetric"),
    )
    .await;

    // A savepoint on a restarting job fails cleanly: a typed failure, not a hang.
    let sticky = args.sticky_fail_file.clone().unwrap();
    std::fs::write(&sticky, b"").unwrap();
    ctx.wait_state(&job, JobState::Restarting, "sticky failure -> RESTARTING")
        .await;
    let started = Instant::now();
    let trigger = ctx
        .client
        .trigger_savepoint(&job, &SavepointRequest::default())
        .await
        .unwrap_or_else(|e| ctx.fail(&format!("trigger savepoint while restarting: {e}")));
    match ctx
        .await_savepoint(&job, &trigger, "savepoint while RESTARTING -> Failed", started)
        .await
    {
        SavepointStatus::Failed { cause } => {
            assert!(!cause.is_empty());
            eprintln!("[flink {version}] savepoint while restarting: {cause}");
        }
        other => ctx.fail(&format!("savepoint of a restarting job: {other:?}")),
    }
    ctx.capture(
        "savepoint-status-failed",
        &format!("/jobs/{job}/savepoints/{trigger}"),
    )
    .await;
    std::fs::remove_file(&sticky).unwrap();
    ctx.wait_running(&job).await;

    // Stop-with-savepoint: FINISHED, path returned.
    let mut before_stop = wait_counter(&out, "counting again", |r| r.max >= report.max + 10).await;
    let mut attempts = 0;
    let stop_savepoint = loop {
        attempts += 1;
        if attempts > 1 {
            // A refused stop means a restart was in flight: the attempt now running restored
            // the last checkpoint, which may be behind the counts read before. The counter must
            // continue from what the stopped attempt had, so read it again once that attempt
            // (a newer one, or the same one further on) is counting.
            let previous = before_stop;
            before_stop = wait_counter(&out, "counting after the refused stop", |r| {
                r.max >= r.restored_min + 10 && (r.attempt > previous.attempt || r.max >= previous.max + 10)
            })
            .await;
        }
        let started = Instant::now();
        let trigger = ctx
            .client
            .stop_with_savepoint(
                &job,
                &StopRequest {
                    target_directory: Some(ctx.cluster.savepoint_dir()),
                    drain: false,
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| ctx.fail(&format!("stop: {e}")));
        match ctx
            .await_savepoint(&job, &trigger, "stop-with-savepoint -> COMPLETED", started)
            .await
        {
            SavepointStatus::Completed { location } => break location,
            // A restart still in flight from the sticky failure (the counter file can be ahead
            // of the running attempt): Flink refuses until every task runs, as the operator sees
            // in production and retries.
            SavepointStatus::Failed { cause }
                if attempts < 5 && cause.contains("Not all required tasks are currently running") =>
            {
                eprintln!("[flink {version}] stop-with-savepoint refused while tasks restart; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                ctx.wait_running(&job).await;
            }
            other => ctx.fail(&format!("stop-with-savepoint: {other:?}")),
        }
    };
    ctx.wait_state(&job, JobState::Finished, "stop COMPLETED -> FINISHED")
        .await;
    assert!(
        Path::new(stop_savepoint.trim_start_matches("file:")).is_dir(),
        "{stop_savepoint}"
    );

    // Restore from the savepoint: statistics name it, and the keyed counter continues.
    let (args2, out2) = ctx.job_args("from-savepoint");
    let job2 = ctx.submit(&args2, Some(&stop_savepoint)).await;
    ctx.wait_running(&job2).await;
    let stats = ctx
        .wait_stats(&job2, "restored job -> latest.restored visible", |s| {
            s.restored_path().is_some()
        })
        .await;
    assert_eq!(
        stats.restored_path(),
        Some(stop_savepoint.as_str()),
        "{:?}",
        stats.latest.restored
    );
    let restored = wait_counter(&out2, "restored job sees all keys", |r| r.keys_seen == 4).await;
    assert!(
        restored.restored_min >= before_stop.max - 1,
        "counter restarted instead of continuing: restored {restored:?}, before stop {before_stop:?}"
    );
    ctx.capture("checkpoints-restored", &format!("/jobs/{job2}/checkpoints"))
        .await;

    // Cancel: CANCELED, the retained checkpoint restores and the counter continues again.
    let grown = wait_counter(&out2, "counting after restore", |r| {
        r.max >= restored.restored_min + 20
    })
    .await;
    // The retained checkpoint must cover `grown`: one triggered after it was read (statistics
    // are cached for seconds, so compare trigger times, not "the next id").
    let grown_at = epoch_ms();
    let retained = ctx.wait_checkpoint_triggered_after(&job2, grown_at).await;
    let started = Instant::now();
    let outcome = ctx.client.cancel_job(&job2).await.expect("cancel");
    assert_eq!(outcome, CancelOutcome::Requested);
    ctx.record("cancel (REST call)", started.elapsed());
    ctx.wait_state(&job2, JobState::Canceled, "cancel -> CANCELED")
        .await;
    assert!(
        Path::new(retained.trim_start_matches("file:")).is_dir(),
        "retained checkpoint {retained} gone"
    );
    let (args3, out3) = ctx.job_args("from-checkpoint");
    let job3 = ctx.submit(&args3, Some(&retained)).await;
    ctx.wait_running(&job3).await;
    let stats = ctx
        .wait_stats(&job3, "restored job -> latest.restored visible", |s| {
            s.restored_path().is_some()
        })
        .await;
    assert_eq!(stats.restored_path(), Some(retained.as_str()));
    let from_cp = wait_counter(&out3, "job restored from checkpoint", |r| r.keys_seen == 4).await;
    assert!(
        from_cp.restored_min >= grown.max - 1,
        "restored from checkpoint {from_cp:?}, counter was {grown:?} before it"
    );
    ctx.client.cancel_job(&job3).await.expect("cancel job3");

    // A bad savepoint path is a clear error.
    let (args4, _) = ctx.job_args("bad-savepoint");
    let request = JarRunRequest {
        entry_class: Some(TestJob::MAIN_CLASS.to_string()),
        program_args_list: args4.to_args(),
        savepoint_path: Some("file:///no/such/savepoint-000000-000000000000".into()),
        ..Default::default()
    };
    let started = Instant::now();
    let err = ctx.client.run_jar(&ctx.jar, &request).await.unwrap_err();
    ctx.record("run with bad savepoint -> error", started.elapsed());
    match &err {
        FlinkError::Http {
            status,
            message,
            endpoint,
        } => {
            assert_eq!(*status, 400, "{err}");
            assert!(endpoint.starts_with("POST /jars/"), "{endpoint}");
            assert!(message.contains("/no/such/savepoint"), "{message}");
            eprintln!("[flink {version}] bad savepoint: {err}");
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }

    // Unknown job: 404 with Flink's reason; cancel reports it as JobNotFound.
    let missing = "0123456789abcdef0123456789abcdef";
    let err = ctx.client.job_details(missing).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(
        ctx.client.cancel_job(missing).await.expect("cancel missing"),
        CancelOutcome::JobNotFound
    );

    // Restarts exhausted: FAILED, with the failure readable from the exception history.
    let (args5, _) = ctx.job_args("doomed");
    std::fs::write(args5.sticky_fail_file.as_ref().unwrap(), b"").unwrap();
    let request = JarRunRequest {
        entry_class: Some(TestJob::MAIN_CLASS.to_string()),
        program_args_list: args5.to_args(),
        flink_configuration: BTreeMap::from([
            ("restart-strategy.type".to_string(), "fixed-delay".to_string()),
            (
                "restart-strategy.fixed-delay.attempts".to_string(),
                "2".to_string(),
            ),
            (
                "restart-strategy.fixed-delay.delay".to_string(),
                "200 ms".to_string(),
            ),
        ]),
        ..Default::default()
    };
    let doomed = ctx
        .client
        .run_jar(&ctx.jar, &request)
        .await
        .expect("run doomed")
        .job_id;
    ctx.wait_state(&doomed, JobState::Failed, "restarts exhausted -> FAILED")
        .await;
    let exceptions = ctx.client.job_exceptions(&doomed).await.expect("exceptions");
    let summary = exceptions.latest_summary().unwrap_or_default();
    assert!(summary.contains("induced sticky failure"), "{summary}");
    assert!(
        exceptions.history.entries.len() >= 2,
        "{:?}",
        exceptions.history.entries.len()
    );
    ctx.capture("exceptions-failed", &format!("/jobs/{doomed}/exceptions"))
        .await;
    ctx.capture("job-details-failed", &format!("/jobs/{doomed}"))
        .await;
    ctx.capture("job-not-found", &format!("/jobs/{missing}")).await;

    // Dispose the first savepoint through the cluster.
    let started = Instant::now();
    let trigger = ctx
        .client
        .dispose_savepoint(&first_savepoint)
        .await
        .expect("dispose");
    loop {
        match ctx
            .client
            .disposal_status(&trigger)
            .await
            .expect("disposal status")
        {
            OperationStatus::InProgress if started.elapsed() < WAIT => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            OperationStatus::Completed => break,
            other => ctx.fail(&format!("disposal: {other:?}")),
        }
    }
    ctx.record("savepoint disposal -> COMPLETED", started.elapsed());
    assert!(!Path::new(first_savepoint.trim_start_matches("file:")).exists());

    measure_overhead(&mut ctx, &job3).await;
    ctx.client.delete_jar(&ctx.jar).await.expect("delete jar");
    ctx.print_timings();

    // The session cluster stops; its run dir (and the stop savepoint) stays until `ctx` drops.
    ctx.cluster.stop();
    application_cluster(&ctx, &stop_savepoint, &before_stop).await;
}

/// Application mode, as the reconciler deploys it: standalone-job with a fixed job id, restoring
/// `--fromSavepoint`, JobManager kept after the job finishes.
async fn application_cluster(session: &Ctx, savepoint: &str, before: &CounterReport) {
    let version = session.cluster.home.version.clone();
    let job_id = "00000000000000000000000000000a11";
    let out = session.run_dir().join("out").join("application");
    let app = ApplicationArgs {
        jar: TestJob::jar(&session.cluster.home).unwrap(),
        entry_class: TestJob::MAIN_CLASS.to_string(),
        job_id: Some(job_id.to_string()),
        from_savepoint: Some(savepoint.to_string()),
        allow_non_restored_state: false,
        dynamic_properties: BTreeMap::from([(
            "execution.shutdown-on-application-finish".to_string(),
            "false".to_string(),
        )]),
        job_args: TestJobArgs {
            name: Some("application".into()),
            out_dir: Some(out.clone()),
            keys: Some(4),
            rate: Some(200),
            // Slow snapshots keep a checkpoint in flight most of the time.
            snapshot_delay_ms: Some(1500),
            ..Default::default()
        }
        .to_args(),
    };
    let started = Instant::now();
    let cluster = LocalCluster::start_application(&session.cluster.home, &BTreeMap::new(), &app)
        .await
        .unwrap_or_else(|e| panic!("Flink {version} application cluster did not start: {e}"));
    let start_took = started.elapsed();
    let client = cluster.client();
    let fail =
        |what: String| -> ! { panic!("Flink {version} application: {what}\n{}", cluster.logs_tail(30)) };
    loop {
        match client.job_details(job_id).await {
            Ok(d) if d.state == JobState::Running && d.all_vertices_running() => break,
            _ if started.elapsed() > WAIT * 2 => fail(format!("job {job_id} not RUNNING")),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let running_took = started.elapsed();
    let restored = wait_counter(&out, "application job sees all keys", |r| r.keys_seen == 4).await;
    assert!(
        restored.restored_min >= before.max - 1,
        "application job did not continue the counter: {restored:?} vs {before:?}"
    );
    let stats = client.checkpoint_statistics(job_id).await.expect("stats");
    assert_eq!(stats.restored_path(), Some(savepoint));

    // An in-flight checkpoint is visible as such (history head IN_PROGRESS, counted).
    let started = Instant::now();
    loop {
        let stats = client.checkpoint_statistics(job_id).await.expect("stats");
        if let Some(in_flight) = stats.in_progress() {
            assert!(in_flight.id.is_some());
            assert!(stats.counts.in_progress.unwrap_or(0) >= 1, "{:?}", stats.counts);
            break;
        }
        if started.elapsed() > WAIT {
            fail(format!(
                "never saw a checkpoint in progress: {:?}",
                stats.history.first()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Stop with drain: FINISHED, and the JobManager stays to report it.
    let started = Instant::now();
    let trigger = client
        .stop_with_savepoint(
            job_id,
            &StopRequest {
                drain: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| fail(format!("stop: {e}")));
    match await_savepoint(&client, job_id, &trigger, Duration::from_millis(20), WAIT).await {
        Ok(SavepointStatus::Completed { location }) => {
            assert!(location.contains("/savepoints/"), "{location}")
        }
        other => fail(format!("stop-with-savepoint (drain): {other:?}")),
    }
    let stop_took = started.elapsed();
    loop {
        match client.job_state(job_id).await {
            Ok(JobState::Finished) => break,
            _ if started.elapsed() > WAIT => fail("not FINISHED after stop".into()),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(
        client.cluster_overview().await.is_ok(),
        "JobManager left after the job finished"
    );
    eprintln!("[flink {version}] application cluster start -> TM registered: {start_took:.2?}");
    eprintln!("[flink {version}] application cluster start -> job RUNNING: {running_took:.2?}");
    eprintln!("[flink {version}] application stop-with-savepoint (drain) -> COMPLETED: {stop_took:.2?}");
}

/// Client call time (request + typed parsing + error mapping) vs a bare HTTP GET of the same
/// endpoint with reqwest, interleaved after a warm-up so both use warm connections.
async fn measure_overhead(ctx: &mut Ctx, job: &str) {
    const N: u32 = 20;
    let url = format!("{}/jobs/{job}/checkpoints", ctx.cluster.rest_url());
    let raw = reqwest::Client::new();
    let (mut raw_time, mut client_time) = (Duration::ZERO, Duration::ZERO);
    for round in 0..N + 2 {
        let started = Instant::now();
        raw.get(&url).send().await.unwrap().bytes().await.unwrap();
        let raw_took = started.elapsed();
        let started = Instant::now();
        ctx.client.checkpoint_statistics(job).await.unwrap();
        let client_took = started.elapsed();
        if round >= 2 {
            raw_time += raw_took;
            client_time += client_took;
        }
    }
    ctx.record(
        "GET /jobs/<id>/checkpoints, bare reqwest (mean of 20)",
        raw_time / N,
    );
    ctx.record(
        "GET /jobs/<id>/checkpoints, client incl. parsing (mean of 20)",
        client_time / N,
    );
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
    let options = FlinkClientOptions::with_timeout(timeout);

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
