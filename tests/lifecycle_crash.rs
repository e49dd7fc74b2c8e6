#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Crash safety: every scenario is run once cleanly, then once per (loop, crash kind) with the
//! operator crashing in that loop — status write lost, status kept but the step not done, the
//! step half done, or done without its follow-up write — and the planner must still converge
//! to what the user asked for, never restore a stateful job from empty or older state, never
//! drop a recorded savepoint path, and never delete HA metadata a last-state restore needs.

mod lifecycle_support;

use flink_lifecycle::api::{JobState, UpgradeMode};
use lifecycle_support::{CRASHES, Crash, World};

type Edit = fn(&mut World);

struct Scenario {
    name: &'static str,
    world: fn() -> World,
    edits: Vec<Edit>,
}

fn parallelism(w: &mut World) {
    w.edit_job(|j| j.parallelism = Some(j.parallelism.unwrap_or(1) + 1));
}
fn suspend(w: &mut World) {
    w.edit_job(|j| j.state = Some(JobState::Suspended));
}
fn resume(w: &mut World) {
    w.edit_job(|j| j.state = Some(JobState::Running));
}
fn ticks(w: &mut World) {
    for _ in 0..3 {
        w.tick();
    }
}
fn upgrade_after_progress(w: &mut World) {
    ticks(w);
    parallelism(w);
}
fn suspend_after_progress(w: &mut World) {
    ticks(w);
    suspend(w);
}

fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    for (name, world) in [
        ("stateless", (|| World::app("stateless", false)) as fn() -> World),
        ("savepoint", || World::app("savepoint", false)),
        ("savepoint-ha", || World::app("savepoint", true)),
        ("last-state-ha", || World::app("last-state", true)),
        ("last-state-no-ha", || World::app("last-state", false)),
        ("session-job-savepoint", || World::session_job("savepoint")),
        ("session-job-last-state", || World::session_job("last-state")),
        ("session-job-stateless", || World::session_job("stateless")),
    ] {
        out.push(Scenario {
            name,
            world,
            edits: vec![upgrade_after_progress, suspend_after_progress, resume],
        });
    }
    out.push(Scenario {
        name: "session-cluster",
        world: World::session_cluster,
        edits: vec![|w| w.edit_app(|s| s.image = Some("flink:1.20.1".into()))],
    });
    out.push(Scenario {
        name: "savepoint-redeploy",
        world: || {
            let mut w = World::app("last-state", true);
            w.storage.insert("file:///sp/golden".into(), 100);
            w
        },
        edits: vec![|w| {
            ticks(w);
            w.edit_job(|j| {
                j.savepoint_redeploy_nonce = Some(1);
                j.initial_savepoint_path = Some("file:///sp/golden".into());
            });
        }],
    });
    out.push(Scenario {
        name: "jobmanager-lost-ha",
        world: || World::app("last-state", true),
        edits: vec![|w| {
            ticks(w);
            w.cluster = None;
        }],
    });
    out.push(Scenario {
        name: "restart-failed",
        world: || {
            let mut w = World::app("savepoint", false);
            w.set_operator("job.restart.failed", "true");
            w
        },
        edits: vec![|w| {
            ticks(w);
            w.cluster.as_mut().unwrap().job.as_mut().unwrap().fail_next = true;
            w.tick();
        }],
    });
    out.push(Scenario {
        name: "manual-savepoint-then-upgrade",
        world: || World::app("savepoint", false),
        edits: vec![
            |w| w.edit_job(|j| j.savepoint_trigger_nonce = Some(1)),
            upgrade_after_progress,
        ],
    });
    out.push(Scenario {
        name: "delete-with-savepoint",
        world: || {
            let mut w = World::app("savepoint", false);
            w.set_operator("job.savepoint-on-deletion", "true");
            w
        },
        edits: vec![|w| {
            ticks(w);
            w.request_deletion();
        }],
    });
    out.push(Scenario {
        name: "mode-change-then-upgrade",
        world: || World::app("stateless", true),
        edits: vec![|w| {
            ticks(w);
            w.edit_job(|j| {
                j.upgrade_mode = Some(UpgradeMode::LastState);
                j.parallelism = Some(5);
            });
        }],
    });
    out
}

const BUDGET: usize = 40;

/// Runs the scenario; returns the number of loops, or what went wrong.
fn run(s: &Scenario, crash: Option<(usize, Crash)>) -> Result<usize, String> {
    let mut w = (s.world)();
    let mut loops = 0usize;
    let mut converge = |w: &mut World, phase: usize| -> Result<(), String> {
        let mut settled = 0;
        for _ in 0..BUDGET {
            if w.converged() {
                settled += 1;
                if settled > 1 {
                    return Ok(());
                }
            } else {
                settled = 0;
            }
            loops += 1;
            let c = crash.filter(|(at, _)| *at == loops).map(|(_, c)| c);
            w.step(c);
            if !w.violations.is_empty() {
                return Err(format!("phase {phase}: {:?}", w.violations));
            }
        }
        Err(format!(
            "phase {phase} did not converge; last: {:?} {:?} {:?}; error: {:?}",
            w.plans.last().map(|p| &p.step),
            w.plans.last().map(|p| &p.reasons),
            w.lifecycle(),
            w.last_error()
        ))
    };
    converge(&mut w, 0)?;
    for (i, edit) in s.edits.iter().enumerate() {
        edit(&mut w);
        converge(&mut w, i + 1)?;
    }
    Ok(loops)
}

#[test]
fn every_scenario_converges_cleanly() {
    for s in scenarios() {
        run(&s, None).unwrap_or_else(|e| panic!("{}: {e}", s.name));
    }
}

#[test]
fn a_crash_between_any_two_steps_is_repaired() {
    let mut runs = 0;
    let mut failures = Vec::new();
    for s in scenarios() {
        let clean = run(&s, None).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        for at in 1..=clean {
            for crash in CRASHES {
                runs += 1;
                if let Err(e) = run(&s, Some((at, crash))) {
                    failures.push(format!("{} crash {crash:?} at loop {at}: {e}", s.name));
                }
            }
        }
    }
    eprintln!("{runs} crash runs");
    assert!(runs > 500, "only {runs} crash runs");
    assert!(
        failures.is_empty(),
        "{} of {runs} crash runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
