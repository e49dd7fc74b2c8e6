//! The Argo CD health checks over statuses the planner really writes: the lifecycle simulator
//! (`tests/lifecycle_support`, the planner's model of Kubernetes + Flink) runs seed scenarios, and
//! the resource it leaves — metadata, spec and status — goes through our Lua check and through
//! the re-implementation of Argo CD's bundled check, in Lua 5.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "install/mod.rs"]
mod install;
mod lifecycle_support;

use flink_lifecycle::api::{JobState, ResourceLifecycleState};
use install::*;
use lifecycle_support::{BROKEN_IMAGE, Kind, World};
use serde_json::{Value, json};

fn deployed(mut w: World) -> World {
    assert!(w.run(20), "first deployment did not converge: {:?}", w.actions());
    w.steps.clear();
    w
}

fn resource(w: &World) -> (&'static str, Value) {
    match w.kind {
        Kind::SessionJob => ("FlinkSessionJob", serde_json::to_value(&w.sj).unwrap()),
        _ => ("FlinkDeployment", serde_json::to_value(&w.dep).unwrap()),
    }
}

/// (scenario, the simulated world at its end, expected health, message substring)
fn scenarios() -> Vec<(&'static str, World, &'static str, &'static str)> {
    let mut out = Vec::new();

    out.push((
        "first deployment, stable",
        deployed(World::app("savepoint", false)),
        "Healthy",
        "running",
    ));

    let mut w = World::app("savepoint", false);
    w.edit_job(|j| j.state = Some(JobState::Suspended));
    for _ in 0..5 {
        w.step(None);
    }
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Created));
    out.push(("created suspended", w, "Healthy", "suspended, as the spec asks"));

    let mut w = deployed(World::app("savepoint", false));
    w.tick();
    w.edit_app(|s| s.image = Some("flink:1.20.1".into()));
    out.push((
        "spec changed, not yet acted on",
        w.clone(),
        "Progressing",
        "not reconciled",
    ));
    w.step(None);
    out.push(("savepoint upgrade in flight", w, "Progressing", ""));

    let mut w = deployed(World::app("savepoint", false));
    w.tick();
    w.edit_job(|j| j.state = Some(JobState::Suspended));
    assert!(w.run(20));
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Suspended));
    out.push((
        "suspended with a savepoint",
        w,
        "Healthy",
        "suspended, as the spec asks",
    ));

    let mut w = deployed(World::app("last-state", false));
    w.cluster.as_mut().unwrap().job.as_mut().unwrap().fail_next = true;
    w.tick();
    for _ in 0..3 {
        w.step(None);
    }
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Failed));
    out.push(("job failed", w, "Degraded", "boom"));

    let mut w = deployed(World::app("savepoint", false));
    w.tick();
    w.cluster = None;
    for _ in 0..3 {
        w.step(None);
    }
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::Failed));
    out.push((
        "JobManager lost without HA",
        w,
        "Degraded",
        "Manual restore required",
    ));

    let mut w = deployed(World::app("last-state", true));
    w.set_operator("deployment.rollback.enabled", "true");
    w.tick();
    w.edit_app(|s| s.image = Some(BROKEN_IMAGE.into()));
    for _ in 0..12 {
        w.step(None);
        w.now += 60_000;
    }
    assert_eq!(w.lifecycle(), Some(ResourceLifecycleState::RolledBack));
    out.push((
        "unstable upgrade rolled back",
        w,
        "Degraded",
        "rolled back to the last stable spec: ",
    ));

    out.push((
        "session cluster",
        deployed(World::session_cluster()),
        "Healthy",
        "Session cluster ready",
    ));
    out.push((
        "session job",
        deployed(World::session_job("savepoint")),
        "Healthy",
        "running",
    ));

    let mut w = deployed(World::app("savepoint", false));
    w.rest_silent = true;
    w.step(None);
    out.push(("REST API silent for a moment", w.clone(), "Healthy", ""));
    for _ in 0..4 {
        w.now += 10_000;
        w.step(None);
    }
    out.push((
        "REST API silent for 40 s",
        w,
        "Degraded",
        "REST API has not answered since",
    ));

    // One task failure: Flink restarts the job within its restart strategy.
    let mut w = deployed(World::app("savepoint", false));
    {
        let job = w.cluster.as_mut().unwrap().job.as_mut().unwrap();
        job.state = flink_lifecycle::api::FlinkJobState::Restarting;
        job.restarts = 1;
    }
    w.step(None);
    out.push(("job restarting once", w, "Progressing", "RESTARTING"));

    // The API server refuses the cluster the new spec renders to: the job keeps running the old
    // generation, and the refused one must not look in progress forever.
    let mut w = deployed(World::app("savepoint", false));
    w.tick();
    w.cluster_refused = Some("exceeded quota: flink-jobs".into());
    w.edit_app(|s| s.image = Some("flink:1.20.1".into()));
    for _ in 0..3 {
        w.step(None);
    }
    out.push((
        "upgrade refused by the API server",
        w,
        "Degraded",
        "refused (still running generation",
    ));

    let mut w = deployed(World::app("savepoint", false));
    w.request_deletion();
    w.step(None);
    out.push(("deletion in progress", w, "Progressing", "Deleting"));
    out
}

fn health_of(script_for: impl Fn(&str) -> std::path::PathBuf) -> Vec<(String, Health)> {
    let mut out = Vec::new();
    for (name, w, _, _) in scenarios() {
        let (kind_name, obj) = resource(&w);
        let case = json!({"name": name, "object": obj});
        let res = run_script(&script_for(kind_name), &[&case]);
        out.push((name.to_string(), res[name].clone()));
    }
    out
}

#[test]
fn override_tells_the_truth_about_simulated_scenarios() {
    let healths = health_of(|k| repo().join(format!("argocd/health/flink.apache.org/{k}/health.lua")));
    let mut failures = Vec::new();
    for ((name, _, want, msg), (_, h)) in scenarios().iter().zip(&healths) {
        println!("{name:40} {:12} {}", h.status, h.message);
        if h.status != *want || !h.message.contains(msg) {
            failures.push(format!(
                "{name}: got {} {:?}, want {want} containing {msg:?}",
                h.status, h.message
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bundled_argocd_check_stays_sensible_on_simulated_scenarios() {
    let ours = health_of(|k| repo().join(format!("argocd/health/flink.apache.org/{k}/health.lua")));
    let upstream = health_of(|k| repo().join(format!("tests/fixtures/argocd/upstream-{k}.lua")));
    for ((name, o), (_, u)) in ours.iter().zip(&upstream) {
        println!(
            "{name:40} ours {:12} bundled {:12} {}",
            o.status, u.status, u.message
        );
        assert_ne!(u.status, "Unknown", "{name}: {}", u.message);
        if o.status == "Healthy" {
            // A suspension the spec asks for: the bundled check's Suspended is no false alarm.
            assert!(
                u.status == "Healthy" || (u.status == "Suspended" && name.contains("suspended")),
                "{name}: healthy job shown as {} by the bundled check",
                u.status
            );
        }
        if o.status == "Progressing" {
            assert_ne!(u.status, "Degraded", "{name}");
        }
    }
}
