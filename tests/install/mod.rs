//! Helpers of the install tests: render the kustomize overlays, find the external checkers.
//! A missing tool fails the test with the command that installs it; nothing is skipped.
#![allow(dead_code)]

pub mod argo_sync;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Every overlay a user can install.
pub const OVERLAYS: &[&str] = &[
    "cert-manager",
    "cert-manager-ha",
    "self-signed",
    "self-signed-watch-namespaces",
];

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

/// What an Argo CD health script returned.
#[derive(Debug, Clone)]
pub struct Health {
    pub status: String,
    pub message: String,
}

/// A Lua 5.1 table constructor for a JSON value (nulls dropped, as Argo CD's conversion does).
pub fn lua(v: &Value, out: &mut String) {
    use std::fmt::Write;
    match v {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => write!(out, "{b}").unwrap(),
        Value::Number(n) => write!(out, "{n}").unwrap(),
        Value::String(s) => {
            out.push('"');
            for ch in s.chars() {
                match ch {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    c if (c as u32) < 0x20 => write!(out, "\\{:03}", c as u32).unwrap(),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Value::Array(items) => {
            out.push('{');
            for item in items {
                lua(item, out);
                out.push(',');
            }
            out.push('}');
        }
        Value::Object(map) => {
            out.push('{');
            for (k, item) in map.iter().filter(|(_, v)| !v.is_null()) {
                out.push('[');
                lua(&Value::String(k.clone()), out);
                out.push_str("]=");
                lua(item, out);
                out.push(',');
            }
            out.push('}');
        }
    }
}

/// Runs one health script over the cases of one kind; name -> health.
pub fn run_script(script: &std::path::Path, cases: &[&Value]) -> BTreeMap<String, Health> {
    assert!(script.is_file(), "{} missing", script.display());
    let mut chunk = String::from("return {\n");
    for c in cases {
        chunk.push_str("{name=");
        lua(&c["name"], &mut chunk);
        chunk.push_str(", obj=");
        lua(&c["object"], &mut chunk);
        chunk.push_str("},\n");
    }
    chunk.push_str("}\n");
    let (_dir, cases_file) = write_temp("cases.lua", &chunk);
    let (ok, stdout, stderr) = run(Command::new(tool("lua5.1"))
        .arg(repo().join("tests/fixtures/argocd/driver.lua"))
        .arg(script)
        .arg(&cases_file));
    assert!(ok, "lua5.1 failed on {}:\n{stderr}", script.display());
    let mut out = BTreeMap::new();
    for line in stdout.lines() {
        let mut parts = line.splitn(3, '\t');
        let name = parts.next().unwrap().to_string();
        let status = parts.next().unwrap_or_default().to_string();
        let message = parts.next().unwrap_or_default().to_string();
        out.insert(name, Health { status, message });
    }
    assert_eq!(out.len(), cases.len(), "one result per case:\n{stdout}");
    out
}
