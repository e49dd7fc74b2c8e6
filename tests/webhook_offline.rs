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

/// Runs `validate` with `stdin`, killed after 20 s; (exit code, stdout, stderr, seconds taken).
fn run_bounded(args: &[&str], stdin: &[u8]) -> (i32, String, String, f64) {
    use std::io::{Read, Write};
    use std::process::Stdio;
    let started = std::time::Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // The child may stop reading early (a size limit): a failed write is fine.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut code = None;
    for _ in 0..400 {
        if let Some(status) = child.try_wait().unwrap() {
            code = status.code();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if code.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = writer.join();
    let stdout = reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    let code = code.unwrap_or_else(|| panic!("validate {args:?} did not end in 20 s: {stderr}"));
    (code, stdout, stderr, started.elapsed().as_secs_f64())
}

/// No Rust type or enum names in what a user sees.
fn assert_no_type_names(text: &str) {
    for needle in [
        "BudgetBreach",
        "Documents {",
        "Nodes {",
        "Depth {",
        "Error {",
        "Some(",
        "Err(",
        "::",
    ] {
        assert!(!text.contains(needle), "'{needle}' in: {text}");
    }
}

#[test]
fn bad_inputs_end_quickly_with_a_clear_message_and_a_non_zero_exit() {
    let many_docs = "---\na: 1\n".repeat(1_100);
    let many_nodes = format!("[{}]", "1,".repeat(260_000));
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let huge = "a".repeat(17 * 1024 * 1024);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "documents",
            many_docs.into_bytes(),
            "more than 1024 YAML documents",
        ),
        ("nodes", many_nodes.into_bytes(), "more than 250000 YAML nodes"),
        ("depth", deep.into_bytes(), "deeper than 64 levels"),
        ("size", huge.into_bytes(), "16 MiB input limit"),
        ("binary", vec![0xff, 0xfe, 0x00, 0x01], "not UTF-8"),
        ("empty", Vec::new(), "nothing validated"),
        (
            "no flink resources",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n".to_vec(),
            "nothing validated",
        ),
    ];
    for (name, stdin, message) in cases {
        let (code, out, err, secs) = run_bounded(&["validate", "--no-dns", "-"], &stdin);
        assert_ne!(code, 0, "{name}: {out}{err}");
        assert!(err.contains(message), "{name}: {err}");
        assert!(secs < 10.0, "{name}: took {secs} s");
        assert_no_type_names(&format!("{out}{err}"));
    }
}

#[test]
fn a_directory_with_a_symlink_loop_is_walked_once_and_the_skip_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("apps");
    std::fs::create_dir(&sub).unwrap();
    std::fs::copy(format!("{FIXTURES}/valid/orders.yaml"), sub.join("orders.yaml")).unwrap();
    std::os::unix::fs::symlink("..", sub.join("loop")).unwrap();
    std::os::unix::fs::symlink("self", dir.path().join("self")).unwrap();
    let (code, out, err, secs) = run_bounded(&["validate", "--no-dns", dir.path().to_str().unwrap()], b"");
    assert!(secs < 10.0, "took {secs} s");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.matches("FlinkDeployment streaming/orders: allowed").count(),
        1,
        "{out}"
    );
    assert!(err.contains("skipped") && err.contains("loop"), "{err}");

    // A directory with no Flink resources validates nothing: an error.
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\n").unwrap();
    let (code, _, err, _) = run_bounded(&["validate", empty.path().to_str().unwrap()], b"");
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("nothing validated"), "{err}");
}

#[test]
fn help_lists_every_input_limit() {
    let (code, out, _) = run(&["validate", "--help"]);
    assert_eq!(code, 0);
    for limit in [
        "16 MiB",
        "1,024 YAML documents",
        "250,000 YAML nodes",
        "64 levels",
        "symbolic link",
    ] {
        assert!(out.contains(limit), "{limit}: {out}");
    }
    assert_eq!(flink_lifecycle::offline::MAX_INPUT_BYTES, 16 * 1024 * 1024);
}

/// The webhook admits the operator's canary resources without checking them (they exist to
/// probe the operator); `validate` gives the same answer for the same object.
#[test]
fn a_canary_resource_is_admitted_as_the_webhook_admits_it() {
    let canary = "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata:\n  name: canary\n  namespace: default\n  labels:\n    flink.apache.org/canary: \"true\"\nspec: {}\n";
    let (code, out, _, _) = run_bounded(&["validate", "--no-dns", "-"], canary.as_bytes());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("FlinkDeployment default/canary: allowed"), "{out}");
    // Without the label the same object is denied, by both.
    let plain = canary.replace("flink.apache.org/canary: \"true\"", "team: x");
    let (code, out, _, _) = run_bounded(&["validate", "--no-dns", "-"], plain.as_bytes());
    assert_eq!(code, 1, "{out}");
}

/// The reference operator's spec-less canaries, as its documentation gives them, pass `validate`
/// (strict field validation included); without the label the same object is denied by a rule.
#[test]
fn spec_less_canaries_are_admitted_offline() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resources");
    let deployment = dir.join("canary-deployment.yaml");
    let job = dir.join("canary-session-job.yaml");
    let (code, out, err) = run(&[
        "validate",
        "--no-dns",
        deployment.to_str().unwrap(),
        job.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("FlinkDeployment default/canary: allowed"), "{out}");
    assert!(out.contains("FlinkSessionJob default/canary: allowed"), "{out}");
    let plain = std::fs::read_to_string(&deployment)
        .unwrap()
        .replace("\"flink.apache.org/canary\": \"true\"", "team: x");
    let (code, out, _, _) = run_bounded(&["validate", "--no-dns", "-"], plain.as_bytes());
    assert_eq!(code, 1, "{out}");
    assert!(!out.contains("cannot be read"), "{out}");
}

const SNAPSHOT_EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/resources/snapshot");

/// The reference operator's examples/snapshot/*.yaml pass `validate`, each file alone (their
/// target is not among the inputs: inputs are not the cluster, so that is no denial) and all
/// together (the checkpoint's target, job-from-savepoint.yaml's v2_2 deployment, among them).
#[test]
fn the_references_snapshot_examples_pass_validate() {
    let files = [
        ("checkpoint.yaml", "example-checkpoint"),
        ("job-from-savepoint.yaml", "example-savepoint"),
        ("savepoint-already-exists.yaml", "example-savepoint"),
        ("savepoint-job-defaults.yaml", "example-savepoint"),
        ("savepoint-job-full-spec.yaml", "example-savepoint"),
    ];
    for (file, name) in files {
        let path = format!("{SNAPSHOT_EXAMPLES}/{file}");
        let (code, out, err) = run(&["validate", "--no-dns", &path]);
        assert_eq!(code, 0, "{file}: {out}{err}");
        assert!(
            out.contains(&format!("{path}: FlinkStateSnapshot default/{name}: allowed\n")),
            "{file}: {out}"
        );
        assert!(!out.contains("warning:"), "{file}: {out}");
    }
    let (code, out, err) = run(&["validate", "--no-dns", SNAPSHOT_EXAMPLES]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("6 resource(s): 6 allowed, 0 denied"), "{out}");
}

/// Each snapshot rule denies offline with the webhook's message; a target among the inputs is
/// checked (a checkpoint needs Flink 1.17), a target missing from them is not denied.
#[test]
fn each_snapshot_rule_is_denied_offline_with_its_message() {
    let snapshot = |name: &str, spec: &str| {
        format!(
            "apiVersion: flink.apache.org/v1beta1\nkind: FlinkStateSnapshot\nmetadata: {{name: {name}, namespace: jobs}}\nspec: {spec}\n---\n"
        )
    };
    let set_reference = "Set spec.jobReference.kind (FlinkDeployment or FlinkSessionJob) and \
         spec.jobReference.name to the resource in this namespace whose job to snapshot";
    let cases = [
        (
            "neither",
            "{jobReference: {kind: FlinkDeployment, name: legacy}}",
            "denied: spec: Exactly one of checkpoint or savepoint configurations has to be set.".to_string(),
        ),
        (
            "both",
            "{jobReference: {kind: FlinkDeployment, name: legacy}, savepoint: {}, checkpoint: {}}",
            "denied: spec: Exactly one of checkpoint or savepoint configurations has to be set.".into(),
        ),
        (
            "no-reference",
            "{savepoint: {formatType: NATIVE}}",
            format!("denied: spec.jobReference: Job reference must be supplied for this snapshot. {set_reference}"),
        ),
        (
            "no-kind",
            "{jobReference: {name: legacy}, checkpoint: {}}",
            format!("denied: spec.jobReference.kind: Job reference must be supplied for this snapshot. {set_reference}"),
        ),
        (
            "no-path",
            "{savepoint: {alreadyExists: true}}",
            "denied: spec.savepoint.path: spec.savepoint.path is required when spec.savepoint.alreadyExists is \
             true. Set it to the path of the existing savepoint, or set spec.savepoint.alreadyExists to false to \
             take a new savepoint"
                .into(),
        ),
        (
            "bad-kind",
            "{jobReference: {kind: StatefulSet, name: legacy}, savepoint: {}}",
            "denied: spec.jobReference.kind: does not match the FlinkStateSnapshot CRD schema: \"StatefulSet\" is \
             not one of FlinkDeployment, FlinkSessionJob. Fix the field name or value (kubectl explain shows the \
             expected fields and types)"
                .into(),
        ),
        (
            "old-flink",
            "{jobReference: {kind: FlinkDeployment, name: legacy}, checkpoint: {}}",
            "denied: spec.checkpoint: a checkpoint is triggered through Flink's REST API, which Flink offers from \
             1.17 on, and FlinkDeployment legacy runs flinkVersion v1_16. Take a savepoint instead \
             (spec.savepoint), or upgrade the job to flinkVersion v1_17 or newer"
                .into(),
        ),
        (
            "elsewhere",
            "{jobReference: {kind: FlinkDeployment, name: not-in-the-inputs}, checkpoint: {}}",
            "allowed".into(),
        ),
    ];
    let mut input: String = cases.iter().map(|(name, spec, _)| snapshot(name, spec)).collect();
    // The target: a Flink 1.16 application cluster (as the reference's basic example).
    input.push_str(
        "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: legacy, namespace: jobs}\n\
         spec:\n  image: flink:1.16\n  flinkVersion: v1_16\n  serviceAccount: flink\n\
         \x20 flinkConfiguration: {taskmanager.numberOfTaskSlots: \"2\"}\n\
         \x20 jobManager: {resource: {memory: 2048m, cpu: 1}}\n  taskManager: {resource: {memory: 2048m, cpu: 1}}\n\
         \x20 job: {jarURI: \"local:///opt/flink/examples/streaming/StateMachineExample.jar\", parallelism: 2, upgradeMode: stateless}\n",
    );
    let (code, out, err, _) = run_bounded(&["validate", "--no-dns", "-"], input.as_bytes());
    assert_eq!(code, 1, "{out}{err}");
    for (name, _, verdict) in cases {
        let line = format!("<stdin>: FlinkStateSnapshot jobs/{name}: {verdict}\n");
        assert!(out.contains(&line), "{line}\nnot in\n{out}");
    }
    assert!(
        out.contains("<stdin>: FlinkDeployment jobs/legacy: allowed"),
        "{out}"
    );
}

/// A canary snapshot passes `validate` as it passes the webhook.
#[test]
fn a_snapshot_canary_is_admitted_offline() {
    let canary = "apiVersion: flink.apache.org/v1beta1\nkind: FlinkStateSnapshot\nmetadata:\n  name: canary\n  namespace: default\n  labels:\n    flink.apache.org/canary: \"true\"\nspec: {}\n";
    let (code, out, _, _) = run_bounded(&["validate", "--no-dns", "-"], canary.as_bytes());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("FlinkStateSnapshot default/canary: allowed"),
        "{out}"
    );
}
