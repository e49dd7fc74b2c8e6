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

/// Largest input read, per file and for standard input: 16 MiB. Larger inputs are refused
/// without being read whole.
pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;
/// Most YAML documents (`---` separated) in one input (the YAML parser's budget).
pub const MAX_DOCUMENTS: usize = 1_024;
/// Most YAML nodes (mappings, sequences and scalars) in one input (the YAML parser's budget).
pub const MAX_NODES: usize = 250_000;
/// Deepest nesting of mappings and sequences in one input (the YAML parser's budget).
pub const MAX_DEPTH: usize = 64;
/// Most aliases (`*ref`) in one input (the YAML parser's budget).
pub const MAX_ALIASES: usize = 50_000;
/// Exit code when the inputs hold no FlinkDeployment or FlinkSessionJob at all.
pub const EXIT_NOTHING: u8 = 3;

/// The limits, as `validate --help` lists them.
pub const LIMITS_HELP: &str = "\
Input limits (each input ends with a clear error, exit code 2, when it breaks one):
  - 16 MiB per file and for standard input (MAX_INPUT_BYTES)
  - 1,024 YAML documents per input (MAX_DOCUMENTS)
  - 250,000 YAML nodes (mappings, sequences, scalars) per input (MAX_NODES)
  - nesting 64 levels deep (MAX_DEPTH), 50,000 aliases (MAX_ALIASES)
Directories are walked for .yaml, .yml and .json files; a directory reached again through a
symbolic link (a loop) is skipped with a note on standard error.

Exit codes: 0 all allowed, 1 any denied, 2 an input cannot be read or breaks a limit,
3 no FlinkDeployment or FlinkSessionJob found in the inputs.";

/// Files under the given paths (files as given, directories walked for .yaml/.yml/.json), and
/// the paths that could not be read. Directories already walked (symlink loops, or two links to
/// one directory) are skipped; a note says which.
pub fn collect_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let (files, errors, skipped) = collect_files_noting(paths);
    for s in skipped {
        eprintln!("note: {s}");
    }
    (files, errors)
}

/// [`collect_files`], returning the notes about skipped directories instead of printing them.
pub fn collect_files_noting(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>, Vec<String>) {
    let mut walk = Walk::default();
    for p in paths {
        if let Err(e) = walk.walk(p) {
            walk.errors.push(e);
        }
    }
    (walk.files, walk.errors, walk.skipped)
}

/// Most directories walked under the given paths: a bound on odd trees.
const MAX_DIRECTORIES: usize = 100_000;

#[derive(Default)]
struct Walk {
    files: Vec<PathBuf>,
    errors: Vec<String>,
    skipped: Vec<String>,
    /// Canonical paths of the directories walked.
    seen: std::collections::HashSet<PathBuf>,
}

impl Walk {
    fn walk(&mut self, path: &Path) -> Result<(), String> {
        if path == Path::new(STDIN) {
            self.files.push(path.to_path_buf());
            return Ok(());
        }
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_file() {
            self.files.push(path.to_path_buf());
            return Ok(());
        }
        if !meta.is_dir() {
            return Err(format!("{}: not a regular file or directory", path.display()));
        }
        let canonical = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if self.seen.len() >= MAX_DIRECTORIES {
            return Err(format!(
                "{}: more than {MAX_DIRECTORIES} directories under the given paths",
                path.display()
            ));
        }
        if !self.seen.insert(canonical.clone()) {
            self.skipped.push(format!(
                "skipped {}: it is {}, already walked (a symbolic link loop or a second link to it)",
                path.display(),
                canonical.display()
            ));
            return Ok(());
        }
        self.dir(path)
    }

    fn dir(&mut self, path: &Path) -> Result<(), String> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() {
                if let Err(e) = self.walk(&entry) {
                    self.errors.push(e);
                }
            } else if entry
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
            {
                match std::fs::metadata(&entry) {
                    Ok(m) if m.is_file() => self.files.push(entry),
                    // A FIFO, socket or device would block or never end: not read.
                    Ok(_) => self
                        .skipped
                        .push(format!("skipped {}: not a regular file", entry.display())),
                    Err(e) => self.errors.push(format!("{}: {e}", entry.display())),
                }
            }
        }
        Ok(())
    }
}

/// A YAML error for a user: the parser's budget breaches in words, with the limit.
fn yaml_error(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::budget::BudgetBreach;
    let serde_saphyr::Error::Budget { breach, .. } = e.without_snippet() else {
        return e.to_string();
    };
    let over = match breach {
        BudgetBreach::Documents { .. } => format!("more than {MAX_DOCUMENTS} YAML documents (MAX_DOCUMENTS)"),
        BudgetBreach::Nodes { .. } => format!("more than {MAX_NODES} YAML nodes (MAX_NODES)"),
        BudgetBreach::Depth { .. } => format!("nesting deeper than {MAX_DEPTH} levels (MAX_DEPTH)"),
        BudgetBreach::Aliases { .. } => format!("more than {MAX_ALIASES} YAML aliases (MAX_ALIASES)"),
        BudgetBreach::AliasAnchorRatio { .. } => {
            "far more aliases than anchors (an alias expansion bomb)".to_string()
        }
        BudgetBreach::Events { .. } => "too many YAML events".to_string(),
        BudgetBreach::Anchors { .. } => "too many YAML anchors".to_string(),
        BudgetBreach::ScalarBytes { .. } => "too much scalar text".to_string(),
        BudgetBreach::CommentBytes { .. } => "too much comment text".to_string(),
        BudgetBreach::MergeKeys { .. } => "too many merge keys (<<)".to_string(),
        BudgetBreach::InputBytes { .. } => format!("more than {MAX_INPUT_BYTES} bytes"),
        _ => "a structure the YAML parser refuses (unbalanced or too large)".to_string(),
    };
    format!("the input is too large or too complex: {over}; see `flink-lifecycle validate --help`")
}

/// The Flink resources of one file's text (YAML, multi-document, or JSON); other kinds are skipped.
pub fn parse_documents(source: &str, text: &str) -> Result<Vec<Document>, String> {
    let values: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| format!("{source}: {}", yaml_error(&e)))?;
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

/// Reads at most [`MAX_INPUT_BYTES`] of `input` as UTF-8 text.
pub fn read_bounded(input: impl std::io::Read) -> Result<String, String> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut input.take(MAX_INPUT_BYTES + 1), &mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "larger than the {} MiB input limit (MAX_INPUT_BYTES); split it into smaller files",
            MAX_INPUT_BYTES / (1024 * 1024)
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn read_file(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    read_bounded(file)
}

/// Reads every file; unreadable ones are returned as errors next to the documents.
pub fn read_documents(files: &[PathBuf]) -> (Vec<Document>, Vec<String>) {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        let (source, text) = if f == Path::new(STDIN) {
            ("<stdin>".to_string(), read_bounded(std::io::stdin().lock()))
        } else {
            (f.display().to_string(), read_file(f))
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
#[command(after_help = LIMITS_HELP)]
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
    if verdicts.is_empty() && unreadable.is_empty() {
        eprintln!(
            "error: nothing validated: no FlinkDeployment or FlinkSessionJob (apiVersion {}/...) in the inputs",
            crate::api::GROUP
        );
        return EXIT_NOTHING;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented limits are the YAML parser's budget.
    #[test]
    #[allow(deprecated)]
    fn documented_limits_are_the_parsers() {
        let budget = serde_saphyr::Budget::default();
        assert_eq!(budget.max_documents, MAX_DOCUMENTS);
        assert_eq!(budget.max_nodes, MAX_NODES);
        assert_eq!(budget.max_depth, MAX_DEPTH);
        assert_eq!(budget.max_aliases, MAX_ALIASES);
        assert!(
            budget
                .max_reader_input_bytes
                .is_none_or(|b| b as u64 >= MAX_INPUT_BYTES)
        );
    }
}
