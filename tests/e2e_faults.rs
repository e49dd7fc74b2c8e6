//! Faults injected into REAL Flink processes while the operator drives a lifecycle step (the
//! operator's controllers against the in-memory Kubernetes API; the test kubelet runs and
//! restarts the Flink processes as a kubelet restarts crashed containers). Each test asserts the
//! test job's own counter: a stateful job never starts empty or from older state without a person.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/flink.rs"]
mod flink;
#[path = "support/flink_runtime.rs"]
mod flink_runtime;
#[path = "install/mod.rs"]
mod install;
#[path = "support/kube_api/mod.rs"]
mod kube_api;
#[path = "support/kubelet.rs"]
mod kubelet;

use e2e::{Env, job_id, stable_with_new_job};
use flink::{CounterReport, FLINK_1_20};
use flink_lifecycle::api::FlinkDeployment;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(300);

fn args(env: &Env, name: &str, out: &str) -> Value {
    json!([
        "--name",
        name,
        "--out-dir",
        env.path(&format!("{name}/{out}")),
        "--fail-file",
        env.path(&format!("{name}/fail-once")),
        "--sticky-fail-file",
        env.path(&format!("{name}/fail-always")),
    ])
}

async fn counter(out_dir: &str, what: &str, pred: impl Fn(&CounterReport) -> bool) -> CounterReport {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        if let Some(r) = CounterReport::read(Path::new(out_dir))
            && pred(&r)
        {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "counter in {out_dir}: not {what}: {:?}",
            CounterReport::read(Path::new(out_dir))
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn recorded_checkpoint(d: &FlinkDeployment) -> Option<(i64, String)> {
    let r = d
        .status
        .as_ref()?
        .job_status
        .as_ref()?
        .last_completed_checkpoint
        .as_ref()?;
    Some((r.checkpoint_id?, r.path.clone()?))
}

fn error(d: &FlinkDeployment) -> String {
    d.status
        .as_ref()
        .and_then(|s| s.error.clone())
        .unwrap_or_default()
}

/// The state-safety report, reproduced: savepoint mode, no HA, checkpoints every second. The
/// JobManager JVM is SIGKILLed as soon as the upgrade's savepoint trigger id is recorded and
/// restarted like a crashed container; Flink resubmits the job under the same id from empty
/// state. Before the fix the operator retried the savepoint, fell back to last-state, found no
/// checkpoint in the new JobManager's statistics and deployed the new spec from empty state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobmanager_killed_during_a_savepoint_upgrade_never_starts_the_job_empty() {
    let env = Env::start(FLINK_1_20).await;
    let name = "jk";
    let mut spec = env.application(name, "v1_20", "savepoint");
    spec["spec"]["job"]["args"] = args(&env, name, "out-1");
    env.create(&spec).await;
    let d = env.wait_stable_running(name).await;
    let first = job_id(&d);
    counter(&env.path("jk/out-1"), "counting", |r| r.max >= 5).await;
    // The operator has recorded a few of the job's checkpoints.
    env.wait_for(name, "checkpoint 3 recorded", LONG, |d| {
        recorded_checkpoint(d).is_some_and(|(id, _)| id >= 3)
    })
    .await;

    env.patch_spec(name, json!({"job": {"args": args(&env, name, "out-2")}}))
        .await;
    env.wait_for(name, "savepoint trigger recorded", LONG, |d| {
        d.status
            .as_ref()
            .and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.savepoint_info.as_ref())
            .is_some_and(|i| i.trigger_id.is_some())
    })
    .await;
    let jm_launches = env.kubelet.launches_of(name, "jobmanager");
    assert!(env.kubelet.kill(name, "jobmanager"), "the JobManager was running");

    // The operator sees the resubmitted job, stops and says what it knows.
    let d = env
        .wait_for(name, "stopped with the rewound job reported", LONG, |d| {
            error(d).contains("resubmitted")
        })
        .await;
    let (_, known) = recorded_checkpoint(&d).expect("the recorded checkpoint is kept");
    assert!(known.contains(&first) && known.contains("/chk-"), "{known}");
    assert!(error(&d).contains(&known), "the message names it: {}", error(&d));
    assert_eq!(job_id(&d), first, "the same job id, resubmitted by Flink");
    assert_eq!(
        env.kubelet.launches_of(name, "jobmanager"),
        jm_launches + 1,
        "only the kubelet's restart: the operator deployed nothing"
    );
    // Hold for a while: nothing is deployed from the rewound job, no new spec runs.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(env.kubelet.launches_of(name, "jobmanager"), jm_launches + 1);
    assert!(
        CounterReport::read(Path::new(&env.path("jk/out-2"))).is_none(),
        "the new spec never ran from the rewound state"
    );
    let d = env.deployments().get(name).await.unwrap();
    assert!(error(&d).contains("resubmitted"), "the stop holds: {}", error(&d));

    // The way out the message names: a savepoint redeploy from the recorded checkpoint.
    env.patch_spec(
        name,
        json!({"job": {"initialSavepointPath": known, "savepointRedeployNonce": 1}}),
    )
    .await;
    env.wait_for(name, "redeployed", LONG, stable_with_new_job(&first))
        .await;
    let r = counter(&env.path("jk/out-2"), "counting after the redeploy", |r| {
        r.max > 0
    })
    .await;
    assert!(
        r.restored_min > 0,
        "the job continued from its recorded checkpoint, not from empty state: {r:?}"
    );
}

fn lifecycle(d: &FlinkDeployment) -> String {
    d.status
        .as_ref()
        .and_then(|s| s.lifecycle_state)
        .map(|l| format!("{l:?}"))
        .unwrap_or_default()
}

/// A TaskManager SIGKILLed as soon as the upgrade's savepoint trigger is recorded: Flink fails
/// that savepoint (its tasks are gone) and refuses new ones until the tasks run again. The
/// upgrade stays under way (no flip to Deployed), asks again after a pause, and completes from
/// a savepoint of the job's own state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taskmanager_killed_during_a_savepoint_upgrade_delays_it_without_losing_state() {
    let env = Env::start(FLINK_1_20).await;
    let name = "tk";
    let mut spec = env.application(name, "v1_20", "savepoint");
    spec["spec"]["job"]["args"] = args(&env, name, "out-1");
    env.create(&spec).await;
    let d = env.wait_stable_running(name).await;
    let first = job_id(&d);
    counter(&env.path("tk/out-1"), "counting", |r| r.max >= 5).await;

    env.patch_spec(name, json!({"job": {"args": args(&env, name, "out-2")}}))
        .await;
    env.wait_for(name, "savepoint trigger recorded", LONG, |d| {
        d.status
            .as_ref()
            .and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.savepoint_info.as_ref())
            .is_some_and(|i| i.trigger_id.is_some())
    })
    .await;
    assert!(env.kubelet.kill(name, "taskmanager"), "the TaskManager was running");

    // Until the new job runs stable, the resource is never reported Deployed/Stable with the
    // old job, and never starts from empty state.
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + LONG;
    let d = loop {
        let d = env.deployments().get(name).await.unwrap();
        let l = lifecycle(&d);
        if seen.last() != Some(&l) {
            seen.push(l.clone());
        }
        if stable_with_new_job(&first)(&d) {
            break d;
        }
        assert!(tokio::time::Instant::now() < deadline, "not upgraded: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let before_new: Vec<&String> = seen.iter().take_while(|l| l.as_str() != "Deployed").collect();
    assert!(
        before_new.iter().all(|l| l.as_str() == "Upgrading"),
        "the upgrade stayed under way until the new job was deployed: {seen:?}"
    );
    assert_ne!(job_id(&d), first);
    let r = counter(&env.path("tk/out-2"), "counting after the upgrade", |r| r.max > 0).await;
    assert!(r.restored_min > 0, "the keyed counter continued: {r:?}");
}

/// The control cell and the steady state: a stateless job whose JobManager is killed keeps
/// running (nothing was promised), and a last-state job without HA whose JobManager is killed
/// while it runs is reported, not marked stable and not upgraded from its rewound state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobmanager_killed_while_running_is_reported_for_stateful_jobs_only() {
    let env = Env::start(FLINK_1_20).await;
    for (name, mode) in [("sl", "stateless"), ("ls", "last-state")] {
        let mut spec = env.application(name, "v1_20", mode);
        spec["spec"]["job"]["args"] = args(&env, name, "out-1");
        env.create(&spec).await;
        let d = env.wait_stable_running(name).await;
        counter(&env.path(&format!("{name}/out-1")), "counting", |r| r.max >= 5).await;
        env.wait_for(name, "a checkpoint recorded", LONG, |d| {
            recorded_checkpoint(d).is_some_and(|(id, _)| id >= 2)
        })
        .await;
        let first = job_id(&d);
        assert!(env.kubelet.kill(name, "jobmanager"));
        if mode == "stateless" {
            // Resubmitted and running again; an upgrade then goes ahead as usual.
            env.patch_spec(name, json!({"job": {"args": args(&env, name, "out-2")}}))
                .await;
            let d = env
                .wait_for(name, "upgraded", LONG, stable_with_new_job(&first))
                .await;
            assert!(!error(&d).contains("resubmitted"), "{}", error(&d));
        } else {
            let d = env
                .wait_for(name, "the rewound job reported", LONG, |d| {
                    error(d).contains("resubmitted")
                })
                .await;
            assert_eq!(job_id(&d), first);
            // An upgrade asked for now would carry the rewound state forward: it waits.
            env.patch_spec(name, json!({"job": {"args": args(&env, name, "out-2")}}))
                .await;
            tokio::time::sleep(Duration::from_secs(6)).await;
            let d = env.deployments().get(name).await.unwrap();
            assert_eq!(job_id(&d), first, "not upgraded from the rewound job");
            assert!(error(&d).contains("resubmitted"));
            assert!(CounterReport::read(Path::new(&env.path("ls/out-2"))).is_none());
        }
    }
}
