//! `flink-lifecycle validate`: the webhook's admission offline (mutation, then validation, then
//! warnings) over manifest files, for CI pipelines and Argo CD pre-sync checks. Session jobs, and
//! snapshots of FlinkDeployments, are checked against the FlinkDeployments among the inputs;
//! `--old` files stand in for the stored objects of an UPDATE (their status supplies
//! `lastReconciledSpec`).

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
    /// Further reasons for the denial (unknown fields of a resource that a rule denies too).
    pub errors: Vec<String>,
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
        out.extend(self.errors.iter().map(|e| format!("  error: {e}")));
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
/// Exit code when the inputs hold no FlinkDeployment, FlinkSessionJob or FlinkStateSnapshot at all.
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

Fields the CRD schema does not declare (e.g. spec.job.upgradMode) are denied, as the API
server's strict field validation denies them, with the field they resemble;
--warn-unknown-fields reports them as warnings instead.

Exit codes: 0 all allowed, 1 any denied, 2 an input cannot be read or breaks a limit,
3 no FlinkDeployment, FlinkSessionJob or FlinkStateSnapshot found in the inputs.

Example:
  flink-lifecycle validate --no-dns examples/
  kustomize build overlays/prod | flink-lifecycle validate --old stored.yaml -";

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
            // The webhook admits the operator's canary resources unchecked: so does `validate`.
            if doc
                .value
                .pointer("/metadata/labels")
                .and_then(|l| l.get(crate::webhook::CANARY_LABEL))
                == Some(&Value::String("true".into()))
            {
                return Verdict {
                    source: doc.source.clone(),
                    kind,
                    namespace,
                    name,
                    decision: Ok(()),
                    warnings: vec![],
                    mutation: None,
                    errors: vec![],
                };
            }
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
                FlinkKind::Deployment | FlinkKind::StateSnapshot => (doc.value.clone(), None),
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
                errors: vec![],
            }
        })
        .collect()
}

/// What `validate` makes of fields the CRD schema does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownFields {
    /// A denial, as the API server's strict field validation (`kubectl apply`'s default).
    Deny,
    /// A warning (`--warn-unknown-fields`).
    Warn,
}

/// [`admit_all`], then the API server's strict field validation: every field the CRD schema
/// does not know is a denial (or, with [`UnknownFields::Warn`], a warning). A resource that a
/// rule denies keeps that reason; its unknown fields follow as `error:` lines.
pub fn admit_all_strict(
    docs: &[Document],
    old: &[Document],
    operator: &OperatorConfig,
    resolver: &dyn HostResolver,
    policy: UnknownFields,
) -> Vec<Verdict> {
    let mut verdicts = admit_all(docs, old, operator, resolver);
    for (verdict, doc) in verdicts.iter_mut().zip(docs) {
        let unknown: Vec<String> = unknown_fields(doc.kind, &doc.value)
            .iter()
            .map(UnknownField::to_string)
            .collect();
        if unknown.is_empty() {
            continue;
        }
        match (policy, &verdict.decision) {
            (UnknownFields::Warn, _) => {
                verdict.warnings.splice(0..0, unknown);
            }
            (UnknownFields::Deny, Ok(())) => verdict.decision = Err(unknown.join("; ")),
            (UnknownFields::Deny, Err(_)) => verdict.errors.extend(unknown),
        }
    }
    verdicts
}

/// A field of a resource that its CRD schema does not declare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownField {
    /// JSON path, e.g. `spec.job.upgradMode` or `spec.ingress.tls[0].host`.
    pub path: String,
    /// The declared field at the same level it resembles.
    pub suggestion: Option<String>,
}

impl std::fmt::Display for UnknownField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown field \"{}\"", self.path)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean {s}?)")?;
        }
        Ok(())
    }
}

/// Fields of `metadata` (ObjectMeta) the API server knows; their contents are not checked here.
const OBJECT_META_FIELDS: &[&str] = &[
    "annotations",
    "creationTimestamp",
    "deletionGracePeriodSeconds",
    "deletionTimestamp",
    "finalizers",
    "generateName",
    "generation",
    "labels",
    "managedFields",
    "name",
    "namespace",
    "ownerReferences",
    "resourceVersion",
    "selfLink",
    "uid",
];

/// The openAPIV3Schema of each kind's CRD (as generated from the Rust types), with the fields
/// every object has (apiVersion, kind, metadata) added at the root.
fn root_schemas() -> &'static HashMap<FlinkKind, Value> {
    static SCHEMAS: std::sync::OnceLock<HashMap<FlinkKind, Value>> = std::sync::OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let metadata: serde_json::Map<String, Value> = OBJECT_META_FIELDS
            .iter()
            .map(|f| {
                (
                    (*f).to_string(),
                    serde_json::json!({ "x-kubernetes-preserve-unknown-fields": true }),
                )
            })
            .collect();
        crate::crd::all()
            .into_iter()
            .filter_map(|g| {
                let kind = FlinkKind::from_kind(&g.crd.spec.names.kind)?;
                let schema = g
                    .crd
                    .spec
                    .versions
                    .first()?
                    .schema
                    .as_ref()?
                    .open_api_v3_schema
                    .as_ref()?;
                let mut schema = serde_json::to_value(schema).ok()?;
                let props = schema
                    .as_object_mut()?
                    .entry("properties")
                    .or_insert_with(|| Value::Object(Default::default()))
                    .as_object_mut()?;
                props.insert("apiVersion".into(), serde_json::json!({ "type": "string" }));
                props.insert("kind".into(), serde_json::json!({ "type": "string" }));
                props.insert(
                    "metadata".into(),
                    serde_json::json!({ "type": "object", "properties": metadata.clone() }),
                );
                Some((kind, schema))
            })
            .collect()
    })
}

/// The fields of `value` that the CRD schema of `kind` does not declare, as the API server's
/// strict field validation finds them: objects are walked along `properties`,
/// `additionalProperties` and `items`; under `x-kubernetes-preserve-unknown-fields: true`
/// (podTemplate, flinkConfiguration, ...) any field is accepted.
pub fn unknown_fields(kind: FlinkKind, value: &Value) -> Vec<UnknownField> {
    let mut out = Vec::new();
    if let Some(schema) = root_schemas().get(&kind) {
        walk_schema(value, schema, "", &mut out);
    }
    out
}

fn walk_schema(value: &Value, schema: &Value, path: &str, out: &mut Vec<UnknownField>) {
    match value {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            let is_object = props.is_some() || schema.get("type").and_then(Value::as_str) == Some("object");
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if let Some(s) = props.and_then(|p| p.get(key)) {
                    walk_schema(child, s, &child_path, out);
                } else if let Some(a) = additional.filter(|a| a.is_object()) {
                    walk_schema(child, a, &child_path, out);
                } else if preserve || additional == Some(&Value::Bool(true)) || !is_object {
                    // Free-form, or a type mismatch the schema validation reports.
                } else {
                    let known = props.map(|p| p.keys().map(String::as_str).collect::<Vec<_>>());
                    out.push(UnknownField {
                        path: child_path,
                        suggestion: known.and_then(|k| closest(key, &k)).map(str::to_string),
                    });
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for (i, item) in items.iter().enumerate() {
                    walk_schema(item, item_schema, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// The known name `unknown` most resembles: within edit distance 2 (ignoring case), or sharing
/// a prefix of at least four characters (or being a prefix of it, or it of the name).
fn closest<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    let u = unknown.to_lowercase();
    known
        .iter()
        .filter_map(|k| {
            let kl = k.to_lowercase();
            let distance = edit_distance(&u, &kl);
            let common = u.chars().zip(kl.chars()).take_while(|(a, b)| a == b).count();
            let shorter = u.chars().count().min(kl.chars().count());
            let close = (distance <= 2 && distance < u.chars().count())
                || common >= 4
                || (shorter >= 3 && common == shorter);
            close.then_some((distance, std::cmp::Reverse(common), *k))
        })
        .min()
        .map(|(_, _, k)| k)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
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
    /// Report fields the CRD schema does not know as warnings instead of denials (the API
    /// server's strict field validation, `kubectl apply`'s default, denies them).
    #[arg(long)]
    pub warn_unknown_fields: bool,
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
    let policy = if cmd.warn_unknown_fields {
        UnknownFields::Warn
    } else {
        UnknownFields::Deny
    };
    let verdicts = admit_all_strict(&docs, &old, &operator, resolver, policy);
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
            "error: nothing validated: no FlinkDeployment, FlinkSessionJob or FlinkStateSnapshot (apiVersion {}/...) in the inputs",
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

    #[test]
    fn suggestions_are_close_names_only() {
        let known = ["upgradeMode", "state", "parallelism", "jarURI"];
        assert_eq!(closest("upgradMode", &known), Some("upgradeMode"));
        assert_eq!(closest("sate", &known), Some("state"));
        assert_eq!(closest("parallel", &known), Some("parallelism"));
        assert_eq!(closest("jarUri", &known), Some("jarURI"));
        assert_eq!(closest("upgradeStrategy", &known), Some("upgradeMode"));
        assert_eq!(closest("foo", &known), None);
        assert_eq!(closest("completelyDifferent", &known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn unknown_fields_follow_the_crd_schema() {
        let dep = serde_json::json!({
            "apiVersion": "flink.apache.org/v1beta1",
            "kind": "FlinkDeployment",
            "metadata": {"name": "x", "labels": {"any": "thing"}, "lables": {}},
            "spec": {
                "flinkConfiguration": {"anything.goes": "1"},
                "podTemplate": {"spec": {"whatever": true}},
                "job": {"upgradMode": "savepoint", "sate": "running"},
                "ingress": {"tls": [{"hosts": ["a"], "secretNme": "s"}]},
                "bogus": 1
            }
        });
        let paths: Vec<String> = unknown_fields(FlinkKind::Deployment, &dep)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            paths,
            [
                "unknown field \"metadata.lables\" (did you mean labels?)",
                "unknown field \"spec.bogus\"",
                "unknown field \"spec.ingress.tls[0].secretNme\" (did you mean secretName?)",
                "unknown field \"spec.job.sate\" (did you mean state?)",
                "unknown field \"spec.job.upgradMode\" (did you mean upgradeMode?)",
            ]
        );
    }

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
