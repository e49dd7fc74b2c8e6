//! The write-ahead status under a lagging watch cache, in the lifecycle model with the
//! controller's own read-your-writes guard (`KnownVersions`) and the conditional status write:
//! a plan made from an object older than the operator's last write is never acted on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lifecycle_support;

use flink_lifecycle::api::JobState;
use flink_lifecycle::lifecycle::Step;
use lifecycle_support::World;

fn stops(w: &World) -> usize {
    w.steps
        .iter()
        .filter(|s| matches!(s, Step::StopWithSavepoint { .. }))
        .count()
}

/// Runs loops until the upgrade's stop-with-savepoint is sent and its trigger id recorded.
fn upgrade_until_triggered(w: &mut World) {
    w.edit_job(|j| j.parallelism = Some(3));
    for _ in 0..10 {
        w.step(None);
        if stops(w) == 1 {
            return;
        }
    }
    panic!("no stop-with-savepoint: {:?}", w.actions());
}

#[test]
fn a_cache_older_than_the_trigger_write_is_read_anew_and_sends_no_second_stop() {
    let mut w = World::app("savepoint", false);
    assert!(w.run(20));
    w.steps.clear();
    upgrade_until_triggered(&mut w);
    let trigger = w.trigger.clone().expect("a savepoint in flight").id;
    // An object from before the operator recorded the trigger: planned from as it is, its status
    // write would erase the recorded trigger id (the log going backwards), after which the
    // operator no longer knows which savepoint it asked for.
    let erases_trigger = |back: usize| {
        let (dep, sj) = w.cache[w.cache.len() - 1 - back].clone();
        let mut blind = w.clone();
        (blind.dep, blind.sj) = (dep, sj);
        let planned = serde_json::to_string(&blind.plan_now().status).unwrap();
        !planned.contains(&trigger)
    };
    let back = (1..w.cache.len())
        .find(|b| erases_trigger(*b))
        .expect("some cached object predates the trigger write");
    // The controller's guard reads the object anew instead.
    assert!(!w.step_from_cache(back), "planned from the stale object");
    let recorded = serde_json::to_string(&w.status()).unwrap();
    assert!(
        recorded.contains(&trigger) || recorded.contains("upgradeSavepointPath"),
        "the recorded trigger id stands (or its savepoint is recorded): {recorded}"
    );
    assert_eq!(stops(&w), 1, "{:?}", w.actions());
    assert!(
        w.trigger.as_ref().is_none_or(|t| t.id == trigger),
        "the recorded trigger stands"
    );
    assert!(w.run(20), "{:?}", w.actions());
    assert_eq!(stops(&w), 1);
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn a_plan_from_the_operators_own_write_overtaken_by_a_user_edit_is_refused() {
    let mut w = World::app("savepoint", false);
    assert!(w.run(20));
    w.steps.clear();
    // The cache holds the operator's own last write; the user suspends the job meanwhile.
    w.edit_job(|j| j.state = Some(JobState::Suspended));
    let before = w.steps.len();
    assert!(w.step_from_cache(1), "the cache held the operator's own write");
    assert_eq!(
        w.refused_stale_writes, 1,
        "the conditional write is refused (409)"
    );
    assert_eq!(w.steps.len(), before, "no step runs from a refused write");
    // The next loop reads the object anew and suspends.
    assert!(!w.step_from_cache(1));
    assert!(w.run(20), "{:?}", w.actions());
    assert_eq!(stops(&w), 1, "one stop-with-savepoint for the suspend");
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}
