//! Real FlinkDeployment / FlinkSessionJob YAML (the seed's example and the reference operator's
//! examples, with status) survives parse → typed → serialize without losing anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use flink_lifecycle::api::{
    FlinkDeployment, FlinkDeploymentSpec, FlinkSessionJob, FlinkSessionJobSpec, FlinkVersion, ReconciledSpec,
    UpgradeMode,
};
use serde_json::Value;
use std::path::PathBuf;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/resources")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// Equality that treats `1` and `1.0` as the same number, as the API server does.
fn same(a: &Value, b: &Value, path: &str) -> Result<(), String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => Ok(()),
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                same(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                )?;
            }
            Ok(())
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (xi, yi)) in x.iter().zip(y).enumerate() {
                same(xi, yi, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ if a == b => Ok(()),
        _ => Err(format!("{path}: {a} != {b}")),
    }
}

fn roundtrip_deployment(name: &str) -> FlinkDeployment {
    let raw = fixture(name);
    let typed: FlinkDeployment = serde_json::from_value(raw.clone()).unwrap();
    let back = serde_json::to_value(&typed).unwrap();
    if let Err(diff) = same(&raw, &back, "") {
        panic!("{name} lost data: {diff}");
    }
    typed
}

fn roundtrip_session_job(name: &str) -> FlinkSessionJob {
    let raw = fixture(name);
    let typed: FlinkSessionJob = serde_json::from_value(raw.clone()).unwrap();
    let back = serde_json::to_value(&typed).unwrap();
    if let Err(diff) = same(&raw, &back, "") {
        panic!("{name} lost data: {diff}");
    }
    typed
}

#[test]
fn seed_last_state_example_round_trips() {
    let d = roundtrip_deployment("seed-last-state.yaml");
    let job = d.spec.job.as_ref().unwrap();
    assert_eq!(job.upgrade_mode, Some(UpgradeMode::LastState));
    assert_eq!(d.spec.flink_version, Some(FlinkVersion::v1_17));
    let conf = d.spec.flat_configuration();
    assert_eq!(conf["state.checkpoints.dir"], "file:///flink-data/checkpoints");
    // podTemplate keeps every Kubernetes field, unknown to our types or not.
    let pt = d.spec.pod_template.as_ref().unwrap();
    assert_eq!(pt["spec"]["volumes"][0]["hostPath"]["type"], "Directory");
}

#[test]
fn reference_basic_example_with_status_round_trips() {
    let d = roundtrip_deployment("basic.yaml");
    let status = d.status.as_ref().unwrap();
    let rec = status.reconciliation_status.as_ref().unwrap();
    assert!(rec.is_stable());
    let spec =
        ReconciledSpec::<FlinkDeploymentSpec>::decode(rec.last_reconciled_spec.as_deref().unwrap()).unwrap();
    assert_ne!(
        spec.spec, d.spec,
        "the reference records defaults the user omitted"
    );
    assert_eq!(
        spec.spec.normalized(),
        d.spec.normalized(),
        "normalized, the reference's recorded spec equals the current spec"
    );
    assert_eq!(status.conditions.as_ref().unwrap()[0].type_, "Running");
}

#[test]
fn checkpointing_ha_example_with_nested_config_round_trips() {
    let d = roundtrip_deployment("checkpointing-ha.yaml");
    let conf = d.spec.flat_configuration();
    assert_eq!(conf["execution.checkpointing.dir"], "s3://bucket/checkpoints");
    assert_eq!(conf["high-availability.type"], "kubernetes");
    assert_eq!(conf["taskmanager.numberOfTaskSlots"], "4");
    assert_eq!(d.spec.job_manager.as_ref().unwrap().replicas(), 2);
    let tm_resources = d.spec.task_manager.as_ref().unwrap().resources.as_ref().unwrap();
    assert_eq!(tm_resources["requests"]["ephemeral-storage"], "10Gi");
    let js = d.status.as_ref().unwrap().job_status.as_ref().unwrap();
    assert_eq!(
        js.upgrade_savepoint_path.as_deref(),
        Some("s3://bucket/savepoints/savepoint-123")
    );
}

#[test]
fn session_cluster_and_session_job_round_trip() {
    let cluster = roundtrip_deployment("session-cluster.yaml");
    assert!(!cluster.spec.is_application());
    let job = roundtrip_session_job("session-job.yaml");
    assert_eq!(
        job.spec.deployment_name.as_deref(),
        Some("basic-session-deployment-only-example")
    );
    let rec = job
        .status
        .as_ref()
        .unwrap()
        .reconciliation_status
        .as_ref()
        .unwrap();
    let spec =
        ReconciledSpec::<FlinkSessionJobSpec>::decode(rec.last_reconciled_spec.as_deref().unwrap()).unwrap();
    assert_eq!(spec.spec.job.unwrap().parallelism, Some(4));
}

#[test]
fn every_flink_version_including_2x_parses() {
    for v in FlinkVersion::ALL {
        let mut raw = fixture("basic.yaml");
        raw["spec"]["flinkVersion"] = Value::String(v.as_str().to_string());
        let d: FlinkDeployment = serde_json::from_value(raw).unwrap();
        assert_eq!(d.spec.flink_version, Some(v));
    }
}

#[test]
fn a_wrong_enum_value_is_a_clear_error() {
    let mut raw = fixture("basic.yaml");
    raw["spec"]["job"]["upgradeMode"] = Value::String("laststate".into());
    let err = serde_json::from_value::<FlinkDeployment>(raw)
        .unwrap_err()
        .to_string();
    assert!(err.contains("laststate") && err.contains("last-state"), "{err}");
}
