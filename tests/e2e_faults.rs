//! Faults injected into REAL Flink processes while the operator drives a lifecycle step (the
//! operator's controllers against the in-memory Kubernetes API; the test kubelet runs and
//! restarts the Flink processes as a kubelet restarts crashed containers). Each test asserts the
//! test job's own counter: a stateful job never starts empty or from older state without a person.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/argo_history.rs"]
mod argo_history;
#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/fault_cells.rs"]
mod fault_cells;
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
#[path = "support/status_of.rs"]
mod status_of;

use e2e::{
    Env, LONG, condition, counter, error, job_id, lifecycle, newest_retained_checkpoint, newest_savepoint_of,
    recorded_checkpoint, savepoints_in, stable_with_new_job, trigger_recorded,
};
use flink::{CounterReport, FLINK_1_20};
use flink_lifecycle::api::FlinkDeployment;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

fn args(env: &Env, name: &str, out: &str) -> Value {
    e2e::job_args(env, name, out, &[])
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
    // The operator has recorded the job's checkpoints for a while. (A rewound run numbers its
    // checkpoints from 1 again in the same directory: with only a few recorded, it can reach
    // the recorded id within the seconds the operator needs to cancel it; docs/state-safety.md.)
    env.wait_for(name, "checkpoint 15 recorded", LONG, |d| {
        recorded_checkpoint(d).is_some_and(|(id, _)| id >= 15)
    })
    .await;

    env.patch_spec(name, json!({"job": {"args": args(&env, name, "out-2")}}))
        .await;
    env.wait_for(name, "savepoint trigger recorded", LONG, |d| {
        trigger_recorded(d.status.as_ref().and_then(|s| s.job_status.as_ref()))
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
    // The rewound job was cancelled before its own checkpoints (ids from 1 again, in the same
    // directory) could overwrite and discard the recorded one.
    assert_eq!(
        d.status
            .as_ref()
            .and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.state)
            .map(|s| s.as_str()),
        Some("CANCELED")
    );
    // What a person does, as the message says: the newest retained checkpoint of the job.
    let (recorded_id, _) = recorded_checkpoint(&d).unwrap();
    let known = e2e::snapshot_a_person_restores(&env, name, &first, recorded_id);

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

/// A TaskManager SIGKILLed as soon as the upgrade's savepoint trigger is recorded: Flink fails
/// that savepoint (its tasks are gone) and refuses new ones until the tasks run again. The
/// upgrade stays under way (no flip to Deployed) and completes from the job's own state: a
/// savepoint taken once the tasks run again, or, if the job is still restarting when the operator
/// asks again, its newest checkpoint (the last-state fallback, on by default, as in the
/// reference operator; Flink's own restart restores that checkpoint too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taskmanager_killed_during_a_savepoint_upgrade_delays_it_without_losing_state() {
    let env = Env::start(FLINK_1_20).await;
    let name = "tk";
    let mut spec = env.application(name, "v1_20", "savepoint");
    spec["spec"]["job"]["args"] = args(&env, name, "out-1");
    env.create(&spec).await;
    // The job must hold durable state before the fault: a job with no completed checkpoint is
    // restarted from empty state by Flink itself when its TaskManager dies, and the upgrade's
    // savepoint then rightly holds that. (In a CI run the operator, polling at 250 ms once the
    // restarted tasks ran, took the savepoint before any record was counted again.)
    let (first, held) = fault_cells::running_with_recorded_state(&env, name, 2).await;

    env.patch_spec(name, json!({"job": {"args": args(&env, name, "out-2")}}))
        .await;
    env.wait_for(name, "savepoint trigger recorded", LONG, |d| {
        trigger_recorded(d.status.as_ref().and_then(|s| s.job_status.as_ref()))
    })
    .await;
    assert!(
        env.kubelet.kill(name, "taskmanager"),
        "the TaskManager was running"
    );

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
    let restored = e2e::restored_from(&env, &d).await.unwrap_or_default();
    eprintln!("e2e-faults: tk: the upgrade restored {restored}");
    assert!(
        restored.contains(&format!("savepoint-{}", &first[..6]))
            || restored.contains(&format!("/checkpoints/{first}/chk-")),
        "the new job started from a savepoint or checkpoint of the old one: {restored:?}"
    );
    let r = counter(&env.path("tk/out-2"), "counting after the upgrade", |r| r.max > 0).await;
    assert!(
        r.restored_min >= held && r.restored_min > 0,
        "the keyed counter continued from at least the state recorded before the fault ({held}): {r:?}"
    );
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

fn args_of(d: &FlinkDeployment) -> String {
    serde_json::to_string(&d.spec.job.as_ref().and_then(|j| j.args.clone())).unwrap_or_default()
}

/// Several savepoint-mode deployments upgraded at the same moment, then edited again while the
/// first upgrades are in flight (the write-ahead report: a reconcile planned from a cache that
/// lagged the operator's own trigger write sent a second stop-with-savepoint, Flink declined, and
/// the job fell back to an older checkpoint). Every job ends on the newest spec with its state
/// continued, with at most one savepoint per upgrade. `make test` proves the same scenario on
/// the real control plane (`real_cluster_faults`, cell d); this one runs with `E2E_FAULTS_ALL=1`
/// (`make soak-faults`, `make soak-concurrent`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upgrades_edited_mid_flight_keep_each_jobs_state() {
    if !fault_cells::runs(
        "e2e-faults",
        &[],
        "concurrent_upgrades_edited_mid_flight_keep_each_jobs_state",
    ) {
        return;
    }
    let env = Env::start(FLINK_1_20).await;
    let names = ["c1", "c2", "c3"];
    for name in names {
        let mut spec = env.application(name, "v1_20", "savepoint");
        spec["spec"]["job"]["args"] = args(&env, name, "out-1");
        env.create(&spec).await;
    }
    let mut first = Vec::new();
    for name in names {
        let d = env.wait_stable_running(name).await;
        counter(&env.path(&format!("{name}/out-1")), "counting", |r| r.max >= 3).await;
        first.push(job_id(&d));
    }
    for name in names {
        env.patch_spec(name, json!({"job": {"args": args(&env, name, "out-2")}}))
            .await;
    }
    for name in names {
        env.wait_for(name, "first upgrade under way", LONG, |d| {
            lifecycle(d) == "Upgrading" || job_id(d) != first[0]
        })
        .await;
        env.patch_spec(name, json!({"job": {"args": args(&env, name, "out-3")}}))
            .await;
    }
    for (i, name) in names.iter().enumerate() {
        let wanted = serde_json::to_string(&args(&env, name, "out-3")).unwrap();
        let d = env
            .wait_for(name, "on the newest spec", LONG, |d| {
                stable_with_new_job(&first[i])(d)
                    && args_of(d) == wanted
                    && d.status
                        .as_ref()
                        .and_then(|s| s.reconciliation_status.as_ref())
                        .and_then(|r| r.last_reconciled_spec.as_deref())
                        .is_some_and(|s| s.contains("out-3"))
            })
            .await;
        let r = counter(&env.path(&format!("{name}/out-3")), "counting", |r| r.max > 0).await;
        assert!(r.restored_min > 0, "{name}: state continued: {r:?}");
        assert!(error(&d).is_empty(), "{name}: {}", error(&d));
        let taken = savepoints_in(&env.path(&format!("{name}/savepoints")));
        assert!(
            (1..=2).contains(&taken),
            "{name}: one savepoint per upgrade, {taken} taken"
        );
    }
}

/// An upgrade whose new spec makes the job's `main()` throw: the JobManager is up and Flink
/// reports the job FAILED before it ran. It never becomes stable within the readiness timeout
/// and holds no state of its own, so it is rolled back to the last stable spec from the
/// upgrade's savepoint (before, it stayed FAILED for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_whose_main_throws_is_rolled_back_from_its_savepoint() {
    let env = Env::start(FLINK_1_20).await;
    let name = "mt";
    let mut spec = env.application(name, "v1_20", "savepoint");
    spec["spec"]["job"]["args"] = args(&env, name, "out-1");
    let conf = spec["spec"]["flinkConfiguration"].as_object_mut().unwrap();
    conf.insert(
        "kubernetes.operator.deployment.rollback.enabled".into(),
        json!("true"),
    );
    conf.insert(
        "kubernetes.operator.deployment.readiness.timeout".into(),
        json!("20 s"),
    );
    env.create(&spec).await;
    let d = env.wait_stable_running(name).await;
    let first = job_id(&d);
    counter(&env.path("mt/out-1"), "counting", |r| r.max >= 5).await;

    // The test job's main() throws on an unknown argument.
    let mut bad = args(&env, name, "out-2");
    bad.as_array_mut()
        .unwrap()
        .extend([json!("--no-such-argument"), json!("1")]);
    env.patch_spec(name, json!({"job": {"args": bad}})).await;
    let d = env
        .wait_for(name, "rolled back", LONG, |d| {
            lifecycle(d) == "RolledBack"
                && d.status
                    .as_ref()
                    .and_then(|s| s.job_status.as_ref())
                    .and_then(|j| j.state)
                    .map(|j| j.as_str())
                    == Some("RUNNING")
                && job_id(d) != first
        })
        .await;
    let stats = env
        .flink(name)
        .checkpoint_statistics(&job_id(&d))
        .await
        .expect("checkpoint statistics of the rolled-back job");
    let restored = stats.restored_path().unwrap_or_default().to_string();
    assert!(
        restored.contains("/savepoints/savepoint-"),
        "the rollback restored the upgrade's savepoint: {restored}"
    );
    let r = counter(&env.path("mt/out-1"), "counting after the rollback", |r| {
        r.attempt >= 0 && r.restored_min > 0
    })
    .await;
    assert!(r.restored_min > 0, "{r:?}");
}

/// A session cluster runs a job submitted outside the operator (`flink run` against its REST
/// API). Deleting the FlinkDeployment waits while that job runs (the reference's
/// `session.deletion.block-on-unmanaged-jobs`, on by default), with a message and an event that
/// name it; repeated, that event is one Event with a count. Once the job is cancelled, the
/// cluster is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_session_cluster_waits_for_jobs_nobody_manages() {
    use flink_lifecycle::flink::JarRunRequest;
    use k8s_openapi::api::events::v1::Event as KubeEvent;
    use kube::api::{Api, DeleteParams, ListParams};

    let env = Env::start(FLINK_1_20).await;
    let mut cluster = env.application("session", "v1_20", "savepoint");
    cluster["spec"].as_object_mut().unwrap().remove("job");
    env.create(&cluster).await;
    env.wait_for("session", "a ready session cluster", LONG, |d| {
        lifecycle(d) == "Stable"
    })
    .await;

    let flink = env.flink("session");
    let jar = flink.upload_jar(&env.jar).await.expect("upload");
    let run = JarRunRequest {
        entry_class: Some(flink::TestJob::MAIN_CLASS.to_string()),
        program_args_list: serde_json::from_value(args(&env, "outside", "out")).unwrap(),
        ..Default::default()
    };
    let submitted = flink.run_jar(&jar, &run).await.expect("run");
    let outside = submitted.job_id.clone();
    counter(&env.path("outside/out"), "counting", |r| r.max >= 1).await;

    env.deployments()
        .delete("session", &DeleteParams::default())
        .await
        .unwrap();
    let d = env
        .wait_for("session", "deletion blocked by the unmanaged job", LONG, |d| {
            d.metadata.deletion_timestamp.is_some()
        })
        .await;
    assert!(d.metadata.deletion_timestamp.is_some());
    // Several reconciles later the job still runs and the cluster is still there.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let jobs = flink.jobs_overview().await.expect("the cluster still answers");
    assert_eq!(
        jobs.job(&outside)
            .map(|j| j.state.as_str().to_string())
            .as_deref(),
        Some("RUNNING"),
        "the unmanaged job was not killed"
    );
    let events: Api<KubeEvent> = Api::namespaced(env.kube.client(), "default");
    let blocked: Vec<KubeEvent> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("CleanupFailed"))
        .collect();
    assert_eq!(blocked.len(), 1, "one Event, repeated as a series: {blocked:?}");
    let note = blocked[0].note.clone().unwrap_or_default();
    assert!(note.contains(&outside), "the event names the job: {note}");
    assert!(
        blocked[0].series.as_ref().is_some_and(|s| s.count >= 2),
        "repeats are counted: {:?}",
        blocked[0].series
    );

    flink.cancel_job(&outside).await.expect("cancel");
    let deadline = tokio::time::Instant::now() + LONG;
    while env.deployments().get_opt("session").await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not deleted after the cancel"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A JobManager frozen (SIGSTOP) for 40 s: Kubernetes still reports it up, its REST API does not
/// answer. Status says so within seconds (the job state shown is as last observed) and the
/// resource is Degraded after 30 s; nothing is restarted for it; once thawed, all clears and the
/// same job runs on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_jobmanager_is_reported_and_clears() {
    let env = Env::start(FLINK_1_20).await;
    let name = "fz";
    let mut spec = env.application(name, "v1_20", "savepoint");
    spec["spec"]["job"]["args"] = args(&env, name, "out-1");
    env.create(&spec).await;
    let d = env.wait_stable_running(name).await;
    let first = job_id(&d);
    assert_eq!(
        condition(&d, "FlinkRestAnswering").map(|c| c.0).as_deref(),
        Some("True")
    );
    assert!(env.kubelet.freeze(name, "jobmanager", true));
    env.wait_for(name, "reported unanswered", LONG, |d| {
        condition(d, "FlinkRestAnswering").is_some_and(|c| c.0 == "False")
    })
    .await;
    let d = env
        .wait_for(name, "Degraded after 30 s", LONG, |d| {
            condition(d, "Degraded").is_some_and(|c| c.0 == "True" && c.1 == "FlinkRestUnanswered")
        })
        .await;
    e2e::assert_argo_health(&d, "Degraded", "not answered");
    assert!(env.kubelet.freeze(name, "jobmanager", false));
    let d = env
        .wait_for(name, "answering again", LONG, |d| {
            condition(d, "FlinkRestAnswering").is_some_and(|c| c.0 == "True")
                && condition(d, "Degraded").is_some_and(|c| c.0 == "False")
        })
        .await;
    assert_eq!(job_id(&d), first, "nothing was restarted for a silent API");
    assert_eq!(env.kubelet.launches_of(name, "jobmanager"), 1);
}

fn session_job(env: &Env, name: &str, out: &str) -> flink_lifecycle::api::FlinkSessionJob {
    serde_json::from_value(json!({
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkSessionJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "deploymentName": "session",
            "job": {
                "jarURI": format!("file://{}", env.jar.display()),
                "entryClass": flink::TestJob::MAIN_CLASS,
                "args": args(env, name, out),
                "parallelism": 1,
                "upgradeMode": "savepoint",
                "state": "running"
            }
        }
    }))
    .unwrap()
}

async fn wait_session_job(
    env: &Env,
    name: &str,
    what: &str,
    pred: impl Fn(&flink_lifecycle::api::FlinkSessionJob) -> bool,
) -> flink_lifecycle::api::FlinkSessionJob {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let current = env.session_jobs().get_opt(name).await.unwrap();
        if let Some(j) = &current
            && pred(j)
        {
            return j.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "session job {name}: not {what}; status: {}",
            serde_json::to_string_pretty(&current.and_then(|j| j.status)).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn sj_lifecycle(j: &flink_lifecycle::api::FlinkSessionJob) -> String {
    j.status
        .as_ref()
        .and_then(|s| s.lifecycle_state)
        .map(|l| format!("{l:?}"))
        .unwrap_or_default()
}

fn sj_error(j: &flink_lifecycle::api::FlinkSessionJob) -> String {
    j.status
        .as_ref()
        .and_then(|s| s.error.clone())
        .unwrap_or_default()
}

fn sj_recorded(j: &flink_lifecycle::api::FlinkSessionJob) -> Option<String> {
    j.status
        .as_ref()?
        .job_status
        .as_ref()?
        .last_completed_checkpoint
        .as_ref()?
        .path
        .clone()
}

/// Two session jobs on one session cluster; its JobManager is SIGKILLed while job a is being
/// stopped with a savepoint for an upgrade (no HA: the restarted JobManager has no jobs). Job a
/// is not resubmitted from the older savepoint it had started from (before, its counter went
/// back from 127 to 70 with status Stable); both jobs say they need a person (lifecycle FAILED)
/// and name their newest recorded checkpoint; a redeploy from it continues a's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_jobs_lost_with_their_jobmanager_are_not_rewound() {
    let env = Env::start(FLINK_1_20).await;
    let mut cluster = env.application("session", "v1_20", "savepoint");
    cluster["spec"].as_object_mut().unwrap().remove("job");
    cluster["spec"]["flinkConfiguration"]["taskmanager.numberOfTaskSlots"] = json!("4");
    env.create(&cluster).await;
    env.wait_for("session", "a ready session cluster", LONG, |d| {
        lifecycle(d) == "Stable"
    })
    .await;
    let post = kube::api::PostParams::default();
    for name in ["a", "b"] {
        env.session_jobs()
            .create(&post, &session_job(&env, name, "out-1"))
            .await
            .unwrap();
    }
    for name in ["a", "b"] {
        wait_session_job(&env, name, "stable", |j| sj_lifecycle(j) == "Stable").await;
        counter(&env.path(&format!("{name}/out-1")), "counting", |r| r.max >= 3).await;
    }
    // a is upgraded once, so it has an older snapshot it started from.
    let patch = kube::api::Patch::Merge(json!({"spec": {"job": {"args": args(&env, "a", "out-2")}}}));
    env.session_jobs()
        .patch("a", &kube::api::PatchParams::default(), &patch)
        .await
        .unwrap();
    let a = wait_session_job(&env, "a", "upgraded", |j| {
        sj_lifecycle(j) == "Stable"
            && j.status
                .as_ref()
                .and_then(|s| s.job_status.as_ref())
                .and_then(|s| s.upgrade_savepoint_path.as_deref())
                .is_some_and(|p| p.contains("savepoint-"))
    })
    .await;
    let started_from = a
        .status
        .as_ref()
        .and_then(|s| s.job_status.as_ref())
        .and_then(|s| s.upgrade_savepoint_path.clone())
        .unwrap();
    counter(&env.path("a/out-2"), "counting", |r| r.max >= 3).await;
    wait_session_job(&env, "a", "a checkpoint past its savepoint recorded", |j| {
        sj_recorded(j).is_some_and(|p| p.contains("/chk-"))
    })
    .await;

    let patch = kube::api::Patch::Merge(json!({"spec": {"job": {"args": args(&env, "a", "out-3")}}}));
    env.session_jobs()
        .patch("a", &kube::api::PatchParams::default(), &patch)
        .await
        .unwrap();
    wait_session_job(&env, "a", "savepoint trigger recorded", |j| {
        trigger_recorded(j.status.as_ref().and_then(|s| s.job_status.as_ref()))
    })
    .await;
    assert!(env.kubelet.kill("session", "jobmanager"));

    let a = wait_session_job(&env, "a", "waiting for a person", |j| {
        sj_lifecycle(j) == "Failed" && sj_error(j).contains("Manual restore required")
    })
    .await;
    let recorded = sj_recorded(&a).unwrap();
    assert!(
        sj_error(&a).contains(&recorded),
        "names {recorded}: {}",
        sj_error(&a)
    );
    // The newest retained checkpoint of a's run (the recorded one or one completed after it),
    // in the directory of the recorded one.
    let run_dir = Path::new(recorded.trim_start_matches("file:"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    let a_job = recorded.split('/').rev().nth(1).unwrap_or_default().to_string();
    // If the stop-with-savepoint completed just before the kill, the job FINISHED: Flink then
    // discarded its checkpoints, and the savepoint is its newest state.
    let savepoint = newest_savepoint_of(&env.path("session/savepoints"), &a_job);
    let newest = savepoint
        .or_else(|| newest_retained_checkpoint(&run_dir).map(|(_, p)| p))
        .expect("a savepoint or a retained checkpoint of a's run");
    let known = format!("file:{newest}");
    let b = wait_session_job(&env, "b", "reported lost", |j| {
        sj_lifecycle(j) == "Failed" && sj_error(j).contains("Job Not Found")
    })
    .await;
    // b names its recorded checkpoint when the operator read one before b vanished (a b that had
    // just started may have none: the message then points at the directories).
    if let Some(p) = sj_recorded(&b) {
        assert!(
            sj_error(&b).contains(&p),
            "b's message names its recorded checkpoint {p}: {}",
            sj_error(&b)
        );
    }
    // Held: a is not resubmitted from the savepoint it started from.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        CounterReport::read(Path::new(&env.path("a/out-3"))).is_none(),
        "a was not resubmitted (from {started_from})"
    );

    let patch = kube::api::Patch::Merge(
        json!({"spec": {"job": {"initialSavepointPath": known, "savepointRedeployNonce": 1}}}),
    );
    env.session_jobs()
        .patch("a", &kube::api::PatchParams::default(), &patch)
        .await
        .unwrap();
    wait_session_job(&env, "a", "redeployed", |j| sj_lifecycle(j) == "Stable").await;
    let r = counter(&env.path("a/out-3"), "counting after the redeploy", |r| r.max > 0).await;
    assert!(
        r.restored_min > 0,
        "a continued from its newest checkpoint: {r:?}"
    );
}
