//! Errors of one reconcile, with a bounded label for metrics.

use crate::flink::FlinkError;

/// Why a reconcile did not complete; the controller retries with per-object backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("Flink REST: {0}")]
    Flink(#[from] FlinkError),
    #[error("cannot render the Flink cluster: {0}")]
    Render(#[from] crate::render::RenderError),
    #[error("session job jar: {0}")]
    Artifact(#[from] super::artifacts::ArtifactError),
    /// The resource's own operator configuration (`kubernetes.operator.*` in its
    /// flinkConfiguration) does not parse.
    #[error("invalid operator configuration in spec.flinkConfiguration: {0}")]
    Config(#[from] crate::config::ConfigError),
    /// No address is known for a cluster's REST API (its Service does not resolve yet, or the
    /// session cluster named by a session job does not exist).
    #[error(
        "no REST endpoint known for Flink cluster {namespace}/{name}: its JobManager Service does not resolve yet"
    )]
    NoRestEndpoint { namespace: String, name: String },
    /// The planner asked a controller for a step or status of the other kind: a bug.
    #[error("internal error: {0}")]
    WrongKind(&'static str),
    /// A JSON patch of the object's metadata could not be built: a bug.
    #[error("internal error: cannot build a metadata patch: {0}")]
    Patch(serde_json::Error),
    /// The admission rules, run on a worker thread, did not finish (it panicked or was cancelled).
    #[error("the validation of the spec did not complete: {0}")]
    ValidationTask(#[from] tokio::task::JoinError),
    /// ZooKeeper HA metadata could not be read or changed.
    #[error("ZooKeeper HA at {quorum} ({path}): {action}: {reason}")]
    ZooKeeper {
        quorum: String,
        path: String,
        action: String,
        reason: String,
    },
    /// Flink could not dispose of a savepoint retired from the history; it stays recorded.
    #[error(
        "Flink could not dispose of savepoint {path}: {cause}; it stays in savepointHistory and disposal is retried"
    )]
    Disposal { path: String, cause: String },
    /// A conditional status write found a newer status: the reconcile plans again from it.
    #[error("the status of {0} changed since it was read; planning again from the current one")]
    StaleStatus(String),
}

impl Error {
    /// The variant name, for the `error` label of the errors metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(_) => "kube",
            Self::Flink(_) => "flink",
            Self::Render(_) => "render",
            Self::Artifact(_) => "artifact",
            Self::Config(_) => "config",
            Self::NoRestEndpoint { .. } => "no-rest-endpoint",
            Self::WrongKind(_) => "wrong-kind",
            Self::Patch(_) => "patch",
            Self::ValidationTask(_) => "validation-task",
            Self::ZooKeeper { .. } => "zookeeper",
            Self::Disposal { .. } => "disposal",
            Self::StaleStatus(_) => "stale-status",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
