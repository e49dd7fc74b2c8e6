//! `FlinkApi`: the operations the reconciler needs, as a trait so it can run against fakes.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use super::checkpoints::CheckpointStatistics;
use super::client::{CancelOutcome, FlinkRestClient};
use super::cluster::{ClusterOverview, DashboardConfig};
use super::error::FlinkError;
use super::exceptions::JobExceptions;
use super::jars::{JarId, JarRunRequest, JarRunResponse};
use super::job::{JobDetails, JobsOverview};
use super::metrics::JobHealthMetrics;
use super::savepoint::{OperationStatus, SavepointRequest, SavepointStatus, StopRequest, TriggerId};

type Res<T> = Result<T, FlinkError>;

/// Every Flink REST operation of the job lifecycle. [`FlinkRestClient`] is the real
/// implementation.
pub trait FlinkApi: Send + Sync {
    fn cluster_overview(&self) -> impl Future<Output = Res<ClusterOverview>> + Send;
    fn dashboard_config(&self) -> impl Future<Output = Res<DashboardConfig>> + Send;
    fn jobmanager_config(&self) -> impl Future<Output = Res<BTreeMap<String, String>>> + Send;
    fn jobs_overview(&self) -> impl Future<Output = Res<JobsOverview>> + Send;
    fn job_details(&self, job_id: &str) -> impl Future<Output = Res<JobDetails>> + Send;
    fn checkpoint_statistics(&self, job_id: &str) -> impl Future<Output = Res<CheckpointStatistics>> + Send;
    fn job_exceptions(&self, job_id: &str) -> impl Future<Output = Res<JobExceptions>> + Send;
    fn job_health_metrics(&self, job_id: &str) -> impl Future<Output = Res<JobHealthMetrics>> + Send;
    fn cancel_job(&self, job_id: &str) -> impl Future<Output = Res<CancelOutcome>> + Send;
    fn trigger_savepoint(
        &self,
        job_id: &str,
        request: &SavepointRequest,
    ) -> impl Future<Output = Res<TriggerId>> + Send;
    fn stop_with_savepoint(
        &self,
        job_id: &str,
        request: &StopRequest,
    ) -> impl Future<Output = Res<TriggerId>> + Send;
    fn savepoint_status(
        &self,
        job_id: &str,
        trigger: &TriggerId,
    ) -> impl Future<Output = Res<SavepointStatus>> + Send;
    fn dispose_savepoint(&self, path: &str) -> impl Future<Output = Res<TriggerId>> + Send;
    fn disposal_status(&self, trigger: &TriggerId) -> impl Future<Output = Res<OperationStatus>> + Send;
    fn upload_jar(&self, jar: &Path) -> impl Future<Output = Res<JarId>> + Send;
    fn run_jar(
        &self,
        jar: &JarId,
        request: &JarRunRequest,
    ) -> impl Future<Output = Res<JarRunResponse>> + Send;
    fn delete_jar(&self, jar: &JarId) -> impl Future<Output = Res<()>> + Send;
}

impl FlinkApi for FlinkRestClient {
    fn cluster_overview(&self) -> impl Future<Output = Res<ClusterOverview>> + Send {
        FlinkRestClient::cluster_overview(self)
    }
    fn dashboard_config(&self) -> impl Future<Output = Res<DashboardConfig>> + Send {
        FlinkRestClient::dashboard_config(self)
    }
    fn jobmanager_config(&self) -> impl Future<Output = Res<BTreeMap<String, String>>> + Send {
        FlinkRestClient::jobmanager_config(self)
    }
    fn jobs_overview(&self) -> impl Future<Output = Res<JobsOverview>> + Send {
        FlinkRestClient::jobs_overview(self)
    }
    fn job_details(&self, job_id: &str) -> impl Future<Output = Res<JobDetails>> + Send {
        FlinkRestClient::job_details(self, job_id)
    }
    fn checkpoint_statistics(&self, job_id: &str) -> impl Future<Output = Res<CheckpointStatistics>> + Send {
        FlinkRestClient::checkpoint_statistics(self, job_id)
    }
    fn job_exceptions(&self, job_id: &str) -> impl Future<Output = Res<JobExceptions>> + Send {
        FlinkRestClient::job_exceptions(self, job_id)
    }
    fn job_health_metrics(&self, job_id: &str) -> impl Future<Output = Res<JobHealthMetrics>> + Send {
        FlinkRestClient::job_health_metrics(self, job_id)
    }
    fn cancel_job(&self, job_id: &str) -> impl Future<Output = Res<CancelOutcome>> + Send {
        FlinkRestClient::cancel_job(self, job_id)
    }
    fn trigger_savepoint(
        &self,
        job_id: &str,
        request: &SavepointRequest,
    ) -> impl Future<Output = Res<TriggerId>> + Send {
        FlinkRestClient::trigger_savepoint(self, job_id, request)
    }
    fn stop_with_savepoint(
        &self,
        job_id: &str,
        request: &StopRequest,
    ) -> impl Future<Output = Res<TriggerId>> + Send {
        FlinkRestClient::stop_with_savepoint(self, job_id, request)
    }
    fn savepoint_status(
        &self,
        job_id: &str,
        trigger: &TriggerId,
    ) -> impl Future<Output = Res<SavepointStatus>> + Send {
        FlinkRestClient::savepoint_status(self, job_id, trigger)
    }
    fn dispose_savepoint(&self, path: &str) -> impl Future<Output = Res<TriggerId>> + Send {
        FlinkRestClient::dispose_savepoint(self, path)
    }
    fn disposal_status(&self, trigger: &TriggerId) -> impl Future<Output = Res<OperationStatus>> + Send {
        FlinkRestClient::disposal_status(self, trigger)
    }
    fn upload_jar(&self, jar: &Path) -> impl Future<Output = Res<JarId>> + Send {
        FlinkRestClient::upload_jar(self, jar)
    }
    fn run_jar(
        &self,
        jar: &JarId,
        request: &JarRunRequest,
    ) -> impl Future<Output = Res<JarRunResponse>> + Send {
        FlinkRestClient::run_jar(self, jar, request)
    }
    fn delete_jar(&self, jar: &JarId) -> impl Future<Output = Res<()>> + Send {
        FlinkRestClient::delete_jar(self, jar)
    }
}

/// Polls a savepoint / stop-with-savepoint until it finishes (Completed or Failed), or fails
/// with [`FlinkError::StillInProgress`] after `limit`. For tools and tests; the reconciler polls
/// once per reconcile instead of blocking.
pub async fn await_savepoint<A: FlinkApi>(
    api: &A,
    job_id: &str,
    trigger: &TriggerId,
    poll_interval: Duration,
    limit: Duration,
) -> Res<SavepointStatus> {
    let started = Instant::now();
    loop {
        let status = api.savepoint_status(job_id, trigger).await?;
        if status.is_finished() {
            return Ok(status);
        }
        if started.elapsed() + poll_interval > limit {
            return Err(FlinkError::StillInProgress {
                operation: format!("savepoint {trigger} of job {job_id}"),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(poll_interval).await;
    }
}
