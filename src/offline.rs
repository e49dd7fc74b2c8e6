//! `flink-lifecycle validate`: the webhook's admission offline (mutation, then validation, then
//! warnings) over manifest files, for CI pipelines and Argo CD pre-sync checks. Session jobs are
//! checked against the FlinkDeployments among the inputs; `--old` files stand in for the stored
//! objects of an UPDATE (their status supplies `lastReconciledSpec`).

use crate::api::FlinkDeployment;
use crate::config::OperatorConfig;
use crate::validation::{FlinkKind, HostResolver};
use crate::webhook::{KnownSessions, ReviewContext, SchemaScope, mutate_session_job, validate_value};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Exit code when any resource is denied.
pub const EXIT_DENIED: u8 = 1;
/// Exit code when an input cannot be read (takes precedence over denials).
pub const EXIT_UNREADABLE: u8 = 2;

/// One Flink resource found in the inputs.
#[derive(Clone, Debug)]
pub struct Document {
    pub source: String,
    pub kind: FlinkKind,
    pub value: Value,
}

impl Document {
    fn key(&self) -> (FlinkKind, String, String) {
        (self.kind, namespace_of(&self.value), name_of(&self.value))
    }
}

fn namespace_of(v: &Value) -> String {
    v.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string()
}

fn name_of(v: &Value) -> String {
    v.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>")
        .to_string()
}

/// The outcome for one resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub source: String,
    pub kind: FlinkKind,
    pub namespace: String,
    pub name: String,
    /// `Err(reason)` when denied.
    pub decision: Result<(), String>,
    pub warnings: Vec<String>,
    /// What the mutating webhook would change.
    pub mutation: Option<String>,
}

impl Verdict {
    /// The report lines: `<source>: <Kind> <ns>/<name>: allowed|denied: <reason>`, then
    /// indented mutation and warning lines.
    pub fn lines(&self) -> Vec<String> {
        let head = format!(
            "{}: {} {}/{}",
            self.source,
            self.kind.as_str(),
            self.namespace,
            self.name
        );
        let mut out = vec![match &self.decision {
            Ok(()) => format!("{head}: allowed"),
            Err(reason) => format!("{head}: denied: {reason}"),
        }];
        if let Some(m) = &self.mutation {
            out.push(format!("  mutation: {m}"));
        }
        out.extend(self.warnings.iter().map(|w| format!("  warning: {w}")));
        out
    }
}

/// The path that stands for standard input (`kustomize build | flink-lifecycle validate -`).
pub const STDIN: &str = "-";

/// Files under the given paths (files as given, directories walked for .yaml/.yml/.json), and
/// the paths that could not be read.
pub fn collect_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if let Err(e) = walk(p, &mut out) {
            errors.push(e);
        }
    }
    (out, errors)
}

fn walk(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if path == Path::new(STDIN) {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            walk(&entry, out)?;
        } else if entry
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(entry);
        }
    }
    Ok(())
}

/// The Flink resources of one file's text (YAML, multi-document, or JSON); other kinds are skipped.
pub fn parse_documents(source: &str, text: &str) -> Result<Vec<Document>, String> {
    let values: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| format!("{source}: {e}"))?;
    let mut out = Vec::new();
    for v in values.into_iter().flat_map(expand_lists) {
        let is_flink = v
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|a| a.starts_with(&format!("{}/", crate::api::GROUP)));
        let kind = v
            .get("kind")
            .and_then(Value::as_str)
            .and_then(FlinkKind::from_kind);
        if let (true, Some(kind)) = (is_flink, kind) {
            out.push(Document {
                source: source.to_string(),
                kind,
                value: v,
            });
        }
    }
    Ok(out)
}

/// `kind: List` documents hold their resources in `items`.
fn expand_lists(v: Value) -> Vec<Value> {
    match v {
        Value::Null => vec![],
        Value::Object(ref m) if m.get("kind").and_then(Value::as_str) == Some("List") => m
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        other => vec![other],
    }
}

/// Reads every file; unreadable ones are returned as errors next to the documents.
pub fn read_documents(files: &[PathBuf]) -> (Vec<Document>, Vec<String>) {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        let (source, text) = if f == Path::new(STDIN) {
            let mut text = String::new();
            let read = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text);
            ("<stdin>".to_string(), read.map(|_| text))
        } else {
            (f.display().to_string(), std::fs::read_to_string(f))
        };
        match text {
            Err(e) => errors.push(format!("{source}: {e}")),
            Ok(text) => match parse_documents(&source, &text) {
                Ok(d) => docs.extend(d),
                Err(e) => errors.push(e),
            },
        }
    }
    (docs, errors)
}

/// Admits every document: mutation, then validation (schema and rules), then warnings.
pub fn admit_all(
    docs: &[Document],
    old: &[Document],
    operator: &OperatorConfig,
    resolver: &dyn HostResolver,
) -> Vec<Verdict> {
    let sessions = KnownSessions::new(
        docs.iter()
            .filter(|d| d.kind == FlinkKind::Deployment)
            .filter_map(|d| {
                let mut dep: FlinkDeployment = serde_json::from_value(d.value.clone()).ok()?;
                if dep.metadata.namespace.is_none() {
                    dep.metadata.namespace = Some("default".into());
                }
                Some(dep)
            }),
    );
    let old_by_key: HashMap<_, _> = old.iter().map(|d| (d.key(), &d.value)).collect();
    let ctx = ReviewContext {
        operator,
        sessions: &sessions,
        resolver,
    };
    docs.iter()
        .map(|doc| {
            let (kind, namespace, name) = doc.key();
            let (value, mutation) = match kind {
                FlinkKind::SessionJob => match mutate_session_job(&doc.value) {
                    Some(m) => {
                        let label = m
                            .pointer("/spec/deploymentName")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        (
                            m,
                            Some(format!(
                                "sets label {}={label}",
                                crate::webhook::TARGET_SESSION_LABEL
                            )),
                        )
                    }
                    None => (doc.value.clone(), None),
                },
                FlinkKind::Deployment => (doc.value.clone(), None),
            };
            let old = old_by_key.get(&doc.key()).copied();
            let (decision, warnings) =
                match validate_value(kind, &value, old, Some(&namespace), SchemaScope::Whole, &ctx) {
                    Ok(w) => (Ok(()), w),
                    Err(e) => (Err(e.to_string()), vec![]),
                };
            Verdict {
                source: doc.source.clone(),
                kind,
                namespace,
                name,
                decision,
                warnings,
                mutation,
            }
        })
        .collect()
}

/// Flags of `flink-lifecycle validate`.
#[derive(clap::Args, Debug, Clone)]
pub struct ValidateCommand {
    /// Operator configuration file (as the webhook's --operator-config).
    #[arg(long, env = "FLINK_LIFECYCLE_OPERATOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Stored versions of the resources (with status), to check the inputs as UPDATEs of them.
    #[arg(long)]
    pub old: Vec<PathBuf>,
    /// Do not resolve jarURI host names (literal addresses are still checked): for CI without DNS.
    #[arg(long)]
    pub no_dns: bool,
    /// Manifest files or directories (.yaml, .yml, .json; multi-document YAML and List kinds);
    /// `-` reads standard input (e.g. `kustomize build overlays/prod | flink-lifecycle validate -`).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Runs the command, printing one report per resource; returns the exit code.
pub fn run(cmd: &ValidateCommand, resolver: &dyn HostResolver) -> u8 {
    let operator = match &cmd.config {
        None => OperatorConfig::default(),
        Some(p) => match OperatorConfig::from_file(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_UNREADABLE;
            }
        },
    };
    let mut unreadable = Vec::new();
    let mut read = |paths: &[PathBuf]| {
        let (files, missing) = collect_files(paths);
        unreadable.extend(missing);
        let (docs, errors) = read_documents(&files);
        unreadable.extend(errors);
        docs
    };
    let docs = read(&cmd.paths);
    let old = read(&cmd.old);
    let verdicts = admit_all(&docs, &old, &operator, resolver);
    for v in &verdicts {
        for line in v.lines() {
            println!("{line}");
        }
    }
    for e in &unreadable {
        eprintln!("error: cannot read {e}");
    }
    let denied = verdicts.iter().filter(|v| v.decision.is_err()).count();
    println!(
        "{} resource(s): {} allowed, {denied} denied{}",
        verdicts.len(),
        verdicts.len() - denied,
        if unreadable.is_empty() {
            String::new()
        } else {
            format!(", {} unreadable input(s)", unreadable.len())
        }
    );
    if !unreadable.is_empty() {
        EXIT_UNREADABLE
    } else if denied > 0 {
        EXIT_DENIED
    } else {
        0
    }
}
