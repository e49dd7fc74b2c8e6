//! Every FlinkDeployment, FlinkSessionJob and FlinkStateSnapshot example that the reference
//! operator ships (`examples/` of apache/flink-kubernetes-operator, commit 6e9caeb4) is accepted
//! by our generated CRD schemas, by the webhook's `/mutate` and `/validate` as a CREATE, and by
//! `flink-lifecycle validate --no-dns`.
//!
//! The fixtures are the examples unchanged except for one leading comment naming the source:
//! `tests/fixtures/resources/reference/` mirrors `examples/`, and the snapshot examples are the
//! ones already under `tests/fixtures/resources/snapshot/`. (The older fixtures `basic.yaml`,
//! `checkpointing-ha.yaml`, `session-*.yaml` are edited variants with status and older Flink
//! versions, so the verbatim examples are copied here as well.) Multi-document files are kept
//! whole: `validate` and these tests take only the Flink kinds from them.
//!
//! Examples left out, none of them a Flink resource: `flink-tls-example/pre-install.yaml`
//! (cert-manager Issuers, Certificates and Secrets), `hpa/basic-hpa.yaml` (a
//! HorizontalPodAutoscaler), and `kustomize/**` (kustomizations, Deployment patches, Helm values
//! and a flink-conf.yaml). Every Flink example is admitted here, so none is left out as invalid.
//!
//! Session clusters: both session-job-only examples target a session cluster shipped in another
//! example file. The reference webhook looks the cluster up in its informer and, when it is not
//! there, still admits the job (`DefaultValidator.validateSessionJob` runs only
//! `validateSessionJobOnly` for an empty `Optional`); with it, the cluster rules run too. Both
//! are asserted. A snapshot's FlinkDeployment target, in contrast, must exist unless the savepoint
//! already exists: the reference denies "Target for snapshot <ns>/<name> was not found", and so do
//! we once the webhook's store has listed the namespace.
//!
//! DNS: the reference (and our default configuration) checks a session job's http(s) jarURI host
//! for restricted addresses. The webhook tests resolve through a stub (no network): one answering
//! a public address, one failing, which admits with a warning, as `validate --no-dns` skips names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "webhook_support/mod.rs"]
mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use flink_lifecycle::admin::WebhookMetrics;
use flink_lifecycle::api::FlinkDeployment;
use flink_lifecycle::config::OperatorConfig;
use flink_lifecycle::validation::{FlinkKind, validate_schema};
use flink_lifecycle::webhook::http::{LookupHost, WebhookDns, WebhookState, router};
use flink_lifecycle::webhook::{KnownSessions, NoSessions, SessionLookup};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const BIN: &str = env!("CARGO_BIN_EXE_flink-lifecycle");
const RESOURCES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/resources");
const COMMIT: &str = "6e9caeb4";

/// Each fixture (relative to `tests/fixtures/resources/`), the reference example it copies, and
/// its Flink documents as `Kind/name`.
const EXAMPLES: &[(&str, &str, &[&str])] = &[
    (
        "reference/advanced-ingress.yaml",
        "examples/advanced-ingress.yaml",
        &["FlinkDeployment/advanced-ingress"],
    ),
    (
        "reference/autoscaling/autoscaling-dynamic.yaml",
        "examples/autoscaling/autoscaling-dynamic.yaml",
        &["FlinkDeployment/autoscaling-dynamic"],
    ),
    (
        "reference/autoscaling/autoscaling.yaml",
        "examples/autoscaling/autoscaling.yaml",
        &["FlinkDeployment/autoscaling-example"],
    ),
    (
        "reference/basic-checkpoint-ha.yaml",
        "examples/basic-checkpoint-ha.yaml",
        &["FlinkDeployment/basic-checkpoint-ha-example"],
    ),
    (
        "reference/basic-ingress.yaml",
        "examples/basic-ingress.yaml",
        &["FlinkDeployment/basic-ingress"],
    ),
    (
        "reference/basic-reactive.yaml",
        "examples/basic-reactive.yaml",
        &["FlinkDeployment/basic-reactive-example"],
    ),
    (
        "reference/basic-session-deployment-and-job.yaml",
        "examples/basic-session-deployment-and-job.yaml",
        &[
            "FlinkDeployment/basic-session-deployment-example",
            "FlinkSessionJob/basic-session-job-example",
            "FlinkSessionJob/basic-session-job-example2",
        ],
    ),
    (
        "reference/basic-session-deployment-only.yaml",
        "examples/basic-session-deployment-only.yaml",
        &["FlinkDeployment/basic-session-deployment-only-example"],
    ),
    (
        "reference/basic-session-job-only.yaml",
        "examples/basic-session-job-only.yaml",
        &["FlinkSessionJob/basic-session-job-only-example"],
    ),
    (
        "reference/basic.yaml",
        "examples/basic.yaml",
        &["FlinkDeployment/basic-example"],
    ),
    (
        "reference/canary.yaml",
        "examples/canary.yaml",
        &["FlinkDeployment/canary"],
    ),
    (
        "reference/custom-logging.yaml",
        "examples/custom-logging.yaml",
        &["FlinkDeployment/custom-logging-example"],
    ),
    (
        "reference/flink-beam-example/beam-example.yaml",
        "examples/flink-beam-example/beam-example.yaml",
        &["FlinkDeployment/beam-example"],
    ),
    (
        "reference/flink-python-example/python-example.yaml",
        "examples/flink-python-example/python-example.yaml",
        &["FlinkDeployment/python-example"],
    ),
    (
        "reference/flink-sql-runner-example/sql-example.yaml",
        "examples/flink-sql-runner-example/sql-example.yaml",
        &["FlinkDeployment/sql-example"],
    ),
    (
        "reference/flink-tls-example/basic-secure-deployment-only.yaml",
        "examples/flink-tls-example/basic-secure-deployment-only.yaml",
        &["FlinkDeployment/basic-secure-deployment-only"],
    ),
    (
        "reference/flink-tls-example/basic-secure-session-job-only.yaml",
        "examples/flink-tls-example/basic-secure-session-job-only.yaml",
        &["FlinkSessionJob/basic-secure-session-job-only"],
    ),
    (
        "reference/flink-tls-example/basic-secure.yaml",
        "examples/flink-tls-example/basic-secure.yaml",
        &["FlinkDeployment/basic-secure"],
    ),
    (
        "reference/pod-template.yaml",
        "examples/pod-template.yaml",
        &["FlinkDeployment/pod-template-example"],
    ),
    (
        "snapshot/checkpoint.yaml",
        "examples/snapshot/checkpoint.yaml",
        &["FlinkStateSnapshot/example-checkpoint"],
    ),
    (
        "snapshot/job-from-savepoint.yaml",
        "examples/snapshot/job-from-savepoint.yaml",
        &[
            "FlinkStateSnapshot/example-savepoint",
            "FlinkDeployment/example-deployment",
        ],
    ),
    (
        "snapshot/savepoint-already-exists.yaml",
        "examples/snapshot/savepoint-already-exists.yaml",
        &["FlinkStateSnapshot/example-savepoint"],
    ),
    (
        "snapshot/savepoint-job-defaults.yaml",
        "examples/snapshot/savepoint-job-defaults.yaml",
        &["FlinkStateSnapshot/example-savepoint"],
    ),
    (
        "snapshot/savepoint-job-full-spec.yaml",
        "examples/snapshot/savepoint-job-full-spec.yaml",
        &["FlinkStateSnapshot/example-savepoint"],
    ),
];

/// The namespace `kubectl apply` without `-n` puts the examples in.
const NAMESPACE: &str = "default";

/// One Flink document of a fixture.
#[derive(Clone, Debug)]
struct Doc {
    file: &'static str,
    kind: FlinkKind,
    value: Value,
}

impl Doc {
    fn id(&self) -> String {
        format!("{}/{}", self.kind.as_str(), self.name())
    }

    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap()
    }

    /// The object as the API server hands it to admission: its namespace filled in.
    fn in_namespace(&self) -> Value {
        let mut v = self.value.clone();
        v["metadata"]["namespace"] = json!(NAMESPACE);
        v
    }

    fn is_canary(&self) -> bool {
        self.value.pointer("/metadata/labels/flink.apache.org~1canary") == Some(&json!("true"))
    }
}

fn path_of(file: &str) -> PathBuf {
    Path::new(RESOURCES).join(file)
}

fn docs_of(file: &'static str) -> Vec<Doc> {
    let text = std::fs::read_to_string(path_of(file)).unwrap();
    let values: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    values
        .into_iter()
        .filter(|v| {
            v["apiVersion"]
                .as_str()
                .is_some_and(|a| a.starts_with("flink.apache.org/"))
        })
        .filter_map(|value| {
            let kind = FlinkKind::from_kind(value["kind"].as_str()?)?;
            Some(Doc { file, kind, value })
        })
        .collect()
}

fn all_docs() -> Vec<Doc> {
    EXAMPLES.iter().flat_map(|(file, _, _)| docs_of(file)).collect()
}

/// Every FlinkDeployment among the fixtures, in [`NAMESPACE`].
fn fixture_deployments() -> Vec<FlinkDeployment> {
    all_docs()
        .into_iter()
        .filter(|d| d.kind == FlinkKind::Deployment)
        .map(|d| serde_json::from_value(d.in_namespace()).unwrap())
        .collect()
}

#[test]
fn the_fixtures_are_the_reference_examples_with_a_source_line() {
    let mut listed = BTreeSet::new();
    for (file, source, ids) in EXAMPLES {
        let text = std::fs::read_to_string(path_of(file)).unwrap();
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            format!("# {source} of apache/flink-kubernetes-operator (commit {COMMIT}), unchanged."),
            "{file}"
        );
        let found: Vec<String> = docs_of(file).iter().map(Doc::id).collect();
        assert_eq!(found, *ids, "{file}");
        listed.insert(path_of(file));
    }
    // No fixture in reference/ or snapshot/ escapes the list (and so the checks below).
    let (files, errors) =
        flink_lifecycle::offline::collect_files(&[path_of("reference"), path_of("snapshot")]);
    assert!(errors.is_empty(), "{errors:?}");
    let on_disk: BTreeSet<PathBuf> = files.into_iter().collect();
    assert_eq!(on_disk, listed);
}

// ---------------------------------------------------------------------------------------------
// (1) The generated CRD schemas.

/// The openAPIV3Schema of `kind`'s CRD as `flink_lifecycle::crd::all()` generates it.
fn crd_schema(kind: FlinkKind) -> Value {
    let g = flink_lifecycle::crd::all()
        .into_iter()
        .find(|g| g.crd.spec.names.kind == kind.as_str())
        .unwrap();
    let schema = g.crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .unwrap();
    serde_json::to_value(schema).unwrap()
}

/// Fields of `value` that `schema` does not declare (the ones the API server prunes, or denies
/// under strict field validation). `apiVersion`, `kind` and `metadata` (ObjectMeta) at the root
/// are the API server's own, which a CRD's schema need not declare.
fn undeclared(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    if schema["x-kubernetes-preserve-unknown-fields"] == json!(true) {
        return;
    }
    match value {
        Value::Object(fields) => {
            let properties = schema["properties"].as_object();
            for (key, child) in fields {
                let here = format!("{path}.{key}");
                if path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                match (
                    properties.and_then(|p| p.get(key)),
                    &schema["additionalProperties"],
                ) {
                    (Some(s), _) => undeclared(s, child, &here, out),
                    (None, s) if s.is_object() => undeclared(s, child, &here, out),
                    (None, _) => out.push(here),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                undeclared(&schema["items"], item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// What the generated CRD schema of `kind` finds wrong with `value`: the schema compiled as it
/// stands in the CRD (the Kubernetes extensions are annotations to a JSON Schema validator),
/// then the fields it does not declare.
fn crd_schema_problems(kind: FlinkKind, value: &Value) -> Vec<String> {
    let schema = crd_schema(kind);
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(false)
        .build(&schema)
        .unwrap();
    let mut problems: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    let mut unknown = Vec::new();
    undeclared(&schema, value, "", &mut unknown);
    problems.extend(
        unknown
            .into_iter()
            .map(|f| format!("{f}: not declared by the CRD")),
    );
    problems
}

#[test]
fn each_example_matches_the_generated_crd_schema() {
    let docs = all_docs();
    assert_eq!(docs.len(), 27);
    for doc in &docs {
        let id = format!("{} {}", doc.file, doc.id());
        let problems = crd_schema_problems(doc.kind, &doc.value);
        assert!(problems.is_empty(), "{id}: {problems:?}");
        // The check the webhook and `validate` run: the CRD schema plus the embedded Kubernetes
        // structures (pod templates, resource requirements), and strict field validation.
        validate_schema(doc.kind, &doc.value).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(
            flink_lifecycle::offline::unknown_fields(doc.kind, &doc.value).is_empty(),
            "{id}"
        );
    }
}

/// The schema checks above can fail: a misspelt field and a value outside an enum are found.
#[test]
fn the_crd_schema_checks_find_a_broken_example() {
    let basic = docs_of("reference/basic.yaml").remove(0).value;
    let mut misspelt = basic.clone();
    misspelt["spec"]["job"]["upgradMode"] = json!("stateless");
    assert_eq!(
        crd_schema_problems(FlinkKind::Deployment, &misspelt),
        [".spec.job.upgradMode: not declared by the CRD"]
    );
    let mut version = basic;
    version["spec"]["flinkVersion"] = json!("v9");
    let problems = crd_schema_problems(FlinkKind::Deployment, &version);
    assert!(
        problems.len() == 1 && problems[0].starts_with("/spec/flinkVersion"),
        "{problems:?}"
    );
    assert!(validate_schema(FlinkKind::Deployment, &version).is_err());
}

/// Equality that treats `1` and `1.0` as one number, as the API server does.
fn same(a: &Value, b: &Value, path: &str) -> Result<(), String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => Ok(()),
        (Value::Object(x), Value::Object(y)) => x.keys().chain(y.keys()).try_for_each(|k| {
            same(
                x.get(k).unwrap_or(&Value::Null),
                y.get(k).unwrap_or(&Value::Null),
                &format!("{path}.{k}"),
            )
        }),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .try_for_each(|(i, (xi, yi))| same(xi, yi, &format!("{path}[{i}]"))),
        _ if a == b => Ok(()),
        _ => Err(format!("{path}: {a} != {b}")),
    }
}

/// The webhook and the reconciler read the examples into the API types: nothing is lost.
#[test]
fn each_example_survives_the_api_types() {
    use flink_lifecycle::api::{FlinkSessionJob, FlinkStateSnapshot};
    fn back<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) -> Value {
        serde_json::to_value(serde_json::from_value::<T>(v.clone()).unwrap()).unwrap()
    }
    for doc in all_docs() {
        let mut typed = match doc.kind {
            FlinkKind::Deployment => back::<FlinkDeployment>(&doc.value),
            FlinkKind::SessionJob => back::<FlinkSessionJob>(&doc.value),
            FlinkKind::StateSnapshot => back::<FlinkStateSnapshot>(&doc.value),
        };
        // The spec-less canary comes back with an empty spec: nothing lost, nothing added.
        if doc.value.get("spec").is_none() && typed["spec"] == json!({}) {
            typed.as_object_mut().unwrap().remove("spec");
        }
        if let Err(diff) = same(&doc.value, &typed, "") {
            panic!("{} {} lost data: {diff}", doc.file, doc.id());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (2) The webhook, through its router (no network).

/// Answers every lookup with `answer` (or fails when it is `None`) and records the hosts asked.
struct StubDns {
    answer: Option<IpAddr>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl LookupHost for StubDns {
    fn lookup(&self, host: String) -> futures::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        self.asked.lock().unwrap().push(host);
        let answer = self.answer;
        Box::pin(async move {
            answer
                .map(|a| vec![a])
                .ok_or_else(|| std::io::Error::other("no network in this test"))
        })
    }
}

/// A public address, as repo1.maven.org has.
const PUBLIC: &str = "151.101.0.209";

/// A webhook state with the default operator configuration (restricted jarURI hosts are denied,
/// as in the reference) and `dns` answering `answer`.
fn state(
    sessions: Arc<dyn SessionLookup>,
    answer: Option<IpAddr>,
) -> (WebhookState, Arc<Mutex<Vec<String>>>) {
    let operator = OperatorConfig::default();
    assert!(operator.artifacts_disallow_restricted_hosts);
    let asked = Arc::new(Mutex::new(Vec::new()));
    let state = WebhookState {
        operator: Arc::new(operator),
        sessions,
        metrics: WebhookMetrics::unregistered(),
        dns: WebhookDns {
            lookup: Arc::new(StubDns {
                answer,
                asked: asked.clone(),
            }),
            timeout: std::time::Duration::from_secs(2),
        },
        budget: Default::default(),
    };
    (state, asked)
}

async fn admit(state: WebhookState, path: &str, doc: &Doc) -> Value {
    let body = support::review(
        &format!("uid-{}", doc.name()),
        "CREATE",
        &doc.in_namespace(),
        None,
    );
    let req = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let resp = router(state).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    let review: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(review["response"]["uid"], format!("uid-{}", doc.name()));
    review["response"].clone()
}

fn warnings(r: &Value) -> Vec<String> {
    serde_json::from_value(r["warnings"].clone()).unwrap_or_default()
}

/// The jarURI host a session job's `/validate` looks up.
fn jar_host(doc: &Doc) -> Option<String> {
    let uri = doc.value.pointer("/spec/job/jarURI")?.as_str()?;
    let rest = uri.strip_prefix("https://")?;
    Some(rest.split('/').next()?.to_string())
}

#[tokio::test]
async fn the_webhook_mutates_and_admits_each_example_on_create() {
    let sessions: Arc<dyn SessionLookup> = Arc::new(KnownSessions::new(fixture_deployments()));
    for doc in all_docs() {
        let id = format!("{} {}", doc.file, doc.id());

        let (s, asked) = state(sessions.clone(), None);
        let r = admit(s, "/mutate", &doc).await;
        assert_eq!(r["allowed"], true, "{id}: {r}");
        assert!(asked.lock().unwrap().is_empty(), "{id}: /mutate looks nothing up");
        if doc.kind == FlinkKind::SessionJob {
            // The reference's mutator labels a session job with its session cluster.
            assert_eq!(r["patchType"], "JSONPatch", "{id}: {r}");
            let patch = base64::engine::general_purpose::STANDARD
                .decode(r["patch"].as_str().unwrap())
                .unwrap();
            let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
            let mut object = doc.in_namespace();
            json_patch::patch(&mut object, &patch.0).unwrap();
            assert_eq!(
                object["metadata"]["labels"]["target.session"], doc.value["spec"]["deploymentName"],
                "{id}"
            );
        }

        let (s, asked) = state(sessions.clone(), Some(PUBLIC.parse().unwrap()));
        let r = admit(s, "/validate", &doc).await;
        assert_eq!(r["allowed"], true, "{id}: {r}");
        let asked = asked.lock().unwrap().clone();
        match doc.kind {
            FlinkKind::SessionJob => assert_eq!(asked, [jar_host(&doc).unwrap()], "{id}"),
            _ => assert!(asked.is_empty(), "{id}: {asked:?}"),
        }
        let w = warnings(&r);
        assert!(
            !w.iter().any(|w| w.contains("was not found")),
            "{id}: its cluster is known: {w:?}"
        );
        assert!(!w.iter().any(|w| w.contains("DNS")), "{id}: {w:?}");
    }
}

/// Without network the jarURI lookup fails: the review is admitted with a warning naming the
/// host, as `validate --no-dns` skips host names. Nothing else depends on DNS.
#[tokio::test]
async fn without_dns_every_example_is_still_admitted() {
    for doc in all_docs() {
        let id = format!("{} {}", doc.file, doc.id());
        let (s, _) = state(Arc::new(NoSessions), None);
        let r = admit(s, "/validate", &doc).await;
        assert_eq!(r["allowed"], true, "{id}: {r}");
        let w = warnings(&r);
        if let (FlinkKind::SessionJob, Some(host)) = (doc.kind, jar_host(&doc)) {
            assert!(
                w.iter()
                    .any(|w| w.contains(&format!("DNS lookup of host '{host}' failed"))),
                "{id}: {w:?}"
            );
        }
    }
}

/// A cluster whose FlinkDeployment store has listed the namespace and holds none.
struct EmptyCluster;

impl SessionLookup for EmptyCluster {
    fn find(&self, _: &str, _: &str) -> Option<Arc<FlinkDeployment>> {
        None
    }

    fn lists_all_in(&self, _: &str) -> bool {
        true
    }
}

/// Applied alone into an empty namespace, as the reference decides: a session job whose session
/// cluster does not exist is admitted (the reference validates it without its cluster, and the
/// job is submitted once the cluster exists), while a snapshot of a FlinkDeployment that does not
/// exist is denied unless the savepoint already exists.
#[tokio::test]
async fn into_an_empty_namespace_only_snapshots_of_missing_jobs_are_denied() {
    let mut denied = Vec::new();
    for doc in all_docs() {
        let id = format!("{} {}", doc.file, doc.id());
        let (s, _) = state(Arc::new(EmptyCluster), Some(PUBLIC.parse().unwrap()));
        let r = admit(s, "/validate", &doc).await;
        let targets_a_deployment =
            doc.value.pointer("/spec/jobReference/kind") == Some(&json!("FlinkDeployment"));
        if doc.kind == FlinkKind::StateSnapshot && targets_a_deployment {
            assert_eq!(r["allowed"], false, "{id}: {r}");
            let message = r["status"]["message"].as_str().unwrap();
            assert!(
                message.contains("Target for snapshot default/example-deployment was not found"),
                "{id}: {message}"
            );
            denied.push(doc.file);
        } else {
            assert_eq!(r["allowed"], true, "{id}: {r}");
        }
        if doc.kind == FlinkKind::SessionJob {
            let w = warnings(&r);
            let cluster = doc.value["spec"]["deploymentName"].as_str().unwrap();
            assert!(
                w.iter()
                    .any(|w| w.contains(&format!("session FlinkDeployment '{cluster}' was not found"))),
                "{id}: {w:?}"
            );
        }
    }
    assert_eq!(
        denied,
        [
            "snapshot/checkpoint.yaml",
            "snapshot/savepoint-job-defaults.yaml",
            "snapshot/savepoint-job-full-spec.yaml"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// (3) `flink-lifecycle validate --no-dns`.

fn validate(paths: &[PathBuf]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("validate")
        .arg("--no-dns")
        .args(paths)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn validate_no_dns_admits_each_example_file() {
    for (file, _, ids) in EXAMPLES {
        let path = path_of(file);
        let (code, out, err) = validate(std::slice::from_ref(&path));
        assert_eq!(code, 0, "{file}: {out}{err}");
        for doc in docs_of(file) {
            let line = format!(
                "{}: {} {NAMESPACE}/{}: allowed",
                path.display(),
                doc.kind.as_str(),
                doc.name()
            );
            assert!(out.contains(&line), "{file}: no `{line}` in {out}");
        }
        let n = ids.len();
        assert!(
            out.contains(&format!("{n} resource(s): {n} allowed, 0 denied")),
            "{file}: {out}"
        );
        assert!(!out.contains("  error:"), "{file}: {out}");
    }
}

/// All examples in one run: the session jobs meet their clusters (from other files) and the
/// snapshots their FlinkDeployment (from job-from-savepoint.yaml), so the cluster rules run too.
#[test]
fn validate_no_dns_admits_all_examples_together() {
    let (code, out, err) = validate(&[path_of("reference"), path_of("snapshot")]);
    assert_eq!(code, 0, "{out}{err}");
    let total = all_docs().len();
    assert!(
        out.contains(&format!("{total} resource(s): {total} allowed, 0 denied")),
        "{out}"
    );
    assert!(!out.contains("was not found"), "{out}");
    for doc in all_docs().iter().filter(|d| d.kind == FlinkKind::SessionJob) {
        assert!(
            out.contains(&format!(
                "  mutation: sets label target.session={}",
                doc.value["spec"]["deploymentName"].as_str().unwrap()
            )),
            "{out}"
        );
    }
}

/// A session job file alone (its cluster in another file) is admitted with a warning, as the
/// reference admits a session job whose cluster it cannot find.
#[test]
fn validate_admits_a_session_job_without_its_cluster_with_a_warning() {
    for (file, cluster) in [
        (
            "reference/basic-session-job-only.yaml",
            "basic-session-deployment-only-example",
        ),
        (
            "reference/flink-tls-example/basic-secure-session-job-only.yaml",
            "basic-secure-deployment-only",
        ),
    ] {
        let (code, out, err) = validate(&[path_of(file)]);
        assert_eq!(code, 0, "{file}: {out}{err}");
        assert!(
            out.contains(&format!(
                "  warning: session FlinkDeployment '{cluster}' was not found"
            )),
            "{file}: {out}"
        );
    }
}

#[test]
fn canaries_are_recognised() {
    let canaries: Vec<String> = all_docs().iter().filter(|d| d.is_canary()).map(Doc::id).collect();
    assert_eq!(canaries, ["FlinkDeployment/canary"]);
}
