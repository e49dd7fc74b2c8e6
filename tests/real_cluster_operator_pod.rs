//! The operator as its Deployment runs it, on a REAL kube-apiserver + kube-controller-manager +
//! etcd (tests/cluster/): the shipped overlay is synced the way Argo CD syncs it (wave by wave in
//! Argo's order, each wave healthy by Argo's rules before the next), the real Deployment and
//! ReplicaSet controllers create the operator's Pod, and the test node runs it from the built
//! binary (tests/support/pod_process.rs: its own loopback address, its volumes, a TokenRequest
//! token of its ServiceAccount, the hosts file standing in for cluster DNS). Nothing acts for
//! the operator in the test process: every permission it uses is the manifests' RBAC.
//!
//! The webhook configurations are deleted once the operator has written their caBundle: the
//! apiserver refuses loopback addresses in EndpointSlices, so it cannot call the webhook through
//! its Service here (tests/real_cluster_api.rs covers admission with `clientConfig.url`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/argo_history.rs"]
mod argo_history;
#[path = "support/control_plane.rs"]
mod control_plane;
#[path = "support/elected.rs"]
mod elected;
#[path = "support/flink.rs"]
mod flink;
#[path = "support/flink_runtime.rs"]
mod flink_runtime;
#[path = "install/mod.rs"]
mod install;
#[path = "support/kubelet.rs"]
mod kubelet;
#[path = "support/node.rs"]
mod node;
#[path = "support/pod_process.rs"]
mod pod_process;
#[path = "support/real_env.rs"]
mod real_env;
#[path = "support/status_of.rs"]
mod status_of;

use control_plane::ControlPlane;
use install::argo_sync;
use kube::api::{Api, DeleteParams};
use real_env::{
    JOBS_NS, OPERATOR_NS, RealEnv, assert_status_agrees_with_flink, counter, job_id, lifecycle,
    restored_from, stable_with_new_job,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How long Argo CD would wait for one wave here (the operator's first start included).
const WAVE_TIMEOUT: Duration = Duration::from_secs(180);

/// Syncs `overlay` as Argo CD does: each (phase, wave) applied with client-side `kubectl apply`
/// in Argo's order, then waited for until every object in it is healthy by Argo's rules.
/// Returns what each wave held and how long it took to become healthy.
fn sync_wave_by_wave(cp: &ControlPlane, overlay: &str) -> Vec<String> {
    let objs = install::overlay_objects(overlay);
    let mut report = Vec::new();
    for ((phase, wave), group) in argo_sync::waves(objs) {
        let started = Instant::now();
        // One document per object (JSON is YAML): a `List` would be validated client-side
        // against the OpenAPI v2 schema, which cannot express the CRDs' nullable enums.
        let docs: Vec<String> = group.iter().map(Value::to_string).collect();
        let out = cp.kubectl_stdin(&["apply", "-f", "-"], &docs.join("\n---\n"));
        assert!(
            out.status.success(),
            "wave {wave}: kubectl apply: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for o in &group {
            wait_healthy(cp, o, wave);
        }
        let kinds: Vec<String> = group
            .iter()
            .map(|o| format!("{}/{}", install::kind(o), install::name(o)))
            .collect();
        report.push(format!(
            "phase {phase} wave {wave}: healthy after {:.1} s: {}",
            started.elapsed().as_secs_f64(),
            kinds.join(", ")
        ));
    }
    report
}

fn wait_healthy(cp: &ControlPlane, o: &Value, wave: i64) {
    let kind = install::kind(o);
    let name = install::name(o);
    let namespace = install::namespace(o);
    let deadline = Instant::now() + WAVE_TIMEOUT;
    let mut args = vec!["get", kind, name, "-o", "json"];
    if !namespace.is_empty() {
        args.extend(["-n", namespace]);
    }
    // Kinds are qualified by group where kubectl needs it to pick one.
    let qualified;
    if let Some((group, _)) = o["apiVersion"].as_str().and_then(|v| v.split_once('/'))
        && group.contains('.')
    {
        qualified = format!("{}.{group}", kind.to_lowercase());
        args[1] = &qualified;
    }
    loop {
        let out = cp.kubectl(&args);
        let live: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let health = if out.status.success() {
            argo_sync::health(&live)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        };
        match health {
            Ok(()) => return,
            Err(why) if Instant::now() > deadline => {
                panic!("wave {wave}: {kind} {name} not healthy after {WAVE_TIMEOUT:?}: {why}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

/// Both webhook configurations carry a caBundle: the operator's self-signed mode wrote them
/// with its own RBAC.
fn wait_ca_bundles(cp: &ControlPlane) {
    let deadline = Instant::now() + WAVE_TIMEOUT;
    for kind in ["validatingwebhookconfiguration", "mutatingwebhookconfiguration"] {
        loop {
            let out = cp.kubectl(&["get", kind, "flink-lifecycle", "-o", "json"]);
            let live: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            let bundles = live["webhooks"].as_array().into_iter().flatten().all(|w| {
                w["clientConfig"]["caBundle"]
                    .as_str()
                    .is_some_and(|b| !b.is_empty())
            });
            if bundles && live["webhooks"].as_array().is_some_and(|w| !w.is_empty()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{kind}: no caBundle from the operator: {live}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    cp.kubectl_ok(&[
        "delete",
        "validatingwebhookconfiguration/flink-lifecycle",
        "mutatingwebhookconfiguration/flink-lifecycle",
    ]);
}

/// The operator Pod's log, as the node captured it.
fn operator_log(env: &RealEnv) -> String {
    env.node.logs("flink-lifecycle")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_pod_synced_wave_by_wave_runs_jobs_with_its_own_rbac() {
    let mut waves = Vec::new();
    let env = RealEnv::with_operator_pod(flink::FLINK_1_20, |cp| {
        waves = sync_wave_by_wave(cp, "self-signed");
        wait_ca_bundles(cp);
    })
    .await;
    for w in &waves {
        eprintln!("operator-pod: {w}");
    }
    assert!(waves.len() >= 2, "the install has several waves: {waves:?}");
    assert_eq!(
        env.node.launches_of("flink-lifecycle", "operator"),
        1,
        "one operator process, started once: {}",
        operator_log(&env)
    );

    // A savepoint-mode job, deployed and upgraded by the operator Pod alone.
    let name = "pod-run";
    env.apply(&env.application(name, "v1_20", "savepoint"));
    let d = env
        .wait_for(name, "stable and running", stable_with_new_job(""))
        .await;
    let first = job_id(&d);
    counter(&env, &format!("{name}/out-1"), "counting", |r| r.max >= 3).await;
    let mut upgraded = env.application(name, "v1_20", "savepoint");
    upgraded["spec"]["job"]["args"] = env.args(name, "out-2");
    env.apply(&upgraded);
    let d = env.wait_for(name, "upgraded", stable_with_new_job(&first)).await;
    let restored = restored_from(&env, &d).await.expect("restored from a savepoint");
    assert!(restored.contains("savepoint-"), "restored from {restored}");
    counter(&env, &format!("{name}/out-2"), "continued", |r| {
        r.restored_min > 0
    })
    .await;
    assert_status_agrees_with_flink(&env, name).await;

    // Deleted: the finalizer is released once the cluster is gone.
    env.deployments()
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
    env.until("the FlinkDeployment deleted", || async {
        env.deployments()
            .get_opt(name)
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    env.until("its Flink processes gone", || async {
        (env.node.running_of(name, "jobmanager") + env.node.running_of(name, "taskmanager") == 0)
            .then_some(())
    })
    .await;

    let log = operator_log(&env);
    assert!(
        !log.contains("403 Forbidden") && !log.to_lowercase().contains("forbidden"),
        "the manifests' RBAC covers everything the operator did: {log}"
    );
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(env.cp.client.clone(), OPERATOR_NS);
    let holders: Vec<String> = leases
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|l| l.spec.as_ref()?.holder_identity.clone())
        .collect();
    assert!(
        !holders.is_empty(),
        "the operator Pod holds the leader-election Lease (its Deployment enables it)"
    );
}

/// The watch-namespaces overlay: the operator manages `flink-jobs` only, leaves other
/// namespaces alone, and when told to watch a namespace its ServiceAccount has no Role in, says
/// so by name (at start and at every retry) while it keeps managing the others; once the Role
/// exists, the namespace is managed without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_namespaces_install_stays_in_its_namespaces_and_names_a_forbidden_one() {
    let env = RealEnv::with_operator_pod(flink::FLINK_1_20, |cp| {
        sync_wave_by_wave(cp, "self-signed-watch-namespaces");
        wait_ca_bundles(cp);
    })
    .await;
    env.cp.kubectl_ok(&["create", "namespace", "elsewhere"]);

    // Suspended resources: status shows whether the operator looked, with no Flink needed.
    let suspended = |ns: &str, name: &str| {
        let mut spec = env.application(name, "v1_20", "savepoint");
        spec["metadata"]["namespace"] = json!(ns);
        spec["spec"]["job"]["state"] = json!("suspended");
        spec
    };
    env.apply(&suspended(JOBS_NS, "inside"));
    env.wait_for("inside", "given a status", |d| !lifecycle(d).is_empty())
        .await;
    env.apply(&suspended("elsewhere", "outside"));
    let outside: Api<flink_lifecycle::api::FlinkDeployment> =
        Api::namespaced(env.cp.client.clone(), "elsewhere");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let o = outside.get("outside").await.unwrap();
    assert!(
        o.status.is_none() && o.metadata.finalizers.is_none(),
        "a namespace outside the watched ones is left alone: {:?}",
        o.status
    );

    // Told to watch `elsewhere` too, without a Role there: the new Pod names the namespace and
    // the fix, and goes on managing flink-jobs.
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(env.cp.client.clone(), OPERATOR_NS);
    let cm = cms
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|c| {
            c.metadata
                .name
                .as_deref()
                .unwrap_or_default()
                .starts_with("flink-lifecycle-config")
        })
        .expect("the operator's ConfigMap");
    let cm_name = cm.metadata.name.clone().unwrap();
    let text = cm.data.unwrap()["config.yaml"].replace(
        "kubernetes.operator.watched.namespaces: flink-jobs",
        "kubernetes.operator.watched.namespaces: flink-jobs,elsewhere",
    );
    assert!(text.contains("flink-jobs,elsewhere"), "{text}");
    env.cp.kubectl_ok(&[
        "-n",
        OPERATOR_NS,
        "patch",
        "configmap",
        &cm_name,
        "--type",
        "merge",
        "-p",
        &json!({"data": {"config.yaml": text}}).to_string(),
    ]);
    env.cp.kubectl_ok(&[
        "-n",
        OPERATOR_NS,
        "delete",
        "pod",
        "-l",
        "app.kubernetes.io/name=flink-lifecycle",
    ]);
    env.until("the new operator Pod names the forbidden namespace", || async {
        let log = operator_log(&env);
        (log.contains("may not watch FlinkDeployments in namespace elsewhere")
            && log.contains("watch-namespaces/roles.yaml"))
        .then_some(())
    })
    .await;
    let mut resumed = suspended(JOBS_NS, "inside");
    resumed["spec"]["job"]["parallelism"] = json!(2);
    env.apply(&resumed);
    env.wait_for("inside", "reconciled by the new Pod", |d| {
        d.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                !c.is_empty() && c.iter().all(|c| c.observed_generation == d.metadata.generation)
            })
    })
    .await;
    assert!(
        outside.get("outside").await.unwrap().status.is_none(),
        "still nothing written where the operator may not write"
    );

    // Not only at start: each retry of the refused watch says so again.
    env.until("the refusal repeated by the watch's retries", || async {
        let said = operator_log(&env)
            .matches("may not watch FlinkDeployments in namespace elsewhere")
            .count();
        (said >= 3).then_some(())
    })
    .await;
    // The fix the message names, applied: the same Role and RoleBinding in `elsewhere`. The
    // running Pod picks the namespace up at its next retry, without a restart.
    let launches = env.node.launches_of("flink-lifecycle", "operator");
    for mut o in install::overlay_objects("self-signed-watch-namespaces") {
        if matches!(install::kind(&o), "Role" | "RoleBinding") && install::namespace(&o) == JOBS_NS {
            o["metadata"]["namespace"] = json!("elsewhere");
            env.apply(&o);
        }
    }
    env.until("the namespace managed once its Role exists", || async {
        outside
            .get("outside")
            .await
            .unwrap()
            .status
            .is_some()
            .then_some(())
    })
    .await;
    assert_eq!(
        env.node.launches_of("flink-lifecycle", "operator"),
        launches,
        "picked up without restarting the operator"
    );
}
