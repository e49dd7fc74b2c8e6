//! FlinkStateSnapshot resources end to end on REAL Flink: the operator's controllers against the
//! in-memory Kubernetes API, the test kubelet running the Flink processes. A savepoint and a
//! checkpoint asked for as resources are taken while the job runs, each on disk; a savepoint
//! declared existing is recorded without a trigger; deleting a savepoint resource disposes of
//! its files; a redeploy from a snapshot resource's path continues the job's state; with
//! `snapshot.resource.enabled` the upgrade's savepoint is recorded as a resource; a snapshot of
//! a job that does not exist is abandoned with the reference's message.
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

use e2e::{Env, LONG, counter, job_args, job_id, restored_from, stable_with_new_job};
use flink::FLINK_1_20;
use flink_lifecycle::api::{FlinkStateSnapshot, SnapshotState};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

fn snapshots(env: &Env) -> Api<FlinkStateSnapshot> {
    Api::namespaced(env.kube.client(), "default")
}

async fn create_snapshot(env: &Env, name: &str, spec: Value) {
    let snap: FlinkStateSnapshot = serde_json::from_value(json!({
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkStateSnapshot",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }))
    .expect("FlinkStateSnapshot");
    snapshots(env)
        .create(&PostParams::default(), &snap)
        .await
        .expect("create snapshot");
}

/// Waits until snapshot `name` reaches `state`, failing with its last status.
async fn wait_snapshot(env: &Env, name: &str, state: SnapshotState) -> FlinkStateSnapshot {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let snap = snapshots(env).get_opt(name).await.expect("get snapshot");
        if let Some(s) = &snap
            && s.status.as_ref().and_then(|st| st.state) == Some(state)
        {
            return s.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "snapshot {name} never reached {}: {:?}",
            state.as_str(),
            snap.and_then(|s| s.status)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn local(path: &str) -> String {
    path.trim_start_matches("file:")
        .trim_start_matches("//")
        .to_string()
}

fn path_of(snap: &FlinkStateSnapshot) -> String {
    snap.status
        .as_ref()
        .and_then(|s| s.path.clone())
        .unwrap_or_else(|| panic!("no path recorded: {:?}", snap.status))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_resources_are_taken_disposed_of_and_restored_from() {
    let env = Env::start(FLINK_1_20).await;
    let name = "snap";
    let mut spec = env.application(name, "v1_20", "savepoint");
    spec["spec"]["job"]["args"] = job_args(&env, name, "out-1", &[]);
    spec["spec"]["flinkConfiguration"]["kubernetes.operator.snapshot.resource.enabled"] = json!("true");
    env.create(&spec).await;
    let d = env.wait_stable_running(name).await;
    let first = job_id(&d);
    counter(&env.path("snap/out-1"), "counting", |r| r.max >= 3).await;

    // A savepoint, into the job's savepoint dir by default.
    let reference = json!({"kind": "FlinkDeployment", "name": name});
    create_snapshot(
        &env,
        "snap-savepoint",
        json!({"jobReference": reference, "savepoint": {}}),
    )
    .await;
    let sp = wait_snapshot(&env, "snap-savepoint", SnapshotState::Completed).await;
    let sp_path = path_of(&sp);
    assert!(
        Path::new(&local(&sp_path)).join("_metadata").exists(),
        "savepoint {sp_path} is on disk"
    );
    assert!(sp_path.contains("snap/savepoints"), "{sp_path}");
    let labels = sp.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("snapshot.state").map(String::as_str),
        Some("COMPLETED")
    );
    assert_eq!(labels.get("snapshot.type").map(String::as_str), Some("SAVEPOINT"));
    assert_eq!(labels.get("job-reference.name").map(String::as_str), Some(name));

    // A checkpoint (Flink 1.17+), with the path Flink reports for it.
    create_snapshot(
        &env,
        "snap-checkpoint",
        json!({"jobReference": reference, "checkpoint": {}}),
    )
    .await;
    let cp = wait_snapshot(&env, "snap-checkpoint", SnapshotState::Completed).await;
    let cp_path = path_of(&cp);
    assert!(cp_path.contains("/chk-"), "{cp_path}");

    // A savepoint that exists already: recorded, nothing triggered, its files kept on delete.
    create_snapshot(
        &env,
        "snap-existing",
        json!({"savepoint": {"alreadyExists": true, "disposeOnDelete": false, "path": sp_path}}),
    )
    .await;
    let existing = wait_snapshot(&env, "snap-existing", SnapshotState::Completed).await;
    assert_eq!(path_of(&existing), sp_path);

    // A second savepoint, then its resource deleted: Flink disposes of its files first.
    create_snapshot(
        &env,
        "snap-disposed",
        json!({"jobReference": reference, "savepoint": {}}),
    )
    .await;
    let disposed = path_of(&wait_snapshot(&env, "snap-disposed", SnapshotState::Completed).await);
    assert!(Path::new(&local(&disposed)).join("_metadata").exists());
    snapshots(&env)
        .delete("snap-disposed", &DeleteParams::default())
        .await
        .expect("delete snapshot");
    let deadline = tokio::time::Instant::now() + LONG;
    while snapshots(&env)
        .get_opt("snap-disposed")
        .await
        .expect("get")
        .is_some()
    {
        assert!(tokio::time::Instant::now() < deadline, "snap-disposed never went");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        !Path::new(&local(&disposed)).exists(),
        "{disposed} was disposed of before its resource went"
    );
    snapshots(&env)
        .delete("snap-existing", &DeleteParams::default())
        .await
        .expect("delete snapshot");
    assert!(
        Path::new(&local(&sp_path)).join("_metadata").exists(),
        "disposeOnDelete: false keeps {sp_path}"
    );
    assert_eq!(
        job_id(&env.wait_stable_running(name).await),
        first,
        "snapshots do not stop the job"
    );

    // A redeploy from the first snapshot resource's path continues that state.
    env.patch_spec(
        name,
        json!({"job": {"initialSavepointPath": sp_path, "savepointRedeployNonce": 1,
                       "args": job_args(&env, name, "out-2", &[])}}),
    )
    .await;
    let d = env
        .wait_for(
            name,
            "redeployed from the snapshot",
            LONG,
            stable_with_new_job(&first),
        )
        .await;
    let restored = restored_from(&env, &d).await.expect("restored from a savepoint");
    assert_eq!(
        local(&restored).trim_end_matches('/'),
        local(&sp_path).trim_end_matches('/')
    );
    counter(&env.path("snap/out-2"), "continued", |r| r.restored_min > 0).await;

    // snapshot.resource.enabled: the upgrade's savepoint is also recorded as a resource.
    let second = job_id(&d);
    env.patch_spec(name, json!({"job": {"args": job_args(&env, name, "out-3", &[])}}))
        .await;
    let d = env
        .wait_for(name, "upgraded", LONG, stable_with_new_job(&second))
        .await;
    let upgrade_savepoint = d
        .status
        .as_ref()
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.savepoint_info.as_ref())
        .and_then(|i| i.savepoint_history.as_ref())
        .and_then(|h| h.iter().rev().find_map(|s| s.location.clone()))
        .expect("the upgrade savepoint in the history");
    let deadline = tokio::time::Instant::now() + LONG;
    let record = loop {
        let records = snapshots(&env)
            .list(&ListParams::default().labels("snapshot.trigger-type=UPGRADE,snapshot.state=COMPLETED"))
            .await
            .expect("list records");
        if let Some(r) = records.items.into_iter().next() {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no UPGRADE record appeared"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(path_of(&record), upgrade_savepoint);
    assert!(
        record.spec.already_exists() && !record.spec.dispose_on_delete(),
        "{:?}",
        record.spec
    );

    // A snapshot of a job that does not exist is abandoned, with the reference's message.
    create_snapshot(
        &env,
        "snap-nowhere",
        json!({"jobReference": {"kind": "FlinkDeployment", "name": "nowhere"}, "savepoint": {}}),
    )
    .await;
    let nowhere = wait_snapshot(&env, "snap-nowhere", SnapshotState::Abandoned).await;
    let error = nowhere.status.and_then(|s| s.error).unwrap_or_default();
    assert!(
        error.contains("Target for snapshot default/nowhere was not found"),
        "{error}"
    );
}
