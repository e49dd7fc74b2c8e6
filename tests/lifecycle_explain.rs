#![allow(clippy::unwrap_used, clippy::expect_used)]
//! What `describe_*_change` tells a user, from the seed's transition and upgrade-mode tables
//! (written from the seed and the reference study, not from the code).

use flink_lifecycle::api::{FlinkDeployment, FlinkDeploymentSpec, FlinkSessionJob, ReconciledSpec};
use flink_lifecycle::config::OperatorConfig;
use flink_lifecycle::lifecycle::{describe_deployment_change, describe_session_job_change};

const BASE: &str = r#"
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: basic, namespace: default, generation: 1}
spec:
  image: flink:1.20
  flinkVersion: v1_20
  serviceAccount: flink
  flinkConfiguration:
    state.checkpoints.dir: file:///flink-data/checkpoints
    state.savepoints.dir: file:///flink-data/savepoints
  jobManager: {resource: {memory: 2048m, cpu: 1}}
  taskManager: {resource: {memory: 2048m, cpu: 1}}
  job:
    jarURI: local:///opt/flink/examples/streaming/StateMachineExample.jar
    parallelism: 2
    upgradeMode: UPGRADE_MODE
    state: running
"#;

fn dep(mode: &str) -> FlinkDeployment {
    serde_saphyr::from_str(&BASE.replace("UPGRADE_MODE", mode)).unwrap()
}

/// The stored object after the operator deployed `spec` with job state `state`.
fn deployed(mut d: FlinkDeployment, state: &str, recorded_mode: &str) -> FlinkDeployment {
    let mut spec: FlinkDeploymentSpec = d.spec.clone();
    let job = spec.job.as_mut().unwrap();
    job.state = Some(serde_json::from_value(serde_json::json!(state)).unwrap());
    job.upgrade_mode = Some(serde_json::from_value(serde_json::json!(recorded_mode)).unwrap());
    let text = ReconciledSpec::new(spec, false).encode();
    d.status = Some(serde_json::from_value(serde_json::json!({
        "jobManagerDeploymentStatus": "READY",
        "jobStatus": {"state": if state == "running" {"RUNNING"} else {"FINISHED"}, "jobId": "00000000000000000000000000000001",
                      "upgradeSavepointPath": "file:///flink-data/savepoints/sp-1"},
        "reconciliationStatus": {"state": "DEPLOYED", "lastReconciledSpec": text}
    })).unwrap());
    d
}

fn with_ha(mut d: FlinkDeployment) -> FlinkDeployment {
    let conf = d.spec.flink_configuration.as_mut().unwrap();
    conf.set("high-availability.type", "kubernetes");
    conf.set("high-availability.storageDir", "file:///flink-data/ha");
    d
}

fn describe(old: &FlinkDeployment, new: &FlinkDeployment) -> Option<String> {
    describe_deployment_change(old, new, &OperatorConfig::default())
}

fn parallelism(mut d: FlinkDeployment, p: i32) -> FlinkDeployment {
    d.spec.job.as_mut().unwrap().parallelism = Some(p);
    d
}

#[test]
fn running_to_running_per_upgrade_mode() {
    let cases = [
        (
            "stateless",
            false,
            "stateless upgrade: job state will be discarded",
        ),
        (
            "savepoint",
            false,
            "savepoint upgrade: job will be stopped with a savepoint and restored from it",
        ),
        (
            "last-state",
            false,
            "last-state upgrade without HA: job will be cancelled and restored from its last checkpoint",
        ),
        (
            "last-state",
            true,
            "last-state upgrade: JobManager will be replaced and the job restored from HA metadata",
        ),
        (
            "savepoint",
            true,
            "savepoint upgrade: job will be stopped with a savepoint and restored from it",
        ),
    ];
    for (mode, ha, want) in cases {
        let base = if ha { with_ha(dep(mode)) } else { dep(mode) };
        let old = deployed(base.clone(), "running", "stateless");
        let line = describe(&old, &parallelism(base, 4)).expect(mode);
        assert!(line.starts_with(want), "{mode} ha={ha}: {line}");
        assert!(line.contains("job.parallelism : 2 -> 4"), "{line}");
    }
}

#[test]
fn turning_ha_on_or_off_in_a_last_state_upgrade_cancels() {
    // The HA metadata to restore is the deployed cluster's, and only a new cluster with HA reads it.
    let no_ha = dep("last-state");
    let ha = with_ha(dep("last-state"));
    for (from, to, case) in [
        (&no_ha, &ha, "last-state upgrade with no HA metadata to restore: "),
        (&ha, &no_ha, "last-state upgrade turning HA off: "),
    ] {
        let old = deployed(from.clone(), "running", "stateless");
        let line = describe(&old, to).expect(case);
        assert!(
            line.starts_with(&format!(
                "{case}job will be cancelled and restored from its last checkpoint"
            )),
            "{line}"
        );
    }
}

#[test]
fn a_last_state_upgrade_cancelled_by_configuration_says_so() {
    let ha = with_ha(dep("last-state"));
    let old = deployed(ha.clone(), "running", "stateless");
    let op = OperatorConfig {
        last_state_job_cancel_enabled: true,
        ..OperatorConfig::default()
    };
    let line = describe_deployment_change(&old, &parallelism(ha, 4), &op).unwrap();
    assert!(
        line.starts_with(
            "last-state upgrade with job cancel enabled: job will be cancelled and restored from its last checkpoint"
        ),
        "{line}"
    );
}

#[test]
fn nothing_changed_or_not_deployed_is_none() {
    let d = dep("savepoint");
    let old = deployed(d.clone(), "running", "stateless");
    assert_eq!(describe(&old, &d), None);
    let mut created = d.clone();
    created.status = Some(
        serde_json::from_value(serde_json::json!({"reconciliationStatus": {"state": "UPGRADING"}})).unwrap(),
    );
    assert_eq!(describe(&created, &parallelism(d, 3)), None);
}

#[test]
fn suspend_resume_and_suspended_edit() {
    let d = dep("savepoint");
    let old = deployed(d.clone(), "running", "stateless");
    let mut suspended = d.clone();
    suspended.spec.job.as_mut().unwrap().state = Some(flink_lifecycle::api::JobState::Suspended);
    let line = describe(&old, &suspended).unwrap();
    assert!(line.starts_with("suspend with savepoint:"), "{line}");

    let old_suspended = deployed(d.clone(), "suspended", "savepoint");
    let line = describe(&old_suspended, &d).unwrap();
    assert!(line.starts_with("resume:"), "{line}");
    assert!(line.contains("file:///flink-data/savepoints/sp-1"), "{line}");

    let mut stateless = d.clone();
    stateless.spec.job.as_mut().unwrap().upgrade_mode = Some(flink_lifecycle::api::UpgradeMode::Stateless);
    let line = describe(&old_suspended, &stateless).unwrap();
    assert!(line.contains("empty state"), "{line}");

    let edit = parallelism(suspended.clone(), 5);
    let line = describe(&old_suspended, &edit).unwrap();
    assert!(line.starts_with("no restart: the job stays suspended"), "{line}");
}

#[test]
fn savepoint_redeploy_and_ignored_fields() {
    let d = dep("last-state");
    let old = deployed(d.clone(), "running", "stateless");
    let mut redeploy = d.clone();
    let job = redeploy.spec.job.as_mut().unwrap();
    job.savepoint_redeploy_nonce = Some(1);
    job.initial_savepoint_path = Some("s3://b/sp-7".into());
    assert_eq!(
        describe(&old, &redeploy).unwrap(),
        "savepoint redeploy: job will be restarted from s3://b/sp-7; rollback to earlier specs is disabled"
    );
    // With a suspend: the job is suspended as any suspend keeps its state (last-state without
    // HA: cancelled), and the redeploy waits for the resume.
    let mut suspend_too = redeploy.clone();
    suspend_too.spec.job.as_mut().unwrap().state = Some(flink_lifecycle::api::JobState::Suspended);
    assert_eq!(
        describe(&old, &suspend_too).unwrap(),
        "suspend (last-state without HA): job will be cancelled; resume restores from its last checkpoint; the savepoint redeploy is carried out at the resume, which then starts from s3://b/sp-7 instead"
    );
    let old_suspended = deployed(d.clone(), "suspended", "last-state");
    assert_eq!(
        describe(&old_suspended, &suspend_too).unwrap(),
        "savepoint redeploy: the job stays suspended; when resumed it starts from s3://b/sp-7; rollback to earlier specs is disabled"
    );
    redeploy.spec.job.as_mut().unwrap().initial_savepoint_path = None;
    assert!(describe(&old, &redeploy).unwrap().contains("must not be empty"));

    let mut mode_only = d.clone();
    mode_only.spec.job.as_mut().unwrap().upgrade_mode = Some(flink_lifecycle::api::UpgradeMode::Savepoint);
    let line = describe(&old, &mode_only).unwrap();
    assert!(
        line.starts_with("no restart: only ignored fields changed"),
        "{line}"
    );

    let mut manual = d.clone();
    manual.spec.job.as_mut().unwrap().savepoint_trigger_nonce = Some(9);
    assert!(describe(&old, &manual).unwrap().starts_with("manual savepoint:"));

    let mut restart = d;
    restart.spec.restart_nonce = Some(2);
    let line = describe(&old, &restart).unwrap();
    assert!(line.starts_with("last-state upgrade without HA"), "{line}");
    assert!(line.contains("restartNonce"), "{line}");
}

#[test]
fn session_job_last_state_is_always_cancel_based() {
    let text = r#"
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata: {name: sj, namespace: default}
spec:
  deploymentName: session
  job: {jarURI: "https://repo/job.jar", parallelism: 1, upgradeMode: last-state}
"#;
    let new: FlinkSessionJob = serde_saphyr::from_str(text).unwrap();
    let mut old = new.clone();
    let mut spec = old.spec.clone();
    spec.job.as_mut().unwrap().parallelism = Some(3);
    spec.job.as_mut().unwrap().state = Some(flink_lifecycle::api::JobState::Running);
    old.status = Some(serde_json::from_value(serde_json::json!({
        "jobStatus": {"state": "RUNNING", "jobId": "00000000000000000000000000000002"},
        "reconciliationStatus": {"state": "DEPLOYED", "lastReconciledSpec": ReconciledSpec::new(spec, false).encode()}
    })).unwrap());
    let line = describe_session_job_change(&old, &new, &OperatorConfig::default()).unwrap();
    assert!(
        line.starts_with("last-state upgrade of a session job: job will be cancelled"),
        "{line}"
    );
}

/// A path edited without a new redeploy nonce looks like a restore to a person, and it is not:
/// the line says so, unless the redeploy takes it or the first deployment is still reading it.
#[test]
fn an_initial_savepoint_path_edited_without_a_redeploy_is_said_to_be_unused() {
    let d = dep("savepoint");
    let old = deployed(d.clone(), "running", "savepoint");
    let mut edited = d.clone();
    edited.spec.job.as_mut().unwrap().initial_savepoint_path = Some("s3://b/sp-9".into());
    let unused = "the new job.initialSavepointPath is not used now: it is read at the first deployment and at a savepoint redeploy (change spec.job.savepointRedeployNonce too to restart from s3://b/sp-9)";
    assert_eq!(
        describe(&old, &edited).unwrap(),
        format!(
            "no restart: only ignored fields changed (job.initialSavepointPath : null -> s3://b/sp-9); {unused}"
        )
    );

    let upgrade = parallelism(edited.clone(), 4);
    let line = describe(&old, &upgrade).unwrap();
    assert!(
        line.starts_with("savepoint upgrade: job will be stopped with a savepoint and restored from it"),
        "{line}"
    );
    assert!(line.ends_with(unused), "{line}");

    let mut suspended = edited.clone();
    suspended.spec.job.as_mut().unwrap().state = Some(flink_lifecycle::api::JobState::Suspended);
    let line = describe(&old, &suspended).unwrap();
    assert!(line.starts_with("suspend with savepoint"), "{line}");
    assert!(line.ends_with(unused), "{line}");

    let mut redeploy = edited.clone();
    redeploy.spec.job.as_mut().unwrap().savepoint_redeploy_nonce = Some(1);
    assert!(!describe(&old, &redeploy).unwrap().contains("not used"));

    // Clearing the path changes nothing and needs no word.
    let cleared_old = deployed(edited.clone(), "running", "savepoint");
    let line = describe(&cleared_old, &d).unwrap();
    assert!(!line.contains("not used"), "{line}");
}

/// While the first deployment is starting, an edited path is not taken either: the deployment
/// is made from the path recorded (tests/lifecycle_scenarios.rs).
#[test]
fn an_initial_savepoint_path_edited_while_the_first_deployment_starts_is_said_to_be_unused() {
    let mut first = dep("savepoint");
    first.spec.job.as_mut().unwrap().initial_savepoint_path = Some("s3://b/sp-1".into());
    let mut recorded: FlinkDeploymentSpec = first.spec.clone();
    recorded.job.as_mut().unwrap().state = Some(flink_lifecycle::api::JobState::Suspended);
    let mut old = first.clone();
    old.status = Some(
        serde_json::from_value(serde_json::json!({
            "jobManagerDeploymentStatus": "DEPLOYING",
            "jobStatus": {"upgradeSavepointPath": "s3://b/sp-1"},
            "reconciliationStatus": {"state": "UPGRADING",
                "lastReconciledSpec": ReconciledSpec::new(recorded, true).encode()}
        }))
        .unwrap(),
    );
    let mut edited = first.clone();
    edited.spec.job.as_mut().unwrap().initial_savepoint_path = Some("s3://b/sp-2".into());
    let line = describe(&old, &edited).unwrap();
    assert!(
        line.starts_with("restart under way: its new cluster is already deployed and keeps the spec it started with; this change follows as an upgrade once the job runs; "),
        "{line}"
    );
    assert!(line.contains("not used now"), "{line}");
}

/// An edit while an upgrade's restart is under way: the restart's new cluster, once deployed,
/// is kept and the edit follows as an upgrade (`Planner::on_deployed`); the status may not show
/// a cluster deployed a moment ago, and the line then says both.
#[test]
fn an_edit_while_a_restart_is_under_way_says_when_it_applies() {
    let d = dep("savepoint");
    let mut recorded: FlinkDeploymentSpec = d.spec.clone();
    recorded.job.as_mut().unwrap().state = Some(flink_lifecycle::api::JobState::Suspended);
    let mut old = d.clone();
    let status = |jm: &str| {
        serde_json::from_value(serde_json::json!({
            "jobManagerDeploymentStatus": jm,
            "jobStatus": {"upgradeSavepointPath": "s3://b/sp-3"},
            "reconciliationStatus": {"state": "UPGRADING",
                "lastReconciledSpec": ReconciledSpec::new(recorded.clone(), false).encode()}
        }))
        .unwrap()
    };
    let edited = parallelism(d.clone(), 5);
    old.status = Some(status("DEPLOYING"));
    assert_eq!(
        describe(&old, &edited).unwrap(),
        "restart under way: its new cluster is already deployed and keeps the spec it started with; this change follows as an upgrade once the job runs"
    );
    old.status = Some(status("MISSING"));
    assert_eq!(
        describe(&old, &edited).unwrap(),
        "restart under way: if its new cluster is not deployed yet, job will be started with the latest spec from s3://b/sp-3; otherwise this change follows as an upgrade once the job runs"
    );
}

/// Only HA metadata holds the job's state and the new spec turns HA off: the line says the job
/// is first restored with HA, then upgraded (tests/lifecycle_scenarios.rs shows the planner
/// doing so).
#[test]
fn turning_ha_off_while_only_ha_metadata_holds_the_state_restores_with_ha_first() {
    let ha = with_ha(dep("last-state"));
    let no_ha = dep("last-state");

    let mut lost = deployed(ha.clone(), "running", "last-state");
    let status = lost.status.as_mut().unwrap();
    status.job_manager_deployment_status = Some(flink_lifecycle::api::JobManagerDeploymentStatus::Missing);
    let line = describe(&lost, &no_ha).unwrap();
    assert!(
        line.starts_with("last-state upgrade turning HA off (the JobManager is lost and the job's state is only in its HA metadata, which the new spec (HA off) would not read: the job is first restored with the deployed spec (HA on), then upgraded to the new spec with its state) (changed: flinkConfiguration.high-availability"),
        "{line}"
    );
    let mut suspend = no_ha.clone();
    suspend.spec.job.as_mut().unwrap().state = Some(flink_lifecycle::api::JobState::Suspended);
    assert!(
        describe(&lost, &suspend)
            .unwrap()
            .starts_with("suspend: the JobManager is lost and its HA metadata is kept"),
        "{:?}",
        describe(&lost, &suspend)
    );

    let suspended = deployed(ha.clone(), "suspended", "last-state");
    assert_eq!(
        describe(&suspended, &no_ha).unwrap(),
        "resume: the job's state is only in HA metadata and the new spec turns HA off: the job is first started from its HA metadata with the recorded spec (HA on), then upgraded to the new spec with its state"
    );
    // HA kept on: the usual resume.
    assert_eq!(
        describe(&suspended, &ha).unwrap(),
        "resume: job will be started with the latest spec from its HA metadata (last state)"
    );
}
