//! Job status shapes: `GET /jobs/overview`, `GET /jobs/<id>`, `GET /jobs/<id>/status`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use super::wire;

/// A Flink job status (`org.apache.flink.api.common.JobStatus`). Unknown names from newer Flink
/// versions are kept, not rejected.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum JobState {
    Initializing,
    Created,
    Running,
    Failing,
    Failed,
    Cancelling,
    Canceled,
    Finished,
    Restarting,
    Suspended,
    Reconciling,
    Other(String),
}

impl JobState {
    pub fn from_wire(s: &str) -> Self {
        match s {
            "INITIALIZING" => Self::Initializing,
            "CREATED" => Self::Created,
            "RUNNING" => Self::Running,
            "FAILING" => Self::Failing,
            "FAILED" => Self::Failed,
            "CANCELLING" => Self::Cancelling,
            "CANCELED" => Self::Canceled,
            "FINISHED" => Self::Finished,
            "RESTARTING" => Self::Restarting,
            "SUSPENDED" => Self::Suspended,
            "RECONCILING" => Self::Reconciling,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Initializing => "INITIALIZING",
            Self::Created => "CREATED",
            Self::Running => "RUNNING",
            Self::Failing => "FAILING",
            Self::Failed => "FAILED",
            Self::Cancelling => "CANCELLING",
            Self::Canceled => "CANCELED",
            Self::Finished => "FINISHED",
            Self::Restarting => "RESTARTING",
            Self::Suspended => "SUSPENDED",
            Self::Reconciling => "RECONCILING",
            Self::Other(s) => s,
        }
    }

    /// FAILED, CANCELED, FINISHED: the job will not run again on this cluster.
    pub fn is_globally_terminal(&self) -> bool {
        matches!(self, Self::Failed | Self::Canceled | Self::Finished)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_wire(&String::deserialize(d)?))
    }
}

impl Default for JobState {
    fn default() -> Self {
        Self::Other(String::new())
    }
}

/// `GET /jobs/overview`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct JobsOverview {
    #[serde(default, deserialize_with = "wire::vec_or_null")]
    pub jobs: Vec<JobOverview>,
}

impl JobsOverview {
    pub fn job(&self, job_id: &str) -> Option<&JobOverview> {
        self.jobs.iter().find(|j| j.jid == job_id)
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct JobOverview {
    #[serde(default)]
    pub jid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub state: JobState,
    #[serde(default, rename = "start-time", deserialize_with = "wire::opt_i64")]
    pub start_time: Option<i64>,
    /// -1 while the job runs.
    #[serde(default, rename = "end-time", deserialize_with = "wire::opt_i64")]
    pub end_time: Option<i64>,
    #[serde(default, rename = "last-modification", deserialize_with = "wire::opt_i64")]
    pub last_modification: Option<i64>,
    #[serde(default)]
    pub tasks: BTreeMap<String, i64>,
}

/// `GET /jobs/<id>/status`: the cheapest status poll.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct JobStatusResponse {
    #[serde(default)]
    pub status: JobState,
}

/// `GET /jobs/<id>`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct JobDetails {
    #[serde(default)]
    pub jid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub state: JobState,
    #[serde(default, rename = "isStoppable")]
    pub is_stoppable: bool,
    #[serde(default, rename = "job-type", deserialize_with = "wire::opt_string")]
    pub job_type: Option<String>,
    #[serde(default, rename = "start-time", deserialize_with = "wire::opt_i64")]
    pub start_time: Option<i64>,
    #[serde(default, rename = "end-time", deserialize_with = "wire::opt_i64")]
    pub end_time: Option<i64>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub duration: Option<i64>,
    /// The JobManager's clock when it answered (ms since the epoch).
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub now: Option<i64>,
    /// Last time the job entered each state (0 = never), e.g. `RESTARTING`.
    #[serde(default)]
    pub timestamps: BTreeMap<String, i64>,
    #[serde(default, deserialize_with = "wire::vec_or_null")]
    pub vertices: Vec<JobVertex>,
    /// Flink 2.x only.
    #[serde(default, rename = "application-id", deserialize_with = "wire::opt_string")]
    pub application_id: Option<String>,
}

impl JobDetails {
    /// When the job last entered `state`, if it ever did.
    pub fn entered(&self, state: &JobState) -> Option<i64> {
        self.timestamps.get(state.as_str()).copied().filter(|t| *t > 0)
    }

    /// Every vertex reports RUNNING (a job can be RUNNING while its tasks still deploy).
    pub fn all_vertices_running(&self) -> bool {
        !self.vertices.is_empty() && self.vertices.iter().all(|v| v.status == JobState::Running)
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct JobVertex {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub parallelism: Option<i64>,
    #[serde(default, rename = "maxParallelism", deserialize_with = "wire::opt_i64")]
    pub max_parallelism: Option<i64>,
    /// Vertex execution state; shares the names RUNNING, FINISHED, FAILED, CANCELED with jobs.
    #[serde(default)]
    pub status: JobState,
    #[serde(default)]
    pub metrics: VertexMetrics,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct VertexMetrics {
    #[serde(default, rename = "read-records", deserialize_with = "wire::opt_i64")]
    pub read_records: Option<i64>,
    #[serde(default, rename = "write-records", deserialize_with = "wire::opt_i64")]
    pub write_records: Option<i64>,
    /// Flink 2.x may send the string "NaN".
    #[serde(default, rename = "accumulated-busy-time", deserialize_with = "wire::opt_f64")]
    pub accumulated_busy_time: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_unknown_names_are_kept() {
        for name in [
            "RUNNING",
            "RESTARTING",
            "FINISHED",
            "CANCELED",
            "FAILED",
            "RECONCILING",
        ] {
            assert_eq!(JobState::from_wire(name).as_str(), name);
        }
        let future: JobState = serde_json::from_str(r#""SOME_NEW_STATE""#).unwrap_or_default();
        assert_eq!(future, JobState::Other("SOME_NEW_STATE".into()));
        assert!(!future.is_globally_terminal());
        assert!(JobState::Finished.is_globally_terminal());
        assert!(!JobState::Suspended.is_globally_terminal());
    }
}
