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
    Artifact(String),
    #[error("{0}")]
    Invalid(String),
    /// ZooKeeper HA metadata could not be read or changed (the message names quorum and path).
    #[error("{0}")]
    ZooKeeper(String),
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
            Self::Invalid(_) => "invalid",
            Self::ZooKeeper(_) => "zookeeper",
            Self::Disposal { .. } => "disposal",
            Self::StaleStatus(_) => "stale-status",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
