//! Leader election on a REAL kube-apiserver (`tests/cluster/`, see its README, or the cluster of
//! `$E2E_KUBECONFIG`): two operator instances, each a Lease elector plus the controllers wired as
//! src/run.rs wires them, each with a client authenticated as the operator's ServiceAccount (so
//! only the manifests' RBAC applies), compete for the Lease `flink-lifecycle/flink-lifecycle`.
//!
//! - exactly one holds the Lease (`spec.holderIdentity`) and only its controllers run: the
//!   follower's controllers never start, so its reconcile metric stays at 0 while the leader's
//!   counts the reconciles that wrote the FlinkDeployment's status;
//! - the leader is killed: each instance runs on its own tokio runtime, and the kill is
//!   `Runtime::shutdown_background()`, which drops every task of that instance (the elector's
//!   renew loop, the controllers, the HTTP connections) at its next await point. The elector's
//!   step-down code runs only after its shutdown token is cancelled, so nothing releases the
//!   Lease: the follower must wait for it to expire (the same as a SIGKILLed process);
//! - the follower takes the Lease within lease duration + one renew period (+ 2 s margin) of the
//!   dead leader's last renewal, and reconciles a spec edit made after the hand-over.
//!
//! "Reconciled" is read from the status: a FlinkDeployment created with `job.state: suspended`
//! gets `lifecycleState` and conditions, each stamped with the reconciled `observedGeneration`,
//! but no `status.observedGeneration` before it is first resumed (see `reacted`).
//!
//! Lease timings are the shipped ones (src/run.rs `elector`: 15 s lease, renew every 5 s).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/control_plane.rs"]
mod control_plane;
#[path = "support/elected.rs"]
mod elected;

use control_plane::ControlPlane;
use elected::{ElectedOperator, LEASE, LEASE_DURATION, OPERATOR_NS, RENEW_EVERY};
use flink_lifecycle::api::FlinkDeployment;
use flink_lifecycle::config::OperatorConfig;
use flink_lifecycle::controller::{Context, RestUrlResolver};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OVERLAY: &str = "manifests/overlays/self-signed";
const OPERATOR_SA: &str = "flink-lifecycle";
const TEST_NS: &str = "real-cluster-leader";

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Polls `check` every 100 ms until it returns `Some`, at most `timeout`.
async fn wait<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "not {what} within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn operator_config() -> OperatorConfig {
    OperatorConfig::from_yaml(
        "kubernetes.operator.reconcile.interval: 2 s\n\
         kubernetes.operator.retry.initial.interval: 500 ms\n\
         kubernetes.operator.retry.max.interval: 3 s\n",
    )
    .expect("operator config")
}

/// No Flink runs (no kubelet): no cluster has a REST endpoint.
struct NoRest;

impl RestUrlResolver for NoRest {
    fn rest_url(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

/// A suspended savepoint-mode application: the operator records and observes it, and creates no
/// JobManager Deployment.
fn suspended(name: &str) -> Value {
    json!({
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkDeployment",
        "metadata": {"name": name, "namespace": TEST_NS},
        "spec": {
            "image": "flink:1.20",
            "flinkVersion": "v1_20",
            "serviceAccount": "default",
            "flinkConfiguration": {
                "taskmanager.numberOfTaskSlots": "2",
                "state.checkpoints.dir": "file:///flink-data/checkpoints",
                "state.savepoints.dir": "file:///flink-data/savepoints"
            },
            "jobManager": {"resources": {"requests": {"memory": "1024Mi", "cpu": "0.5"}}},
            "taskManager": {"resources": {"requests": {"memory": "1024Mi", "cpu": "0.5"}}},
            "job": {
                "jarURI": "local:///opt/flink/examples/streaming/StateMachineExample.jar",
                "parallelism": 1,
                "upgradeMode": "savepoint",
                "state": "suspended"
            }
        }
    })
}

/// Completed reconciles of one instance (its own metrics: each instance has its own Context).
fn reconciles(ctx: &Context) -> u64 {
    let mut registry = prometheus_client::registry::Registry::default();
    ctx.metrics.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text.lines()
        .filter(|l| l.starts_with("reconcile_duration_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn reacted(d: &FlinkDeployment, generation: Option<i64>) -> bool {
    let Some(s) = d.status.as_ref() else {
        return false;
    };
    let conditions = s.conditions.as_deref().unwrap_or_default();
    !conditions.is_empty()
        && s.lifecycle_state.is_some()
        && conditions.iter().all(|c| c.observed_generation == generation)
        && s.observed_generation.is_none_or(|g| Some(g) == generation)
}

async fn lease_spec(api: &Api<Lease>) -> Option<LeaseSpec> {
    api.get_opt(LEASE).await.unwrap().and_then(|l| l.spec)
}

fn holder(spec: &LeaseSpec) -> &str {
    spec.holder_identity.as_deref().unwrap_or_default()
}

#[test]
fn real_apiserver_one_leader_reconciles_and_a_killed_leader_is_replaced() {
    let t0 = Instant::now();
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    let main = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cp = main.block_on(ControlPlane::start());

    // Install: CRDs, the operator's namespace, ServiceAccount and RBAC. The webhook
    // configurations route to a Service nothing serves (no kubelet), so they go.
    let overlay = repo().join(OVERLAY).display().to_string();
    cp.kubectl_ok(&["apply", "-k", &overlay]);
    for crd in [
        "flinkdeployments.flink.apache.org",
        "flinksessionjobs.flink.apache.org",
    ] {
        cp.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{crd}"),
            "--timeout=60s",
        ]);
    }
    cp.kubectl_ok(&[
        "delete",
        "validatingwebhookconfiguration/flink-lifecycle",
        "mutatingwebhookconfiguration/flink-lifecycle",
    ]);
    main.block_on(async {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": TEST_NS}})).unwrap();
        Api::<Namespace>::all(cp.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    });
    let token = cp.kubectl_ok(&["-n", OPERATOR_NS, "create", "token", OPERATOR_SA, "--duration=1h"]);
    let token = token.trim();
    let leases: Api<Lease> = Api::namespaced(cp.client.clone(), OPERATOR_NS);
    let api: Api<FlinkDeployment> = Api::namespaced(cp.client.clone(), TEST_NS);

    // ---- two instances compete: exactly one leads -------------------------------------------
    let mut instances = [
        ElectedOperator::start(&cp, "operator-a", token, operator_config(), Arc::new(NoRest)),
        ElectedOperator::start(&cp, "operator-b", token, operator_config(), Arc::new(NoRest)),
    ];
    let first = main.block_on(wait("a Lease holder", Duration::from_secs(30), || async {
        let spec = lease_spec(&leases).await?;
        let h = holder(&spec).to_string();
        (!h.is_empty()).then_some(h)
    }));
    let leader = instances
        .iter()
        .position(|i| i.identity == first)
        .unwrap_or_else(|| panic!("Lease held by an unknown identity {first:?}"));
    let follower = 1 - leader;
    eprintln!("real-cluster-leader: {first} holds the Lease");

    // A FlinkDeployment: its status is written by the leader's controllers.
    let d: FlinkDeployment = serde_json::from_value(suspended("led")).unwrap();
    let created = main.block_on(api.create(&PostParams::default(), &d)).unwrap();
    let generation = created.metadata.generation;
    let first_status = main.block_on(wait("status of led", Duration::from_secs(60), || async {
        let d = api.get("led").await.unwrap();
        reacted(&d, generation).then_some(d.status)
    }));
    eprintln!(
        "real-cluster-leader: status written by the leader: {}",
        serde_json::to_string(&first_status).unwrap()
    );
    // Over two renew periods: the holder never changes, the follower never leads, and its
    // controllers never reconcile anything.
    main.block_on(async {
        let until = Instant::now() + 2 * RENEW_EVERY + Duration::from_secs(1);
        let mut renewals = std::collections::BTreeSet::new();
        while Instant::now() < until {
            let spec = lease_spec(&leases).await.unwrap();
            assert_eq!(holder(&spec), first, "the Lease changed hands with both alive");
            renewals.insert(format!("{:?}", spec.renew_time));
            assert!(instances[follower].led_at().is_none(), "both instances lead");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(renewals.len() >= 2, "the leader did not renew: {renewals:?}");
    });
    let (leader_reconciles, follower_reconciles) = (
        reconciles(&instances[leader].ctx),
        reconciles(&instances[follower].ctx),
    );
    eprintln!("real-cluster-leader: reconciles: leader {leader_reconciles}, follower {follower_reconciles}");
    assert!(instances[leader].led_at().is_some());
    assert!(leader_reconciles >= 1, "the leader reconciled nothing");
    assert_eq!(follower_reconciles, 0, "the follower reconciled");

    // ---- kill the leader: no step-down, the Lease must expire --------------------------------
    let before = main.block_on(lease_spec(&leases)).unwrap();
    let transitions = before.lease_transitions.unwrap_or(0);
    instances[leader].kill();
    let killed = Instant::now();
    let killed_wall = jiff::Timestamp::now();
    // The last renewal the dead leader made (it may have renewed between the read and the kill).
    let last_renew = main
        .block_on(lease_spec(&leases))
        .unwrap()
        .renew_time
        .map(|t| t.0)
        .unwrap();
    let successor = instances[follower].identity.clone();
    let bound = LEASE_DURATION + RENEW_EVERY + Duration::from_secs(2);
    let taken = main.block_on(wait(
        "the Lease taken over",
        bound + Duration::from_secs(5),
        || async {
            let spec = lease_spec(&leases).await?;
            (holder(&spec) == successor).then_some(spec)
        },
    ));
    let handover = killed.elapsed();
    let taken_at = taken.acquire_time.as_ref().map(|t| t.0).unwrap();
    let since_renew = Duration::try_from(taken_at.duration_since(last_renew)).unwrap_or_default();
    let since_kill = Duration::try_from(taken_at.duration_since(killed_wall)).unwrap_or_default();
    eprintln!(
        "real-cluster-leader: hand-over {} -> {successor}: Lease acquired {:.2} s after the kill \
         ({:.2} s after the dead leader's last renewal; seen by polling after {:.2} s); \
         lease {LEASE_DURATION:?}, renew every {RENEW_EVERY:?}",
        first,
        since_kill.as_secs_f64(),
        since_renew.as_secs_f64(),
        handover.as_secs_f64(),
    );
    assert!(
        since_renew >= LEASE_DURATION - Duration::from_secs(1),
        "the Lease was taken before it expired ({since_renew:?} after the last renewal)"
    );
    assert!(
        since_renew <= bound,
        "the Lease was taken {since_renew:?} after the last renewal (bound {bound:?})"
    );
    assert!(
        taken.lease_transitions.unwrap_or(0) > transitions,
        "leaseTransitions did not grow: {taken:?}"
    );
    main.block_on(wait(
        "the successor's controllers leading",
        Duration::from_secs(5),
        || async { instances[follower].led_at() },
    ));

    // ---- the new leader reconciles a spec edit made after the hand-over ----------------------
    let patched = main
        .block_on(api.patch(
            "led",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"job": {"parallelism": 2}}})),
        ))
        .unwrap();
    assert_ne!(
        patched.metadata.generation, generation,
        "the edit did not bump the generation"
    );
    let edited = Instant::now();
    main.block_on(wait(
        "observedGeneration of the edit",
        Duration::from_secs(30),
        || async {
            let d = api.get("led").await.unwrap();
            reacted(&d, patched.metadata.generation).then_some(())
        },
    ));
    let successor_reconciles = reconciles(&instances[follower].ctx);
    eprintln!(
        "real-cluster-leader: the successor reconciled the edit (generation {:?}) in {:.2} s; its reconciles: {successor_reconciles}",
        patched.metadata.generation,
        edited.elapsed().as_secs_f64()
    );
    assert!(successor_reconciles >= 1);
    let spec = main.block_on(lease_spec(&leases)).unwrap();
    assert_eq!(holder(&spec), successor);

    drop(instances);
    eprintln!(
        "real-cluster-leader: passed in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    drop(cp);
}
