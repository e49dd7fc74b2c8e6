#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `flink-lifecycle plan` end to end: files in, words and JSON out.

use std::process::Command;

const STORED: &str = r#"
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: app, namespace: default, generation: 2}
spec:
  image: flink:1.20
  flinkVersion: v1_20
  serviceAccount: flink
  flinkConfiguration:
    state.checkpoints.dir: file:///cp
    high-availability.type: kubernetes
    high-availability.storageDir: file:///ha
  jobManager: {resource: {memory: 1g, cpu: 1}}
  taskManager: {resource: {memory: 1g, cpu: 1}}
  job: {jarURI: "local:///job.jar", parallelism: 2, upgradeMode: last-state}
status:
  jobManagerDeploymentStatus: READY
  observedGeneration: 2
  jobStatus: {jobId: "0000000000000000000000000000000a", state: RUNNING}
  reconciliationStatus:
    state: DEPLOYED
    lastReconciledSpec: '{"spec":{"image":"flink:1.20","flinkVersion":"v1_20","serviceAccount":"flink","flinkConfiguration":{"state.checkpoints.dir":"file:///cp","high-availability.type":"kubernetes","high-availability.storageDir":"file:///ha"},"jobManager":{"resource":{"memory":"1g","cpu":1.0}},"taskManager":{"resource":{"memory":"1g","cpu":1.0}},"job":{"jarURI":"local:///job.jar","parallelism":2,"upgradeMode":"stateless","state":"running"}},"resource_metadata":{"firstDeployment":false}}'
"#;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flink-lifecycle"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `flink-lifecycle plan` of [`STORED`] to `desired`, with `extra` arguments.
fn plan(desired: &str, extra: &[&str]) -> (bool, String, String) {
    plan_from(STORED, desired, extra)
}

/// `flink-lifecycle plan` of `stored` to `desired`, with `extra` arguments.
fn plan_from(stored: &str, desired: &str, extra: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let stored_file = dir.path().join("stored.yaml");
    let desired_file = dir.path().join("desired.yaml");
    std::fs::write(&stored_file, stored).unwrap();
    std::fs::write(&desired_file, desired).unwrap();
    let mut args = vec![
        "plan",
        "--stored",
        stored_file.to_str().unwrap(),
        "--desired",
        desired_file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn plan_explains_a_last_state_upgrade_in_words_and_json() {
    let desired = STORED.replace("image: flink:1.20\n", "image: flink:1.20.2\n");
    let (ok, out, err) = plan(&desired, &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains("last-state upgrade: JobManager will be replaced and the job restored from HA metadata"),
        "{out}"
    );
    assert!(
        out.contains("delete the JobManager deployment (HA metadata kept)"),
        "{out}"
    );
    let (ok, out, _) = plan(&desired, &["-o", "json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["plan"]["step"]["step"], "delete-cluster");
    assert_eq!(v["plan"]["step"]["deleteHaData"], false);
}

#[test]
fn plan_reports_unreadable_input_clearly() {
    let (ok, _, err) = run(&[
        "plan",
        "--stored",
        "/nonexistent.yaml",
        "--desired",
        "/nonexistent.yaml",
    ]);
    assert!(!ok);
    assert!(err.contains("cannot read /nonexistent.yaml"), "{err}");
}

/// `plan` gives the webhook's answer for a spec admission would refuse, instead of planning a
/// change the operator would never make.
#[test]
fn plan_refuses_a_desired_spec_that_admission_refuses() {
    // savepoint mode with no savepoint directory anywhere.
    let desired = STORED.replace("upgradeMode: last-state}", "upgradeMode: savepoint}");
    let (ok, out, err) = plan(&desired, &[]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("admission would refuse the desired spec") && err.contains("savepoint"),
        "{err}"
    );
}

/// Session jobs too: `plan` refuses a desired session job the webhook would refuse (here a jar
/// scheme outside the allowlist), with the webhook's message, and plans a valid one.
#[test]
fn plan_refuses_a_session_job_that_admission_refuses() {
    let stored = r#"
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata: {name: wordcount, namespace: default, generation: 1}
spec:
  deploymentName: session
  job: {jarURI: "https://repo.example.com/job.jar", parallelism: 2, upgradeMode: stateless}
"#;
    let (ok, out, err) = plan_from(stored, &stored.replace("https://repo", "ftp://repo"), &[]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("admission would refuse the desired spec") && err.contains("scheme 'ftp'"),
        "{err}"
    );
    let (ok, out, err) = plan_from(stored, &stored.replace("parallelism: 2", "parallelism: 3"), &[]);
    assert!(ok, "{out}{err}");
}

/// A stored resource the operator never reconciled (no status): the change line says nothing
/// runs yet, as the step does (a first deployment, or nothing while created suspended), instead
/// of describing an upgrade of a job that does not exist.
#[test]
fn plan_of_a_never_reconciled_resource_does_not_describe_an_upgrade() {
    let stored = STORED.split("status:").next().unwrap().to_string();
    let (ok, out, err) = plan_from(&stored, &stored.replace("parallelism: 2", "parallelism: 3"), &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains("Change:    not deployed yet: the desired spec is deployed for the first time"),
        "{out}"
    );
    assert!(
        out.contains("Next step: deploy the cluster from empty state"),
        "{out}"
    );
    assert!(!out.contains("upgrade"), "{out}");
    // The phases the decision went through: recorded, then deployed from the restore phase.
    assert!(out.contains("Phases:    not deployed -> restoring"), "{out}");
    let (ok, out, err) = plan_from(
        &stored,
        &stored.replace(
            "upgradeMode: last-state}",
            "upgradeMode: last-state, state: suspended}",
        ),
        &[],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("nothing is deployed until spec.job.state is running"),
        "{out}"
    );
    assert!(out.contains("Next step: nothing to do"), "{out}");
    assert!(out.contains("Phases:    not deployed\n"), "{out}");
}
