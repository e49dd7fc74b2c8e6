//! A small model of Kubernetes + Flink that executes the planner's steps, for scenario, crash
//! and property tests. It tracks the job's state as a number that grows while the job runs and
//! is captured by checkpoints and savepoints, so "state lost" is observable: a restarted
//! stateful job must continue from the newest durable value.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use flink_lifecycle::api::{
    FlinkDeployment, FlinkDeploymentSpec, FlinkJobState, FlinkSessionJob, FlinkSessionJobSpec, JobState,
    ResourceLifecycleState, UpgradeMode,
};
use flink_lifecycle::config::{OperatorConfig, effective_flink_config};
use flink_lifecycle::lifecycle::{
    Deploy, DeploySpec, HealthCounters, JobManagerObservation, Observation, ObservedJob, Plan, PlanInput,
    Resource, ResourceStatus, RestoreSource, SavepointTriggerStatus, Snapshot, Step, plan,
    record_savepoint_trigger,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct SimJob {
    pub id: String,
    pub state: FlinkJobState,
    pub value: u64,
    pub start: i64,
    pub latest_checkpoint: Option<(String, i64)>,
    pub latest_savepoint: Option<(String, i64)>,
    /// Fails on the next tick (injected).
    pub fail_next: bool,
    pub restarts: i64,
    pub completed_checkpoints: i64,
    pub submitted: Option<DeploySpec>,
    /// When it reached a terminal state (Flink's `end-time`).
    pub end: Option<i64>,
    /// What it was deployed to start from: a JobManager restarted without HA starts it from
    /// there again.
    pub deployed_from: Option<RestoreSource>,
    /// The snapshot its current execution restored (Flink's `latest.restored`).
    pub restored: Option<(String, i64)>,
}

#[derive(Clone, Debug)]
pub struct SimCluster {
    pub generation: i64,
    pub ready: bool,
    pub job: Option<SimJob>,
    pub spec: Option<DeploySpec>,
    /// Image pull error etc. (never becomes ready).
    pub broken: bool,
}

impl SimCluster {
    /// Whether the deployed cluster's own configuration enables HA (it writes HA metadata).
    pub fn has_ha(&self) -> bool {
        self.spec.as_ref().is_some_and(spec_has_ha)
    }
}

fn spec_has_ha(spec: &DeploySpec) -> bool {
    matches!(spec, DeploySpec::Deployment(d) if flink_lifecycle::config::flink_keys::ha_enabled(&d.flat_configuration()))
}

#[derive(Clone, Debug)]
pub struct Ha {
    pub job_id: String,
    pub checkpoint: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Trigger {
    pub id: String,
    pub job_id: String,
    pub stop: bool,
    pub ticks_left: u8,
    pub fail: bool,
    pub result: Option<SavepointTriggerStatus>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    App,
    Session,
    SessionJob,
}

/// What the crash does at the chosen loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crash {
    /// The status write is lost and nothing is done.
    StatusLost,
    /// Status written, the step never executed.
    NotDone,
    /// Status written, the step half done.
    HalfDone,
    /// Status written, step done, the follow-up write (trigger id) lost.
    DoneNoFollowUp,
}

pub const CRASHES: [Crash; 4] = [
    Crash::StatusLost,
    Crash::NotDone,
    Crash::HalfDone,
    Crash::DoneNoFollowUp,
];

#[derive(Clone, Debug)]
pub struct World {
    pub kind: Kind,
    pub dep: FlinkDeployment,
    pub sj: FlinkSessionJob,
    pub operator: OperatorConfig,
    pub cluster: Option<SimCluster>,
    /// Session jobs: jobs on the (always ready) session cluster by id.
    pub session_jobs: BTreeMap<String, SimJob>,
    pub ha: Option<Ha>,
    pub storage: BTreeMap<String, u64>,
    pub trigger: Option<Trigger>,
    pub now: i64,
    pub ids: u64,
    pub steps: Vec<Step>,
    pub plans: Vec<Plan>,
    /// Largest value captured durably (checkpoint/savepoint) by the current lineage.
    pub durable: u64,
    /// The snapshots new `savepointRedeployNonce`s named since the last deploy (set by `edit_job`:
    /// their paths, and any path written under the same nonce before the next deploy, since the
    /// operator may take a request up after the edit). A restore from one starts the lineage
    /// the user chose, whatever the deploy is called (a redeploy asked for while suspended is
    /// carried out by the resume).
    pub redeploy_requested: Vec<String>,
    pub violations: Vec<String>,
    pub finalizer_released: bool,
    pub loops: usize,
    pub savepoint_fails: u8,
    /// The user's upgrade mode when the last running job was stopped: state may be discarded
    /// only if it was stateless then (or is now).
    pub stopped_as_stateless: bool,
    /// `/jobs/:id/checkpoints` fails (injected).
    pub checkpoint_statistics_unreadable: bool,
    /// The JobManager was lost without HA while the recorded status said an upgrade was under
    /// way. Whether the upgraded job ran (and checkpointed past the upgrade's savepoint) is then
    /// unknowable: only a loop that did not run, or a status write a crash lost, would have said
    /// so. Redeploying
    /// from the upgrade's savepoint is all that is left; it may rewind state newer than it.
    pub lost_during_upgrade: bool,
    /// The checkpoint-statistics cache the JobManager reports for a stopped job (None: its
    /// configuration was not read).
    pub statistics_cache_ms: Option<u64>,
    /// The API server refuses the spec's cluster (an admission policy), as a dry run tells.
    pub cluster_refused: Option<String>,
    /// Since when the job's checkpoints have not completed (one hangs in progress).
    pub checkpoints_stalled_since: Option<i64>,
    /// The JobManager dies and restarts right after the next savepoint trigger id is recorded
    /// (before the savepoint can complete).
    pub restart_jobmanager_after_trigger: bool,
    /// The JobManager is up as far as Kubernetes knows, but its REST API does not answer (a long
    /// garbage collection, a frozen process).
    pub rest_silent: bool,
    /// The job is RUNNING but its tasks still deploy (slots not yet granted, a TaskManager on its
    /// way back).
    pub tasks_deploying: bool,
    /// The managed object's resourceVersion: bumped by every write (the user's, the operator's).
    pub version: u64,
    /// The objects as they were after each of the last writes, oldest first: what a lagging
    /// watch cache (or a reordered event) can still hand a reconcile.
    pub cache: Vec<(FlinkDeployment, FlinkSessionJob)>,
    /// The operator's read-your-writes guard, the controller's own (`KnownVersions`).
    pub known: flink_lifecycle::controller::KnownVersions,
    /// Loops planned from a stale cache whose status write the apiserver refused (409).
    pub refused_stale_writes: usize,
    /// Checkpoint triggers the running JobManager completed (forgotten when it restarts).
    pub checkpoint_triggers: Vec<String>,
}

/// The uid of the managed object, for the read-your-writes guard.
const UID: &str = "managed-object";

/// How many past versions a lagging cache can hold.
const CACHE_DEPTH: usize = 6;

pub const NS: &str = "default";

/// An image no JobManager starts from (an image pull error): a cluster deployed with it never
/// becomes ready.
pub const BROKEN_IMAGE: &str = "flink:does-not-exist";

pub fn app_yaml(mode: &str, ha: bool) -> FlinkDeployment {
    let ha_conf = if ha {
        "    high-availability.type: kubernetes\n    high-availability.storageDir: file:///ha\n"
    } else {
        ""
    };
    let text = format!(
        r#"
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {{name: app, namespace: default, generation: 1}}
spec:
  image: flink:1.20
  flinkVersion: v1_20
  serviceAccount: flink
  flinkConfiguration:
    state.checkpoints.dir: file:///cp
    state.savepoints.dir: file:///sp
{ha_conf}  jobManager: {{resource: {{memory: 1g, cpu: 1}}}}
  taskManager: {{resource: {{memory: 1g, cpu: 1}}}}
  job:
    jarURI: local:///job.jar
    parallelism: 2
    upgradeMode: {mode}
"#
    );
    serde_saphyr::from_str(&text).unwrap()
}

pub fn session_cluster_yaml() -> FlinkDeployment {
    let mut d = app_yaml("stateless", true);
    d.spec.job = None;
    d
}

pub fn session_job_yaml(mode: &str) -> FlinkSessionJob {
    let text = format!(
        r#"
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata: {{name: sj, namespace: default, generation: 1}}
spec:
  deploymentName: session
  flinkConfiguration:
    state.checkpoints.dir: file:///cp
    state.savepoints.dir: file:///sp
  job: {{jarURI: "https://repo/job.jar", parallelism: 1, upgradeMode: {mode}}}
"#
    );
    serde_saphyr::from_str(&text).unwrap()
}

impl World {
    pub fn app(mode: &str, ha: bool) -> Self {
        Self::new(Kind::App, app_yaml(mode, ha), session_job_yaml("stateless"))
    }

    pub fn session_cluster() -> Self {
        Self::new(
            Kind::Session,
            session_cluster_yaml(),
            session_job_yaml("stateless"),
        )
    }

    pub fn session_job(mode: &str) -> Self {
        Self::new(Kind::SessionJob, session_cluster_yaml(), session_job_yaml(mode))
    }

    fn new(kind: Kind, dep: FlinkDeployment, sj: FlinkSessionJob) -> Self {
        Self {
            kind,
            dep,
            sj,
            operator: OperatorConfig::default(),
            cluster: None,
            session_jobs: BTreeMap::new(),
            ha: None,
            storage: BTreeMap::new(),
            trigger: None,
            now: 1_000_000,
            ids: 0,
            steps: Vec::new(),
            plans: Vec::new(),
            durable: 0,
            redeploy_requested: Vec::new(),
            violations: Vec::new(),
            finalizer_released: false,
            loops: 0,
            savepoint_fails: 0,
            stopped_as_stateless: false,
            checkpoint_statistics_unreadable: false,
            statistics_cache_ms: None,
            cluster_refused: None,
            checkpoints_stalled_since: None,
            restart_jobmanager_after_trigger: false,
            rest_silent: false,
            tasks_deploying: false,
            lost_during_upgrade: false,
            version: 1,
            cache: Vec::new(),
            known: Default::default(),
            refused_stale_writes: 0,
            checkpoint_triggers: Vec::new(),
        }
        .versioned()
    }

    /// Sets the first resourceVersion and caches it.
    fn versioned(mut self) -> Self {
        self.set_version();
        self
    }

    /// A write happened: a new resourceVersion, and the object as it is now joins the cache.
    fn bump_version(&mut self) {
        self.version += 1;
        self.set_version();
    }

    fn set_version(&mut self) {
        let v = Some(self.version.to_string());
        match self.kind {
            Kind::SessionJob => self.sj.metadata.resource_version = v,
            _ => self.dep.metadata.resource_version = v,
        }
        self.cache.push((self.dep.clone(), self.sj.clone()));
        if self.cache.len() > CACHE_DEPTH {
            self.cache.remove(0);
        }
    }

    fn version_of(&self, dep: &FlinkDeployment, sj: &FlinkSessionJob) -> Option<String> {
        match self.kind {
            Kind::SessionJob => sj.metadata.resource_version.clone(),
            _ => dep.metadata.resource_version.clone(),
        }
    }

    // ----- the user -------------------------------------------------------------------------

    pub fn edit_app(&mut self, f: impl FnOnce(&mut FlinkDeploymentSpec)) {
        f(&mut self.dep.spec);
        self.dep.metadata.generation = Some(self.dep.metadata.generation.unwrap_or(0) + 1);
        self.bump_version();
    }

    pub fn edit_session_job(&mut self, f: impl FnOnce(&mut FlinkSessionJobSpec)) {
        f(&mut self.sj.spec);
        self.sj.metadata.generation = Some(self.sj.metadata.generation.unwrap_or(0) + 1);
        self.bump_version();
    }

    pub fn edit_job(&mut self, f: impl FnOnce(&mut flink_lifecycle::api::JobSpec)) {
        let before = self
            .job_spec()
            .map(|j| (j.savepoint_redeploy_nonce, j.initial_savepoint_path.clone()));
        match self.kind {
            Kind::SessionJob => self.edit_session_job(|s| f(s.job.as_mut().unwrap())),
            _ => self.edit_app(|s| f(s.job.as_mut().unwrap())),
        }
        let Some((nonce, path)) = self
            .job_spec()
            .map(|j| (j.savepoint_redeploy_nonce, j.initial_savepoint_path.clone()))
        else {
            return;
        };
        let Some((nonce_before, path_before)) = before else {
            return;
        };
        // Every request since the last deploy stays the user's choice: one taken up and then
        // interrupted (by a suspend, say) is carried out later under whatever nonce is current.
        if nonce != nonce_before || (path != path_before && !self.redeploy_requested.is_empty()) {
            self.redeploy_requested.extend(path);
        }
    }

    fn job_spec(&self) -> Option<&flink_lifecycle::api::JobSpec> {
        match self.kind {
            Kind::SessionJob => self.sj.spec.job.as_ref(),
            _ => self.dep.spec.job.as_ref(),
        }
    }

    /// The user turns HA on or off in the spec's Flink configuration.
    pub fn set_ha(&mut self, on: bool) {
        self.edit_app(|s| {
            let conf = &mut s.flink_configuration.get_or_insert_with(Default::default).0;
            if on {
                conf.insert("high-availability.type".into(), "kubernetes".into());
                conf.insert("high-availability.storageDir".into(), "file:///ha".into());
            } else {
                conf.remove("high-availability.type");
                conf.remove("high-availability.storageDir");
            }
        });
    }

    pub fn request_deletion(&mut self) {
        let t = Time(jiff::Timestamp::from_millisecond(self.now).unwrap());
        match self.kind {
            Kind::SessionJob => self.sj.metadata.deletion_timestamp = Some(t),
            _ => self.dep.metadata.deletion_timestamp = Some(t),
        }
        self.bump_version();
    }

    /// Sets an operator key (`kubernetes.operator.` + `key`) in the operator's config file.
    pub fn set_operator(&mut self, key: &str, value: &str) {
        let mut raw = self.operator.raw.clone();
        raw.insert(format!("kubernetes.operator.{key}"), value.to_string());
        self.operator = OperatorConfig::from_flat(&raw).unwrap();
    }

    // ----- what the planner sees ------------------------------------------------------------

    pub fn status(&self) -> Option<ResourceStatus> {
        match self.kind {
            Kind::SessionJob => self.sj.status.clone().map(ResourceStatus::SessionJob),
            _ => self.dep.status.clone().map(ResourceStatus::Deployment),
        }
    }

    pub fn lifecycle(&self) -> Option<ResourceLifecycleState> {
        self.status().and_then(|s| s.lifecycle_state())
    }

    pub fn recorded_job_id(&self) -> Option<String> {
        self.status()
            .and_then(|s| s.job_status().and_then(|j| j.job_id.clone()))
    }

    fn trigger_id(&self) -> Option<String> {
        self.status().and_then(|s| {
            s.job_status()
                .and_then(|j| j.savepoint_info.as_ref().and_then(|i| i.trigger_id.clone()))
        })
    }

    pub fn upgrade_savepoint_path(&self) -> Option<String> {
        self.status()
            .and_then(|s| s.job_status().and_then(|j| j.upgrade_savepoint_path.clone()))
    }

    fn current_job(&self) -> Option<&SimJob> {
        match self.kind {
            Kind::SessionJob => self.recorded_job_id().and_then(|id| self.session_jobs.get(&id)),
            _ => self
                .cluster
                .as_ref()
                .filter(|c| c.ready)
                .and_then(|c| c.job.as_ref()),
        }
    }

    pub fn observe(&self) -> Observation {
        let obs = self.observe_answering();
        if !self.rest_silent || !obs.rest_reachable {
            return obs;
        }
        // As the shell sees a silent JobManager: deploying, nothing read of the job.
        Observation {
            jobmanager: match obs.jobmanager {
                JobManagerObservation::Ready { generation } => {
                    JobManagerObservation::Deploying { generation }
                }
                other => other,
            },
            rest_reachable: false,
            rest_unanswered: true,
            job: None,
            checkpoint_statistics_read: false,
            latest_checkpoint: None,
            latest_savepoint: None,
            restored_checkpoint: None,
            savepoint_trigger: None,
            checkpoint_trigger: None,
            counters: None,
            checkpoint_in_progress_since: None,
            session_cluster_ready: false,
            ..obs
        }
    }

    fn observe_answering(&self) -> Observation {
        let jobmanager = match &self.cluster {
            None => JobManagerObservation::Missing,
            Some(c) if c.broken => JobManagerObservation::Error {
                generation: Some(c.generation),
                message: "ImagePullBackOff".into(),
            },
            Some(c) if c.ready => JobManagerObservation::Ready {
                generation: Some(c.generation),
            },
            Some(c) => JobManagerObservation::Deploying {
                generation: Some(c.generation),
            },
        };
        let job = self.current_job().filter(|j| match self.recorded_job_id() {
            Some(id) => id == j.id,
            None => self.kind == Kind::App,
        });
        // A snapshot's id is the value it holds: both grow along a job's history, and a job
        // restored from value `v` continues from it, as Flink's checkpoint ids do.
        let snap = |s: &Option<(String, i64)>| {
            s.as_ref().map(|(p, t)| Snapshot {
                path: p.clone(),
                time_ms: *t,
                id: self.storage.get(p).map(|v| i64::try_from(*v).unwrap_or(i64::MAX)),
            })
        };
        let statistics = job.filter(|_| !self.checkpoint_statistics_unreadable);
        let trigger = self
            .trigger
            .as_ref()
            .filter(|t| Some(&t.id) == self.trigger_id().as_ref())
            .map(|t| t.result.clone().unwrap_or(SavepointTriggerStatus::InProgress));
        Observation {
            jobmanager,
            rest_reachable: match self.kind {
                Kind::SessionJob => true,
                _ => self.cluster.as_ref().is_some_and(|c| c.ready),
            },
            job: job.map(|j| ObservedJob {
                id: j.id.clone(),
                state: j.state,
                name: Some("job".into()),
                start_time_ms: Some(j.start),
                end_time_ms: j.end,
                failure: (j.state == FlinkJobState::Failed).then(|| "boom".to_string()),
                all_tasks_running: (j.state == FlinkJobState::Running).then_some(!self.tasks_deploying),
            }),
            ha_metadata_present: self.ha.is_some(),
            ha_has_checkpoint: self.ha.as_ref().is_some_and(|h| h.checkpoint.is_some()),
            ha_checkpoint_job_ids: self
                .ha
                .iter()
                .filter(|h| h.checkpoint.is_some())
                .map(|h| h.job_id.clone())
                .collect(),
            checkpoint_statistics_read: statistics.is_some(),
            checkpoint_statistics_cache_ms: job
                .filter(|j| j.state.is_globally_terminal())
                .and(self.statistics_cache_ms),
            // As the shell: snapshots are known only from statistics that answered.
            latest_checkpoint: statistics.and_then(|j| snap(&j.latest_checkpoint)),
            latest_savepoint: statistics.and_then(|j| snap(&j.latest_savepoint)),
            restored_checkpoint: statistics.and_then(|j| snap(&j.restored)),
            checkpoint_in_progress_since: statistics
                .filter(|j| j.state == FlinkJobState::Running)
                .and(self.checkpoints_stalled_since),
            savepoint_trigger: trigger,
            checkpoint_trigger: self.checkpoint_trigger(),
            counters: job.map(|j| HealthCounters {
                num_restarts: j.restarts,
                completed_checkpoints: j.completed_checkpoints,
            }),
            session_cluster_ready: true,
            session_jobs_on_cluster: 0,
            unmanaged_jobs_running: 0,
            unmanaged_jobs: Vec::new(),
            rest_unanswered: false,
            cluster_refused: self.cluster_refused.clone(),
        }
    }

    pub fn plan_now(&self) -> Plan {
        let (flat, ns_version) = match self.kind {
            Kind::SessionJob => {
                let mut f = self.dep.spec.flat_configuration();
                f.extend(self.sj.spec.flat_configuration());
                (f, self.dep.spec.flink_version)
            }
            _ => (self.dep.spec.flat_configuration(), self.dep.spec.flink_version),
        };
        // for_resource re-parses the whole operator config; only needed with per-resource keys.
        let op = if flat.keys().any(|k| k.starts_with("kubernetes.operator.")) {
            std::borrow::Cow::Owned(self.operator.for_resource(&flat).unwrap())
        } else {
            std::borrow::Cow::Borrowed(&self.operator)
        };
        let conf = effective_flink_config(&op, Some(NS), ns_version, &flat);
        let obs = self.observe();
        let id = format!("{:032x}", self.ids + 1);
        let resource = match self.kind {
            Kind::SessionJob => Resource::SessionJob(&self.sj),
            _ => Resource::Deployment(&self.dep),
        };
        plan(&PlanInput {
            resource,
            operator: &op,
            flink_config: &conf,
            observation: &obs,
            now_ms: self.now,
            new_job_id: &id,
        })
    }

    fn write_status(&mut self, s: ResourceStatus) {
        match s {
            ResourceStatus::Deployment(d) => self.dep.status = Some(d),
            ResourceStatus::SessionJob(j) => self.sj.status = Some(j),
        }
        self.bump_version();
        // The controller remembers the version its own write produced (StatusLog).
        self.known.remember(UID, &self.version.to_string());
    }

    /// One loop whose watch cache hands over the object as it was `back` writes ago (a lagging
    /// cache, or an older event delivered after a newer one), with the controller's guards: the
    /// read-your-writes check reads the object anew when the cached version is not the one the
    /// operator last wrote or read; otherwise the plan's status write carries the cached
    /// version, and the apiserver refuses it (409) when the object changed since. A refused
    /// write runs no step. Returns whether the loop planned from the stale object.
    pub fn step_from_cache(&mut self, back: usize) -> bool {
        let n = self.cache.len();
        if back == 0 || back >= n {
            self.step(None);
            return false;
        }
        let (dep, sj) = self.cache[n - 1 - back].clone();
        let cached = self.version_of(&dep, &sj);
        if self.known.is_behind(UID, cached.as_deref()) {
            // A fresh read (an etcd quorum read): the loop plans from the current object.
            self.known.remember(UID, &self.version.to_string());
            self.step(None);
            return false;
        }
        let current = (
            std::mem::replace(&mut self.dep, dep),
            std::mem::replace(&mut self.sj, sj),
        );
        let p = self.plan_now();
        (self.dep, self.sj) = current;
        self.loops += 1;
        self.plans.push(p);
        if cached != self.version_of(&self.dep, &self.sj) {
            self.refused_stale_writes += 1;
            // StatusLog on 409: the next reconcile reads the object anew.
            self.known.mark_unknown(UID);
            self.tick();
            return true;
        }
        // The cache was current after all: the loop goes on as any other (planning again is
        // cheaper than copying the write path here).
        self.plans.pop();
        self.loops -= 1;
        self.step(None);
        true
    }

    fn desired_mode(&self) -> UpgradeMode {
        let job = match self.kind {
            Kind::SessionJob => self.sj.spec.job.as_ref(),
            _ => self.dep.spec.job.as_ref(),
        };
        job.map(|j| j.upgrade_mode()).unwrap_or_default()
    }

    pub fn desired_state(&self) -> JobState {
        let job = match self.kind {
            Kind::SessionJob => self.sj.spec.job.as_ref(),
            _ => self.dep.spec.job.as_ref(),
        };
        job.map(|j| j.desired_state()).unwrap_or(JobState::Running)
    }

    pub fn deleting(&self) -> bool {
        match self.kind {
            Kind::SessionJob => self.sj.metadata.deletion_timestamp.is_some(),
            _ => self.dep.metadata.deletion_timestamp.is_some(),
        }
    }

    // ----- one operator loop ----------------------------------------------------------------

    /// Runs one loop; `crash` interrupts it. Returns the plan.
    pub fn step(&mut self, crash: Option<Crash>) -> Plan {
        self.loops += 1;
        self.ids += 1;
        let p = self.plan_now();
        self.plans.push(p.clone());
        if crash == Some(Crash::StatusLost) {
            self.tick();
            return p;
        }
        self.check_status_invariants(&p);
        self.write_status(p.status.clone());
        if self.suspension_recorded_as_stateless() {
            // The user's stateless suspend, recorded: the job's state is given up as when a
            // running job is cancelled for it (also for a job already lost, with nothing to cancel).
            self.stopped_as_stateless = true;
        }
        if crash == Some(Crash::NotDone) {
            self.tick();
            return p;
        }
        self.steps.push(p.step.clone());
        let half = crash == Some(Crash::HalfDone);
        let trigger = self.execute(&p.step, half);
        if let Step::TriggerCheckpoint { job_id, .. } = &p.step
            && crash != Some(Crash::DoneNoFollowUp)
            && !half
            && self
                .job_by_id(job_id)
                .is_some_and(|j| j.state == FlinkJobState::Running)
        {
            let id = self.next_id();
            self.checkpoint_triggers.push(id.clone());
            let mut s = self.status().unwrap();
            flink_lifecycle::lifecycle::record_checkpoint_trigger(&mut s, &id);
            self.write_status(s);
        }
        if let Step::DisposeSavepoint { path } = &p.step
            && crash != Some(Crash::DoneNoFollowUp)
            && !half
        {
            // The controller records the disposal once Flink confirmed it.
            let mut s = self.status().unwrap();
            flink_lifecycle::lifecycle::forget_disposed_savepoint(&mut s, path);
            self.write_status(s);
        }
        if let Some(trigger_id) = trigger
            && crash != Some(Crash::DoneNoFollowUp)
            && !half
        {
            let mut s = self.status().unwrap();
            record_savepoint_trigger(&mut s, &trigger_id);
            self.write_status(s);
            if std::mem::take(&mut self.restart_jobmanager_after_trigger) {
                self.restart_jobmanager();
            }
        }
        self.tick();
        p
    }

    fn next_id(&mut self) -> String {
        self.ids += 1;
        format!("t{}", self.ids)
    }

    fn execute(&mut self, step: &Step, half: bool) -> Option<String> {
        let stops_job = match step {
            Step::DeleteCluster { .. } => self
                .cluster
                .as_ref()
                .and_then(|c| c.job.as_ref())
                .is_some_and(|j| !j.state.is_globally_terminal()),
            Step::CancelJob { .. } | Step::StopWithSavepoint { .. } => true,
            _ => false,
        };
        if stops_job {
            self.stopped_as_stateless = self.desired_mode() == UpgradeMode::Stateless;
        }
        match step {
            Step::NoOp | Step::Wait { .. } | Step::MarkStable | Step::ReportError { .. } => None,
            Step::ReleaseFinalizer => {
                if !half {
                    self.finalizer_released = true;
                }
                None
            }
            Step::DisposeSavepoint { path } => {
                if !half {
                    self.storage.remove(path);
                }
                None
            }
            // Recorded by `step` (the trigger id goes to checkpointInfo).
            Step::TriggerCheckpoint { .. } => None,
            Step::Deploy(d) => {
                self.check_deploy(d);
                if d.delete_ha_data_first {
                    self.delete_ha("deploy");
                }
                if half {
                    return None;
                }
                self.redeploy_requested.clear();
                let job = d.job_id.as_ref().map(|id| self.start_job(id, &d.restore));
                self.cluster = Some(SimCluster {
                    generation: d.generation,
                    ready: false,
                    job,
                    broken: matches!(&d.spec, DeploySpec::Deployment(s) if s.image.as_deref() == Some(BROKEN_IMAGE)),
                    spec: Some(d.spec.clone()),
                });
                None
            }
            Step::SubmitSessionJob(d) => {
                self.check_deploy(d);
                if half {
                    return None;
                }
                self.redeploy_requested.clear();
                let id = d.job_id.clone().unwrap();
                if !self.session_jobs.contains_key(&id) {
                    let mut job = self.start_job(&id, &d.restore);
                    job.submitted = Some(d.spec.clone());
                    self.session_jobs.insert(id, job);
                }
                None
            }
            Step::TriggerSavepoint { job_id, .. } | Step::StopWithSavepoint { job_id, .. } => {
                let stop = matches!(step, Step::StopWithSavepoint { .. });
                let running = self
                    .job_by_id(job_id)
                    .is_some_and(|j| j.state == FlinkJobState::Running);
                if !running {
                    return None;
                }
                let id = self.next_id();
                // Flink refuses a savepoint while tasks of the job are not running ("Not all
                // required tasks are currently running"): the planner must not ask then.
                let refused = self.tasks_deploying;
                if refused {
                    self.violations.push(format!(
                        "a savepoint was asked for while the job's tasks were still deploying ({})",
                        if stop { "stop-with-savepoint" } else { "savepoint" }
                    ));
                }
                let fail = self.savepoint_fails > 0 || refused;
                if self.savepoint_fails > 0 {
                    self.savepoint_fails -= 1;
                }
                self.trigger = Some(Trigger {
                    id: id.clone(),
                    job_id: job_id.clone(),
                    stop,
                    ticks_left: 1,
                    fail,
                    result: None,
                });
                Some(id)
            }
            Step::CancelJob { job_id } => {
                if let Some(j) = self.job_by_id_mut(job_id)
                    && !j.state.is_globally_terminal()
                {
                    j.state = FlinkJobState::Cancelling;
                }
                None
            }
            Step::DeleteCluster {
                delete_ha_data,
                cancel_job_first,
            } => {
                let now = self.now;
                if let Some(id) = cancel_job_first
                    && let Some(j) = self.job_by_id_mut(id)
                {
                    j.state = FlinkJobState::Canceled;
                    j.end = Some(now);
                    // Flink removes HA data of globally terminated jobs.
                    self.ha = None;
                }
                if half {
                    return None;
                }
                self.cluster = None;
                if *delete_ha_data {
                    self.delete_ha("delete-cluster");
                }
                None
            }
        }
    }

    fn job_by_id(&self, id: &str) -> Option<&SimJob> {
        match self.kind {
            Kind::SessionJob => self.session_jobs.get(id),
            _ => self
                .cluster
                .as_ref()
                .and_then(|c| c.job.as_ref())
                .filter(|j| j.id == id),
        }
    }

    fn job_by_id_mut(&mut self, id: &str) -> Option<&mut SimJob> {
        match self.kind {
            Kind::SessionJob => self.session_jobs.get_mut(id),
            _ => self
                .cluster
                .as_mut()
                .and_then(|c| c.job.as_mut())
                .filter(|j| j.id == id),
        }
    }

    fn start_job(&mut self, id: &str, restore: &RestoreSource) -> SimJob {
        // Flink's checkpoint statistics report the snapshot a job was restored from.
        let restored = match restore {
            RestoreSource::Savepoint { path, .. } => Some((path.clone(), self.now)),
            // HA's own checkpoint wins; without one Flink restores the configured path.
            RestoreSource::HaMetadata { guard_path } => self
                .ha
                .as_ref()
                .filter(|h| h.job_id == id)
                .and_then(|h| h.checkpoint.clone())
                .or_else(|| guard_path.clone().filter(|p| self.storage.contains_key(p)))
                .map(|c| (c, self.now)),
            _ => None,
        };
        let value = match restore {
            RestoreSource::Empty | RestoreSource::NoJob => 0,
            RestoreSource::Savepoint { path, .. } => match self.storage.get(path) {
                Some(v) => *v,
                None => {
                    self.violations
                        .push(format!("restore from a path that does not exist: {path}"));
                    0
                }
            },
            RestoreSource::HaMetadata { guard_path } => {
                match self
                    .ha
                    .as_ref()
                    .filter(|h| h.job_id == id)
                    .and_then(|h| h.checkpoint.clone())
                {
                    Some(cp) => self.storage[&cp],
                    None if guard_path.as_ref().is_some_and(|p| self.storage.contains_key(p)) => {
                        guard_path.as_ref().map(|p| self.storage[p]).unwrap_or(0)
                    }
                    // The last-state marker (or a path that is gone): Flink fails the job.
                    None if guard_path.is_some() => {
                        return SimJob {
                            id: id.into(),
                            state: FlinkJobState::Failed,
                            value: 0,
                            start: self.now,
                            latest_checkpoint: None,
                            latest_savepoint: None,
                            fail_next: false,
                            restarts: 0,
                            completed_checkpoints: 0,
                            submitted: None,
                            end: Some(self.now),
                            deployed_from: Some(restore.clone()),
                            restored: None,
                        };
                    }
                    None => 0,
                }
            }
        };
        SimJob {
            id: id.into(),
            state: FlinkJobState::Created,
            value,
            start: self.now,
            latest_checkpoint: restored.clone(),
            latest_savepoint: None,
            fail_next: false,
            restarts: 0,
            completed_checkpoints: 0,
            submitted: None,
            end: None,
            deployed_from: Some(restore.clone()),
            restored,
        }
    }

    /// The JobManager process dies and its container is restarted (a kubelet's restart, not a new
    /// Deployment). With HA the job recovers its newest checkpoint. Without HA Flink resubmits
    /// the job under the same id from the configuration it was deployed with: the state it
    /// reached is not restored, its checkpoint statistics start over, and a savepoint trigger in
    /// flight is unknown to the new JobManager (404).
    /// What polling the recorded checkpoint trigger answers: completed, or unknown to a
    /// JobManager that restarted since (failed, as the shell reads a 404).
    fn checkpoint_trigger(&self) -> Option<flink_lifecycle::lifecycle::CheckpointTriggerStatus> {
        use flink_lifecycle::lifecycle::CheckpointTriggerStatus;
        let status = self.status()?;
        let id = serde_json::to_value(&status).ok()?["jobStatus"]["checkpointInfo"]["triggerId"]
            .as_str()?
            .to_string();
        Some(if self.checkpoint_triggers.contains(&id) {
            CheckpointTriggerStatus::Completed
        } else {
            CheckpointTriggerStatus::Failed {
                cause: "unknown trigger (404)".into(),
            }
        })
    }

    pub fn restart_jobmanager(&mut self) {
        self.checkpoint_triggers.clear();
        if self.kind == Kind::SessionJob {
            self.restart_session_jobmanager();
            return;
        }
        let Some(job) = self.cluster.as_ref().and_then(|c| c.job.clone()) else {
            return;
        };
        if job.state.is_globally_terminal() {
            return;
        }
        let ha = self.cluster.as_ref().is_some_and(SimCluster::has_ha)
            && self
                .ha
                .as_ref()
                .is_some_and(|h| h.job_id == job.id && h.checkpoint.is_some());
        let restore = if ha {
            RestoreSource::HaMetadata { guard_path: None }
        } else {
            job.deployed_from.clone().unwrap_or(RestoreSource::Empty)
        };
        // What the operator can protect is what it recorded: a job that ran with a stateless
        // mode promised nothing, and checkpoints no loop observed are unknowable to it. Either
        // way the resubmitted job starts a new lineage.
        let recorded = self
            .status()
            .and_then(|s| s.job_status().and_then(|j| j.last_completed_checkpoint.clone()))
            .filter(|r| r.job_id.as_deref() == Some(job.id.as_str()))
            .and_then(|r| r.path)
            .map(|p| self.storage.get(&p).copied().unwrap_or(0));
        let given_up = !ha && (self.desired_mode() == UpgradeMode::Stateless || recorded.is_none());
        let mut again = self.start_job(&job.id, &restore);
        if given_up {
            self.durable = again.value;
        } else if !ha {
            // Checkpoints completed after the newest one recorded went unread: the operator can
            // keep at most what it recorded (or what the new run restored).
            let known = recorded.unwrap_or(0).max(again.value);
            self.durable = self.durable.min(known);
        }
        again.state = FlinkJobState::Running;
        again.submitted = job.submitted.clone();
        again.deployed_from = job.deployed_from.clone();
        if let Some(c) = self.cluster.as_mut() {
            c.job = Some(again);
        }
        if let Some(t) = self
            .trigger
            .as_mut()
            .filter(|t| t.job_id == job.id && t.result.is_none())
        {
            t.result = Some(SavepointTriggerStatus::Failed {
                cause: format!(
                    "HTTP 404: There is no savepoint operation with triggerId={}",
                    t.id
                ),
            });
        }
    }

    /// The session cluster's JobManager restarts without HA: every job on it is gone (their
    /// checkpoints and savepoints stay on disk), and a savepoint trigger in flight answers 404.
    fn restart_session_jobmanager(&mut self) {
        let Some(id) = self.recorded_job_id() else { return };
        let Some(job) = self.session_jobs.get(&id).cloned() else {
            return;
        };
        if job.state.is_globally_terminal() {
            return;
        }
        let record = self
            .status()
            .and_then(|s| s.job_status().and_then(|j| j.last_completed_checkpoint.clone()))
            .filter(|r| r.job_id.as_deref() == Some(id.as_str()));
        let started_from = self
            .upgrade_savepoint_path()
            .and_then(|p| self.storage.get(&p).copied());
        let recorded = record
            .and_then(|r| r.path)
            .and_then(|p| self.storage.get(&p).copied());
        if self.desired_mode() == UpgradeMode::Stateless {
            // Nothing promised: the snapshot it started from begins the lineage again.
            self.durable = started_from.unwrap_or(0);
        } else {
            // Checkpoints no loop observed before the jobs vanished are unknowable to the
            // operator: the newest it recorded is the most it can keep.
            let known = recorded.or(started_from).unwrap_or(0);
            self.durable = self.durable.min(known.max(started_from.unwrap_or(0)));
        }
        self.session_jobs.clear();
        if let Some(t) = self.trigger.as_mut().filter(|t| t.result.is_none()) {
            t.result = Some(SavepointTriggerStatus::Failed {
                cause: format!(
                    "HTTP 404: There is no savepoint operation with triggerId={}",
                    t.id
                ),
            });
        }
    }

    // ----- invariants -----------------------------------------------------------------------

    fn delete_ha(&mut self, why: &str) {
        if self.ha.is_none() {
            return;
        }
        let status = self.status();
        let recorded_mode = status
            .as_ref()
            .and_then(|s| s.reconciliation_status())
            .and_then(|r| r.last_reconciled_spec.clone())
            .and_then(|t| flink_lifecycle::api::ReconciledSpec::<serde_json::Value>::decode(&t).ok())
            .and_then(|r| {
                r.spec
                    .pointer("/job/upgradeMode")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            });
        if recorded_mode.as_deref() == Some("last-state") && !self.deleting() {
            self.violations.push(format!(
                "{why}: HA metadata deleted while last-state restore is recorded"
            ));
        }
        self.ha = None;
    }

    /// The recorded spec is the user's: suspended, stateless.
    fn suspension_recorded_as_stateless(&self) -> bool {
        if self.desired_mode() != UpgradeMode::Stateless || self.desired_state() != JobState::Suspended {
            return false;
        }
        let recorded = self
            .status()
            .and_then(|s| {
                s.reconciliation_status()
                    .and_then(|r| r.last_reconciled_spec.clone())
            })
            .and_then(|t| flink_lifecycle::api::ReconciledSpec::<serde_json::Value>::decode(&t).ok());
        recorded.is_some_and(|r| {
            let job = r.spec.get("job");
            job.and_then(|j| j.get("state")).and_then(|v| v.as_str()) == Some("suspended")
                && job.and_then(|j| j.get("upgradeMode")).and_then(|v| v.as_str()) == Some("stateless")
        })
    }

    fn check_deploy(&mut self, d: &Deploy) {
        if matches!(d.restore, RestoreSource::HaMetadata { .. })
            && self.kind == Kind::App
            && !spec_has_ha(&d.spec)
            && self.durable > 0
        {
            self.violations
                .push("restore from HA metadata into a cluster whose configuration has no HA".into());
        }
        // Lost without HA mid-restore: whether the deployed job ran is unknowable (see the field).
        let lost = std::mem::take(&mut self.lost_during_upgrade);
        if matches!(d.restore, RestoreSource::Empty)
            && !lost
            && self.durable > 0
            && self.desired_mode() != UpgradeMode::Stateless
            && !self.stopped_as_stateless
            && !self.deleting()
        {
            self.violations.push(format!(
                "stateful job restored from empty state (durable value {}, purpose {:?})",
                self.durable, d.purpose
            ));
        }
        let expected_min = self.durable;
        let got = match &d.restore {
            RestoreSource::Savepoint { path, .. } => self.storage.get(path).copied(),
            RestoreSource::HaMetadata { .. } => self
                .ha
                .as_ref()
                .and_then(|h| h.checkpoint.as_ref())
                .and_then(|c| self.storage.get(c).copied()),
            _ => None,
        };
        let redeploy = d.purpose == flink_lifecycle::lifecycle::DeployPurpose::SavepointRedeploy
            || matches!(&d.restore, RestoreSource::Savepoint { path, .. } if self.redeploy_requested.contains(path));
        let upgrade_path = self
            .status()
            .and_then(|s| s.job_status().and_then(|j| j.upgrade_savepoint_path.clone()));
        let from_upgrade_savepoint = matches!(&d.restore, RestoreSource::Savepoint { path, .. } if Some(path) == upgrade_path.as_ref());
        let unknowable = lost && from_upgrade_savepoint;
        // As for empty state above: a user whose mode is stateless when the job starts accepts
        // any state, and older state is no worse than the empty state that mode promises.
        if let Some(v) = got
            && v < expected_min
            && !redeploy
            && !unknowable
            && self.desired_mode() != UpgradeMode::Stateless
        {
            self.violations.push(format!(
                "restored value {v} is older than the newest durable state {expected_min} ({:?})",
                d.purpose
            ));
        }
        // A new lineage starts: from the snapshot the user chose, from nothing, or from the one
        // left when the newer state cannot be known.
        if redeploy || unknowable || matches!(d.restore, RestoreSource::Empty) {
            self.durable = got.unwrap_or(0);
        }
    }

    fn check_status_invariants(&mut self, p: &Plan) {
        // Every plan walks the phase machine: starts somewhere, takes only listed transitions,
        // each at most once, and never needs the planner's fault report.
        let unreadable = matches!(&p.step, Step::ReportError { reason, .. } if reason == "InvalidStatus");
        assert!(
            unreadable || !p.phases.is_empty(),
            "a plan ran no phase: {:?}",
            p.reasons
        );
        for (i, w) in p.phases.windows(2).enumerate() {
            assert!(
                flink_lifecycle::lifecycle::TRANSITIONS
                    .iter()
                    .any(|t| t.from == w[0] && t.to == w[1]),
                "transition {} -> {} is not in the table: {:?}",
                w[0],
                w[1],
                p.phases
            );
            assert!(
                !p.phases.windows(2).skip(i + 1).any(|v| v == w),
                "transition taken twice: {:?}",
                p.phases
            );
        }
        assert!(
            !matches!(&p.step, Step::ReportError { reason, .. } if reason == "PlannerFault"),
            "{:?}",
            p.step
        );
        // A savepoint path recorded for the restore is never dropped before the restore, unless
        // the job was stopped as stateless: its state was given up then, as `check_deploy` allows.
        let before = self.upgrade_savepoint_path();
        let after = p
            .status
            .job_status()
            .and_then(|j| j.upgrade_savepoint_path.clone());
        if let (Some(b), None) = (&before, &after)
            && self.durable > 0
            && self.desired_mode() != UpgradeMode::Stateless
            && !self.stopped_as_stateless
            && self
                .cluster
                .as_ref()
                .and_then(|c| c.job.as_ref())
                .is_none_or(|j| j.state != FlinkJobState::Running)
        {
            self.violations
                .push(format!("upgradeSavepointPath {b} dropped while no job runs"));
        }
    }

    // ----- time passes ----------------------------------------------------------------------

    /// Checkpoints stop completing (one hangs in progress from now) or complete again.
    pub fn stall_checkpoints(&mut self, stall: bool) {
        self.checkpoints_stalled_since = match (stall, self.checkpoints_stalled_since) {
            (true, since) => since.or(Some(self.now)),
            (false, _) => None,
        };
    }

    pub fn tick(&mut self) {
        self.now += 10_000;
        let stateless_now = self.desired_mode() == UpgradeMode::Stateless;
        let mut failed_now = false;
        let ha_enabled = self.kind == Kind::App && self.cluster.as_ref().is_some_and(SimCluster::has_ha);
        let mut new_cp: Option<(String, u64)> = None;
        let mut finished_trigger: Option<(String, u64, bool)> = None;
        let trigger = self.trigger.clone();
        let now = self.now;
        let mut ha_update: Option<Ha> = None;
        let mut ha_clear = false;
        let stalled = self.checkpoints_stalled_since.is_some();
        let mut jobs: Vec<&mut SimJob> = match self.kind {
            Kind::SessionJob => self.session_jobs.values_mut().collect(),
            _ => self
                .cluster
                .as_mut()
                .map(|c| {
                    let was_ready = c.ready;
                    if !c.broken {
                        c.ready = true;
                    }
                    if was_ready { c.job.as_mut() } else { None }
                })
                .into_iter()
                .flatten()
                .collect(),
        };
        for j in jobs.iter_mut() {
            match j.state {
                FlinkJobState::Created => j.state = FlinkJobState::Running,
                FlinkJobState::Cancelling => {
                    j.state = FlinkJobState::Canceled;
                    ha_clear = true;
                }
                FlinkJobState::Running if j.fail_next => {
                    j.state = FlinkJobState::Failed;
                    j.end = Some(now);
                    j.fail_next = false;
                    ha_clear = true;
                    failed_now = true;
                }
                FlinkJobState::Running => {
                    j.value += 1;
                    if !stalled {
                        j.completed_checkpoints += 1;
                        let path = format!("file:///cp/{}-{}", j.id, j.value);
                        j.latest_checkpoint = Some((path.clone(), now));
                        new_cp = Some((path.clone(), j.value));
                        if ha_enabled {
                            ha_update = Some(Ha {
                                job_id: j.id.clone(),
                                checkpoint: Some(path),
                            });
                        }
                    }
                    if let Some(t) = trigger
                        .as_ref()
                        .filter(|t| t.job_id == j.id && t.result.is_none())
                    {
                        if t.fail {
                            finished_trigger = Some((String::new(), 0, false));
                        } else {
                            let sp = format!("file:///sp/{}-{}", j.id, j.value);
                            j.latest_savepoint = Some((sp.clone(), now));
                            j.latest_checkpoint = Some((sp.clone(), now));
                            if t.stop {
                                // A finished job's HA metadata goes with it; Flink keeps
                                // savepoints out of the checkpoint store anyway.
                                j.state = FlinkJobState::Finished;
                                ha_clear = true;
                            }
                            finished_trigger = Some((sp, j.value, true));
                        }
                    }
                }
                _ => {}
            }
            if j.state.is_globally_terminal() && j.end.is_none() {
                // Ended somewhere within the tick: statistics are settled by the next loop.
                j.end = Some(now - 5_000);
            }
        }
        if let Some((p, v)) = new_cp {
            self.storage.insert(p, v);
            self.durable = self.durable.max(v);
        }
        if let Some((sp, v, ok)) = finished_trigger
            && let Some(t) = self.trigger.as_mut()
        {
            if ok {
                self.storage.insert(sp.clone(), v);
                // Only the savepoint that stops the job ends its lineage. Flink neither recovers
                // from an intermediate savepoint nor commits side effects with it (1.15+), so a
                // failover to an older checkpoint after one loses nothing.
                if t.stop {
                    self.durable = self.durable.max(v);
                }
                t.result = Some(SavepointTriggerStatus::Completed { location: sp });
            } else {
                t.result = Some(SavepointTriggerStatus::Failed {
                    cause: "declined".into(),
                });
            }
        }
        if failed_now {
            // The job stopped on its own; its state may be discarded if it was stateless then.
            self.stopped_as_stateless = stateless_now;
        }
        if ha_clear && self.kind == Kind::App {
            self.ha = None;
        }
        if let Some(h) = ha_update {
            self.ha = Some(h);
        }
    }

    // ----- driving --------------------------------------------------------------------------

    /// Whether the world is where the user wants it.
    pub fn converged(&self) -> bool {
        if self.deleting() {
            return self.finalizer_released;
        }
        let life = self.lifecycle();
        match (self.kind.clone(), self.desired_state()) {
            (Kind::Session, _) => {
                life == Some(ResourceLifecycleState::Stable)
                    && self.cluster.as_ref().is_some_and(|c| {
                        c.ready
                            && matches!(&c.spec, Some(DeploySpec::Deployment(s))
                                if flink_lifecycle::lifecycle::deployment_diff(s, &self.dep.spec).kind()
                                    < flink_lifecycle::lifecycle::DiffType::Scale)
                    })
            }
            (_, JobState::Suspended) => {
                life == Some(ResourceLifecycleState::Suspended)
                    && self.cluster.is_none()
                    && self.session_jobs.values().all(|j| j.state.is_globally_terminal())
            }
            (Kind::App, JobState::Running) => {
                life == Some(ResourceLifecycleState::Stable)
                    && self.cluster.as_ref().is_some_and(|c| {
                        c.job.as_ref().is_some_and(|j| j.state == FlinkJobState::Running)
                            && matches!(&c.spec, Some(DeploySpec::Deployment(s))
                                if flink_lifecycle::lifecycle::deployment_diff(&s.clone(), &self.dep.spec).kind()
                                    < flink_lifecycle::lifecycle::DiffType::Scale)
                    })
            }
            (Kind::SessionJob, JobState::Running) => {
                life == Some(ResourceLifecycleState::Stable)
                    && self
                        .recorded_job_id()
                        .and_then(|id| self.session_jobs.get(&id))
                        .is_some_and(|j| {
                            j.state == FlinkJobState::Running
                                && matches!(&j.submitted, Some(DeploySpec::SessionJob(s))
                                    if flink_lifecycle::lifecycle::session_job_diff(s, &self.sj.spec).kind()
                                        < flink_lifecycle::lifecycle::DiffType::Scale)
                        })
                    && self
                        .session_jobs
                        .values()
                        .filter(|j| !j.state.is_globally_terminal())
                        .count()
                        == 1
            }
        }
    }

    /// Loops until converged (a few extra loops to be sure nothing else happens) or `max`.
    pub fn run(&mut self, max: usize) -> bool {
        for _ in 0..max {
            if self.converged() {
                return true;
            }
            self.step(None);
        }
        self.converged()
    }

    /// Names of the side-effect steps taken so far (waits and no-ops left out).
    pub fn actions(&self) -> Vec<&'static str> {
        self.steps
            .iter()
            .filter(|s| s.is_side_effect() || matches!(s, Step::ReportError { .. } | Step::MarkStable))
            .map(|s| s.name())
            .collect()
    }

    pub fn last_error(&self) -> Option<String> {
        self.status()
            .and_then(|s| s.error().map(flink_lifecycle::lifecycle::error_message))
    }
}
