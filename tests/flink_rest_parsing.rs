//! The client's response types against REST bodies captured from real Flink 1.20.5 and 2.3.0
//! (`tests/fixtures/flink-rest/<version>/`, written by `tests/flink_lifecycle.rs` with
//! `FLINK_LIFECYCLE_CAPTURE_FIXTURES=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use flink_lifecycle::flink::error::flink_error_text;
use flink_lifecycle::flink::{
    CheckpointStatistics, ClusterOverview, DashboardConfig, JobDetails, JobExceptions, JobHealthMetrics,
    JobState, JobsOverview, MetricValues, SavepointStatus,
};
use serde::de::DeserializeOwned;

const VERSIONS: [&str; 2] = ["1.20.5", "2.3.0"];

fn fixture(version: &str, name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/flink-rest", version]
        .iter()
        .collect::<PathBuf>()
        .join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse<T: DeserializeOwned>(version: &str, name: &str) -> T {
    serde_json::from_slice(&fixture(version, name)).unwrap_or_else(|e| panic!("{version}/{name}.json: {e}"))
}

#[test]
fn cluster_overview_and_config() {
    for v in VERSIONS {
        let o: ClusterOverview = parse(v, "overview");
        assert_eq!(o.flink_version.as_deref(), Some(v));
        assert_eq!(o.taskmanagers, Some(1));
        assert_eq!(o.slots_total, Some(2));
        let c: DashboardConfig = parse(v, "config");
        assert_eq!(c.flink_version.as_deref(), Some(v));
        assert!(c.flink_revision.is_some());
    }
}

#[test]
fn jobs_overview_and_details() {
    for v in VERSIONS {
        let o: JobsOverview = parse(v, "jobs-overview");
        let job = o.jobs.first().expect("one job");
        assert_eq!(job.state, JobState::Running, "{v}");
        assert_eq!(job.jid.len(), 32);
        assert_eq!(job.end_time, Some(-1));
        assert!(job.start_time.unwrap_or(0) > 0);
        assert_eq!(o.job(&job.jid).map(|j| j.name.as_str()), Some("first"));

        let d: JobDetails = parse(v, "job-details-running");
        assert_eq!(d.state, JobState::Running);
        assert!(d.all_vertices_running(), "{v}: {:?}", d.vertices);
        assert_eq!(d.vertices.len(), 2, "{v}: source and keyed-counter chain");
        assert!(d.now.unwrap_or(0) >= d.start_time.unwrap_or(i64::MAX));
        assert!(d.entered(&JobState::Running).is_some());
        assert_eq!(d.entered(&JobState::Failed), None, "0 means never");
        // 2.x adds application-id; 1.x has none.
        assert_eq!(d.application_id.is_some(), v.starts_with('2'), "{v}");

        let failed: JobDetails = parse(v, "job-details-failed");
        assert_eq!(failed.state, JobState::Failed);
        assert!(failed.state.is_globally_terminal());
        assert!(failed.entered(&JobState::Failed).is_some());
    }
}

#[test]
fn checkpoint_statistics_of_a_running_and_a_restored_job() {
    for v in VERSIONS {
        let s: CheckpointStatistics = parse(v, "checkpoints-running");
        assert!(s.counts.completed.unwrap_or(0) >= 1, "{v}: {:?}", s.counts);
        let completed = s.latest.completed.as_ref().expect("latest completed");
        assert_eq!(completed.status, "COMPLETED");
        assert!(!completed.is_savepoint);
        assert!(completed.external_path.as_deref().unwrap_or("").contains("/chk-"));
        assert!(s.latest.restored.is_none(), "{v}: a fresh job restored nothing");
        let latest = s.latest_snapshot().expect("latest snapshot");
        assert_eq!(Some(latest.id), completed.id);

        let r: CheckpointStatistics = parse(v, "checkpoints-restored");
        let restored = r.latest.restored.as_ref().expect("restored");
        assert!(
            restored.is_savepoint,
            "{v}: NO_CLAIM restore reports is_savepoint"
        );
        assert!(r.restored_path().unwrap_or("").contains("/savepoints/savepoint-"));
        assert_eq!(r.counts.restored, Some(1));
        // The newest snapshot is at least the restored one (ids continue from it).
        assert!(r.latest_snapshot().map(|l| l.id) >= restored.id);
    }
}

#[test]
fn savepoint_status_completed_and_failed() {
    for v in VERSIONS {
        match SavepointStatus::from_json(&fixture(v, "savepoint-status-completed")) {
            Ok(SavepointStatus::Completed { location }) => {
                assert!(location.contains("/savepoints/savepoint-"), "{location}")
            }
            other => panic!("{v}: {other:?}"),
        }
        // Flink says COMPLETED, with a failure-cause: a failure here.
        match SavepointStatus::from_json(&fixture(v, "savepoint-status-failed")) {
            Ok(SavepointStatus::Failed { cause }) => {
                assert!(cause.contains("is not being executed at the moment"), "{cause}");
                assert!(!cause.contains("\tat "), "stack frames are trimmed: {cause}");
            }
            other => panic!("{v}: {other:?}"),
        }
    }
}

#[test]
fn exceptions_in_both_shapes() {
    for v in VERSIONS {
        let e: JobExceptions = parse(v, "exceptions-after-failure");
        assert!(!e.history.entries.is_empty());
        let summary = e.latest_summary().unwrap_or_default();
        assert!(summary.contains("induced failure via"), "{v}: {summary}");
        // 1.x still has root-exception; 2.x removed it.
        assert_eq!(e.root_exception.is_some(), v.starts_with('1'), "{v}");

        let failed: JobExceptions = parse(v, "exceptions-failed");
        let all: Vec<String> = failed.history.entries.iter().map(|x| x.summary()).collect();
        assert!(
            all.iter().any(|s| s.contains("induced sticky failure")),
            "{v}: {all:?}"
        );
    }
}

#[test]
fn metrics_known_and_unknown() {
    for v in VERSIONS {
        let m = MetricValues::from_json(&fixture(v, "metrics")).unwrap();
        let health = JobHealthMetrics::from_values(&m);
        assert_eq!(health.num_restarts, Some(1), "{v}");
        assert!(health.completed_checkpoints.unwrap_or(0) >= 1);
        // fullRestarts exists in 1.x only.
        assert_eq!(m.get("fullRestarts").is_some(), v.starts_with('1'), "{v}");

        let unknown = MetricValues::from_json(&fixture(v, "metrics-unknown")).unwrap();
        assert_eq!(
            JobHealthMetrics::from_values(&unknown),
            JobHealthMetrics::default(),
            "[] is unknown, not 0"
        );
    }
}

#[test]
fn error_bodies_keep_flinks_reason() {
    for v in VERSIONS {
        let text = flink_error_text(&fixture(v, "job-not-found"));
        assert!(
            text.contains("FlinkJobNotFoundException") || text.contains("Could not find Flink job"),
            "{v}: {text}"
        );
        assert!(!text.contains("\tat "), "{text}");
    }
}
