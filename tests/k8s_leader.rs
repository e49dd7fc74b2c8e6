//! Leader election over a Lease in the in-memory API: one leader at a time, hand-over on step-down
//! and take-over after the leader stops renewing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/kube_api/mod.rs"]
mod kube_api;

use flink_lifecycle::controller::leader::LeaderElector;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::Api;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

fn elector(kube: &kube_api::InMemoryKube, me: &str) -> LeaderElector {
    LeaderElector {
        api: Api::namespaced(kube.client(), "flink-lifecycle"),
        name: "flink-lifecycle".into(),
        identity: me.into(),
        lease_duration: Duration::from_secs(2),
        renew_every: Duration::from_millis(200),
    }
}

async fn until(rx: &mut watch::Receiver<bool>, want: bool, within: Duration) {
    tokio::time::timeout(within, rx.wait_for(|v| *v == want))
        .await
        .unwrap_or_else(|_| panic!("leadership did not become {want} within {within:?}"))
        .unwrap();
}

#[tokio::test]
async fn one_leader_hand_over_on_step_down_and_take_over_after_expiry() {
    let kube = kube_api::InMemoryKube::new().await;
    let stop_a = CancellationToken::new();
    let mut a = elector(&kube, "a").run(stop_a.clone());
    until(&mut a, true, Duration::from_secs(2)).await;

    let stop_b = CancellationToken::new();
    let mut b = elector(&kube, "b").run(stop_b.clone());
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!*b.borrow(), "b follows while a renews");
    assert!(*a.borrow());

    // a steps down: b takes over without waiting for expiry.
    stop_a.cancel();
    until(&mut b, true, Duration::from_secs(2)).await;
    let lease: Api<Lease> = Api::namespaced(kube.client(), "flink-lifecycle");
    let spec = lease.get("flink-lifecycle").await.unwrap().spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert!(spec.lease_transitions.unwrap() >= 2);

    stop_b.cancel();
    until(&mut b, false, Duration::from_secs(2)).await;

    // A live Lease of someone else is respected; an expired one (its holder stopped renewing,
    // e.g. the process died) is taken over.
    let c = elector(&kube, "c");
    let mut l = lease.get("flink-lifecycle").await.unwrap();
    let spec = l.spec.as_mut().unwrap();
    spec.holder_identity = Some("x".into());
    spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
    lease
        .replace("flink-lifecycle", &Default::default(), &l)
        .await
        .unwrap();
    assert!(!c.round().await.unwrap(), "x's lease is live");
    let mut l = lease.get("flink-lifecycle").await.unwrap();
    l.spec.as_mut().unwrap().renew_time = Some(MicroTime(
        jiff::Timestamp::now() - jiff::SignedDuration::from_secs(10),
    ));
    lease
        .replace("flink-lifecycle", &Default::default(), &l)
        .await
        .unwrap();
    assert!(c.round().await.unwrap(), "x's lease expired: c takes over");
    let spec = lease.get("flink-lifecycle").await.unwrap().spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("c"));
}
