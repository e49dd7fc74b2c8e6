//! End to end on REAL Flink: the operator's controllers run against the in-memory Kubernetes API,
//! and the test kubelet runs every JobManager/TaskManager the operator renders as a local Flink
//! process. Each scenario asserts Flink's own truth (job ids, the path a job restored from, the
//! test job's keyed counter continuing or starting over), not only the operator's status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/argo_history.rs"]
mod argo_history;
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
#[path = "support/status_of.rs"]
mod status_of;

use e2e::{
    Env, LONG, assert_argo_health, counter, job_id, restored_from, savepoints_in, stable_with_new_job,
};
use flink::{FLINK_1_20, FLINK_2};
use flink_lifecycle::api::FlinkDeployment;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams};
use serde_json::{Value, json};
use std::time::Duration;

fn args(env: &Env, name: &str, out: &str, extra: &[&str]) -> Value {
    e2e::job_args(env, name, out, extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoint_mode_upgrade_suspend_resume_restart_redeploy_and_delete_keep_state() {
    let env = Env::start(FLINK_1_20).await;
    let name = "sp";
    let mut spec = env.application(name, "v1_20", "savepoint");
    spec["spec"]["job"]["args"] = args(&env, name, "out-1", &[]);
    env.create(&spec).await;

    // First deployment: empty state, counting.
    let d = env.wait_stable_running(name).await;
    assert_argo_health(&d, "Healthy", "");
    let first = job_id(&d);
    let r = counter(&env.path("sp/out-1"), "counting", |r| r.max >= 3).await;
    assert_eq!(r.restored_min, 0, "a first deployment starts from empty state");

    // Savepoint upgrade: stop with a savepoint, restore from it.
    env.patch_spec(name, json!({"job": {"args": args(&env, name, "out-2", &[])}}))
        .await;
    // The stop-with-savepoint alone takes seconds: Argo CD sees the upgrade in flight.
    assert_argo_health(&env.deployments().get(name).await.unwrap(), "Progressing", "");
    let d = env
        .wait_for(name, "upgraded", LONG, stable_with_new_job(&first))
        .await;
    let restored = restored_from(&env, &d).await.expect("restored from something");
    assert!(
        restored.contains("/savepoints/savepoint-"),
        "restored from {restored}"
    );
    let r = counter(&env.path("sp/out-2"), "counting after restore", |r| r.max > 0).await;
    assert!(r.restored_min > 0, "the keyed counter continued: {r:?}");

    // Suspend: stop with a savepoint, cluster gone, path recorded.
    let second = job_id(&d);
    env.patch_spec(name, json!({"job": {"state": "suspended"}})).await;
    let d = env
        .wait_for(name, "suspended", LONG, |d| {
            d.status
                .as_ref()
                .and_then(|s| s.lifecycle_state)
                .map(|l| format!("{l:?}"))
                .as_deref()
                == Some("Suspended")
        })
        .await;
    let suspend_savepoint = d
        .status
        .as_ref()
        .unwrap()
        .job_status
        .as_ref()
        .unwrap()
        .upgrade_savepoint_path
        .clone()
        .unwrap();
    assert!(suspend_savepoint.contains("savepoint-"), "{suspend_savepoint}");
    assert_argo_health(&d, "Healthy", "suspended, as the spec asks");
    let jm: Api<Deployment> = Api::namespaced(env.kube.client(), "default");
    let deadline = tokio::time::Instant::now() + LONG;
    while jm.get_opt(name).await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the suspended job's cluster was not removed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Resume: restore from the suspend savepoint with the latest spec.
    env.patch_spec(
        name,
        json!({"job": {"state": "running", "args": args(&env, name, "out-3", &[])}}),
    )
    .await;
    let d = env
        .wait_for(name, "resumed", LONG, stable_with_new_job(&second))
        .await;
    assert_resumed_from(&env, &d, &suspend_savepoint, "sp/out-3").await;

    // restartNonce: a restart with the same upgrade semantics.
    let third = job_id(&d);
    env.patch_spec(
        name,
        json!({"restartNonce": 1, "job": {"args": args(&env, name, "out-4", &[])}}),
    )
    .await;
    let d = env
        .wait_for(name, "restarted", LONG, stable_with_new_job(&third))
        .await;
    assert!(restored_from(&env, &d).await.unwrap().contains("savepoint-"));
    let r = counter(&env.path("sp/out-4"), "counting after restart", |r| r.max > 0).await;
    assert!(r.restored_min > 0);

    // A savepoint redeploy from a path that does not exist fails; the status keeps pointing at the
    // newest state the replaced job left, and a redeploy from that pointer continues the counter.
    let fourth = job_id(&d);
    let d = env
        .wait_for(name, "a checkpoint of the restarted job recorded", LONG, |d| {
            recorded_checkpoint(d).is_some_and(|(job, _)| job == fourth)
        })
        .await;
    let (_, checkpoint) = recorded_checkpoint(&d).unwrap();
    let missing = format!("file://{}", env.path("sp/savepoints/savepoint-that-never-was"));
    let jobmanagers_before = env.kubelet.launches_of(name, "jobmanager");
    env.patch_spec(
        name,
        json!({"job": {"initialSavepointPath": missing, "savepointRedeployNonce": 1,
                       "args": args(&env, name, "out-missing", &[])}}),
    )
    .await;
    // Flink fails the job (JobInitializationException, seen as FAILED), or, when its application
    // runner exits first, the JobManager crash-loops (a real kubelet then reports
    // CrashLoopBackOff, which the in-memory kubelet does not).
    let failed = |d: &FlinkDeployment| {
        let s = d.status.as_ref();
        s.and_then(|s| s.error.as_deref()).is_some_and(|e| !e.is_empty())
            && s.and_then(|s| s.lifecycle_state)
                .is_some_and(|l| format!("{l:?}") == "Failed")
    };
    let d = env
        .wait_for(name, "the redeploy from a missing path to fail", LONG, |d| {
            failed(d) || env.kubelet.launches_of(name, "jobmanager") >= jobmanagers_before + 4
        })
        .await;
    let (job, kept) = recorded_checkpoint(&d).expect("a snapshot pointer survives the failure");
    assert_eq!(job, fourth, "the pointer names the replaced job's state");
    eprintln!("recorded before the redeploy: {checkpoint}; after its failure: {kept}");
    let local = |p: &str| p.trim_start_matches("file:").trim_start_matches("//").to_string();
    // The record can lag the job by a checkpoint or two (Flink keeps only the newest): the
    // messages then send a person to the highest chk-N beside it, and so does this test.
    let restore_from = if std::path::Path::new(&local(&kept)).join("_metadata").exists() {
        kept.clone()
    } else {
        let dir = local(&kept).rsplit_once('/').map(|(d, _)| d.to_string()).unwrap();
        let (_, newer) = e2e::newest_retained_checkpoint(&dir)
            .unwrap_or_else(|| panic!("neither {kept} nor a newer checkpoint of its job is on disk"));
        eprintln!("the recorded {kept} was replaced by the newer {newer}");
        newer
    };
    if failed(&d) {
        let error = d
            .status
            .as_ref()
            .and_then(|s| s.error.clone())
            .unwrap_or_default();
        assert!(
            error.contains(&kept) && error.contains("savepointRedeployNonce"),
            "the error names the state to restore from and how: {error}"
        );
        if kept.contains("/chk-") {
            assert!(error.contains("the highest chk-N under"), "{error}");
        }
        assert_argo_health(&d, "Degraded", "Cannot find checkpoint or savepoint");
    } else {
        eprintln!("the redeployed JobManager crash-loops (no FAILED job to report)");
    }
    let kept = restore_from;
    env.patch_spec(
        name,
        json!({"job": {"initialSavepointPath": kept, "savepointRedeployNonce": 2,
                       "args": args(&env, name, "out-kept", &[])}}),
    )
    .await;
    let d = env
        .wait_for(
            name,
            "redeployed from the kept pointer",
            LONG,
            stable_with_new_job(&fourth),
        )
        .await;
    assert_resumed_from(&env, &d, &kept, "sp/out-kept").await;

    // savepointRedeployNonce: back to the chosen (suspend) savepoint.
    let fourth = job_id(&d);
    env.patch_spec(
        name,
        json!({"job": {"initialSavepointPath": suspend_savepoint, "savepointRedeployNonce": 3,
                       "args": args(&env, name, "out-5", &[])}}),
    )
    .await;
    let d = env
        .wait_for(name, "redeployed", LONG, stable_with_new_job(&fourth))
        .await;
    let restored = restored_from(&env, &d).await.unwrap();
    assert!(
        same_path(&restored, &suspend_savepoint),
        "redeployed from {restored}, wanted {suspend_savepoint}"
    );

    // Deletion with a final savepoint.
    env.patch_spec(
        name,
        json!({"flinkConfiguration": {"kubernetes.operator.job.savepoint-on-deletion": "true"}}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = savepoints_in(&env.path("sp/savepoints"));
    env.deployments()
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + LONG;
    while env.deployments().get_opt(name).await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "FlinkDeployment not deleted"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        savepoints_in(&env.path("sp/savepoints")),
        before + 1,
        "a final savepoint was taken"
    );
    // Kubernetes garbage-collects the owned Deployments once the finalizer is released.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !env.kubelet.running().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cluster is gone: {:?}",
            env.kubelet.running()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The snapshot the status records for the next restore (`jobStatus.upgradeSavepointPath`).
fn recorded_snapshot(d: &FlinkDeployment) -> Option<String> {
    d.status
        .as_ref()
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.upgrade_savepoint_path.clone())
}

/// The job and path of the newest checkpoint the status records (`jobStatus.lastCompletedCheckpoint`).
fn recorded_checkpoint(d: &FlinkDeployment) -> Option<(String, String)> {
    let c = d
        .status
        .as_ref()?
        .job_status
        .as_ref()?
        .last_completed_checkpoint
        .as_ref()?;
    Some((c.job_id.clone()?, c.path.clone()?))
}

/// The job of `d` started from `expected` and its keyed counter, written to `out`, continued.
async fn assert_resumed_from(env: &Env, d: &FlinkDeployment, expected: &str, out: &str) {
    let restored = restored_from(env, d).await.expect("restored from a snapshot");
    assert!(
        same_path(&restored, expected),
        "restored from {restored}, expected {expected}"
    );
    // Panics unless the counter continues from the restored state within the deadline.
    counter(&env.path(out), "counting from the restored state", |r| {
        r.restored_min > 0
    })
    .await;
}

/// Two paths name the same savepoint (Flink reports `file:/x`, users write `file:///x`).
fn same_path(a: &str, b: &str) -> bool {
    let norm = |p: &str| {
        p.trim_start_matches("file:")
            .trim_start_matches('/')
            .trim_end_matches('/')
            .to_string()
    };
    norm(a) == norm(b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_state_and_stateless_upgrades_suspend_and_resume_on_flink_2() {
    let env = Env::start(FLINK_2).await;
    let name = "ls";
    let mut spec = env.application(name, "v2_3", "last-state");
    spec["spec"]["job"]["args"] = args(&env, name, "out-1", &[]);
    env.create(&spec).await;
    let d = env.wait_stable_running(name).await;
    counter(&env.path("ls/out-1"), "past a few checkpoints", |r| r.max >= 5).await;
    // Let at least one checkpoint complete.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // last-state without HA: cancel, then restore from the latest retained checkpoint.
    let first = job_id(&d);
    env.patch_spec(name, json!({"job": {"args": args(&env, name, "out-2", &[])}}))
        .await;
    let d = env
        .wait_for(name, "upgraded", LONG, stable_with_new_job(&first))
        .await;
    let restored = restored_from(&env, &d)
        .await
        .expect("restored from the last checkpoint");
    assert!(restored.contains("/chk-"), "restored from {restored}");
    let r = counter(&env.path("ls/out-2"), "counting", |r| r.max > 0).await;
    assert!(r.restored_min > 0, "last-state kept the state: {r:?}");

    // last-state suspend (cancel, last checkpoint recorded) and resume from it.
    let upgraded = job_id(&d);
    env.patch_spec(name, json!({"job": {"state": "suspended"}})).await;
    env.wait_for(name, "suspended", LONG, suspended).await;
    counter(&env.path("ls/out-2"), "past a few checkpoints", |r| r.max >= 3).await;
    env.patch_spec(
        name,
        json!({"job": {"state": "running", "args": args(&env, name, "out-2b", &[])}}),
    )
    .await;
    let d = env
        .wait_for(name, "resumed", LONG, stable_with_new_job(&upgraded))
        .await;
    let restored = restored_from(&env, &d)
        .await
        .expect("resumed from the last checkpoint");
    assert!(restored.contains("/chk-"), "resumed from {restored}");
    let r = counter(&env.path("ls/out-2b"), "counting", |r| r.max > 0).await;
    assert!(r.restored_min > 0, "last-state resume kept the state: {r:?}");

    // stateless: empty state on purpose.
    let second = job_id(&d);
    env.patch_spec(
        name,
        json!({"job": {"upgradeMode": "stateless", "args": args(&env, name, "out-3", &[])}}),
    )
    .await;
    let d = env
        .wait_for(name, "upgraded statelessly", LONG, stable_with_new_job(&second))
        .await;
    assert_eq!(
        restored_from(&env, &d).await,
        None,
        "a stateless upgrade restores nothing"
    );
    let r = counter(&env.path("ls/out-3"), "counting", |r| r.max > 0).await;
    assert_eq!(r.restored_min, 0, "stateless starts empty: {r:?}");

    // stateless suspend and resume: empty state again.
    let third = job_id(&d);
    env.patch_spec(name, json!({"job": {"state": "suspended"}})).await;
    env.wait_for(name, "suspended", LONG, suspended).await;
    env.patch_spec(
        name,
        json!({"job": {"state": "running", "args": args(&env, name, "out-4", &[])}}),
    )
    .await;
    let d = env
        .wait_for(name, "resumed statelessly", LONG, stable_with_new_job(&third))
        .await;
    assert_eq!(
        restored_from(&env, &d).await,
        None,
        "a stateless resume restores nothing"
    );
    let r = counter(&env.path("ls/out-4"), "counting", |r| r.max > 0).await;
    assert_eq!(r.restored_min, 0, "stateless resume starts empty: {r:?}");
}

fn suspended(d: &FlinkDeployment) -> bool {
    d.status
        .as_ref()
        .and_then(|s| s.lifecycle_state)
        .is_some_and(|l| format!("{l:?}") == "Suspended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_jobs_restart_and_lost_jobmanagers_are_recovered() {
    let env = Env::start(FLINK_1_20).await;

    // A FAILED job is redeployed from its latest checkpoint when job.restart.failed is on.
    let name = "rf";
    let mut spec = env.application(name, "v1_20", "last-state");
    spec["spec"]["job"]["args"] = args(&env, name, "out", &[]);
    spec["spec"]["flinkConfiguration"]["kubernetes.operator.job.restart.failed"] = json!("true");
    env.create(&spec).await;
    let d = env.wait_stable_running(name).await;
    counter(&env.path("rf/out"), "counting", |r| r.max >= 5).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let failed_job = job_id(&d);
    std::fs::write(env.path("rf/fail-always"), b"").unwrap();
    env.wait_for(name, "FAILED", LONG, |d| {
        d.status
            .as_ref()
            .and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.state)
            .map(|j| j.as_str())
            == Some("FAILED")
            || job_id(d) != failed_job
    })
    .await;
    std::fs::remove_file(env.path("rf/fail-always")).ok();
    let d = env
        .wait_for(
            name,
            "restarted after failure",
            LONG,
            stable_with_new_job(&failed_job),
        )
        .await;
    let restored = restored_from(&env, &d).await.expect("restored from a checkpoint");
    assert!(restored.contains("/chk-"), "restarted from {restored}");

    // Without HA and without job.restart.failed: the FAILED job's last checkpoint is recorded
    // once Flink's statistics include the failure. Its JobManager Deployment is then deleted,
    // and the next upgrade restores that checkpoint, not the older state the job started from.
    let name = "fl";
    let mut spec = env.application(name, "v1_20", "savepoint");
    spec["spec"]["job"]["args"] = args(&env, name, "out", &[]);
    env.create(&spec).await;
    let d = env.wait_stable_running(name).await;
    counter(&env.path("fl/out"), "counting", |r| r.max >= 5).await;
    let failed_job = job_id(&d);
    // A sticky failure fails every checkpoint after it: let one complete first.
    let deadline = tokio::time::Instant::now() + LONG;
    while !env
        .flink(name)
        .checkpoint_statistics(&failed_job)
        .await
        .is_ok_and(|s| s.latest.completed.is_some())
    {
        assert!(tokio::time::Instant::now() < deadline, "no checkpoint completed");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    std::fs::write(env.path("fl/fail-always"), b"").unwrap();
    let d = env
        .wait_for(name, "FAILED with its last checkpoint recorded", LONG, |d| {
            let job = d.status.as_ref().and_then(|s| s.job_status.as_ref());
            job.and_then(|j| j.state).map(|j| j.as_str()) == Some("FAILED")
                && job
                    .and_then(|j| j.upgrade_savepoint_path.as_deref())
                    .is_some_and(|p| p.contains(&failed_job) && p.contains("/chk-"))
        })
        .await;
    let recorded = recorded_snapshot(&d).unwrap();
    std::fs::remove_file(env.path("fl/fail-always")).ok();
    let jm: Api<Deployment> = Api::namespaced(env.kube.client(), "default");
    jm.delete(name, &DeleteParams::default()).await.unwrap();
    env.patch_spec(name, json!({"restartNonce": 1})).await;
    let d = env
        .wait_for(
            name,
            "upgraded after the loss",
            LONG,
            stable_with_new_job(&failed_job),
        )
        .await;
    // The failed job's last checkpoint, not the older state it started from.
    assert_resumed_from(&env, &d, &recorded, "fl/out").await;

    // A deleted JobManager Deployment is recreated (stateless job: no HA needed).
    let name = "jr";
    let mut spec = env.application(name, "v1_20", "stateless");
    spec["spec"]["job"]["args"] = args(&env, name, "out", &[]);
    env.create(&spec).await;
    env.wait_stable_running(name).await;
    let before = env.kubelet.launches_of(name, "jobmanager");
    let jm: Api<Deployment> = Api::namespaced(env.kube.client(), "default");
    jm.delete(name, &DeleteParams::default()).await.unwrap();
    let deadline = tokio::time::Instant::now() + LONG;
    while !(jm.get_opt(name).await.unwrap().is_some() && env.kubelet.launches_of(name, "jobmanager") > before)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "JobManager Deployment not recovered"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    env.wait_stable_running(name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_killed_mid_savepoint_upgrade_completes_it_from_the_recorded_savepoint() {
    let mut env = Env::start(FLINK_1_20).await;
    let name = "kc";
    let mut spec = env.application(name, "v1_20", "savepoint");
    // Slow snapshots, so the operator can be killed while the savepoint is in flight.
    spec["spec"]["job"]["args"] = args(&env, name, "out-1", &["--snapshot-delay-ms", "3000"]);
    spec["spec"]["flinkConfiguration"]["execution.checkpointing.interval"] = json!("60 s");
    env.create(&spec).await;
    let d = env.wait_stable_running(name).await;
    counter(&env.path("kc/out-1"), "counting", |r| r.max >= 3).await;
    let first = job_id(&d);

    env.patch_spec(
        name,
        json!({"job": {"args": args(&env, name, "out-2", &["--snapshot-delay-ms", "3000"])}}),
    )
    .await;
    env.wait_for(name, "savepoint triggered and recorded", LONG, |d| {
        d.status
            .as_ref()
            .and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.savepoint_info.as_ref())
            .and_then(|i| i.trigger_id.as_ref())
            .is_some()
    })
    .await;
    env.kill_operator();
    // The savepoint finishes while no operator runs.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let taken = savepoints_in(&env.path("kc/savepoints"));
    env.start_operator();
    let d = env
        .wait_for(
            name,
            "upgraded after the crash",
            LONG,
            stable_with_new_job(&first),
        )
        .await;
    let restored = restored_from(&env, &d).await.expect("restored");
    assert!(restored.contains("/savepoints/savepoint-"), "{restored}");
    assert_eq!(
        savepoints_in(&env.path("kc/savepoints")),
        taken,
        "no second savepoint was taken"
    );
    assert_eq!(taken, 1, "exactly one savepoint for one upgrade");
    let r = counter(&env.path("kc/out-2"), "counting", |r| r.max > 0).await;
    assert!(r.restored_min > 0, "state carried over: {r:?}");
}

/// A FlinkSessionJob of the test job on cluster `session`, jar fetched from a local file.
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
                "args": args(env, name, out, &[]),
                "parallelism": 1,
                "upgradeMode": "savepoint",
                "state": "running"
            }
        }
    }))
    .unwrap()
}

fn session_job_state(j: &flink_lifecycle::api::FlinkSessionJob) -> (String, String, String) {
    let s = j.status.as_ref();
    (
        s.and_then(|s| s.lifecycle_state)
            .map(|l| format!("{l:?}"))
            .unwrap_or_default(),
        s.and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.state)
            .map(|j| j.as_str().to_string())
            .unwrap_or_default(),
        s.and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.job_id.clone())
            .unwrap_or_default(),
    )
}

async fn wait_session_job(
    env: &Env,
    name: &str,
    what: &str,
    pred: impl Fn(&(String, String, String)) -> bool,
) -> flink_lifecycle::api::FlinkSessionJob {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let current = env.session_jobs().get_opt(name).await.unwrap();
        if let Some(j) = &current
            && pred(&session_job_state(j))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_jobs_on_one_cluster_are_upgraded_and_suspended_independently() {
    let env = Env::start(FLINK_1_20).await;
    let mut cluster = env.application("session", "v1_20", "savepoint");
    cluster["spec"].as_object_mut().unwrap().remove("job");
    cluster["spec"]["flinkConfiguration"]["taskmanager.numberOfTaskSlots"] = json!("4");
    env.create(&cluster).await;
    env.wait_for("session", "a ready session cluster", LONG, |d| {
        d.status
            .as_ref()
            .and_then(|s| s.lifecycle_state)
            .is_some_and(|l| format!("{l:?}") == "Stable")
    })
    .await;

    let post = kube::api::PostParams::default();
    for name in ["a", "b"] {
        env.session_jobs()
            .create(&post, &session_job(&env, name, "out-1"))
            .await
            .unwrap();
    }
    let running = |s: &(String, String, String)| s.0 == "Stable" && s.1 == "RUNNING";
    let a1 = session_job_state(&wait_session_job(&env, "a", "running", running).await).2;
    let b1 = session_job_state(&wait_session_job(&env, "b", "running", running).await).2;
    assert_ne!(a1, b1);
    assert_argo_health(&env.session_jobs().get("b").await.unwrap(), "Healthy", "");
    counter(&env.path("a/out-1"), "past a few checkpoints", |r| r.max >= 5).await;

    // Upgrade a alone: stop-with-savepoint, resubmit from it; b keeps running untouched.
    let patch = kube::api::Patch::Merge(json!({"spec": {"job": {"args": args(&env, "a", "out-2", &[])}}}));
    env.session_jobs()
        .patch("a", &kube::api::PatchParams::default(), &patch)
        .await
        .unwrap();
    let a = wait_session_job(&env, "a", "upgraded", |s| running(s) && s.2 != a1).await;
    let a2 = session_job_state(&a).2;
    let restored = env
        .flink("session")
        .checkpoint_statistics(&a2)
        .await
        .unwrap()
        .restored_path()
        .map(str::to_string)
        .expect("a restored from its savepoint");
    assert!(restored.contains("savepoint-"), "restored from {restored}");
    let r = counter(&env.path("a/out-2"), "counting", |r| r.max > 0).await;
    assert!(r.restored_min > 0, "a kept its state: {r:?}");
    let b = env.session_jobs().get("b").await.unwrap();
    assert_eq!(session_job_state(&b).2, b1, "b was not restarted by a's upgrade");
    let jobs = env.flink("session").jobs_overview().await.unwrap();
    assert_eq!(
        jobs.job(&b1).map(|j| j.state.as_str().to_string()).as_deref(),
        Some("RUNNING"),
        "b still runs on the cluster"
    );

    // Suspend b alone: a final savepoint, a keeps running.
    let suspend = kube::api::Patch::Merge(json!({"spec": {"job": {"state": "suspended"}}}));
    env.session_jobs()
        .patch("b", &kube::api::PatchParams::default(), &suspend)
        .await
        .unwrap();
    let b = wait_session_job(&env, "b", "suspended", |s| s.0 == "Suspended").await;
    assert_argo_health(&b, "Healthy", "suspended, as the spec asks");
    let jobs = env.flink("session").jobs_overview().await.unwrap();
    assert_eq!(
        jobs.job(&a2).map(|j| j.state.as_str().to_string()).as_deref(),
        Some("RUNNING"),
        "a still runs after b's suspend"
    );
    assert_ne!(
        jobs.job(&b1).map(|j| j.state.as_str().to_string()).as_deref(),
        Some("RUNNING"),
        "b is stopped"
    );
    assert!(
        savepoints_in(&env.path("session/savepoints")) >= 2,
        "a's upgrade and b's suspend each took a savepoint"
    );

    // Deleting a session job leaves the cluster and the other job alone.
    env.session_jobs()
        .delete("a", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + LONG;
    while env.session_jobs().get_opt("a").await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session job a not deleted"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let d = env.deployments().get("session").await.unwrap();
    assert!(d.metadata.deletion_timestamp.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upgrade_leaves_the_job_running_and_a_broken_one_is_rolled_back_with_its_state() {
    let env = Env::start(FLINK_1_20).await;
    let name = "rb";
    let mut spec = env.application(name, "v1_20", "savepoint");
    spec["spec"]["job"]["args"] = args(&env, name, "out-1", &[]);
    let conf = spec["spec"]["flinkConfiguration"].as_object_mut().unwrap();
    conf.insert(
        "kubernetes.operator.deployment.rollback.enabled".into(),
        json!("true"),
    );
    conf.insert(
        "kubernetes.operator.deployment.readiness.timeout".into(),
        json!("45 s"),
    );
    env.create(&spec).await;
    let d = env.wait_stable_running(name).await;
    let first = job_id(&d);
    counter(&env.path("rb/out-1"), "past a few checkpoints", |r| r.max >= 5).await;

    // An admission policy refuses the new spec's Deployments: the dry run before the upgrade
    // says so, and the job keeps running untouched (no savepoint stop) until the spec changes.
    env.kube.refuse(
        "deployments",
        "forbidden-by-policy",
        "pods must not carry the label tier=forbidden-by-policy",
    );
    env.patch_spec(
        name,
        json!({"podTemplate": {"metadata": {"labels": {"tier": "forbidden-by-policy"}}}}),
    )
    .await;
    let refused = env
        .wait_for(name, "the upgrade refused", LONG, |d| {
            d.status
                .as_ref()
                .and_then(|s| s.error.as_deref())
                .is_some_and(|e| e.contains("refuses the cluster") && e.contains("tier=forbidden-by-policy"))
        })
        .await;
    assert_eq!(job_id(&refused), first, "the running job was not replaced");
    assert_eq!(
        refused
            .status
            .as_ref()
            .and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.state)
            .map(|j| j.as_str()),
        Some("RUNNING")
    );
    assert_eq!(
        savepoints_in(&env.path("rb/savepoints")),
        0,
        "no savepoint stop was started"
    );
    env.patch_spec(name, json!({"podTemplate": null})).await;
    env.wait_for(name, "the refusal cleared", LONG, |d| {
        d.status
            .as_ref()
            .is_some_and(|s| s.error.is_none() && s.observed_generation == d.metadata.generation)
    })
    .await;

    // A wrong entry class: the savepoint is taken, the new JobManager never starts a job.
    env.patch_spec(
        name,
        json!({"job": {"entryClass": "lifecycle.NoSuchJob", "args": args(&env, name, "out-2", &[])}}),
    )
    .await;
    let d = env
        .wait_for(name, "rolled back", LONG, |d| {
            let s = d.status.as_ref();
            let rolled_back = s
                .and_then(|s| s.lifecycle_state)
                .map(|l| format!("{l:?}"))
                .as_deref()
                == Some("RolledBack");
            let running = s
                .and_then(|s| s.job_status.as_ref())
                .and_then(|j| j.state)
                .map(|j| j.as_str())
                == Some("RUNNING");
            rolled_back && running && job_id(d) != first
        })
        .await;
    let upgrade_savepoint = recorded_snapshot(&d).expect("the upgrade's savepoint is recorded");
    assert_argo_health(&d, "Degraded", "rolled back");
    // The stable spec runs again: its output directory, its entry class, its counter continued.
    assert_resumed_from(&env, &d, &upgrade_savepoint, "rb/out-1").await;
    assert_eq!(
        d.spec.job.as_ref().and_then(|j| j.entry_class.as_deref()),
        Some("lifecycle.NoSuchJob"),
        "the user's spec is left as written (GitOps owns it)"
    );
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(env.kube.client(), "default");
    let reasons: Vec<String> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reason)
        .collect();
    assert!(reasons.iter().any(|r| r == "Rollback"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r == "RolledBack"), "{reasons:?}");

    // The user fixes the spec: an upgrade of the rolled-back job like any other (a savepoint
    // stop, then the fixed spec from that savepoint), its counter continued.
    let rolled_back_job = job_id(&d);
    env.patch_spec(
        name,
        json!({"job": {"entryClass": flink::TestJob::MAIN_CLASS, "args": args(&env, name, "out-3", &[])}}),
    )
    .await;
    let d = env
        .wait_for(
            name,
            "the fix running and stable",
            LONG,
            stable_with_new_job(&rolled_back_job),
        )
        .await;
    let fix_savepoint = recorded_snapshot(&d).expect("the fix's savepoint is recorded");
    assert!(
        !same_path(&fix_savepoint, &upgrade_savepoint),
        "the rolled-back job's own savepoint, not the one it started from"
    );
    assert_resumed_from(&env, &d, &fix_savepoint, "rb/out-3").await;
}

/// Periodic savepoints (`kubernetes.operator.periodic.savepoint.interval` in the resource's
/// configuration) are taken while the job runs, without stopping it, recorded in the savepoint
/// history as PERIODIC, each on disk; with a history of two the oldest is disposed of through
/// Flink (its directory gone); a `checkpointTriggerNonce` takes a checkpoint and a
/// `savepointTriggerNonce` a savepoint while it runs; a savepoint upgrade afterwards restores the
/// job's newest state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_savepoints_are_taken_while_the_job_runs() {
    let env = Env::start(FLINK_1_20).await;
    let name = "periodic";
    let mut spec = env.application(name, "v1_20", "savepoint");
    spec["spec"]["job"]["args"] = args(&env, name, "out-1", &[]);
    spec["spec"]["flinkConfiguration"]["kubernetes.operator.periodic.savepoint.interval"] = json!("5 s");
    spec["spec"]["flinkConfiguration"]["kubernetes.operator.savepoint.history.max.count"] = json!("2");
    env.create(&spec).await;
    let d = env.wait_stable_running(name).await;
    let first = job_id(&d);
    let periodic = |d: &FlinkDeployment| -> Vec<String> {
        d.status
            .as_ref()
            .and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.savepoint_info.as_ref())
            .and_then(|i| i.savepoint_history.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|s| format!("{:?}", s.trigger_type) == "Some(Periodic)")
            .filter_map(|s| s.location)
            .collect()
    };
    let d = env
        .wait_for(name, "two periodic savepoints recorded", LONG, |d| {
            periodic(d).len() >= 2
        })
        .await;
    assert_eq!(
        job_id(&d),
        first,
        "the job ran on: periodic savepoints do not stop it"
    );
    let taken = periodic(&d);
    for location in &taken {
        let dir = location.trim_start_matches("file:").trim_start_matches("//");
        assert!(
            std::path::Path::new(dir).join("_metadata").exists(),
            "periodic savepoint {location} is on disk"
        );
    }
    // A history of two: the oldest periodic savepoint is disposed of through Flink once a third
    // completes, and leaves the history only then; its directory is really gone.
    let oldest = taken[0].clone();
    let local = |p: &str| p.trim_start_matches("file:").trim_start_matches("//").to_string();
    let d = env
        .wait_for(name, "the oldest periodic savepoint retired", LONG, |d| {
            !periodic(d).contains(&oldest) && periodic(d).len() >= 2
        })
        .await;
    assert!(
        !std::path::Path::new(&local(&oldest)).exists(),
        "{oldest} was disposed of: its directory is gone"
    );
    for location in periodic(&d) {
        assert!(
            std::path::Path::new(&local(&location)).join("_metadata").exists(),
            "{location}, still in the history, is on disk"
        );
    }
    assert_eq!(job_id(&d), first, "disposal does not stop the job");
    let info = d.status.as_ref().unwrap().job_status.as_ref().unwrap();
    assert!(
        info.savepoint_info
            .as_ref()
            .and_then(|i| i.last_periodic_savepoint_timestamp)
            .is_some(),
        "lastPeriodicSavepointTimestamp is recorded"
    );
    let r = counter(&env.path("periodic/out-1"), "counting", |r| r.max >= 3).await;
    assert_eq!(r.restored_min, 0);

    // A checkpoint on request (`checkpointTriggerNonce`, Flink's POST /jobs/:id/checkpoints):
    // completed and recorded, the job running on.
    env.patch_spec(name, json!({"job": {"checkpointTriggerNonce": 1}}))
        .await;
    let d = env
        .wait_for(name, "the requested checkpoint recorded", LONG, |d| {
            d.status
                .as_ref()
                .and_then(|s| s.job_status.as_ref())
                .and_then(|j| j.checkpoint_info.as_ref())
                .and_then(|i| i.last_checkpoint.as_ref())
                .is_some_and(|c| c.trigger_nonce == Some(1))
        })
        .await;
    assert_eq!(job_id(&d), first, "a checkpoint does not stop the job");

    // A savepoint on request (`savepointTriggerNonce`): recorded as MANUAL in the history, on
    // disk, the job running on. (The history of two retires it after two more periodic ones.)
    env.patch_spec(name, json!({"job": {"savepointTriggerNonce": 1}}))
        .await;
    let manual = |d: &FlinkDeployment| -> Option<String> {
        d.status
            .as_ref()?
            .job_status
            .as_ref()?
            .savepoint_info
            .as_ref()?
            .savepoint_history
            .as_ref()?
            .iter()
            .find(|s| format!("{:?}", s.trigger_type) == "Some(Manual)")
            .and_then(|s| s.location.clone())
    };
    let d = env
        .wait_for(name, "the requested savepoint recorded", LONG, |d| {
            manual(d).is_some()
        })
        .await;
    let location = manual(&d).unwrap();
    assert!(
        std::path::Path::new(&local(&location)).join("_metadata").exists(),
        "the manual savepoint {location} is on disk"
    );
    assert_eq!(job_id(&d), first, "a savepoint on request does not stop the job");

    // An upgrade afterwards stops with its own savepoint and continues the state.
    env.patch_spec(name, json!({"job": {"args": args(&env, name, "out-2", &[])}}))
        .await;
    let d = env
        .wait_for(name, "upgraded", LONG, stable_with_new_job(&first))
        .await;
    let restored = restored_from(&env, &d).await.expect("restored from a savepoint");
    assert!(restored.contains("savepoint-"), "{restored}");
    counter(&env.path("periodic/out-2"), "continued", |r| r.restored_min > 0).await;
}
