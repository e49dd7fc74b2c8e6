//! Disposing of a savepoint retired from the history: `POST /savepoint-disposal`, awaited, so
//! the entry leaves the status only once its files are gone (never an unrecorded orphan).

use super::error::{Error, Result};
use crate::flink::{FlinkError, FlinkRestClient, OperationStatus};
use std::time::{Duration, Instant};

/// How long one disposal is awaited before the reconcile gives up and retries later.
const AWAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(500);

/// Disposes of `path` through the cluster; Ok when Flink disposed of it or it was already gone
/// (a disposal that completed before a crash kept the operator from recording it).
pub async fn dispose(flink: &FlinkRestClient, path: &str) -> Result<()> {
    let trigger = flink.dispose_savepoint(path).await?;
    let started = Instant::now();
    loop {
        match flink.disposal_status(&trigger).await? {
            OperationStatus::Completed => return Ok(()),
            OperationStatus::Failed { cause } if already_gone(&cause) => return Ok(()),
            OperationStatus::Failed { cause } => {
                return Err(Error::Disposal {
                    path: path.to_string(),
                    cause,
                });
            }
            OperationStatus::InProgress if started.elapsed() + POLL > AWAIT => {
                return Err(Error::Flink(FlinkError::StillInProgress {
                    operation: format!("disposal of savepoint {path}"),
                    waited: started.elapsed(),
                }));
            }
            OperationStatus::InProgress => tokio::time::sleep(POLL).await,
        }
    }
}

/// Whether a failure cause says the savepoint does not exist (any more).
fn already_gone(cause: &str) -> bool {
    [
        "FileNotFoundException",
        "does not exist",
        "No such file",
        "Cannot find checkpoint or savepoint",
    ]
    .iter()
    .any(|m| cause.contains(m))
}

#[cfg(test)]
mod tests {
    use super::already_gone;

    #[test]
    fn a_missing_savepoint_counts_as_disposed_and_other_failures_do_not() {
        assert!(already_gone(
            "java.io.FileNotFoundException: Cannot find checkpoint or savepoint file/directory 'file:/sp/savepoint-1' on file system 'file'."
        ));
        assert!(!already_gone("java.io.IOException: Permission denied"));
    }
}
