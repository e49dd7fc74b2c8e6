//! Helpers of the install tests: render the kustomize overlays, find the external checkers.
//! A missing tool fails the test with the command that installs it; nothing is skipped.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Every overlay a user can install.
pub const OVERLAYS: &[&str] = &["cert-manager", "self-signed", "self-signed-watch-namespaces"];

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where `.ci/install-tools` puts the Python checkers (kubernetes-validate, checkov).
pub fn tools_venv_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("FLINK_LIFECYCLE_TOOLS") {
        return PathBuf::from(dir).join("bin");
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(".cache/flink-lifecycle/venv/bin")
}

/// The path of an external tool, or a panic telling how to install it.
pub fn tool(name: &str) -> PathBuf {
    let venv = tools_venv_bin().join(name);
    if venv.is_file() {
        return venv;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "required tool `{name}` not found (looked in {} and PATH): run `bash .ci/install-tools` \
         (installs kubectl, lua5.1, kubernetes-validate, checkov)",
        tools_venv_bin().display()
    )
}

/// Runs a command, returning (success, stdout, stderr).
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `kubectl kustomize <dir>` output, rendered once per test binary and directory.
pub fn render(dir: &str) -> String {
    static CACHE: OnceLock<std::sync::Mutex<std::collections::BTreeMap<String, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(text) = cache.lock().unwrap().get(dir) {
        return text.clone();
    }
    let path = repo().join(dir);
    let (ok, stdout, stderr) = run(Command::new(tool("kubectl")).arg("kustomize").arg(&path));
    assert!(ok, "kubectl kustomize {} failed:\n{stderr}", path.display());
    cache.lock().unwrap().insert(dir.to_string(), stdout.clone());
    stdout
}

pub fn render_overlay(overlay: &str) -> String {
    render(&format!("manifests/overlays/{overlay}"))
}

/// The objects of a multi-document YAML stream.
pub fn objects(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap_or_else(|e| panic!("rendered YAML does not parse: {e}"))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

pub fn overlay_objects(overlay: &str) -> Vec<Value> {
    objects(&render_overlay(overlay))
}

pub fn kind(o: &Value) -> &str {
    o["kind"].as_str().unwrap_or_default()
}

pub fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or_default()
}

pub fn namespace(o: &Value) -> &str {
    o["metadata"]["namespace"].as_str().unwrap_or_default()
}

/// The one object of a kind (and name prefix), or a panic naming what is there.
pub fn find<'a>(objs: &'a [Value], k: &str, name_prefix: &str) -> &'a Value {
    let hits: Vec<_> = objs
        .iter()
        .filter(|o| kind(o) == k && name(o).starts_with(name_prefix))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "expected one {k} named {name_prefix}*, found {}",
        hits.len()
    );
    hits[0]
}

pub fn find_all<'a>(objs: &'a [Value], k: &str) -> Vec<&'a Value> {
    objs.iter().filter(|o| kind(o) == k).collect()
}

/// Writes text into a fresh temp dir under `name`, returning (dir guard, path).
pub fn write_temp(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = visible_tempdir();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// A temp dir whose name does not start with a dot (checkov ignores hidden directories).
pub fn visible_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("flink-lifecycle-")
        .tempdir()
        .unwrap()
}
