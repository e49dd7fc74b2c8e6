//! The webhook's answers through its axum router (no network): allowed, denied with the uid,
//! patched, warned, malformed and odd requests; and a property test that no body panics it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "webhook_support/mod.rs"]
mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use flink_lifecycle::admin::WebhookMetrics;
use flink_lifecycle::api::FlinkDeployment;
use flink_lifecycle::config::OperatorConfig;
use flink_lifecycle::webhook::http::{WebhookState, router};
use flink_lifecycle::webhook::{KnownSessions, NoSessions, SessionLookup};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

const UPDATE: &str = include_str!("fixtures/admission/flinkdeployment-update.json");

fn state(sessions: Arc<dyn SessionLookup>) -> WebhookState {
    WebhookState {
        operator: Arc::new(OperatorConfig::default()),
        sessions,
        metrics: WebhookMetrics::unregistered(),
        dns: Default::default(),
        budget: Default::default(),
    }
}

async fn post(state: WebhookState, path: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let req = Request::post(path)
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap();
    let resp = router(state).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, bytes.to_vec())
}

async fn admit(path: &str, body: Vec<u8>) -> Value {
    admit_with(state(Arc::new(NoSessions)), path, body).await
}

async fn admit_with(state: WebhookState, path: &str, body: Vec<u8>) -> Value {
    let (status, bytes) = post(state, path, "application/json", body).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    v["response"].clone()
}

fn update_review() -> Value {
    serde_json::from_str(UPDATE).unwrap()
}

#[tokio::test]
async fn realistic_update_is_allowed_with_a_line_about_the_running_job() {
    let r = admit("/validate", UPDATE.as_bytes().to_vec()).await;
    assert_eq!(r["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(r["allowed"], true, "{r}");
    let warnings: Vec<String> = serde_json::from_value(r["warnings"].clone()).unwrap();
    assert!(
        warnings.iter().any(|w| w.contains("savepoint")),
        "the change line comes from lifecycle::describe_deployment_change: {warnings:?}"
    );
    assert!(r.get("patch").is_none());
}

#[tokio::test]
async fn the_change_line_is_the_planners() {
    let review = update_review();
    let old: FlinkDeployment = serde_json::from_value(review["request"]["oldObject"].clone()).unwrap();
    let new: FlinkDeployment = serde_json::from_value(review["request"]["object"].clone()).unwrap();
    let line = flink_lifecycle::lifecycle::describe_deployment_change(&old, &new, &OperatorConfig::default())
        .unwrap();
    let r = admit("/validate", UPDATE.as_bytes().to_vec()).await;
    let warnings: Vec<String> = serde_json::from_value(r["warnings"].clone()).unwrap();
    assert!(warnings.contains(&line), "{line} not in {warnings:?}");
}

/// A review's status is the stored one, which the API server validated when the operator wrote
/// it: admission checks the spec's schema only, so a status the user cannot edit never blocks a
/// spec change. Offline, nothing validated the status, and it is checked.
#[tokio::test]
async fn only_the_spec_is_checked_against_the_schema_at_admission() {
    use flink_lifecycle::validation::{FlinkKind, ResolvedHosts};
    use flink_lifecycle::webhook::{ReviewContext, SchemaScope, validate_value};
    let mut review = update_review();
    for object in ["object", "oldObject"] {
        // Types (serde reads a struct from a list) but is not the schema's object.
        review["request"][object]["status"]["jobStatus"] = json!([]);
    }
    let r = admit("/validate", serde_json::to_vec(&review).unwrap()).await;
    assert_eq!(r["allowed"], true, "{r}");

    let operator = OperatorConfig::default();
    let ctx = ReviewContext {
        operator: &operator,
        sessions: &NoSessions,
        resolver: &ResolvedHosts::default(),
    };
    let object = &review["request"]["object"];
    let check = |scope| validate_value(FlinkKind::Deployment, object, None, None, scope, &ctx);
    assert!(check(SchemaScope::Spec).is_ok());
    let offline = check(SchemaScope::Whole).unwrap_err().to_string();
    assert!(offline.contains("status.jobStatus"), "{offline}");

    review["request"]["object"]["spec"]["job"]["parallelism"] = json!("two");
    let r = admit("/validate", serde_json::to_vec(&review).unwrap()).await;
    assert_eq!(r["allowed"], false, "the spec is still checked: {r}");
}

/// A spec stored before a rule existed (or before the webhook was installed) that fails it now:
/// an UPDATE that leaves it alone (the operator removing its finalizer on deletion, a user adding
/// a label) is admitted with a warning saying why; changing the spec is checked as always.
#[tokio::test]
async fn an_update_that_leaves_an_invalid_stored_spec_alone_is_admitted() {
    let invalid = |review: &mut Value| {
        // The fixture's update changes the spec; here it leaves the stored one as it is.
        review["request"]["object"]["spec"] = review["request"]["oldObject"]["spec"].clone();
        for object in ["object", "oldObject"] {
            let spec = &mut review["request"][object]["spec"];
            spec["flinkConfiguration"]
                .as_object_mut()
                .unwrap()
                .remove("execution.checkpointing.savepoint-dir");
            spec["podTemplate"] = json!({"spec": {"containers": [{"name": "flink-main-container", "imagePullPolicy": "Sometimes"}]}});
        }
    };
    let mut review = update_review();
    invalid(&mut review);
    review["request"]["oldObject"]["metadata"]["finalizers"] =
        json!(["flinkdeployments.flink.apache.org/finalizer"]);
    review["request"]["object"]["metadata"]["deletionTimestamp"] = json!("2026-11-30T10:00:00Z");
    let r = admit("/validate", serde_json::to_vec(&review).unwrap()).await;
    assert_eq!(r["allowed"], true, "{r}");
    let warnings: Vec<String> = serde_json::from_value(r["warnings"].clone()).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .starts_with("the stored spec does not pass validation and this update leaves it unchanged")
            && warnings[0].contains("imagePullPolicy"),
        "{warnings:?}"
    );

    // Without the schema problem the rules' denial is the one set aside.
    let mut review = update_review();
    invalid(&mut review);
    for object in ["object", "oldObject"] {
        review["request"][object]["spec"]
            .as_object_mut()
            .unwrap()
            .remove("podTemplate");
    }
    review["request"]["object"]["metadata"]["labels"]["team"] = json!("payments");
    let r = admit("/validate", serde_json::to_vec(&review).unwrap()).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert!(r["warnings"][0].as_str().unwrap().contains("savepoint"), "{r}");

    review["request"]["object"]["spec"]["job"]["parallelism"] = json!(4);
    let r = admit("/validate", serde_json::to_vec(&review).unwrap()).await;
    assert_eq!(r["allowed"], false, "a spec change is checked: {r}");
}

#[tokio::test]
async fn invalid_spec_is_denied_with_uid_and_a_message_that_says_where_and_how() {
    let mut review = update_review();
    review["request"]["object"]["spec"]["flinkConfiguration"]
        .as_object_mut()
        .unwrap()
        .remove("execution.checkpointing.savepoint-dir");
    let r = admit("/validate", serde_json::to_vec(&review).unwrap()).await;
    assert_eq!(r["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("spec.flinkConfiguration[execution.checkpointing.savepoint-dir]"),
        "{msg}"
    );
    assert!(msg.contains("Set execution.checkpointing.savepoint-dir"), "{msg}");
}

#[tokio::test]
async fn pod_template_typo_is_denied_with_its_path() {
    let mut review = update_review();
    review["request"]["object"]["spec"]["podTemplate"]["spec"]["containers"][0]["volumeMount"] = json!([]);
    let r = admit("/validate", serde_json::to_vec(&review).unwrap()).await;
    assert_eq!(r["allowed"], false);
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(msg.starts_with("spec.podTemplate.spec.containers[0]"), "{msg}");
    assert!(msg.contains("volumeMount"), "{msg}");
}

#[tokio::test]
async fn session_job_is_labelled_once_and_checked_against_its_session() {
    let job = json!({
        "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkSessionJob",
        "metadata": {"name": "wc", "namespace": "streaming"},
        "spec": {"deploymentName": "orders", "job": {"jarURI": "https://8.8.8.8/wc.jar", "parallelism": 2}}
    });
    let r = admit("/mutate", support::review("m-1", "CREATE", &job, None)).await;
    assert_eq!(r["uid"], "m-1");
    assert_eq!(r["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(r["patch"].as_str().unwrap())
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    let mut labelled = job.clone();
    json_patch::patch(&mut labelled, &patch).unwrap();
    assert_eq!(labelled["metadata"]["labels"]["target.session"], "orders");
    let again = admit(
        "/mutate",
        support::review("m-2", "UPDATE", &labelled, Some(&labelled)),
    )
    .await;
    assert!(
        again.get("patch").is_none() && again.get("patchType").is_none(),
        "no patch when nothing changes: {again}"
    );

    let app: FlinkDeployment = serde_json::from_value(update_review()["request"]["object"].clone()).unwrap();
    let sessions = Arc::new(KnownSessions::new([app]));
    let r = admit_with(
        state(sessions),
        "/validate",
        support::review("v-1", "CREATE", &labelled, None),
    )
    .await;
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("application cluster"),
        "{r}"
    );

    let r = admit("/validate", support::review("v-2", "CREATE", &labelled, None)).await;
    assert_eq!(r["allowed"], true);
    assert!(r["warnings"][0].as_str().unwrap().contains("not found"), "{r}");
}

#[tokio::test]
async fn deployments_are_never_mutated() {
    let r = admit("/mutate", UPDATE.as_bytes().to_vec()).await;
    assert_eq!(r["allowed"], true);
    assert!(r.get("patch").is_none());
}

#[tokio::test]
async fn odd_requests_get_clear_answers() {
    // Not JSON: 400 with a message.
    let (status, body) = post(
        state(Arc::new(NoSessions)),
        "/validate",
        "application/json",
        b"{nope".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("not JSON"));
    // Wrong content type: 415.
    let (status, _) = post(
        state(Arc::new(NoSessions)),
        "/validate",
        "text/plain",
        UPDATE.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Wrong version: 400 naming it.
    let mut v1beta1 = update_review();
    v1beta1["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let (status, body) = post(
        state(Arc::new(NoSessions)),
        "/validate",
        "application/json",
        serde_json::to_vec(&v1beta1).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("admission.k8s.io/v1"));
    // No request: a well-formed answer without uid.
    let r = admit(
        "/validate",
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(),
    )
    .await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["uid"], "");
    // A request whose object does not type: denied, uid kept.
    let mut broken = update_review();
    broken["request"]["object"]["spec"]["job"]["parallelism"] = json!("twelve");
    let r = admit("/validate", serde_json::to_vec(&broken).unwrap()).await;
    assert_eq!(
        (r["uid"].as_str(), r["allowed"].as_bool()),
        (Some("705ab4f5-6393-11e8-b7cc-42010a800002"), Some(false))
    );
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("spec.job.parallelism"),
        "{r}"
    );
    // A request that is not even an AdmissionRequest but has a uid: denied, uid kept.
    let r = admit("/validate", br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-9","operation":"EXPLODE"}}"#.to_vec()).await;
    assert_eq!(
        (r["uid"].as_str(), r["allowed"].as_bool()),
        (Some("u-9"), Some(false))
    );
    // Unknown path and method.
    let (status, _) = post(state(Arc::new(NoSessions)), "/admit", "application/json", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let resp = router(state(Arc::new(NoSessions)))
        .oneshot(Request::get("/validate").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn other_kinds_operations_and_canaries_pass_untouched() {
    let mut other = update_review();
    other["request"]["kind"] =
        json!({"group": "flink.apache.org", "version": "v1beta1", "kind": "FlinkBlueGreenDeployment"});
    let r = admit("/validate", serde_json::to_vec(&other).unwrap()).await;
    assert_eq!(r["allowed"], true);
    assert!(r["warnings"][0].as_str().unwrap().contains("does not check"));

    let mut delete = update_review();
    delete["request"]["operation"] = json!("DELETE");
    delete["request"]["object"] = Value::Null;
    let r = admit("/validate", serde_json::to_vec(&delete).unwrap()).await;
    assert_eq!(
        (r["allowed"].as_bool(), r["uid"].as_str()),
        (Some(true), Some("705ab4f5-6393-11e8-b7cc-42010a800002"))
    );

    let mut canary = update_review();
    canary["request"]["object"]["metadata"]["labels"]["flink.apache.org/canary"] = json!("true");
    canary["request"]["object"]["spec"]["serviceAccount"] = Value::Null;
    let r = admit("/validate", serde_json::to_vec(&canary).unwrap()).await;
    assert_eq!(r["allowed"], true);

    let mut dry = update_review();
    dry["request"]["dryRun"] = json!(true);
    let r = admit("/validate", serde_json::to_vec(&dry).unwrap()).await;
    assert_eq!(
        r["allowed"], true,
        "dryRun is answered like any request (no side effects exist)"
    );
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-zA-Z0-9./:-]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "FlinkDeployment",
            "FlinkSessionJob",
            "CREATE",
            "UPDATE",
            "admission.k8s.io/v1",
            "AdmissionReview",
            "flink.apache.org",
            "v1_20",
            "last-state"
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        let keys = prop::sample::select(vec![
            "apiVersion",
            "kind",
            "request",
            "uid",
            "operation",
            "object",
            "oldObject",
            "spec",
            "metadata",
            "job",
            "name",
            "namespace",
            "group",
            "status",
            "flinkConfiguration",
            "deploymentName",
            "upgradeMode",
            "podTemplate",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn answers(path: &'static str, body: Vec<u8>) {
    let (status, bytes) =
        runtime().block_on(post(state(Arc::new(NoSessions)), path, "application/json", body));
    if status == StatusCode::OK {
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(v["response"]["allowed"].is_boolean(), "{v}");
    } else {
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(!bytes.is_empty(), "a 400 carries a message");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_always_get_an_answer(body in prop::collection::vec(any::<u8>(), 0..512)) {
        answers("/validate", body);
    }

    #[test]
    fn arbitrary_json_always_gets_an_answer(v in arbitrary_json(), mutate in any::<bool>()) {
        answers(if mutate { "/mutate" } else { "/validate" }, serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn arbitrary_objects_inside_a_real_review_always_get_an_answer(obj in arbitrary_json(), op in prop::sample::select(vec!["CREATE", "UPDATE", "DELETE"])) {
        let mut review = update_review();
        review["request"]["object"] = obj.clone();
        review["request"]["operation"] = json!(op);
        answers("/validate", serde_json::to_vec(&review).unwrap());
        let mut spec_only = update_review();
        spec_only["request"]["object"]["spec"] = obj;
        answers("/validate", serde_json::to_vec(&spec_only).unwrap());
    }
}

#[tokio::test]
async fn a_session_jobs_jar_host_is_resolved_before_the_decision() {
    let job = json!({
        "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkSessionJob",
        "metadata": {"name": "wc", "namespace": "streaming"},
        "spec": {"deploymentName": "orders", "job": {"jarURI": "https://localhost/wc.jar", "parallelism": 2}}
    });
    let mut s = state(Arc::new(NoSessions));
    s.operator = Arc::new(OperatorConfig {
        artifacts_disallow_restricted_hosts: true,
        ..OperatorConfig::default()
    });
    let r = admit_with(s, "/validate", support::review("d-1", "CREATE", &job, None)).await;
    assert_eq!(
        (r["uid"].as_str(), r["allowed"].as_bool()),
        (Some("d-1"), Some(false))
    );
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("jarURI host 'localhost' resolves to the restricted address"),
        "{msg}"
    );
}

/// A resolver that fails, hangs, or answers, and counts its lookups.
struct TestDns {
    mode: &'static str,
    calls: Arc<std::sync::atomic::AtomicUsize>,
}

impl flink_lifecycle::webhook::http::LookupHost for TestDns {
    fn lookup(
        &self,
        _host: String,
    ) -> futures::future::BoxFuture<'static, std::io::Result<Vec<std::net::IpAddr>>> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mode = self.mode;
        Box::pin(async move {
            match mode {
                "fail" => Err(std::io::Error::other("no such host (test resolver)")),
                "hang" => futures::future::pending().await,
                _ => Ok(vec!["10.0.0.7".parse().unwrap()]),
            }
        })
    }
}

fn dns_state(mode: &'static str) -> (WebhookState, Arc<std::sync::atomic::AtomicUsize>) {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut s = state(Arc::new(NoSessions));
    s.operator = Arc::new(OperatorConfig {
        artifacts_disallow_restricted_hosts: true,
        ..OperatorConfig::default()
    });
    s.dns = flink_lifecycle::webhook::http::WebhookDns {
        lookup: Arc::new(TestDns {
            mode,
            calls: calls.clone(),
        }),
        timeout: std::time::Duration::from_millis(200),
    };
    (s, calls)
}

fn named_host_job() -> Value {
    json!({
        "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkSessionJob",
        "metadata": {"name": "wc", "namespace": "streaming"},
        "spec": {"deploymentName": "orders", "job": {"jarURI": "https://artifacts.example.test/wc.jar", "parallelism": 2}}
    })
}

#[tokio::test]
async fn mutate_does_no_dns_lookup() {
    for mode in ["fail", "hang", "private"] {
        let (s, calls) = dns_state(mode);
        let started = std::time::Instant::now();
        let r = admit_with(
            s,
            "/mutate",
            support::review("m-dns", "CREATE", &named_host_job(), None),
        )
        .await;
        assert_eq!(r["allowed"], true, "{r}");
        assert_eq!(r["patchType"], "JSONPatch", "{r}");
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "{mode}: no lookup"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_millis(150),
            "{mode}"
        );
    }
}

#[tokio::test]
async fn a_failed_or_timed_out_lookup_allows_with_a_warning_naming_the_host() {
    for (mode, why) in [("fail", "no such host"), ("hang", "timed out")] {
        let (s, calls) = dns_state(mode);
        let started = std::time::Instant::now();
        let r = admit_with(
            s,
            "/validate",
            support::review("v-dns", "CREATE", &named_host_job(), None),
        )
        .await;
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{mode}: bounded by the timeout"
        );
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1, "{mode}");
        assert_eq!(r["allowed"], true, "{mode}: {r}");
        let warnings: Vec<String> = serde_json::from_value(r["warnings"].clone()).unwrap();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("'artifacts.example.test'") && w.contains(why) && w.contains("lookup")),
            "{mode}: {warnings:?}"
        );
    }
    // A lookup that answers a private address still denies.
    let (s, _) = dns_state("private");
    let r = admit_with(
        s,
        "/validate",
        support::review("v-dns", "CREATE", &named_host_job(), None),
    )
    .await;
    assert_eq!(r["allowed"], false, "{r}");
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("restricted address 10.0.0.7"),
        "{r}"
    );
}

/// A body that sends its first chunk and then never ends (a slow sender).
fn trickling_body() -> (Body, tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    (Body::from_stream(stream), tx)
}

/// Bodies in flight are bounded across connections: a large body that does not fit in what
/// slow senders hold is answered 429 with Retry-After within about a second, while an ordinary
/// review is answered at once.
#[tokio::test]
async fn large_bodies_beyond_the_memory_budget_are_refused_and_small_reviews_go_on() {
    use flink_lifecycle::webhook::budget::BodyBudget;
    let mut s = state(Arc::new(NoSessions));
    s.budget = BodyBudget::new(4 * 1024 * 1024);
    let three_mib = (3 * 1024 * 1024).to_string();
    let slow = |s: WebhookState| {
        let (body, tx) = trickling_body();
        let req = Request::post("/validate")
            .header("content-type", "application/json")
            .header("content-length", three_mib.clone())
            .body(body)
            .unwrap();
        let task = tokio::spawn(router(s).oneshot(req));
        (task, tx)
    };
    let (_held, tx) = slow(s.clone());
    tx.send(Ok(vec![b' '; 1024])).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while s.budget.in_flight() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first body never reserved budget"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let started = std::time::Instant::now();
    let (second, _tx2) = slow(s.clone());
    let resp = second.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "refused quickly"
    );
    let text = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    assert!(
        String::from_utf8_lossy(&text).contains("retry"),
        "{}",
        String::from_utf8_lossy(&text)
    );

    let ordinary = admit_with(s.clone(), "/validate", UPDATE.as_bytes().to_vec()).await;
    assert_eq!(ordinary["allowed"], true, "{ordinary}");

    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = WebhookMetrics::register(&mut registry);
    let mut s2 = s.clone();
    s2.metrics = metrics;
    let (third, _tx3) = slow(s2);
    assert_eq!(
        third.await.unwrap().unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let text = flink_lifecycle::admin::encode(&registry);
    assert!(
        text.contains("webhook_refused_requests_total{reason=\"body_budget\"} 1"),
        "{text}"
    );
}

fn resource_fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/resources")
        .join(name);
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The reference operator's spec-less canaries are admitted on both endpoints, created and
/// updated, and never patched; a spec-less object without the label gets the rules' answer
/// (no flinkVersion, no job), not a decoding error.
#[tokio::test]
async fn spec_less_canaries_are_admitted_and_other_spec_less_objects_get_the_rules_answer() {
    for file in ["canary-deployment.yaml", "canary-session-job.yaml"] {
        let canary = resource_fixture(file);
        for (operation, old) in [("CREATE", None), ("UPDATE", Some(&canary))] {
            for path in ["/validate", "/mutate"] {
                let r = admit(path, support::review("c-1", operation, &canary, old)).await;
                assert_eq!(r["allowed"], true, "{file} {operation} {path}: {r}");
                assert!(r.get("patch").is_none(), "{file} {operation} {path}: {r}");
            }
        }
        let mut plain = canary.clone();
        plain["metadata"]["labels"] = json!({"team": "x"});
        let r = admit("/validate", support::review("c-2", "CREATE", &plain, None)).await;
        assert_eq!(r["allowed"], false, "{file}: {r}");
        let message = r["status"]["message"].as_str().unwrap();
        assert!(!message.contains("cannot be read"), "{file}: {message}");
        assert!(message.contains("spec."), "{file}: {message}");
    }
}

/// Every document of a fixture file (the reference's snapshot examples hold one or two).
fn resource_fixtures(name: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/resources")
        .join(name);
    serde_saphyr::from_multiple(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The reference operator's examples/snapshot/*.yaml.
const SNAPSHOT_EXAMPLES: [&str; 5] = [
    "snapshot/checkpoint.yaml",
    "snapshot/job-from-savepoint.yaml",
    "snapshot/savepoint-already-exists.yaml",
    "snapshot/savepoint-job-defaults.yaml",
    "snapshot/savepoint-job-full-spec.yaml",
];

/// A synced reflector store holding `deployments`, as the webhook's FlinkDeployment watch fills
/// it: it lists every namespace, so a snapshot target missing from it is absent.
fn synced_store(deployments: Vec<FlinkDeployment>) -> Arc<dyn SessionLookup> {
    use kube::runtime::watcher::Event;
    let (reader, mut writer) = kube::runtime::reflector::store();
    writer.apply_watcher_event(&Event::Init);
    for d in deployments {
        writer.apply_watcher_event(&Event::InitApply(d));
    }
    writer.apply_watcher_event(&Event::InitDone);
    Arc::new(reader)
}

/// The FlinkDeployment the examples' snapshots name (`default/example-deployment`), at `version`.
fn example_deployment(version: &str) -> FlinkDeployment {
    let mut dep = resource_fixtures("snapshot/job-from-savepoint.yaml")
        .into_iter()
        .find(|d| d["kind"] == "FlinkDeployment")
        .unwrap();
    dep["metadata"]["namespace"] = json!("default");
    dep["spec"]["flinkVersion"] = json!(version);
    serde_json::from_value(dep).unwrap()
}

/// The reference's snapshot examples are admitted as written, created and updated, on both
/// endpoints, never patched: without lookups and with a store holding their target.
#[tokio::test]
async fn the_references_snapshot_examples_are_admitted() {
    let lookups: [Arc<dyn SessionLookup>; 2] = [
        Arc::new(NoSessions),
        synced_store(vec![example_deployment("v2_2")]),
    ];
    let mut snapshots = 0;
    for file in SNAPSHOT_EXAMPLES {
        for mut object in resource_fixtures(file) {
            if object["kind"] != "FlinkStateSnapshot" {
                continue;
            }
            snapshots += 1;
            // kubectl fills the namespace from its context.
            object["metadata"]["namespace"] = json!("default");
            for sessions in &lookups {
                for (operation, old) in [("CREATE", None), ("UPDATE", Some(&object))] {
                    for path in ["/validate", "/mutate"] {
                        let body = support::review("e-1", operation, &object, old);
                        let r = admit_with(state(sessions.clone()), path, body).await;
                        assert_eq!(r["allowed"], true, "{file} {operation} {path}: {r}");
                        assert!(
                            r.get("patch").is_none() && r.get("warnings").is_none(),
                            "{file} {operation} {path}: {r}"
                        );
                    }
                }
            }
        }
    }
    assert_eq!(snapshots, 5);
}

/// Each snapshot rule denies with its exact message (the reference's words where it has the
/// rule); the target rules only where the webhook's store lists the namespace.
#[tokio::test]
async fn each_snapshot_rule_denies_with_its_message() {
    let snapshot = |spec: Value| {
        json!({
            "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkStateSnapshot",
            "metadata": {"name": "snap", "namespace": "default"},
            "spec": spec
        })
    };
    let to = |name: &str| json!({"kind": "FlinkDeployment", "name": name});
    let set_reference = "Set spec.jobReference.kind (FlinkDeployment or FlinkSessionJob) and \
         spec.jobReference.name to the resource in this namespace whose job to snapshot";
    let no_lookup: Arc<dyn SessionLookup> = Arc::new(NoSessions);
    let flink_1_16 = synced_store(vec![example_deployment("v1_16")]);
    let cases: Vec<(Value, &Arc<dyn SessionLookup>, String)> = vec![
        (
            json!({"jobReference": to("example-deployment")}),
            &no_lookup,
            "spec: Exactly one of checkpoint or savepoint configurations has to be set.".into(),
        ),
        (
            json!({"jobReference": to("example-deployment"), "savepoint": {}, "checkpoint": {}}),
            &no_lookup,
            "spec: Exactly one of checkpoint or savepoint configurations has to be set.".into(),
        ),
        (
            json!({"savepoint": {}}),
            &no_lookup,
            format!("spec.jobReference: Job reference must be supplied for this snapshot. {set_reference}"),
        ),
        (
            json!({"jobReference": {"name": "example-deployment"}, "checkpoint": {}}),
            &no_lookup,
            format!("spec.jobReference.kind: Job reference must be supplied for this snapshot. {set_reference}"),
        ),
        (
            json!({"jobReference": {"kind": "FlinkSessionJob"}, "savepoint": {}}),
            &no_lookup,
            format!("spec.jobReference.name: Job reference must be supplied for this snapshot. {set_reference}"),
        ),
        (
            json!({"savepoint": {"alreadyExists": true, "disposeOnDelete": false}}),
            &no_lookup,
            "spec.savepoint.path: spec.savepoint.path is required when spec.savepoint.alreadyExists is true. \
             Set it to the path of the existing savepoint, or set spec.savepoint.alreadyExists to false to \
             take a new savepoint"
                .into(),
        ),
        (
            json!({"jobReference": {"kind": "Deployment", "name": "example-deployment"}, "savepoint": {}}),
            &no_lookup,
            "spec.jobReference.kind: does not match the FlinkStateSnapshot CRD schema: \"Deployment\" is not \
             one of FlinkDeployment, FlinkSessionJob. Fix the field name or value (kubectl explain shows the \
             expected fields and types)"
                .into(),
        ),
        (
            json!({"jobReference": to("nowhere"), "savepoint": {}}),
            &flink_1_16,
            "spec.jobReference.name: Target for snapshot default/nowhere was not found. Create FlinkDeployment \
             nowhere first, or point spec.jobReference at an existing one"
                .into(),
        ),
        (
            json!({"jobReference": to("example-deployment"), "checkpoint": {}}),
            &flink_1_16,
            "spec.checkpoint: a checkpoint is triggered through Flink's REST API, which Flink offers from 1.17 \
             on, and FlinkDeployment example-deployment runs flinkVersion v1_16. Take a savepoint instead \
             (spec.savepoint), or upgrade the job to flinkVersion v1_17 or newer"
                .into(),
        ),
    ];
    for (spec, sessions, message) in cases {
        let body = support::review("d-1", "CREATE", &snapshot(spec.clone()), None);
        let r = admit_with(state(sessions.clone()), "/validate", body).await;
        assert_eq!(
            (
                r["uid"].as_str(),
                r["allowed"].as_bool(),
                r["status"]["code"].as_i64()
            ),
            (Some("d-1"), Some(false), Some(403)),
            "{spec}: {r}"
        );
        assert_eq!(r["status"]["message"], message.as_str(), "{spec}");
    }
    // Without a store that lists the namespace the target rules are left to the reconciler.
    for spec in [
        json!({"jobReference": to("nowhere"), "savepoint": {}}),
        json!({"jobReference": to("example-deployment"), "checkpoint": {}}),
    ] {
        let body = support::review("d-2", "CREATE", &snapshot(spec.clone()), None);
        let r = admit("/validate", body).await;
        assert_eq!(r["allowed"], true, "{spec}: {r}");
    }
}

/// A snapshot the operator has processed may outlive its target: its UPDATEs (a label, the
/// operator's finalizer) are admitted, as the reference admits them; a pending one is not.
#[tokio::test]
async fn a_processed_snapshot_of_a_deleted_target_can_still_be_updated() {
    let mut snap = json!({
        "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkStateSnapshot",
        "metadata": {"name": "snap", "namespace": "default"},
        "spec": {"jobReference": {"kind": "FlinkDeployment", "name": "gone"}, "savepoint": {}},
        "status": {"state": "COMPLETED", "path": "s3://b/sp-1"}
    });
    let empty = synced_store(vec![]);
    let mut labelled = snap.clone();
    labelled["metadata"]["labels"] = json!({"team": "a"});
    let mut moved = snap.clone();
    moved["spec"]["backoffLimit"] = json!(3);
    for new in [&labelled, &moved] {
        let body = support::review("p-1", "UPDATE", new, Some(&snap));
        let r = admit_with(state(empty.clone()), "/validate", body).await;
        assert_eq!(r["allowed"], true, "{r}");
        assert!(r.get("warnings").is_none(), "{r}");
    }
    snap["status"] = json!({"state": "TRIGGER_PENDING"});
    moved["status"] = snap["status"].clone();
    let body = support::review("p-2", "UPDATE", &moved, Some(&snap));
    let r = admit_with(state(empty), "/validate", body).await;
    assert_eq!(r["allowed"], false, "{r}");
}

/// A canary snapshot is admitted unchecked, as the other kinds' canaries are.
#[tokio::test]
async fn a_snapshot_canary_is_admitted_unchecked() {
    let canary = json!({
        "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkStateSnapshot",
        "metadata": {"name": "canary", "namespace": "default", "labels": {"flink.apache.org/canary": "true"}},
        "spec": {}
    });
    let r = admit("/validate", support::review("c-3", "CREATE", &canary, None)).await;
    assert_eq!(r["allowed"], true, "{r}");
    let mut plain = canary.clone();
    plain["metadata"]["labels"] = json!({"team": "x"});
    let r = admit("/validate", support::review("c-4", "CREATE", &plain, None)).await;
    assert_eq!(
        r["status"]["message"], "spec: Exactly one of checkpoint or savepoint configurations has to be set.",
        "{r}"
    );
}
