//! `flink-lifecycle plan`: what the operator will do to a resource when its stored version is
//! replaced by a desired one — the change in one line, the next step and why, the status it
//! records first, the events — in words or as JSON.

use super::explain::{describe_deployment_change, describe_session_job_change};
use super::observation::{JobManagerObservation, Observation, ObservedJob};
use super::plan::{Plan, PlanInput, Resource, RestoreSource, Step};
use super::planner::plan;
use super::status::error_message;
use crate::api::{FlinkDeployment, FlinkSessionJob, JobManagerDeploymentStatus, JobStatus};
use crate::config::{OperatorConfig, effective_flink_config, flink_keys};
use serde::Serialize;
use std::fmt::Write as _;

/// A problem with the command's inputs.
#[derive(Debug, thiserror::Error)]
pub enum PlanCommandError {
    #[error("{what}: {message}")]
    Parse { what: &'static str, message: String },
    #[error("the stored resource is a {stored} and the desired one a {desired}; they must be the same kind")]
    KindMismatch { stored: String, desired: String },
    #[error("unsupported kind '{0}': expected FlinkDeployment or FlinkSessionJob")]
    UnsupportedKind(String),
    #[error("{0}")]
    Config(String),
    /// The desired spec is one admission would refuse: the operator would never plan it.
    #[error("admission would refuse the desired spec: {0}")]
    Refused(String),
}

/// The command's inputs (file contents; the shell reads files and the clock).
#[derive(Clone, Copy, Debug)]
pub struct PlanRequest<'a> {
    /// The resource as stored, with its status (YAML or JSON).
    pub stored: &'a str,
    /// The resource as it will be applied (YAML or JSON; its status is ignored).
    pub desired: &'a str,
    /// An [`Observation`] (YAML or JSON); without it one is inferred from the stored status.
    pub observation: Option<&'a str>,
    pub operator: &'a OperatorConfig,
    pub now_ms: i64,
    pub new_job_id: &'a str,
}

/// The answer.
#[derive(Clone, Debug, Serialize)]
pub struct PlanReport {
    /// What the change does to the running job (None: no change / not deployed yet).
    pub change: Option<String>,
    /// Whether the observation was inferred from the stored status.
    pub observation_inferred: bool,
    pub plan: Plan,
}

fn parse<T: serde::de::DeserializeOwned>(what: &'static str, text: &str) -> Result<T, PlanCommandError> {
    serde_saphyr::from_str(text).map_err(|e| PlanCommandError::Parse {
        what,
        message: e.to_string(),
    })
}

fn kind_of(what: &'static str, text: &str) -> Result<String, PlanCommandError> {
    let v: serde_json::Value = parse(what, text)?;
    Ok(v.get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_string())
}

/// Plans the change from `stored` to `desired`.
pub fn plan_change(req: &PlanRequest<'_>) -> Result<PlanReport, PlanCommandError> {
    let stored_kind = kind_of("stored resource", req.stored)?;
    let desired_kind = kind_of("desired resource", req.desired)?;
    if stored_kind != desired_kind {
        return Err(PlanCommandError::KindMismatch {
            stored: stored_kind,
            desired: desired_kind,
        });
    }
    let given: Option<Observation> = req.observation.map(|t| parse("observation", t)).transpose()?;
    let inferred = given.is_none();
    match stored_kind.as_str() {
        "FlinkDeployment" => {
            let stored: FlinkDeployment = parse("stored resource", req.stored)?;
            let mut desired: FlinkDeployment = parse("desired resource", req.desired)?;
            let first = never_reconciled(
                stored
                    .status
                    .as_ref()
                    .and_then(|s| s.reconciliation_status.as_ref()),
            );
            let change = (!first)
                .then(|| describe_deployment_change(&stored, &desired, req.operator))
                .flatten();
            desired.status = stored.status.clone();
            desired.metadata.generation =
                next_generation(stored.metadata.generation, stored.spec != desired.spec);
            desired.metadata.namespace = desired.metadata.namespace.or(stored.metadata.namespace);
            // The same rules as the webhook, compared with the stored status's reconciled spec.
            crate::validation::validate_deployment(&desired, req.operator)
                .map_err(|e| PlanCommandError::Refused(e.to_string()))?;
            let flat = desired.spec.flat_configuration();
            let op = req
                .operator
                .for_resource(&flat)
                .map_err(|e| PlanCommandError::Config(e.to_string()))?;
            let conf = effective_flink_config(
                &op,
                desired.metadata.namespace.as_deref(),
                desired.spec.flink_version,
                &flat,
            );
            let status = stored.status.as_ref();
            let obs = given.unwrap_or_else(|| {
                infer(
                    status.and_then(|s| s.job_status.as_ref()),
                    status.and_then(|s| s.job_manager_deployment_status),
                    status.and_then(|s| s.observed_generation),
                    flink_keys::ha_enabled(&conf),
                )
            });
            let plan = plan(&PlanInput {
                resource: Resource::Deployment(&desired),
                operator: &op,
                flink_config: &conf,
                observation: &obs,
                now_ms: req.now_ms,
                new_job_id: req.new_job_id,
            });
            Ok(PlanReport {
                change: change.or_else(|| first.then(|| first_change(&plan.step))),
                observation_inferred: inferred,
                plan,
            })
        }
        "FlinkSessionJob" => {
            let stored: FlinkSessionJob = parse("stored resource", req.stored)?;
            let mut desired: FlinkSessionJob = parse("desired resource", req.desired)?;
            let first = never_reconciled(
                stored
                    .status
                    .as_ref()
                    .and_then(|s| s.reconciliation_status.as_ref()),
            );
            let change = (!first)
                .then(|| describe_session_job_change(&stored, &desired, req.operator))
                .flatten();
            desired.status = stored.status.clone();
            desired.metadata.generation =
                next_generation(stored.metadata.generation, stored.spec != desired.spec);
            // The webhook's rules as offline `validate --no-dns` runs them: the session cluster
            // is not among plan's inputs, so the rules that need it (and DNS) are the webhook's.
            crate::validation::validate_session_job(&desired, None, req.operator, &crate::validation::NoDns)
                .map_err(|e| PlanCommandError::Refused(e.to_string()))?;
            let flat = desired.spec.flat_configuration();
            let op = req
                .operator
                .for_resource(&flat)
                .map_err(|e| PlanCommandError::Config(e.to_string()))?;
            let conf = effective_flink_config(&op, desired.metadata.namespace.as_deref(), None, &flat);
            let status = stored.status.as_ref();
            let mut obs =
                given.unwrap_or_else(|| infer(status.and_then(|s| s.job_status.as_ref()), None, None, false));
            if inferred {
                obs.session_cluster_ready = true;
                obs.rest_reachable = true;
            }
            let plan = plan(&PlanInput {
                resource: Resource::SessionJob(&desired),
                operator: &op,
                flink_config: &conf,
                observation: &obs,
                now_ms: req.now_ms,
                new_job_id: req.new_job_id,
            });
            Ok(PlanReport {
                change: change.or_else(|| first.then(|| first_change(&plan.step))),
                observation_inferred: inferred,
                plan,
            })
        }
        other => Err(PlanCommandError::UnsupportedKind(other.to_string())),
    }
}

/// The change line of a resource the operator never reconciled: nothing runs that an upgrade
/// could stop, whatever differs between the stored and the desired spec.
fn first_change(step: &crate::lifecycle::Step) -> String {
    match step {
        crate::lifecycle::Step::NoOp => {
            "not deployed yet, and nothing is deployed until spec.job.state is running".into()
        }
        _ => "not deployed yet: the desired spec is deployed for the first time".into(),
    }
}

fn never_reconciled(r: Option<&crate::api::ReconciliationStatus>) -> bool {
    r.is_none_or(|r| r.last_reconciled_spec.is_none())
}

fn next_generation(stored: Option<i64>, changed: bool) -> Option<i64> {
    let g = stored.unwrap_or(1);
    Some(if changed { g + 1 } else { g })
}

/// Without an observation: the cluster is as the status last recorded it.
fn infer(
    job: Option<&JobStatus>,
    jm: Option<JobManagerDeploymentStatus>,
    generation: Option<i64>,
    ha: bool,
) -> Observation {
    let jobmanager = match jm {
        Some(JobManagerDeploymentStatus::Ready) => JobManagerObservation::Ready { generation },
        Some(JobManagerDeploymentStatus::Deploying | JobManagerDeploymentStatus::DeployedNotReady) => {
            JobManagerObservation::Deploying { generation }
        }
        Some(JobManagerDeploymentStatus::Error) => JobManagerObservation::Error {
            generation,
            message: "as recorded in status".into(),
        },
        _ => JobManagerObservation::Missing,
    };
    let observed_job = job.and_then(|j| {
        Some(ObservedJob {
            id: j.job_id.clone()?,
            state: j.state?,
            name: j.job_name.clone(),
            start_time_ms: j.start_time.as_deref().and_then(|t| t.parse().ok()),
            end_time_ms: None,
            failure: None,
            all_tasks_running: None,
        })
    });
    Observation {
        rest_reachable: jobmanager.is_ready(),
        jobmanager,
        job: observed_job,
        ha_metadata_present: ha,
        ha_has_checkpoint: ha,
        ..Observation::default()
    }
}

/// One step in words.
pub fn describe_step(step: &Step) -> String {
    match step {
        Step::NoOp => "nothing to do".into(),
        Step::Wait { reason } => format!("wait and re-check: {reason}"),
        Step::Deploy(d) | Step::SubmitSessionJob(d) => {
            let what = if matches!(step, Step::Deploy(_)) {
                "deploy the cluster"
            } else {
                "submit the job to the session cluster"
            };
            let from = match &d.restore {
                RestoreSource::NoJob => "(session cluster, no job)".to_string(),
                RestoreSource::Empty => "from empty state".to_string(),
                RestoreSource::Savepoint { path, .. } => format!("from savepoint/checkpoint {path}"),
                RestoreSource::HaMetadata { .. } => "from HA metadata (last state)".to_string(),
            };
            let id = d
                .job_id
                .as_deref()
                .map(|i| format!(", job id {i}"))
                .unwrap_or_default();
            let ha = if d.delete_ha_data_first {
                ", clearing old HA metadata first"
            } else {
                ""
            };
            format!("{what} {from}{id}{ha}")
        }
        Step::TriggerCheckpoint {
            job_id,
            checkpoint_type,
            ..
        } => format!("trigger a {checkpoint_type} checkpoint of job {job_id}"),
        Step::DisposeSavepoint { path } => format!(
            "dispose of savepoint {path}, retired from the savepoint history (POST /savepoint-disposal)"
        ),
        Step::TriggerSavepoint {
            job_id, target_dir, ..
        } => format!(
            "trigger a savepoint of job {job_id} into {}",
            target_dir.as_deref().unwrap_or("the default savepoint directory")
        ),
        Step::StopWithSavepoint {
            job_id,
            target_dir,
            drain,
            ..
        } => format!(
            "stop job {job_id} with a savepoint into {}{}",
            target_dir.as_deref().unwrap_or("the default savepoint directory"),
            if *drain { " (draining)" } else { "" }
        ),
        Step::CancelJob { job_id } => format!("cancel job {job_id}"),
        Step::DeleteCluster {
            delete_ha_data,
            cancel_job_first,
        } => format!(
            "{}delete the JobManager deployment{}",
            cancel_job_first
                .as_deref()
                .map(|j| format!("cancel job {j}, then "))
                .unwrap_or_default(),
            if *delete_ha_data {
                " and its HA metadata"
            } else {
                " (HA metadata kept)"
            }
        ),
        Step::MarkStable => "record the running spec as stable".into(),
        Step::ReportError { message, .. } => format!("stop and report: {message}"),
        Step::ReleaseFinalizer => "remove the finalizer (deletion complete)".into(),
    }
}

impl PlanReport {
    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let p = &self.plan;
        let _ = writeln!(
            out,
            "Change:    {}",
            self.change
                .as_deref()
                .unwrap_or("none (no change, or not deployed yet)")
        );
        let _ = writeln!(out, "Next step: {}", describe_step(&p.step));
        if !p.phases.is_empty() {
            let names: Vec<&str> = p.phases.iter().map(|ph| ph.name()).collect();
            let _ = writeln!(out, "Phases:    {}", names.join(" -> "));
        }
        let _ = writeln!(out, "Why:");
        for r in &p.reasons {
            let _ = writeln!(out, "  - {r}");
        }
        let job = p.status.job_status();
        let recon = p.status.reconciliation_status();
        let _ = writeln!(out, "Status recorded before the step:");
        let _ = writeln!(
            out,
            "  lifecycleState: {}",
            p.status
                .lifecycle_state()
                .map(|l| format!("{l:?}").to_ascii_uppercase())
                .unwrap_or_else(|| "-".into())
        );
        let _ = writeln!(
            out,
            "  reconciliation: {}",
            recon
                .and_then(|r| r.state)
                .map(|s| serde_json::to_value(s)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default())
                .unwrap_or_else(|| "-".into())
        );
        if let Some(j) = job {
            let _ = writeln!(
                out,
                "  job: {} {}",
                j.job_id.as_deref().unwrap_or("-"),
                j.state.map(|s| s.to_string()).unwrap_or_else(|| "-".into())
            );
            if let Some(path) = &j.upgrade_savepoint_path {
                let _ = writeln!(out, "  upgradeSavepointPath: {path}");
            }
        }
        if let Some(e) = p.status.error() {
            let _ = writeln!(out, "  error: {}", error_message(e));
        }
        if !p.events.is_empty() {
            let _ = writeln!(out, "Events:");
            for e in &p.events {
                let _ = writeln!(out, "  {:?} {}: {}", e.type_, e.reason, e.message);
            }
        }
        let _ = writeln!(
            out,
            "Then:      re-check in {}",
            crate::config::format_flink_duration(p.requeue)
        );
        if self.observation_inferred {
            let _ = writeln!(
                out,
                "(No observation given: the cluster is assumed to be as the stored status records it; pass --observation for the live state.)"
            );
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORED: &str = r#"
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: app, namespace: default, generation: 3}
spec:
  image: flink:1.20
  flinkVersion: v1_20
  serviceAccount: flink
  flinkConfiguration: {state.checkpoints.dir: "file:///cp", state.savepoints.dir: "file:///sp"}
  jobManager: {resource: {memory: 1g, cpu: 1}}
  taskManager: {resource: {memory: 1g, cpu: 1}}
  job: {jarURI: "local:///job.jar", parallelism: 2, upgradeMode: savepoint}
status:
  jobManagerDeploymentStatus: READY
  observedGeneration: 3
  jobStatus: {jobId: "0000000000000000000000000000000a", state: RUNNING}
  reconciliationStatus:
    state: DEPLOYED
    lastReconciledSpec: '{"spec":{"image":"flink:1.20","flinkVersion":"v1_20","serviceAccount":"flink","flinkConfiguration":{"state.checkpoints.dir":"file:///cp","state.savepoints.dir":"file:///sp"},"jobManager":{"resource":{"memory":"1g","cpu":1.0}},"taskManager":{"resource":{"memory":"1g","cpu":1.0}},"job":{"jarURI":"local:///job.jar","parallelism":2,"upgradeMode":"stateless","state":"running","args":[]}},"resource_metadata":{"apiVersion":"flink.apache.org/v1beta1","firstDeployment":false}}'
"#;

    fn req<'a>(stored: &'a str, desired: &'a str, op: &'a OperatorConfig) -> PlanRequest<'a> {
        PlanRequest {
            stored,
            desired,
            observation: None,
            operator: op,
            now_ms: 1_700_000_000_000,
            new_job_id: "0000000000000000000000000000000b",
        }
    }

    #[test]
    fn savepoint_upgrade_is_explained() {
        let op = OperatorConfig::default();
        let desired = STORED.replace("parallelism: 2", "parallelism: 4");
        let report = plan_change(&req(STORED, &desired, &op)).unwrap();
        assert!(report.change.as_deref().unwrap().starts_with("savepoint upgrade"));
        assert!(matches!(report.plan.step, Step::StopWithSavepoint { .. }));
        let text = report.to_text();
        assert!(
            text.contains("stop job 0000000000000000000000000000000a with a savepoint into file:///sp"),
            "{text}"
        );
        assert!(text.contains("reconciliation: UPGRADING"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["plan"]["step"]["step"], "stop-with-savepoint");
    }

    #[test]
    fn no_change_and_bad_input() {
        let op = OperatorConfig::default();
        let report = plan_change(&req(STORED, STORED, &op)).unwrap();
        assert_eq!(report.change, None);
        assert!(!report.plan.step.is_side_effect());
        let err = plan_change(&req(STORED, "kind: FlinkSessionJob\n", &op)).unwrap_err();
        assert!(err.to_string().contains("same kind"));
        let err = plan_change(&req("{not yaml", STORED, &op)).unwrap_err();
        assert!(err.to_string().starts_with("stored resource:"));
    }
}
