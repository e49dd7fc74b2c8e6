//! `flink-lifecycle validate` and `flink-lifecycle certs` as a user runs them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_flink-lifecycle");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/admission");

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn valid_manifests_pass_with_mutation_and_warnings() {
    let (code, out, err) = run(&["validate", &format!("{FIXTURES}/valid")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("FlinkDeployment streaming/orders: allowed"), "{out}");
    assert!(
        out.contains("FlinkSessionJob streaming/wordcount: allowed"),
        "{out}"
    );
    assert!(
        out.contains("  mutation: sets label target.session=shared-session"),
        "{out}"
    );
    assert!(
        out.contains("  warning: upgradeMode last-state without high availability"),
        "{out}"
    );
    assert!(out.contains("3 resource(s): 3 allowed, 0 denied"), "{out}");
}

#[test]
fn denials_exit_1_with_the_reason() {
    let (code, out, _) = run(&["validate", &format!("{FIXTURES}/invalid")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "FlinkDeployment streaming/payments: denied: spec.flinkConfiguration[execution.checkpointing.dir]"
        ),
        "{out}"
    );
    assert!(
        out.contains("FlinkSessionJob default/misplaced: denied: spec.deploymentName"),
        "{out}"
    );
    assert!(out.contains("application cluster"), "{out}");
    assert!(
        out.contains(
            r#"FlinkDeployment streaming/enrich: denied: spec.podTemplate.spec.containers[0].imagePullPolicy: does not match the Kubernetes core/v1 PodTemplateSpec schema: "Sometimes" is not one of Always, IfNotPresent, Never"#
        ),
        "{out}"
    );
    assert!(
        out.contains("FlinkDeployment default/app-cluster: allowed"),
        "{out}"
    );
}

#[test]
fn old_objects_make_it_an_update() {
    let file = format!("{FIXTURES}/valid/orders.yaml");
    let (code, out, _) = run(&["validate", &file]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(&[
        "validate",
        "--old",
        &format!("{FIXTURES}/old/orders-deployed.yaml"),
        &file,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("streaming/orders: denied: spec.flinkVersion"),
        "{out}"
    );
}

#[test]
fn standard_input_is_read_for_dash() {
    use std::io::Write;
    let text = std::fs::read_to_string(format!("{FIXTURES}/invalid/pod-template-value.yaml")).unwrap();
    let mut child = Command::new(BIN)
        .args(["validate", "-", &format!("{FIXTURES}/valid/orders.yaml")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("<stdin>: FlinkDeployment streaming/enrich: denied: spec.podTemplate"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FlinkDeployment streaming/orders: allowed"),
        "{stdout}"
    );
}

#[test]
fn unreadable_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.yaml"), "kind: [unclosed").unwrap();
    let (code, _, err) = run(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("broken.yaml"), "{err}");
    let (code, _, _) = run(&["validate", "/nonexistent/flink.yaml"]);
    assert_eq!(code, 2);
    let (code, _, err) = run(&["validate", "--config", "/nonexistent/conf.yaml", FIXTURES]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn operator_config_file_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf.yaml");
    std::fs::write(&conf, "execution.checkpointing.dir: s3://ops/checkpoints\n").unwrap();
    let file = format!("{FIXTURES}/invalid/last-state-without-checkpoints.yaml");
    let (code, out, _) = run(&["validate", "--config", conf.to_str().unwrap(), &file]);
    assert_eq!(code, 0, "checkpoint dir from the operator config: {out}");
}

#[test]
fn certs_writes_a_loadable_secret_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let (code, stdout, err) = run(&[
        "certs",
        "--out",
        out.to_str().unwrap(),
        "--dns",
        "webhook.flink.svc",
        "--dns",
        "127.0.0.1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(stdout.lines().count(), 3);
    let (_, key) = flink_lifecycle::tls::load_pair(&out).unwrap();
    assert_eq!(key.cert.len(), 1);
    assert!(out.join("ca.crt").exists());
    let (code, _, err) = run(&["certs", "--out", out.to_str().unwrap()]);
    assert_ne!(code, 0, "{err}");
}

#[test]
fn no_dns_skips_host_names_but_not_literal_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let job = |uri: &str| {
        format!(
            "apiVersion: flink.apache.org/v1beta1\nkind: FlinkSessionJob\nmetadata: {{name: j}}\nspec:\n  deploymentName: s\n  job: {{jarURI: \"{uri}\", parallelism: 1}}\n"
        )
    };
    std::fs::write(
        dir.path().join("named.yaml"),
        job("https://artifacts.example.invalid/j.jar"),
    )
    .unwrap();
    let (code, out, _) = run(&["validate", "--no-dns", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    std::fs::write(dir.path().join("loopback.yaml"), job("https://127.0.0.1/j.jar")).unwrap();
    let (code, out, _) = run(&["validate", "--no-dns", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("restricted address 127.0.0.1"), "{out}");
}
