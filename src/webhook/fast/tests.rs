//! The fast reading answers exactly as the reference reading: same bytes for every body.

use super::*;
use crate::validation::ResolvedHosts;
use crate::webhook::{KnownSessions, NoSessions, SessionLookup, encode_review};
use proptest::prelude::*;
use serde_json::json;

const UPDATE: &str = include_str!("../../../tests/fixtures/admission/flinkdeployment-update.json");

fn with_ctx<R>(sessions: &dyn SessionLookup, f: impl FnOnce(&ReviewContext<'_>) -> R) -> R {
    let operator = OperatorConfig::default();
    let resolver = ResolvedHosts::default();
    f(&ReviewContext {
        operator: &operator,
        sessions,
        resolver: &resolver,
    })
}

type Answer = Result<Vec<u8>, BadReview>;

fn reference(endpoint: Endpoint, body: &[u8], ctx: &ReviewContext<'_>) -> Answer {
    let req = parse_review(body)?;
    Ok(encode_review(review(endpoint, &req, ctx)).expect("encodes"))
}

fn fast(endpoint: Endpoint, body: &[u8], ctx: &ReviewContext<'_>) -> Answer {
    let resp = Incoming::read(body)?.answer(endpoint, ctx)?;
    Ok(encode_review(resp).expect("encodes"))
}

/// Both readings, both endpoints; returns the /validate answer.
fn same_answers_with(sessions: &dyn SessionLookup, body: &[u8]) -> Answer {
    with_ctx(sessions, |ctx| {
        for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
            let (f, r) = (fast(endpoint, body, ctx), reference(endpoint, body, ctx));
            assert_eq!(
                f.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
                r.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
                "{endpoint:?} of {}",
                String::from_utf8_lossy(body)
            );
        }
        reference(Endpoint::Validate, body, ctx)
    })
}

fn same_answers(body: &[u8]) -> Answer {
    same_answers_with(&NoSessions, body)
}

fn update() -> Value {
    serde_json::from_str(UPDATE).expect("fixture")
}

fn edited(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut review = update();
    edit(&mut review);
    serde_json::to_vec(&review).expect("json")
}

fn allowed(answer: &Answer) -> bool {
    let body = answer.as_ref().expect("an answer");
    serde_json::from_slice::<Value>(body).expect("json")["response"]["allowed"] == json!(true)
}

#[test]
fn realistic_update_is_answered_fast_and_identically() {
    let body = UPDATE.as_bytes();
    let incoming = Incoming::read(body).expect("readable");
    assert!(matches!(incoming.reading, Reading::Fast(_)));
    with_ctx(&NoSessions, |ctx| {
        let Reading::Fast(e) = incoming.reading else {
            unreachable!()
        };
        assert!(
            fast_answer(Endpoint::Validate, e, ctx).is_some(),
            "not handed over"
        );
    });
    assert!(allowed(&same_answers(body)));
}

#[test]
fn edited_reviews_get_the_reference_answer() {
    let o = "/request/object";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "invalid config",
            edited(|r| {
                r.pointer_mut("/request/object/spec/flinkConfiguration")
                    .and_then(Value::as_object_mut)
                    .map(|m| m.remove("execution.checkpointing.savepoint-dir"));
            }),
        ),
        (
            "no status on the new object",
            edited(|r| {
                r.pointer_mut(o)
                    .and_then(Value::as_object_mut)
                    .map(|m| m.remove("status"));
            }),
        ),
        (
            "different recorded spec",
            edited(|r| {
                r["request"]["oldObject"]["status"]["reconciliationStatus"]["lastReconciledSpec"] =
                    json!("{\"spec\":{}}");
            }),
        ),
        (
            "unreadable recorded spec",
            edited(|r| {
                r["request"]["object"]["status"]["reconciliationStatus"]["lastReconciledSpec"] =
                    json!("{oops");
                r["request"]["oldObject"]["status"]["reconciliationStatus"]["lastReconciledSpec"] =
                    json!("{oops");
            }),
        ),
        (
            "same spec as stored",
            edited(|r| r["request"]["object"]["spec"] = r["request"]["oldObject"]["spec"].clone()),
        ),
        (
            "no namespace in the object",
            edited(|r| {
                r.pointer_mut("/request/object/metadata")
                    .and_then(Value::as_object_mut)
                    .map(|m| m.remove("namespace"));
            }),
        ),
        (
            "create",
            edited(|r| {
                r["request"]["operation"] = json!("CREATE");
                r["request"]["oldObject"] = Value::Null;
            }),
        ),
        (
            "delete",
            edited(|r| {
                r["request"]["operation"] = json!("DELETE");
                r["request"]["object"] = Value::Null;
            }),
        ),
        (
            "status subresource",
            edited(|r| r["request"]["subResource"] = json!("status")),
        ),
        (
            "other kind",
            edited(|r| r["request"]["kind"]["kind"] = json!("FlinkBlueGreenDeployment")),
        ),
        (
            "other group",
            edited(|r| r["request"]["kind"]["group"] = json!("apps")),
        ),
        (
            "canary",
            edited(|r| {
                r["request"]["object"]["metadata"]["labels"]["flink.apache.org/canary"] = json!("true")
            }),
        ),
        (
            "canary that does not type",
            edited(|r| {
                r["request"]["object"]["metadata"]["labels"]["flink.apache.org/canary"] = json!("true");
                r["request"]["object"]["spec"]["job"]["parallelism"] = json!("twelve");
            }),
        ),
        (
            "object does not type",
            edited(|r| r["request"]["object"]["spec"]["job"]["parallelism"] = json!("twelve")),
        ),
        (
            "stored object does not type",
            edited(|r| r["request"]["oldObject"]["spec"]["job"]["parallelism"] = json!("twelve")),
        ),
        (
            // Once a reconciliation is recorded, the decision reads only the stored spec's job.
            "stored spec does not type outside its job",
            edited(|r| r["request"]["oldObject"]["spec"]["jobManager"]["replicas"] = json!("two")),
        ),
        (
            "stored spec does not type, nothing recorded",
            edited(|r| {
                for object in ["object", "oldObject"] {
                    r["request"][object]["status"]
                        .as_object_mut()
                        .map(|m| m.remove("reconciliationStatus"));
                }
                r["request"]["oldObject"]["spec"]["jobManager"]["replicas"] = json!("two");
            }),
        ),
        (
            "stored status does not type",
            edited(|r| r["request"]["oldObject"]["status"]["reconciliationStatus"] = json!(5)),
        ),
        (
            "stored status null",
            edited(|r| r["request"]["oldObject"]["status"] = Value::Null),
        ),
        (
            "schema error",
            edited(|r| {
                r["request"]["object"]["spec"]["podTemplate"]["spec"]["containers"][0]["volumeMount"] =
                    json!([])
            }),
        ),
        (
            "no metadata",
            edited(|r| {
                r.pointer_mut(o)
                    .and_then(Value::as_object_mut)
                    .map(|m| m.remove("metadata"));
            }),
        ),
        (
            "metadata null",
            edited(|r| r["request"]["object"]["metadata"] = Value::Null),
        ),
        (
            "metadata is a list",
            edited(|r| r["request"]["object"]["metadata"] = json!([])),
        ),
        (
            "metadata typo",
            edited(|r| r["request"]["object"]["metadata"]["generation"] = json!("x")),
        ),
        (
            "stored metadata typo",
            edited(|r| r["request"]["oldObject"]["metadata"]["labels"] = json!(5)),
        ),
        (
            "stored managedFields that do not type",
            edited(|r| r["request"]["oldObject"]["metadata"]["managedFields"] = json!([{"time": "now"}])),
        ),
        (
            "unknown metadata field",
            edited(|r| r["request"]["object"]["metadata"]["colour"] = json!("red")),
        ),
        (
            "apiVersion a number",
            edited(|r| r["request"]["object"]["apiVersion"] = json!(5)),
        ),
        (
            "no kind in the object",
            edited(|r| {
                r.pointer_mut(o)
                    .and_then(Value::as_object_mut)
                    .map(|m| m.remove("kind"));
            }),
        ),
        (
            "object is a list",
            edited(|r| r["request"]["object"] = json!([{}, {}])),
        ),
        (
            "stored object is a list",
            edited(|r| r["request"]["oldObject"] = json!([{}, {}])),
        ),
        (
            "object is a string",
            edited(|r| r["request"]["object"] = json!("x")),
        ),
        (
            "no userInfo",
            edited(|r| {
                r["request"].as_object_mut().map(|m| m.remove("userInfo"));
            }),
        ),
        ("name null", edited(|r| r["request"]["name"] = Value::Null)),
        ("dryRun", edited(|r| r["request"]["dryRun"] = json!(true))),
        (
            "response present",
            edited(|r| r["response"] = json!({"uid": "x", "allowed": true})),
        ),
        ("response unreadable", edited(|r| r["response"] = json!(5))),
        ("request is a list", edited(|r| r["request"] = json!(["u"]))),
        ("request null", edited(|r| r["request"] = Value::Null)),
        (
            "review is a list",
            br#"["admission.k8s.io/v1","AdmissionReview",null]"#.to_vec(),
        ),
        ("not JSON", b"{nope".to_vec()),
        ("trailing bytes", [UPDATE.as_bytes(), b" x"].concat()),
        (
            "duplicate metadata",
            UPDATE
                .replacen("\"metadata\": {", "\"metadata\": {}, \"metadata\": {", 1)
                .into_bytes(),
        ),
        (
            "duplicate spec",
            UPDATE
                .replacen("\"spec\": {", "\"spec\": {}, \"spec\": {", 1)
                .into_bytes(),
        ),
    ];
    // The requests the fast reading must answer itself (the rest it may hand over). A denied
    // UPDATE ("invalid config", "schema error", "object does not type") is handed over: the
    // reference reading admits it when it leaves an invalid stored spec unchanged.
    let fast_ones = [
        "no status on the new object",
        "different recorded spec",
        "unreadable recorded spec",
        "same spec as stored",
        "no namespace in the object",
        "create",
        "canary",
        // Canaries pass before the spec is typed, and the schema rejects this spec first.
        "canary that does not type",
        "stored status null",
        "stored spec does not type outside its job",
        "unknown metadata field",
        "apiVersion a number",
        "no kind in the object",
        "dryRun",
    ];
    let mut wrong = Vec::new();
    for (name, body) in cases {
        let _ = same_answers(&body);
        let answered_fast = match Incoming::read(&body).map(|i| i.reading) {
            Ok(Reading::Fast(e)) => with_ctx(&NoSessions, |ctx| {
                fast_answer(Endpoint::Validate, e, ctx).is_some()
            }),
            _ => false,
        };
        if answered_fast != fast_ones.contains(&name) {
            wrong.push((name, answered_fast));
        }
    }
    assert!(wrong.is_empty(), "(case, answered fast): {wrong:?}");
}

/// The change line reads only the job of a stored spec once its status records a
/// reconciliation; before that the whole stored spec is what runs, and one that cannot be read
/// gives no line.
#[test]
fn a_stored_spec_is_read_for_its_job_once_a_reconciliation_is_recorded() {
    let warnings = |body: &[u8]| -> Vec<String> {
        let answer = same_answers(body).expect("answer");
        let review: Value = serde_json::from_slice(&answer).expect("json");
        serde_json::from_value(review["response"]["warnings"].clone()).unwrap_or_default()
    };
    let is_change_line = |w: &String| w.starts_with("savepoint upgrade");
    let realistic = warnings(UPDATE.as_bytes());
    assert!(realistic.iter().any(is_change_line), "{realistic:?}");
    let odd_replicas =
        |r: &mut Value| r["request"]["oldObject"]["spec"]["jobManager"]["replicas"] = json!("two");
    assert_eq!(warnings(&edited(odd_replicas)), realistic);

    let unrecorded = |r: &mut Value| {
        for object in ["object", "oldObject"] {
            r["request"][object]["status"]
                .as_object_mut()
                .map(|m| m.remove("reconciliationStatus"));
        }
    };
    let readable = warnings(&edited(unrecorded));
    assert!(readable.iter().any(is_change_line), "{readable:?}");
    let unreadable = warnings(&edited(|r| {
        unrecorded(r);
        odd_replicas(r);
    }));
    assert!(!unreadable.iter().any(is_change_line), "{unreadable:?}");
}

#[test]
fn session_jobs_get_the_reference_answer() {
    let job = json!({
        "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkSessionJob",
        "metadata": {"name": "wc", "namespace": "streaming"},
        "spec": {"deploymentName": "orders", "job": {"jarURI": "https://8.8.8.8/wc.jar", "parallelism": 2}}
    });
    let review = |op: &str, object: &Value, old: Option<&Value>| {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "s-1",
                "kind": {"group": "flink.apache.org", "version": "v1beta1", "kind": "FlinkSessionJob"},
                "resource": {"group": "flink.apache.org", "version": "v1beta1", "resource": "flinksessionjobs"},
                "namespace": "streaming", "operation": op, "userInfo": {"username": "alice"},
                "object": object, "oldObject": old
            }
        }))
        .expect("json")
    };
    let app: FlinkDeployment = serde_json::from_value(update()["request"]["object"].clone()).expect("typed");
    let sessions = KnownSessions::new([app]);
    let mut moved = job.clone();
    moved["spec"]["job"]["parallelism"] = json!(4);
    for body in [
        review("CREATE", &job, None),
        review("UPDATE", &moved, Some(&job)),
        review(
            "CREATE",
            &json!({"metadata": {}, "spec": {"job": {"jarURI": "file:///x.jar"}}}),
            None,
        ),
    ] {
        let _ = same_answers(&body);
        let _ = same_answers_with(&sessions, &body);
    }
    // /mutate answers a session job that already has its label without the reference reading;
    // a missing, stale or unreadable label goes to the reference reading, which patches it.
    let mut labelled = job.clone();
    labelled["metadata"]["labels"] = json!({"target.session": "orders", "team": "a"});
    let mut stale = labelled.clone();
    stale["metadata"]["labels"]["target.session"] = json!("old");
    let mut odd_name = labelled.clone();
    odd_name["spec"]["deploymentName"] = json!(7);
    for (object, fast_expected) in [
        (&labelled, true),
        (&job, false),
        (&stale, false),
        (&odd_name, false),
    ] {
        let body = review("UPDATE", object, Some(&job));
        let _ = same_answers(&body);
        let answered_fast = match Incoming::read(&body).map(|i| i.reading) {
            Ok(Reading::Fast(e)) => {
                with_ctx(&NoSessions, |ctx| fast_answer(Endpoint::Mutate, e, ctx).is_some())
            }
            _ => false,
        };
        assert_eq!(answered_fast, fast_expected, "{object}");
    }
    // A recorded session job: the change line reads only the stored spec's job, so a stored
    // spec that does not type outside it gets the same line.
    let mut recorded = job.clone();
    let spec: crate::api::FlinkSessionJobSpec = serde_json::from_value(job["spec"].clone()).expect("spec");
    recorded["status"] = json!({"reconciliationStatus": {
        "lastReconciledSpec": crate::api::ReconciledSpec::new(spec, false).encode(),
        "state": "DEPLOYED",
    }});
    let mut odd = recorded.clone();
    odd["spec"]["restartNonce"] = json!("soon");
    let warnings = |old: &Value| {
        let mut moved = moved.clone();
        moved["status"] = old["status"].clone();
        let answer = same_answers(&review("UPDATE", &moved, Some(old))).expect("answer");
        let review: Value = serde_json::from_slice(&answer).expect("json");
        review["response"]["warnings"].clone()
    };
    let line = warnings(&recorded);
    let has_change_line = |w: &Value| {
        w.as_array().is_some_and(|w| {
            w.iter()
                .any(|l| l.as_str().is_some_and(|l| l.starts_with("stateless upgrade")))
        })
    };
    assert!(has_change_line(&line), "{line}");
    assert_eq!(warnings(&odd), line);

    let body = review("CREATE", &job, None);
    let incoming = Incoming::read(&body).expect("readable");
    with_ctx(&NoSessions, |ctx| {
        assert_eq!(
            incoming.host_to_lookup(ctx.operator),
            None,
            "an IP needs no lookup"
        )
    });
}

/// A synced reflector store, as the webhook's FlinkDeployment watch fills it: it lists every
/// namespace, so a snapshot target missing from it is absent.
fn synced_store(deployments: Vec<FlinkDeployment>) -> kube::runtime::reflector::Store<FlinkDeployment> {
    use kube::runtime::watcher::Event;
    let (reader, mut writer) = kube::runtime::reflector::store();
    writer.apply_watcher_event(&Event::Init);
    for d in deployments {
        writer.apply_watcher_event(&Event::InitApply(d));
    }
    writer.apply_watcher_event(&Event::InitDone);
    reader
}

fn snapshot_review(op: &str, object: &Value, old: Option<&Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "snap-1",
            "kind": {"group": "flink.apache.org", "version": "v1beta1", "kind": "FlinkStateSnapshot"},
            "resource": {"group": "flink.apache.org", "version": "v1beta1", "resource": "flinkstatesnapshots"},
            "namespace": "streaming", "operation": op, "userInfo": {"username": "alice"},
            "object": object, "oldObject": old
        }
    }))
    .expect("json")
}

fn snapshot(spec: Value) -> Value {
    json!({
        "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkStateSnapshot",
        "metadata": {"name": "snap", "namespace": "streaming"},
        "spec": spec
    })
}

/// The fixture's FlinkDeployment `orders` (namespace `streaming`) at `version`.
fn orders_at(version: &str) -> FlinkDeployment {
    let mut dep = update()["request"]["object"].clone();
    dep["spec"]["flinkVersion"] = json!(version);
    serde_json::from_value(dep).expect("typed")
}

/// Every snapshot rule, with and without a lookup that lists the namespace, on CREATE and
/// UPDATE: both readings give the same bytes, the fast one answers itself (but for an UPDATE it
/// denies, which the reference reading may admit when it leaves the stored spec alone), and the
/// verdict is the expected one.
#[test]
fn state_snapshots_get_the_reference_answer() {
    let to_orders = json!({"kind": "FlinkDeployment", "name": "orders"});
    let to_missing = json!({"kind": "FlinkDeployment", "name": "gone"});
    let old_flink = synced_store(vec![orders_at("v1_16")]);
    let new_flink = synced_store(vec![orders_at("v1_20")]);
    let offline = KnownSessions::new([orders_at("v1_16")]);
    let lookups: [(&str, &dyn SessionLookup); 4] = [
        ("none", &NoSessions),
        ("store 1.16", &old_flink),
        ("store 1.20", &new_flink),
        ("inputs 1.16", &offline),
    ];
    // (case, spec, status, allowed with each lookup above)
    let cases = [
        (
            "savepoint",
            json!({"jobReference": to_orders, "savepoint": {}}),
            None,
            [true; 4],
        ),
        (
            "existing savepoint",
            json!({"savepoint": {"alreadyExists": true, "path": "s3://b/sp-1"}}),
            None,
            [true; 4],
        ),
        (
            "existing savepoint without a path",
            json!({"savepoint": {"alreadyExists": true}}),
            None,
            [false; 4],
        ),
        ("neither", json!({"jobReference": to_orders}), None, [false; 4]),
        (
            "both",
            json!({"jobReference": to_orders, "savepoint": {}, "checkpoint": {}}),
            None,
            [false; 4],
        ),
        ("no job reference", json!({"savepoint": {}}), None, [false; 4]),
        (
            "no name",
            json!({"jobReference": {"kind": "FlinkDeployment"}, "savepoint": {}}),
            None,
            [false; 4],
        ),
        (
            "unknown kind",
            json!({"jobReference": {"kind": "Deployment", "name": "orders"}, "savepoint": {}}),
            None,
            [false; 4],
        ),
        (
            "missing target",
            json!({"jobReference": to_missing, "savepoint": {}}),
            None,
            [true, false, false, true],
        ),
        (
            "missing target, completed",
            json!({"jobReference": to_missing, "savepoint": {}}),
            Some(json!({"state": "COMPLETED", "path": "s3://b/sp-2"})),
            [true; 4],
        ),
        (
            "missing target, pending",
            json!({"jobReference": to_missing, "savepoint": {}}),
            Some(json!({"state": "TRIGGER_PENDING"})),
            [true, false, false, true],
        ),
        (
            "checkpoint",
            json!({"jobReference": to_orders, "checkpoint": {}}),
            None,
            [true, false, true, false],
        ),
        (
            "checkpoint of a session job",
            json!({"jobReference": {"kind": "FlinkSessionJob", "name": "orders"}, "checkpoint": {}}),
            None,
            [true; 4],
        ),
        (
            "null checkpoint",
            json!({"jobReference": to_orders, "savepoint": {}, "checkpoint": null}),
            None,
            [true; 4],
        ),
        ("spec null", Value::Null, None, [false; 4]),
        (
            "backoffLimit a string",
            json!({"jobReference": to_orders, "savepoint": {}, "backoffLimit": "x"}),
            None,
            [false; 4],
        ),
    ];
    let mut wrong = Vec::new();
    for (case, spec, status, expected) in cases {
        let mut object = snapshot(spec);
        if let Some(status) = &status {
            object["status"] = status.clone();
        }
        // A label change leaves the spec alone; a spec change is checked as on CREATE.
        let mut relabelled = object.clone();
        relabelled["metadata"]["labels"] = json!({"team": "a"});
        let mut changed = snapshot(json!({"savepoint": {"alreadyExists": true, "path": "s3://b/old"}}));
        if let Some(status) = &status {
            changed["status"] = status.clone();
        }
        let bodies = [
            ("CREATE", snapshot_review("CREATE", &object, None)),
            (
                "UPDATE of a label",
                snapshot_review("UPDATE", &relabelled, Some(&object)),
            ),
            (
                "UPDATE of the spec",
                snapshot_review("UPDATE", &object, Some(&changed)),
            ),
        ];
        for ((lookup, sessions), rules_admit) in lookups.iter().zip(expected) {
            for (operation, body) in &bodies {
                let answer = same_answers_with(*sessions, body);
                let verdict = allowed(&answer);
                // Leaving an invalid stored spec alone is admitted (with a warning).
                let admitted = rules_admit || *operation == "UPDATE of a label";
                if verdict != admitted {
                    wrong.push(format!("{case} / {lookup} / {operation}: allowed {verdict}"));
                }
                let answered_fast = match Incoming::read(body).map(|i| i.reading) {
                    Ok(Reading::Fast(e)) => {
                        with_ctx(*sessions, |ctx| fast_answer(Endpoint::Validate, e, ctx).is_some())
                    }
                    _ => false,
                };
                // A denied UPDATE is handed over: the reference reading admits it when it leaves
                // an invalid stored spec unchanged.
                if answered_fast != (*operation == "CREATE" || rules_admit) {
                    wrong.push(format!(
                        "{case} / {lookup} / {operation}: answered fast {answered_fast}"
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z0-9./:-]{0,8}".prop_map(Value::String),
        prop::sample::select(vec![
            "v1_20",
            "last-state",
            "savepoint",
            "running",
            "suspended",
            "true",
            "FlinkDeployment",
            "orders",
            "TRIGGER_PENDING",
            "COMPLETED"
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop::sample::select(vec![
            "metadata",
            "name",
            "namespace",
            "labels",
            "spec",
            "job",
            "status",
            "upgradeMode",
            "state",
            "parallelism",
            "flinkVersion",
            "flinkConfiguration",
            "reconciliationStatus",
            "lastReconciledSpec",
            "podTemplate",
            "deploymentName",
            "target.session",
            "apiVersion",
            "kind",
            "jobReference",
            "savepoint",
            "checkpoint",
            "alreadyExists",
            "path",
            "backoffLimit",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_parts_of_a_real_review_get_the_reference_answer(
        part in prop::sample::select(vec![
            "/request/object", "/request/oldObject", "/request/object/spec", "/request/object/spec/job",
            "/request/object/metadata", "/request/object/status", "/request/oldObject/status",
            "/request/object/status/reconciliationStatus", "/request", "/request/userInfo",
            "/request/oldObject/metadata", "/request/oldObject/metadata/managedFields",
            "/request/oldObject/spec", "/request/oldObject/spec/job", "/request/oldObject/spec/jobManager",
            "/request/oldObject/metadata/annotations", "/request/object/metadata/managedFields",
        ]),
        value in arbitrary_json(),
    ) {
        let mut review = update();
        if let Some(slot) = review.pointer_mut(part) {
            *slot = value;
        }
        let _ = same_answers(&serde_json::to_vec(&review).expect("json"));
    }

    #[test]
    fn arbitrary_session_jobs_get_the_reference_answer(
        part in prop::sample::select(vec![
            "/request/object/metadata", "/request/object/metadata/labels", "/request/object/spec",
            "/request/object/spec/deploymentName", "/request/object",
        ]),
        value in arbitrary_json(),
    ) {
        let mut review = json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "s-2",
                "kind": {"group": "flink.apache.org", "version": "v1beta1", "kind": "FlinkSessionJob"},
                "resource": {"group": "flink.apache.org", "version": "v1beta1", "resource": "flinksessionjobs"},
                "namespace": "streaming", "operation": "UPDATE", "userInfo": {"username": "alice"},
                "object": {
                    "metadata": {"name": "wc", "labels": {"target.session": "orders"}},
                    "spec": {"deploymentName": "orders", "job": {"jarURI": "https://8.8.8.8/wc.jar"}}
                }
            }
        });
        if let Some(slot) = review.pointer_mut(part) {
            *slot = value;
        }
        let _ = same_answers(&serde_json::to_vec(&review).expect("json"));
    }

    #[test]
    fn arbitrary_state_snapshots_get_the_reference_answer(
        part in prop::sample::select(vec![
            "/metadata", "/metadata/labels", "/spec", "/spec/jobReference", "/spec/jobReference/name",
            "/spec/savepoint", "/spec/checkpoint", "/status", "/status/state", "",
        ]),
        stored in any::<bool>(),
        value in arbitrary_json(),
    ) {
        let spec = json!({"jobReference": {"kind": "FlinkDeployment", "name": "orders"}, "checkpoint": {}});
        let mut object = snapshot(spec);
        if let Some(slot) = object.pointer_mut(part) {
            *slot = value;
        }
        let old = snapshot(json!({"savepoint": {"alreadyExists": true, "path": "s3://b/sp"}}));
        let body = snapshot_review(
            if stored { "UPDATE" } else { "CREATE" },
            &object,
            stored.then_some(&old),
        );
        let store = synced_store(vec![orders_at("v1_16")]);
        let _ = same_answers(&body);
        let _ = same_answers_with(&store, &body);
    }
}
