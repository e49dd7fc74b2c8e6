//! `FlinkRestClient`: one JobManager REST endpoint, every call bounded by the client timeout.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::checkpoints::{CheckpointEntry, CheckpointStatistics};
use super::cluster::{ClusterOverview, ConfigEntry, DashboardConfig, config_entries_to_map};
use super::error::{FlinkError, UnreachableKind, flink_error_text};
use super::exceptions::JobExceptions;
use super::jars::{JarId, JarRunRequest, JarRunResponse, UploadResponse};
use super::job::{JobDetails, JobState, JobStatusResponse, JobsOverview};
use super::metrics::{
    COMPLETED_CHECKPOINTS, FULL_RESTARTS, JobHealthMetrics, MetricValue, MetricValues, NUM_RESTARTS,
};
use super::retry::{RetryPolicy, is_transient_status};
use super::savepoint::{
    AsyncOperationBody, OperationStatus, SavepointRequest, SavepointStatus, StopRequest, TriggerId,
    TriggerResponse, operation_status, savepoint_status,
};
use crate::config::OperatorConfig;

/// Timeout and retry settings of a [`FlinkRestClient`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlinkClientOptions {
    /// Upper bound of every call (retries included) except the two below.
    pub timeout: Duration,
    /// Jar upload and run: `run` executes the job's `main()` on the JobManager to build the job
    /// graph, which can take far longer than a status read.
    pub submit_timeout: Duration,
    /// `PATCH /jobs/<id>?mode=cancel`.
    pub cancel_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for FlinkClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            submit_timeout: Duration::from_secs(120),
            cancel_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

impl FlinkClientOptions {
    /// `kubernetes.operator.flink.client.timeout` bounds each call,
    /// `job.submission.timeout` jar upload/run, `flink.client.cancel.timeout` cancel.
    pub fn from_operator_config(config: &OperatorConfig) -> Self {
        Self {
            timeout: config.flink_client_timeout,
            submit_timeout: config.job_submission_timeout,
            cancel_timeout: config.flink_client_cancel_timeout,
            retry: RetryPolicy::default(),
        }
    }

    /// The same timeout for every call.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            submit_timeout: timeout,
            cancel_timeout: timeout,
            retry: RetryPolicy::default(),
        }
    }
}

/// How `cancel_job` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Flink accepted the cancellation (also answered for a job that is already terminal).
    Requested,
    /// 404: no such job on this cluster.
    JobNotFound,
    /// 409: the job reached another terminal state first.
    AlreadyTerminal,
}

/// An async client for one Flink JobManager's REST API. Cheap to clone (shares its connection
/// pool). Free of Kubernetes types: the caller resolves the base URL.
#[derive(Clone, Debug)]
pub struct FlinkRestClient {
    http: reqwest::Client,
    base_url: String,
    options: FlinkClientOptions,
}

enum Body {
    Empty,
    Json(serde_json::Value),
    Jar { file_name: String, bytes: Vec<u8> },
}

impl FlinkRestClient {
    /// A client for `base_url`, e.g. `http://127.0.0.1:8081` or `http://my-job-rest.ns:8081`.
    pub fn new(base_url: &str, options: FlinkClientOptions) -> Result<Self, FlinkError> {
        Self::with_http(Self::http_client(&options)?, base_url, options)
    }

    /// A client for `base_url` that shares `http`'s connection pool (one per process: the
    /// operator reaches every JobManager through the same pool and timeout policy).
    pub fn with_http(
        http: reqwest::Client,
        base_url: &str,
        options: FlinkClientOptions,
    ) -> Result<Self, FlinkError> {
        let base_url = base_url.trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base_url).map_err(|e| FlinkError::Request {
            endpoint: base_url.clone(),
            reason: format!("invalid base URL: {e}"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FlinkError::Request {
                endpoint: base_url,
                reason: "base URL must be http:// or https://".into(),
            });
        }
        Ok(Self {
            http,
            base_url,
            options,
        })
    }

    /// The HTTP client every JobManager call goes through: connect timeout from `options`, no
    /// proxy from the environment (the JobManager is addressed directly: an in-cluster Service
    /// or loopback).
    pub fn http_client(options: &FlinkClientOptions) -> Result<reqwest::Client, FlinkError> {
        // Feature unification can give reqwest rustls with two crypto providers (ring, aws-lc);
        // it then needs a process default. The project's choice is ring; an already installed
        // default is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .connect_timeout(options.timeout)
            .no_proxy()
            .build()
            .map_err(|e| FlinkError::Request {
                endpoint: String::new(),
                reason: format!("cannot build HTTP client: {e}"),
            })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn options(&self) -> FlinkClientOptions {
        self.options
    }

    // ---------------------------------------------------------------- cluster

    /// `GET /overview`: task managers, slots, job counts, Flink version.
    pub async fn cluster_overview(&self) -> Result<ClusterOverview, FlinkError> {
        self.get("/overview").await
    }

    /// `GET /config`: Flink version and revision (the web UI's config).
    pub async fn dashboard_config(&self) -> Result<DashboardConfig, FlinkError> {
        self.get("/config").await
    }

    /// `GET /jobmanager/config`: the JobManager's effective configuration.
    pub async fn jobmanager_config(&self) -> Result<BTreeMap<String, String>, FlinkError> {
        let entries: Vec<ConfigEntry> = self.get("/jobmanager/config").await?;
        Ok(config_entries_to_map(entries))
    }

    // ---------------------------------------------------------------- jobs

    /// `GET /jobs/overview`.
    pub async fn jobs_overview(&self) -> Result<JobsOverview, FlinkError> {
        self.get("/jobs/overview").await
    }

    /// `GET /jobs/<id>`.
    pub async fn job_details(&self, job_id: &str) -> Result<JobDetails, FlinkError> {
        self.get(&format!("/jobs/{}", segment(job_id))).await
    }

    /// `GET /jobs/<id>/status`: the cheapest status poll.
    pub async fn job_state(&self, job_id: &str) -> Result<JobState, FlinkError> {
        let r: JobStatusResponse = self.get(&format!("/jobs/{}/status", segment(job_id))).await?;
        Ok(r.status)
    }

    /// `GET /jobs/<id>/checkpoints`.
    pub async fn checkpoint_statistics(&self, job_id: &str) -> Result<CheckpointStatistics, FlinkError> {
        self.get(&format!("/jobs/{}/checkpoints", segment(job_id))).await
    }

    /// `GET /jobs/<id>/exceptions`.
    pub async fn job_exceptions(&self, job_id: &str) -> Result<JobExceptions, FlinkError> {
        self.get(&format!("/jobs/{}/exceptions", segment(job_id))).await
    }

    /// `GET /jobs/<id>/metrics?get=<names>`. Absent names are unknown (not yet fetched).
    pub async fn job_metrics(&self, job_id: &str, names: &[&str]) -> Result<MetricValues, FlinkError> {
        let names: Vec<String> = names.iter().map(|n| segment(n)).collect();
        let values: Vec<MetricValue> = self
            .get(&format!(
                "/jobs/{}/metrics?get={}",
                segment(job_id),
                names.join(",")
            ))
            .await?;
        Ok(MetricValues::from_wire(values))
    }

    /// Restart count (`numRestarts`, else 1.x `fullRestarts`) and completed checkpoints.
    pub async fn job_health_metrics(&self, job_id: &str) -> Result<JobHealthMetrics, FlinkError> {
        let values = self
            .job_metrics(job_id, &[NUM_RESTARTS, FULL_RESTARTS, COMPLETED_CHECKPOINTS])
            .await?;
        Ok(JobHealthMetrics::from_values(&values))
    }

    /// `PATCH /jobs/<id>?mode=cancel`.
    pub async fn cancel_job(&self, job_id: &str) -> Result<CancelOutcome, FlinkError> {
        let path = format!("/jobs/{}?mode=cancel", segment(job_id));
        let timeout = self.options.cancel_timeout;
        match self.send(Method::PATCH, &path, Body::Empty, timeout).await {
            Ok(_) => Ok(CancelOutcome::Requested),
            Err(e) if e.status() == Some(404) => Ok(CancelOutcome::JobNotFound),
            Err(e) if e.status() == Some(409) => Ok(CancelOutcome::AlreadyTerminal),
            Err(e) => Err(e),
        }
    }

    // ---------------------------------------------------------------- savepoints

    /// `POST /jobs/<id>/savepoints`. A failure of the savepoint itself only shows in
    /// [`Self::savepoint_status`].
    pub async fn trigger_savepoint(
        &self,
        job_id: &str,
        request: &SavepointRequest,
    ) -> Result<TriggerId, FlinkError> {
        self.trigger(&format!("/jobs/{}/savepoints", segment(job_id)), request)
            .await
    }

    /// `POST /jobs/<id>/stop`: stop-with-savepoint; the job ends FINISHED. Poll with
    /// [`Self::savepoint_status`].
    pub async fn stop_with_savepoint(
        &self,
        job_id: &str,
        request: &StopRequest,
    ) -> Result<TriggerId, FlinkError> {
        self.trigger(&format!("/jobs/{}/stop", segment(job_id)), request)
            .await
    }

    /// `GET /jobs/<id>/savepoints/<trigger>`: status of a savepoint or a stop-with-savepoint.
    pub async fn savepoint_status(
        &self,
        job_id: &str,
        trigger: &TriggerId,
    ) -> Result<SavepointStatus, FlinkError> {
        let path = format!("/jobs/{}/savepoints/{}", segment(job_id), segment(&trigger.0));
        let body: AsyncOperationBody = self.get(&path).await?;
        savepoint_status(body).map_err(|reason| decode_error(&path, reason))
    }

    /// `POST /jobs/<id>/checkpoints` (Flink 1.17+): a checkpoint of `checkpoint_type` (`FULL`,
    /// `INCREMENTAL`, `CONFIGURED`) while the job runs. Poll with [`Self::checkpoint_status`].
    pub async fn trigger_checkpoint(
        &self,
        job_id: &str,
        checkpoint_type: &str,
    ) -> Result<TriggerId, FlinkError> {
        self.trigger(
            &format!("/jobs/{}/checkpoints", segment(job_id)),
            &serde_json::json!({ "checkpointType": checkpoint_type }),
        )
        .await
    }

    /// [`Self::trigger_checkpoint`] under a caller-chosen 32-hex trigger id: re-posting the same
    /// id returns the same operation (while the JobManager remembers it) instead of a second one.
    pub async fn trigger_checkpoint_as(
        &self,
        job_id: &str,
        checkpoint_type: &str,
        trigger_id: &str,
    ) -> Result<TriggerId, FlinkError> {
        self.trigger(
            &format!("/jobs/{}/checkpoints", segment(job_id)),
            &serde_json::json!({ "checkpointType": checkpoint_type, "triggerId": trigger_id }),
        )
        .await
    }

    /// `GET /jobs/<id>/checkpoints/<trigger>`: a triggered checkpoint's state.
    pub async fn checkpoint_status(
        &self,
        job_id: &str,
        trigger: &TriggerId,
    ) -> Result<OperationStatus, FlinkError> {
        Ok(self.checkpoint_outcome(job_id, trigger).await?.0)
    }

    /// [`Self::checkpoint_status`] with the id of the checkpoint once it completed.
    pub async fn checkpoint_outcome(
        &self,
        job_id: &str,
        trigger: &TriggerId,
    ) -> Result<(OperationStatus, Option<i64>), FlinkError> {
        let path = format!("/jobs/{}/checkpoints/{}", segment(job_id), segment(&trigger.0));
        let body: AsyncOperationBody = self.get(&path).await?;
        let id = body.operation.as_ref().and_then(|o| o.checkpoint_id);
        let status = operation_status(body).map_err(|reason| decode_error(&path, reason))?;
        Ok((status, id))
    }

    /// `GET /jobs/<id>/checkpoints/details/<checkpoint>`: one checkpoint, with its path.
    pub async fn checkpoint_details(
        &self,
        job_id: &str,
        checkpoint_id: i64,
    ) -> Result<CheckpointEntry, FlinkError> {
        self.get(&format!(
            "/jobs/{}/checkpoints/details/{checkpoint_id}",
            segment(job_id)
        ))
        .await
    }

    /// `POST /savepoint-disposal`: deletes a savepoint's files through the cluster.
    pub async fn dispose_savepoint(&self, savepoint_path: &str) -> Result<TriggerId, FlinkError> {
        self.trigger(
            "/savepoint-disposal",
            &serde_json::json!({ "savepoint-path": savepoint_path }),
        )
        .await
    }

    /// `GET /savepoint-disposal/<trigger>`.
    pub async fn disposal_status(&self, trigger: &TriggerId) -> Result<OperationStatus, FlinkError> {
        let path = format!("/savepoint-disposal/{}", segment(&trigger.0));
        let body: AsyncOperationBody = self.get(&path).await?;
        operation_status(body).map_err(|reason| decode_error(&path, reason))
    }

    // ---------------------------------------------------------------- jars (session clusters)

    /// `POST /jars/upload` (multipart field `jarfile`).
    pub async fn upload_jar(&self, jar: &Path) -> Result<JarId, FlinkError> {
        let endpoint = "POST /jars/upload";
        let bytes = tokio::fs::read(jar).await.map_err(|e| FlinkError::Request {
            endpoint: endpoint.to_string(),
            reason: format!("cannot read jar {}: {e}", jar.display()),
        })?;
        let file_name = jar
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "job.jar".to_string());
        let (status, body) = self
            .send(
                Method::POST,
                "/jars/upload",
                Body::Jar { file_name, bytes },
                self.options.submit_timeout,
            )
            .await?;
        let upload: UploadResponse = decode("/jars/upload", &Method::POST, status, &body)?;
        let id = upload.filename.rsplit('/').next().unwrap_or_default().to_string();
        if id.is_empty() {
            return Err(FlinkError::Decode {
                endpoint: endpoint.to_string(),
                status,
                reason: "no filename in the upload answer".into(),
            });
        }
        Ok(JarId(id))
    }

    /// `POST /jars/<id>/run`. A bad `savepointPath` is HTTP 400 with Flink's reason.
    pub async fn run_jar(&self, jar: &JarId, request: &JarRunRequest) -> Result<JarRunResponse, FlinkError> {
        let path = format!("/jars/{}/run", segment(&jar.0));
        self.send_json(Method::POST, &path, request, self.options.submit_timeout)
            .await
    }

    /// `DELETE /jars/<id>`.
    pub async fn delete_jar(&self, jar: &JarId) -> Result<(), FlinkError> {
        let path = format!("/jars/{}", segment(&jar.0));
        self.send(Method::DELETE, &path, Body::Empty, self.options.timeout)
            .await?;
        Ok(())
    }

    // ---------------------------------------------------------------- transport

    async fn trigger<B: Serialize>(&self, path: &str, body: &B) -> Result<TriggerId, FlinkError> {
        let r: TriggerResponse = self
            .send_json(Method::POST, path, body, self.options.timeout)
            .await?;
        Ok(TriggerId(r.request_id))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, FlinkError> {
        let (status, body) = self
            .send(Method::GET, path, Body::Empty, self.options.timeout)
            .await?;
        decode(path, &Method::GET, status, &body)
    }

    async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<T, FlinkError> {
        let json = serde_json::to_value(body).map_err(|e| FlinkError::Request {
            endpoint: endpoint(&method, path),
            reason: format!("cannot encode body: {e}"),
        })?;
        let (status, bytes) = self.send(method.clone(), path, Body::Json(json), timeout).await?;
        decode(path, &method, status, &bytes)
    }

    /// Sends one request; GETs are retried on transport errors and transient statuses while the
    /// backoff fits in the remaining time. Returns the status and body of a 2xx answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), FlinkError> {
        let started = Instant::now();
        let deadline = started + timeout;
        let retries = if method == Method::GET {
            self.options.retry.max_attempts.max(1)
        } else {
            1
        };
        let mut attempt = 0;
        let mut body = Some(body);
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let this_body = if method == Method::GET {
                Body::Empty
            } else {
                body.take().unwrap_or(Body::Empty)
            };
            let result = self
                .attempt(&method, path, this_body, remaining, started, timeout)
                .await;
            let retryable = match &result {
                Ok(_) => false,
                Err(FlinkError::Unreachable { kind, .. }) => *kind != UnreachableKind::Timeout,
                Err(FlinkError::Http { status, .. }) => is_transient_status(*status),
                Err(_) => false,
            };
            if !retryable || attempt >= retries {
                return result;
            }
            let pause = self.options.retry.backoff(attempt);
            if Instant::now() + pause >= deadline {
                return result;
            }
            tracing::debug!(path, attempt, ?pause, "retrying Flink REST read");
            tokio::time::sleep(pause).await;
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        body: Body,
        remaining: Duration,
        started: Instant,
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), FlinkError> {
        let unreachable = |kind: UnreachableKind, reason: String| FlinkError::Unreachable {
            base_url: self.base_url.clone(),
            endpoint: endpoint(method, path),
            kind,
            elapsed: started.elapsed(),
            reason,
        };
        if remaining.is_zero() {
            return Err(unreachable(
                UnreachableKind::Timeout,
                format!("no time left of {timeout:?}"),
            ));
        }
        let url = format!("{}{}", self.base_url, path);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .timeout(remaining)
            .header(reqwest::header::ACCEPT, "application/json");
        request = match body {
            Body::Empty => request,
            Body::Json(json) => request.json(&json),
            Body::Jar { file_name, bytes } => {
                let part = reqwest::multipart::Part::bytes(bytes)
                    .file_name(file_name)
                    .mime_str("application/x-java-archive")
                    .map_err(|e| FlinkError::Request {
                        endpoint: endpoint(method, path),
                        reason: e.to_string(),
                    })?;
                request.multipart(reqwest::multipart::Form::new().part("jarfile", part))
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(classify(&e), error_chain(&e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable(classify(&e), error_chain(&e)))?;
        if (200..300).contains(&status) {
            Ok((status, bytes.to_vec()))
        } else {
            Err(FlinkError::Http {
                endpoint: endpoint(method, path),
                status,
                message: flink_error_text(&bytes),
            })
        }
    }
}

fn classify(e: &reqwest::Error) -> UnreachableKind {
    if e.is_timeout() {
        UnreachableKind::Timeout
    } else if e.is_connect() {
        UnreachableKind::Connect
    } else {
        UnreachableKind::Transport
    }
}

/// reqwest's Display hides the cause ("error sending request"); the chain names it
/// ("Connection refused").
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

fn endpoint(method: &Method, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    format!("{method} {path}")
}

fn decode_error(path: &str, reason: String) -> FlinkError {
    FlinkError::Decode {
        endpoint: endpoint(&Method::GET, path),
        status: 200,
        reason,
    }
}

fn decode<T: DeserializeOwned>(
    path: &str,
    method: &Method,
    status: u16,
    body: &[u8],
) -> Result<T, FlinkError> {
    // An empty 2xx body (some DELETE/PATCH answers) reads as `{}`.
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| FlinkError::Decode {
        endpoint: endpoint(method, path),
        status,
        reason: format!(
            "{e}; body starts with {:?}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ),
    })
}

/// Percent-encodes one path segment (ids are hex, jar ids `<uuid>_<name>.jar`; anything else is
/// escaped so it cannot change the path).
fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cannot_escape_their_path_position() {
        assert_eq!(segment("abc_def.jar"), "abc_def.jar");
        assert_eq!(segment("../x?y"), "..%2Fx%3Fy");
    }

    #[test]
    fn base_url_must_be_http() {
        assert!(FlinkRestClient::new("ftp://x", FlinkClientOptions::default()).is_err());
        assert!(FlinkRestClient::new("not a url", FlinkClientOptions::default()).is_err());
        let c = FlinkRestClient::new("http://h:8081/", FlinkClientOptions::default());
        assert_eq!(
            c.map(|c| c.base_url().to_string()).ok().as_deref(),
            Some("http://h:8081")
        );
    }

    #[test]
    fn endpoint_names_drop_the_query() {
        assert_eq!(
            endpoint(&Method::GET, "/jobs/a/metrics?get=x"),
            "GET /jobs/a/metrics"
        );
    }
}
