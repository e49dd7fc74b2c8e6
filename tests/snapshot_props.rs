//! The FlinkStateSnapshot planner over random histories: a model of Flink (its job, its
//! savepoint and checkpoint operations, JobManager restarts that forget triggers, a REST API that
//! stops answering), the referenced resource (upgraded, suspended, failed, deleted, its restore
//! point moved onto the snapshot's path), deletion, and operator crashes before or after the
//! status write. Each history checks the snapshot's promises after every step and, once the
//! incidents stop, that it ends and its deletion completes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use flink_lifecycle::api::{
    FlinkJobState, FlinkStateSnapshotSpec, FlinkStateSnapshotStatus, JobKind, JobReference, SavepointSpec,
    SnapshotState,
};
use flink_lifecycle::lifecycle::snapshot::{
    OperationSeen, SnapshotInput, SnapshotStep, SnapshotTarget, TargetJob, plan_snapshot, retry_delay,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const START_MS: i64 = 1_800_000_000_000;
const JOB_ID: &str = "0000000000000000000000000000000a";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Job {
    Running,
    /// Running, while its resource is being upgraded or rolled back.
    Busy,
    Initializing,
    Suspended,
    Failed,
    /// The resource is gone.
    Missing,
}

#[derive(Clone, Copy, Debug)]
enum Crash {
    None,
    /// The plan's status write is lost and its step not taken.
    BeforeStatusWrite,
    /// The status is written, the step not taken.
    AfterStatusWrite,
}

#[derive(Clone, Debug)]
enum Op {
    Reconcile(Crash),
    Tick(u64),
    /// Flink finishes the oldest operation in flight: with success or not.
    FlinkFinishes(bool),
    /// A JobManager without HA restarts: operations in flight are forgotten, the job resubmitted.
    JobManagerRestart,
    TargetBecomes(Job),
    Rest(bool),
    /// The resource's next restore now reads the snapshot's path (or no longer does).
    ProtectSnapshotPath(bool),
    Delete,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop_oneof![Just(Crash::None), Just(Crash::None), Just(Crash::BeforeStatusWrite), Just(Crash::AfterStatusWrite)]
            .prop_map(Op::Reconcile),
        3 => (1u64..700).prop_map(Op::Tick),
        3 => any::<bool>().prop_map(Op::FlinkFinishes),
        1 => Just(Op::JobManagerRestart),
        2 => prop_oneof![
            Just(Job::Running),
            Just(Job::Busy),
            Just(Job::Initializing),
            Just(Job::Suspended),
            Just(Job::Failed),
            Just(Job::Missing),
        ]
        .prop_map(Op::TargetBecomes),
        1 => any::<bool>().prop_map(Op::Rest),
        1 => any::<bool>().prop_map(Op::ProtectSnapshotPath),
        1 => Just(Op::Delete),
    ]
}

fn spec() -> impl Strategy<Value = FlinkStateSnapshotSpec> {
    (
        0u8..4,
        any::<bool>(),
        prop_oneof![Just(-1), Just(0), Just(1), Just(3)],
    )
        .prop_map(|(kind, dispose, backoff)| {
            let reference = JobReference {
                kind: Some(JobKind::FlinkDeployment),
                name: Some("counter".into()),
            };
            let savepoint = |exists: bool| SavepointSpec {
                dispose_on_delete: Some(dispose),
                already_exists: exists.then_some(true),
                path: exists.then(|| "file:///sp/savepoint-existing".to_string()),
                ..Default::default()
            };
            FlinkStateSnapshotSpec {
                job_reference: Some(reference),
                savepoint: (kind != 2).then(|| savepoint(kind == 3)),
                checkpoint: (kind == 2).then(Default::default),
                backoff_limit: Some(backoff),
            }
        })
}

#[derive(Clone, Debug, PartialEq)]
enum Flight {
    InProgress,
    Completed(String),
    Failed,
}

struct World {
    spec: FlinkStateSnapshotSpec,
    status: Option<FlinkStateSnapshotStatus>,
    deleting: bool,
    released: bool,
    job: Job,
    rest_up: bool,
    now_ms: i64,
    /// Flink's operations by trigger id, in the order they were sent.
    flights: Vec<(String, Flight)>,
    /// Every trigger id ever sent, and when.
    sent: BTreeMap<String, i64>,
    files: BTreeSet<String>,
    protect_snapshot_path: bool,
    next_id: u64,
    /// The time of the failure that made the last attempt fail, with the failure count then.
    last_failure: Option<(i64, i32)>,
}

impl World {
    fn new(spec: FlinkStateSnapshotSpec) -> Self {
        Self {
            spec,
            status: None,
            deleting: false,
            released: false,
            job: Job::Running,
            rest_up: true,
            now_ms: START_MS,
            flights: Vec::new(),
            sent: BTreeMap::new(),
            files: BTreeSet::from(["file:///sp/savepoint-existing".to_string()]),
            protect_snapshot_path: false,
            next_id: 0,
            last_failure: None,
        }
    }

    fn protected(&self) -> Vec<String> {
        let mut paths = vec!["file:///sp/savepoint-restore-point".to_string()];
        if self.protect_snapshot_path
            && let Some(p) = self.status.as_ref().and_then(|s| s.path.clone())
        {
            paths.push(p);
        }
        paths
    }

    fn target(&self) -> SnapshotTarget {
        let state = match self.job {
            Job::Missing => {
                return SnapshotTarget::Missing("FlinkDeployment ns/counter was not found".into());
            }
            Job::Running | Job::Busy => FlinkJobState::Running,
            Job::Initializing => FlinkJobState::Initializing,
            Job::Suspended => FlinkJobState::Finished,
            Job::Failed => FlinkJobState::Failed,
        };
        SnapshotTarget::Found(TargetJob {
            kind: JobKind::FlinkDeployment,
            cluster: "counter".into(),
            job_id: Some(JOB_ID.into()),
            job_state: Some(state),
            suspended: self.job == Job::Suspended,
            busy: self.job == Job::Busy,
            savepoint_dir: Some("file:///sp".into()),
            checkpoints_supported: true,
            protected_paths: self.protected(),
        })
    }

    fn operation(&self) -> Option<OperationSeen> {
        let status = self.status.as_ref()?;
        if status.state() != SnapshotState::InProgress {
            return None;
        }
        let id = status.trigger_id.as_deref()?;
        if !self.rest_up {
            return Some(OperationSeen::Unreachable("connection refused".into()));
        }
        Some(match self.flights.iter().find(|(t, _)| t == id).map(|(_, f)| f) {
            None => OperationSeen::Unknown,
            Some(Flight::InProgress) => OperationSeen::InProgress,
            Some(Flight::Completed(path)) => OperationSeen::Completed {
                path: Some(path.clone()),
            },
            Some(Flight::Failed) => OperationSeen::Failed {
                cause: "Checkpoint Coordinator is suspending".into(),
            },
        })
    }

    fn job_accepts_calls(&self) -> bool {
        self.rest_up && matches!(self.job, Job::Running | Job::Busy)
    }

    fn is_savepoint(&self) -> bool {
        self.spec.savepoint.is_some()
    }

    fn limit(&self) -> i32 {
        self.spec.backoff_limit.unwrap_or(-1)
    }

    /// One reconcile; returns its requeue. Panics with the broken promise.
    fn reconcile(&mut self, crash: Crash) -> Option<Duration> {
        if self.released {
            return None;
        }
        let operation = self.operation();
        let target = self.target();
        let trigger_id = format!("{:032x}", self.next_id + 1);
        let plan = plan_snapshot(&SnapshotInput {
            namespace: "ns",
            spec: &self.spec,
            status: self.status.as_ref(),
            deleting: self.deleting,
            target: &target,
            operation: operation.as_ref(),
            now_ms: self.now_ms,
            new_trigger_id: &trigger_id,
            reconcile_interval: Duration::from_secs(60),
        });
        let before = self.status.clone().unwrap_or_default();
        let after = &plan.status;

        // A final state stays final, with its path, until the object is deleted.
        if !self.deleting
            && matches!(
                before.state(),
                SnapshotState::Completed | SnapshotState::Failed | SnapshotState::Abandoned
            )
        {
            assert_eq!(after.state(), before.state(), "{}", plan.reason);
            assert_eq!(after.path, before.path, "{}", plan.reason);
            assert_eq!(plan.step, SnapshotStep::None);
        }
        // FAILED only once the attempts allowed are used up, or for a spec that can never work.
        if after.state() == SnapshotState::Failed && before.state() != SnapshotState::Failed {
            let exhausted = self.limit() >= 0 && after.failures > self.limit();
            assert!(
                exhausted || after.failures == 0,
                "FAILED early: {after:?} ({})",
                plan.reason
            );
        }
        // A completed snapshot's path is where Flink put it.
        if after.state() == SnapshotState::Completed && before.state() == SnapshotState::InProgress {
            let id = before.trigger_id.clone().unwrap();
            let flown = self
                .flights
                .iter()
                .find(|(t, _)| *t == id)
                .map(|(_, f)| f.clone());
            match flown {
                Some(Flight::Completed(p)) => assert_eq!(after.path.as_deref(), Some(p.as_str())),
                other => panic!("COMPLETED without Flink completing {id}: {other:?}"),
            }
        }
        if matches!(
            plan.step,
            SnapshotStep::ReleaseFinalizer | SnapshotStep::Dispose { .. }
        ) {
            assert!(self.deleting, "finalizer released without a deletion");
        }
        match &plan.step {
            SnapshotStep::TriggerSavepoint { trigger_id, .. }
            | SnapshotStep::TriggerCheckpoint { trigger_id, .. } => {
                // Write-ahead: the trigger is recorded before it is sent.
                assert_eq!(after.state(), SnapshotState::InProgress);
                assert_eq!(after.trigger_id.as_ref(), Some(trigger_id));
                assert!(!self.deleting || before.state() == SnapshotState::InProgress);
                assert_eq!(
                    matches!(plan.step, SnapshotStep::TriggerSavepoint { .. }),
                    self.is_savepoint()
                );
            }
            SnapshotStep::Dispose { path, .. } => {
                assert!(
                    self.is_savepoint()
                        && self.spec.savepoint.as_ref().unwrap().dispose_on_delete == Some(true)
                );
                assert_eq!(before.state(), SnapshotState::Completed);
                assert_eq!(before.path.as_ref(), Some(path));
                assert!(
                    !self.protected().contains(path),
                    "disposing of the restore point {path}"
                );
            }
            _ => {}
        }

        if matches!(crash, Crash::BeforeStatusWrite) {
            return Some(Duration::ZERO);
        }
        self.status = Some(plan.status.clone());
        if after.failures > before.failures {
            self.last_failure = Some((self.now_ms, after.failures));
        }
        if matches!(crash, Crash::AfterStatusWrite) {
            return Some(Duration::ZERO);
        }
        self.execute(&plan.step);
        plan.requeue
    }

    fn execute(&mut self, step: &SnapshotStep) {
        match step {
            SnapshotStep::None => {}
            SnapshotStep::TriggerSavepoint { trigger_id, .. }
            | SnapshotStep::TriggerCheckpoint { trigger_id, .. } => {
                if !self.job_accepts_calls() {
                    return;
                }
                self.next_id += 1;
                if !self.sent.contains_key(trigger_id) {
                    // One operation at a time: a new trigger only once the last one is over.
                    let in_flight: Vec<_> = self
                        .flights
                        .iter()
                        .filter(|(t, f)| t != trigger_id && *f == Flight::InProgress)
                        .map(|(t, _)| t.clone())
                        .collect();
                    assert!(in_flight.is_empty(), "{trigger_id} sent while {in_flight:?} runs");
                    // A retry waits out its backoff.
                    if let Some((failed_at, failures)) = self.last_failure {
                        let due = failed_at + i64::try_from(retry_delay(failures).as_millis()).unwrap();
                        assert!(self.now_ms >= due, "retried at {} before {due}", self.now_ms);
                    }
                    self.sent.insert(trigger_id.clone(), self.now_ms);
                    let limit = self.limit();
                    if limit >= 0 {
                        let allowed = usize::try_from(limit).unwrap() + 1;
                        assert!(
                            self.sent.len() <= allowed,
                            "{} attempts, backoffLimit {limit}",
                            self.sent.len()
                        );
                    }
                }
                // Flink's triggers are idempotent per id.
                if !self.flights.iter().any(|(t, _)| t == trigger_id) {
                    self.flights.push((trigger_id.clone(), Flight::InProgress));
                }
            }
            SnapshotStep::Dispose { path, .. } => {
                if !self.job_accepts_calls() {
                    return;
                }
                assert!(
                    !self.protected().contains(path),
                    "the restore point {path} was disposed of"
                );
                self.files.remove(path);
                self.released = true;
            }
            SnapshotStep::ReleaseFinalizer => self.released = true,
        }
    }

    fn flink_finishes(&mut self, ok: bool) {
        if let Some((id, flight)) = self.flights.iter_mut().find(|(_, f)| *f == Flight::InProgress) {
            if ok {
                let path = if self.spec.savepoint.is_some() {
                    format!("file:///sp/savepoint-{}", &id[24..])
                } else {
                    format!("file:///cp/{JOB_ID}/chk-{}", &id[28..])
                };
                self.files.insert(path.clone());
                *flight = Flight::Completed(path);
            } else {
                *flight = Flight::Failed;
            }
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Reconcile(crash) => {
                self.reconcile(*crash);
            }
            Op::Tick(s) => self.now_ms += i64::try_from(*s).unwrap() * 1000,
            Op::FlinkFinishes(ok) => self.flink_finishes(*ok),
            Op::JobManagerRestart => {
                // Operations in flight die with the JobManager; finished ones are forgotten too.
                self.flights.clear();
            }
            Op::TargetBecomes(job) => {
                if !matches!(job, Job::Running | Job::Busy) {
                    self.flights.retain(|(_, f)| *f != Flight::InProgress);
                }
                self.job = *job;
            }
            Op::Rest(up) => self.rest_up = *up,
            Op::ProtectSnapshotPath(on) => self.protect_snapshot_path = *on,
            Op::Delete => self.deleting = true,
        }
    }

    /// Incidents over: the job runs, Flink answers and finishes what it is asked. Reconciles
    /// follow the planner's requeues.
    fn settle(&mut self, until: impl Fn(&World) -> bool) {
        self.rest_up = true;
        if self.job != Job::Missing {
            self.job = Job::Running;
        }
        for _ in 0..200 {
            if until(self) {
                return;
            }
            let requeue = self.reconcile(Crash::None);
            self.flink_finishes(true);
            let wait = requeue
                .unwrap_or(Duration::from_secs(60))
                .max(Duration::from_millis(1));
            self.now_ms += i64::try_from(wait.as_millis()).unwrap();
        }
        panic!("did not settle: {:?}", self.status);
    }
}

fn finished(w: &World) -> bool {
    matches!(
        w.status.as_ref().map(|s| s.state()),
        Some(SnapshotState::Completed | SnapshotState::Failed | SnapshotState::Abandoned)
    ) || w.released
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPS_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn snapshots_keep_their_promises(spec in spec(), ops in prop::collection::vec(op(), 0..40)) {
        let mut w = World::new(spec);
        for op in &ops {
            w.apply(op);
        }
        // Once incidents stop, the snapshot ends (or is released, if deleted meanwhile).
        w.settle(finished);
        // Suspended or failed targets abandon it; a running one completes it unless it failed
        // too often.
        let triggered = w.spec.savepoint.as_ref().is_none_or(|s| s.already_exists != Some(true));
        if !w.released && w.job == Job::Running && triggered {
            let state = w.status.as_ref().unwrap().state();
            if state == SnapshotState::Completed {
                let path = w.status.as_ref().unwrap().path.clone().unwrap();
                prop_assert!(w.files.contains(&path), "completed at {path}, which Flink never wrote");
            }
        }
        // Deleting it always ends, and disposes of a completed savepoint when asked and allowed.
        let completed = w
            .status
            .as_ref()
            .filter(|s| s.state() == SnapshotState::Completed)
            .and_then(|s| s.path.clone());
        w.deleting = true;
        w.protect_snapshot_path = false;
        w.job = Job::Running;
        w.settle(|w| w.released);
        let disposes = w.spec.savepoint.as_ref().is_some_and(|s| s.dispose_on_delete == Some(true));
        if let Some(path) = completed
            && disposes
        {
            prop_assert!(!w.files.contains(&path), "{path} not disposed of");
        }
    }
}
