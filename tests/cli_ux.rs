//! The command line as a user meets it: strict field validation in `validate`, `certs` keeping an
//! existing CA, log output when piped (`--log-format`), and the help texts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_flink-lifecycle");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const DEPLOYMENT: &str = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: orders
  namespace: streaming
spec:
  image: flink:1.20
  flinkVersion: v1_20
  serviceAccount: flink
  flinkConfiguration:
    any.key.at.all: \"1\"
  podTemplate:
    spec:
      nodeSelector: {disk: ssd}
  jobManager:
    resources: {requests: {memory: 2Gi}}
  taskManager:
    resources: {requests: {memory: 2Gi}}
  job:
    jarURI: local:///opt/flink/usrlib/app.jar
    parallelism: 1
    upgradeMode: stateless
    state: running
";

/// `DEPLOYMENT` with `from` replaced by `to` (checked to apply).
fn deployment_with(from: &str, to: &str) -> String {
    assert!(DEPLOYMENT.contains(from), "{from}");
    DEPLOYMENT.replacen(from, to, 1)
}

fn validate_text(extra: &[&str], text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input.yaml");
    std::fs::write(&file, text).unwrap();
    let mut args = vec!["validate", "--no-dns"];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    run(&args)
}

#[test]
fn unknown_fields_are_denied_with_their_path_and_the_field_they_resemble() {
    let (code, out, err) = validate_text(&[], DEPLOYMENT);
    assert_eq!(
        code, 0,
        "free-form podTemplate and flinkConfiguration: {out}{err}"
    );

    let (code, out, _) = validate_text(&[], &deployment_with("upgradeMode:", "upgradMode:"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "FlinkDeployment streaming/orders: denied: unknown field \"spec.job.upgradMode\" (did you mean upgradeMode?)"
        ),
        "{out}"
    );

    let (code, out, _) = validate_text(&[], &deployment_with("state: running", "sate: running"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("unknown field \"spec.job.sate\" (did you mean state?)"),
        "{out}"
    );

    let (code, out, _) = validate_text(
        &[],
        &deployment_with("  image:", "  flinkVersionn: v1_20\n  image:"),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("unknown field \"spec.flinkVersionn\" (did you mean flinkVersion?)"),
        "{out}"
    );
    let (code, out, _) = validate_text(&[], &deployment_with("  image:", "  zzz: 1\n  image:"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("denied: unknown field \"spec.zzz\"\n"),
        "no suggestion: {out}"
    );

    let session_job = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata:
  name: wordcount
  namespace: streaming
spec:
  deploymentName: shared-session
  job:
    jarURI: https://8.8.8.8/job.jar
    parallelism: 1
    upgradMode: savepoint
";
    let (code, out, _) = validate_text(&[], session_job);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "FlinkSessionJob streaming/wordcount: denied: unknown field \"spec.job.upgradMode\" (did you mean upgradeMode?)"
        ),
        "{out}"
    );
}

#[test]
fn warn_unknown_fields_makes_them_warnings() {
    let (code, out, err) = validate_text(
        &["--warn-unknown-fields"],
        &deployment_with("upgradeMode:", "upgradMode:"),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("FlinkDeployment streaming/orders: allowed"), "{out}");
    assert!(
        out.contains("  warning: unknown field \"spec.job.upgradMode\" (did you mean upgradeMode?)"),
        "{out}"
    );
}

#[test]
fn a_rule_denial_keeps_its_message_and_lists_the_unknown_fields_after_it() {
    let fixture = format!("{ROOT}/tests/fixtures/admission/invalid/pod-template-value.yaml");
    let (_, before, _) = run(&["validate", "--no-dns", &fixture]);
    let denial = before
        .lines()
        .find(|l| l.contains(": denied: "))
        .unwrap()
        .split(": denied: ")
        .nth(1)
        .unwrap()
        .to_string();
    let text = std::fs::read_to_string(&fixture)
        .unwrap()
        .replacen("spec:\n", "spec:\n  imagee: flink\n", 1);
    let (code, out, _) = validate_text(&[], &text);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!(": denied: {denial}\n")), "{out}");
    assert!(
        out.contains("  error: unknown field \"spec.imagee\" (did you mean image?)"),
        "{out}"
    );
}

#[test]
fn certs_keeps_an_existing_ca_unless_forced_and_says_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let out_s = out.to_str().unwrap();
    let args = ["certs", "--out", out_s, "--dns", "localhost"];
    let (code, stdout, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    for f in ["tls.crt", "tls.key", "ca.crt"] {
        let line = format!("wrote {}", out.join(f).display());
        assert!(stdout.lines().any(|l| l == line), "{line}: {stdout}");
    }
    let ca = std::fs::read(out.join("ca.crt")).unwrap();
    let key = std::fs::read(out.join("tls.key")).unwrap();

    let (code, stdout, err) = run(&args);
    assert_ne!(code, 0, "an existing CA is refused: {stdout}");
    assert!(
        err.contains(&out.join("ca.crt").display().to_string()) && err.contains("--force"),
        "names the file and the way out: {err}"
    );
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(std::fs::read(out.join("ca.crt")).unwrap(), ca, "CA untouched");
    assert_eq!(std::fs::read(out.join("tls.key")).unwrap(), key, "key untouched");

    let (code, stdout, err) = run(&[&args[..], &["--force"]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("wrote ")).count(),
        3,
        "{stdout}"
    );
    assert_ne!(std::fs::read(out.join("ca.crt")).unwrap(), ca, "a new CA");
}

#[test]
fn dev_certificates_live_in_certs_and_only_the_readme_is_tracked() {
    let makefile = std::fs::read_to_string(format!("{ROOT}/Makefile")).unwrap();
    assert!(
        makefile.lines().any(|l| l.trim() == "DEV_CERTS := certs"),
        "Makefile"
    );
    assert!(!makefile.contains("target/dev-certs"), "Makefile");
    let gitignore = std::fs::read_to_string(format!("{ROOT}/.gitignore")).unwrap();
    let lines: Vec<&str> = gitignore.lines().map(str::trim).collect();
    assert!(
        lines.contains(&"/certs/*") && lines.contains(&"!/certs/README.md"),
        "{gitignore}"
    );
    let readme = std::fs::read_to_string(format!("{ROOT}/certs/README.md")).unwrap();
    for needle in ["tls.key", "ca.crt", "make certs", "--force", "commit"] {
        assert!(readme.contains(needle), "{needle}");
    }
}

/// Runs `webhook` with output piped until its startup lines and the certificate log line are
/// out, then stops it; returns every line it wrote to stdout.
fn webhook_output(log_format: Option<&str>) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&[
        "certs",
        "--out",
        dir.path().to_str().unwrap(),
        "--dns",
        "localhost",
    ]);
    assert_eq!(code, 0, "{err}");
    let mut cmd = Command::new(BIN);
    if let Some(f) = log_format {
        cmd.args(["--log-format", f]);
    }
    let mut child = cmd
        .args(["webhook", "--tls-dir", dir.path().to_str().unwrap()])
        .args(["--webhook-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .args(["--session-lookup", "false"])
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .env_remove("FLINK_LIFECYCLE_LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(lines.iter().any(|l: &String| l.starts_with("admin:"))
        && lines.iter().any(|l| l.contains("serving certificate loaded")))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => lines.push(l),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines.extend(rx.try_iter());
    assert!(
        lines.iter().any(|l| l.contains("serving certificate loaded")),
        "{lines:#?}"
    );
    lines
}

/// The lines that `webhook` prints itself (not logs).
fn is_banner(line: &str) -> bool {
    line.starts_with("webhook:") || line.starts_with("admin:")
}

#[test]
fn piped_text_logs_have_no_colour_codes() {
    let lines = webhook_output(None);
    let text = lines.join("\n");
    assert!(!text.contains("\x1b["), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("INFO") && l.contains("serving certificate loaded")),
        "{text}"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let lines = webhook_output(Some("json"));
    let logs: Vec<&String> = lines.iter().filter(|l| !is_banner(l)).collect();
    assert!(!logs.is_empty(), "{lines:#?}");
    for line in &logs {
        assert!(!line.contains("\x1b["), "{line}");
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.get("level").is_some() && v.get("timestamp").is_some(), "{line}");
    }
    assert!(
        logs.iter()
            .any(|l| l.contains("\"message\":\"serving certificate loaded\"")),
        "{logs:#?}"
    );
    let (code, _, err) = run(&["--log-format", "xml", "crd"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn every_help_says_what_it_does_its_exit_codes_and_an_example() {
    let subcommands = ["crd", "run", "webhook", "validate", "certs", "plan"];
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Exit codes") && out.contains("Example"), "{out}");
    assert!(out.contains("--log-format"), "{out}");
    for sub in subcommands {
        assert!(out.contains(sub), "{sub} listed: {out}");
        let (code, help, err) = run(&[sub, "--help"]);
        assert_eq!(code, 0, "{sub}: {err}");
        assert!(help.contains("Exit codes"), "{sub}: {help}");
        assert!(help.contains("Example"), "{sub}: {help}");
        assert!(
            help.contains(&format!("flink-lifecycle {sub}")),
            "{sub}: example: {help}"
        );
        assert!(help.contains("--log-format"), "{sub}: {help}");
    }
}
