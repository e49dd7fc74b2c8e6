//! Rule tables for every validation rule family: each row is a spec change from a valid base and
//! the expected outcome (allowed, or denied at a location with words of the message).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "webhook_support/mod.rs"]
mod support;

use flink_lifecycle::api::{FlinkDeployment, FlinkSessionJob, ReconciledSpec};
use flink_lifecycle::config::OperatorConfig;
use flink_lifecycle::lifecycle::{PlanCommandError, PlanRequest, plan_change};
use flink_lifecycle::validation::{
    HostResolver, ResolvedHosts, deployment_warnings, session_job_warnings, validate_deployment,
    validate_session_job,
};
use flink_lifecycle::webhook::http::{LookupHost, WebhookDns, WebhookState, router};
use flink_lifecycle::webhook::{KnownSessions, NoSessions, SessionLookup};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use tower::ServiceExt;

/// The webhook's DNS answering from a row's table (no network), as the rules' resolver does.
struct TableDns(ResolvedHosts);

impl LookupHost for TableDns {
    fn lookup(&self, host: String) -> futures::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let answer = self
            .0
            .resolve(&host)
            .map_err(|e| std::io::Error::other(e.to_string()));
        Box::pin(async move { answer })
    }
}

/// The webhook's `/validate` answer for `object` (CREATE): `Err(message)` when denied.
fn webhook_answer(
    object: &Value,
    operator: &OperatorConfig,
    sessions: Arc<dyn SessionLookup>,
    dns: &ResolvedHosts,
) -> Result<(), String> {
    let state = WebhookState {
        operator: Arc::new(operator.clone()),
        sessions,
        metrics: flink_lifecycle::admin::WebhookMetrics::unregistered(),
        dns: WebhookDns {
            lookup: Arc::new(TableDns(dns.clone())),
            ..Default::default()
        },
        budget: Default::default(),
    };
    let body = support::review("row", "CREATE", object, None);
    // One runtime for every row of every table.
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    });
    let answer: Value = runtime.block_on(async {
        let req = axum::http::Request::post("/validate")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body))
            .unwrap();
        let resp = router(state).oneshot(req).await.unwrap();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    });
    let r = &answer["response"];
    if r["allowed"] == true {
        Ok(())
    } else {
        Err(r["status"]["message"].as_str().unwrap_or_default().to_string())
    }
}

/// Offline `validate`'s answer for `object`, with `others` (a session cluster) beside it.
fn offline_answer(
    object: &Value,
    others: &[Value],
    operator: &OperatorConfig,
    dns: &dyn HostResolver,
) -> Result<(), String> {
    let mut docs = Vec::new();
    for (i, v) in std::iter::once(object).chain(others).enumerate() {
        let text = serde_json::to_string(v).unwrap();
        docs.extend(flink_lifecycle::offline::parse_documents(&format!("row-{i}"), &text).unwrap());
    }
    let verdicts = flink_lifecycle::offline::admit_all(&docs, &[], operator, dns);
    verdicts[0].decision.clone()
}

/// `plan`'s answer for `object` as both the stored and the desired resource.
fn plan_answer(object: &Value, operator: &OperatorConfig) -> Result<(), String> {
    let text = serde_json::to_string(object).unwrap();
    match plan_change(&PlanRequest {
        stored: &text,
        desired: &text,
        observation: None,
        operator,
        now_ms: 1_800_000_000_000,
        new_job_id: "0123456789abcdef0123456789abcdef",
    }) {
        Ok(_) => Ok(()),
        Err(PlanCommandError::Refused(m)) => Err(m),
        Err(other) => Err(format!("not planned: {other}")),
    }
}

/// One decision everywhere: the webhook and offline `validate` give the rules' answer, word for
/// word; `plan` refuses exactly what they refuse, with the same message (for a session job,
/// `plan` knows neither the session cluster nor DNS, so it refuses a subset, each with the
/// webhook's message).
fn same_answer_everywhere(
    name: &str,
    object: &Value,
    rules: &Result<(), String>,
    others: &[Value],
    operator: &OperatorConfig,
    sessions: Arc<dyn SessionLookup>,
    dns: &ResolvedHosts,
) {
    let webhook = webhook_answer(object, operator, sessions, dns);
    assert_eq!(&webhook, rules, "{name}: the webhook disagrees with the rules");
    let offline = offline_answer(object, others, operator, dns);
    assert_eq!(
        &offline, rules,
        "{name}: offline validate disagrees with the rules"
    );
    let plan = plan_answer(object, operator);
    if object["kind"] == "FlinkDeployment" {
        assert_eq!(&plan, rules, "{name}: plan disagrees with the rules");
    } else if plan.is_err() {
        assert_eq!(&plan, rules, "{name}: plan refuses what admission admits");
    }
}

fn base_deployment() -> Value {
    json!({
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkDeployment",
        "metadata": {"name": "orders", "namespace": "streaming"},
        "spec": {
            "image": "flink:1.20",
            "flinkVersion": "v1_20",
            "serviceAccount": "flink",
            "flinkConfiguration": {
                "state.checkpoints.dir": "s3://b/cp",
                "state.savepoints.dir": "s3://b/sp",
                "high-availability.type": "kubernetes",
                "high-availability.storageDir": "s3://b/ha"
            },
            "jobManager": {"resources": {"requests": {"memory": "2Gi", "cpu": "1"}}},
            "taskManager": {"resources": {"requests": {"memory": "4Gi", "cpu": 2}}},
            "job": {"jarURI": "local:///opt/flink/usrlib/job.jar", "parallelism": 2, "upgradeMode": "savepoint"}
        }
    })
}

fn session_cluster() -> Value {
    let mut d = base_deployment();
    d["metadata"]["name"] = json!("session");
    d["spec"].as_object_mut().unwrap().remove("job");
    d
}

fn base_session_job() -> Value {
    json!({
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkSessionJob",
        "metadata": {"name": "wordcount", "namespace": "streaming"},
        "spec": {
            "deploymentName": "session",
            "job": {"jarURI": "https://repo.example.com/job.jar", "parallelism": 2, "upgradeMode": "stateless"}
        }
    })
}

/// Sets (or with `null`, removes) the value at a `/`-separated path, creating objects on the way.
fn set(v: &mut Value, path: &str, value: Value) {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut cur = v;
    for p in &parts[..parts.len() - 1] {
        if cur.get(*p).is_none() {
            cur[*p] = json!({});
        }
        cur = cur.get_mut(*p).unwrap();
    }
    let last = parts[parts.len() - 1];
    if value.is_null() {
        cur.as_object_mut().unwrap().remove(last);
    } else {
        cur[last] = value;
    }
}

fn with_status(v: &mut Value, last_spec: Value) {
    let text = ReconciledSpec::new(last_spec, false).encode();
    set(v, "/status/reconciliationStatus/lastReconciledSpec", json!(text));
}

type Edit = Box<dyn Fn(&mut Value)>;

fn edit(changes: &[(&str, Value)]) -> Edit {
    let changes: Vec<(String, Value)> = changes.iter().map(|(p, v)| (p.to_string(), v.clone())).collect();
    Box::new(move |v| {
        for (p, val) in &changes {
            set(v, p, val.clone());
        }
    })
}

/// `None` = allowed; `Some((location, words))` = denied at `location` with a message containing `words`.
type Expect = Option<(&'static str, &'static str)>;

fn check_deployments(rows: Vec<(&str, Edit, Expect)>, operator: &OperatorConfig) {
    for (name, change, expect) in rows {
        let mut v = base_deployment();
        change(&mut v);
        let dep: FlinkDeployment = serde_json::from_value(v.clone()).unwrap();
        let got = validate_deployment(&dep, operator);
        let rules = got.as_ref().map(|_| ()).map_err(|e| e.to_string());
        same_answer_everywhere(
            name,
            &v,
            &rules,
            &[],
            operator,
            Arc::new(NoSessions),
            &ResolvedHosts(HashMap::new()),
        );
        match (expect, got) {
            (None, Ok(())) => {}
            (None, Err(e)) => panic!("{name}: expected allowed, got denied: {e}"),
            (Some((loc, words)), Ok(())) => panic!("{name}: expected denied at {loc} ({words}), got allowed"),
            (Some((loc, words)), Err(e)) => {
                assert_eq!(e.location, loc, "{name}: {e}");
                assert!(e.to_string().contains(words), "{name}: '{words}' not in: {e}");
                assert!(!e.fix.is_empty(), "{name}: no fix in {e}");
            }
        }
    }
}

#[test]
fn name_and_version_rules() {
    let rows: Vec<(&str, Edit, Expect)> = vec![
        ("valid base", edit(&[]), None),
        (
            "upper case name",
            edit(&[("/metadata/name", json!("Orders"))]),
            Some(("metadata.name", "invalid")),
        ),
        (
            "46 chars",
            edit(&[("/metadata/name", json!("a".repeat(46)))]),
            Some(("metadata.name", "45")),
        ),
        (
            "45 chars",
            edit(&[("/metadata/name", json!("a".repeat(45)))]),
            None,
        ),
        (
            "no version",
            edit(&[("/spec/flinkVersion", Value::Null)]),
            Some(("spec.flinkVersion", "not set")),
        ),
        (
            "1.14",
            edit(&[("/spec/flinkVersion", json!("v1_14"))]),
            Some(("spec.flinkVersion", "not supported")),
        ),
        (
            "1.15 deprecated but allowed",
            edit(&[("/spec/flinkVersion", json!("v1_15"))]),
            None,
        ),
        ("2.x", edit(&[("/spec/flinkVersion", json!("v2_1"))]), None),
        (
            "version change after last-state suspend",
            Box::new(|v: &mut Value| {
                let mut old = v["spec"].clone();
                set(&mut old, "/job/state", json!("suspended"));
                set(&mut old, "/job/upgradeMode", json!("last-state"));
                with_status(v, old);
                set(v, "/spec/flinkVersion", json!("v2_0"));
            }),
            Some(("spec.flinkVersion", "suspended with last-state")),
        ),
        (
            "version change after last-state suspend, now stateless",
            Box::new(|v: &mut Value| {
                let mut old = v["spec"].clone();
                set(&mut old, "/job/state", json!("suspended"));
                set(&mut old, "/job/upgradeMode", json!("last-state"));
                with_status(v, old);
                set(v, "/spec/flinkVersion", json!("v2_0"));
                set(v, "/spec/job/upgradeMode", json!("stateless"));
            }),
            None,
        ),
        (
            "version change after savepoint suspend",
            Box::new(|v: &mut Value| {
                let mut old = v["spec"].clone();
                set(&mut old, "/job/state", json!("suspended"));
                with_status(v, old);
                set(v, "/spec/flinkVersion", json!("v2_0"));
            }),
            None,
        ),
    ];
    check_deployments(rows, &OperatorConfig::default());
}

#[test]
fn cluster_config_rules() {
    let rows: Vec<(&str, Edit, Expect)> = vec![
        (
            "forbidden key",
            edit(&[("/spec/flinkConfiguration/kubernetes.cluster-id", json!("x"))]),
            Some((
                "spec.flinkConfiguration[kubernetes.cluster-id]",
                "managed by the operator",
            )),
        ),
        (
            "forbidden nested key",
            edit(&[(
                "/spec/flinkConfiguration/high-availability.cluster-id",
                json!("x"),
            )]),
            Some((
                "spec.flinkConfiguration[high-availability.cluster-id]",
                "must not be set",
            )),
        ),
        (
            "rollback with HA",
            edit(&[(
                "/spec/flinkConfiguration/kubernetes.operator.deployment.rollback.enabled",
                json!("true"),
            )]),
            None,
        ),
        (
            "rollback without HA",
            edit(&[
                (
                    "/spec/flinkConfiguration/kubernetes.operator.deployment.rollback.enabled",
                    json!("true"),
                ),
                ("/spec/flinkConfiguration/high-availability.type", json!("NONE")),
            ]),
            // Accepted (the reference rejects it): without HA only never-started upgrades
            // roll back, which a warning explains.
            None,
        ),
        (
            "rollback with 1.x HA key",
            edit(&[
                (
                    "/spec/flinkConfiguration/kubernetes.operator.deployment.rollback.enabled",
                    json!("true"),
                ),
                ("/spec/flinkConfiguration/high-availability.type", Value::Null),
                ("/spec/flinkConfiguration/high-availability", json!("zookeeper")),
                (
                    "/spec/flinkConfiguration/high-availability.zookeeper.quorum",
                    json!("zk-0.zk:2181"),
                ),
            ]),
            None,
        ),
        (
            "ZooKeeper HA without a quorum",
            edit(&[(
                "/spec/flinkConfiguration/high-availability.type",
                json!("zookeeper"),
            )]),
            Some((
                "spec.flinkConfiguration[high-availability.zookeeper.quorum]",
                "needs high-availability.zookeeper.quorum",
            )),
        ),
        (
            "ZooKeeper HA with a quorum",
            edit(&[
                (
                    "/spec/flinkConfiguration/high-availability.type",
                    json!("ZooKeeper"),
                ),
                (
                    "/spec/flinkConfiguration/high-availability.zookeeper.quorum",
                    json!("zk-0.zk:2181,zk-1.zk:2181"),
                ),
            ]),
            None,
        ),
        (
            "health check without recovery",
            edit(&[
                (
                    "/spec/flinkConfiguration/kubernetes.operator.cluster.health-check.enabled",
                    json!("true"),
                ),
                (
                    "/spec/flinkConfiguration/kubernetes.operator.jm-deployment-recovery.enabled",
                    json!("false"),
                ),
            ]),
            Some((
                "spec.flinkConfiguration[kubernetes.operator.cluster.health-check.enabled]",
                "recovery",
            )),
        ),
        (
            "unparsable dynamic operator key",
            edit(&[(
                "/spec/flinkConfiguration/kubernetes.operator.job.restart.failed",
                json!("sometimes"),
            )]),
            Some((
                "spec.flinkConfiguration[kubernetes.operator.job.restart.failed]",
                "sometimes",
            )),
        ),
        (
            "periodic savepoints on a schedule that is neither a duration nor Quartz cron",
            edit(&[(
                "/spec/flinkConfiguration/kubernetes.operator.periodic.savepoint.interval",
                json!("every hour"),
            )]),
            Some((
                "spec.flinkConfiguration[kubernetes.operator.periodic.savepoint.interval]",
                "Quartz cron",
            )),
        ),
        (
            "a checkpoint on request before Flink 1.17",
            edit(&[
                ("/spec/flinkVersion", json!("v1_16")),
                ("/spec/job/checkpointTriggerNonce", json!(1)),
            ]),
            Some(("spec.job.checkpointTriggerNonce", "1.17")),
        ),
        (
            "a checkpoint on request on Flink 1.20",
            edit(&[("/spec/job/checkpointTriggerNonce", json!(1))]),
            None,
        ),
        (
            "periodic savepoints on a Quartz cron schedule",
            edit(&[(
                "/spec/flinkConfiguration/kubernetes.operator.periodic.savepoint.interval",
                json!("0 0 */6 * * ?"),
            )]),
            None,
        ),
        (
            "ingress without template",
            edit(&[("/spec/ingress", json!({"className": "nginx"}))]),
            Some(("spec.ingress.template", "without a template")),
        ),
        (
            "ingress ok",
            edit(&[(
                "/spec/ingress",
                json!({"template": "flink.example.com/{{namespace}}/{{name}}(/|$)(.*)"}),
            )]),
            None,
        ),
        (
            "ingress bad port",
            edit(&[(
                "/spec/ingress",
                json!({"template": "flink.example.com:http/{{name}}"}),
            )]),
            Some(("spec.ingress.template", "not a number")),
        ),
        (
            "log config ok",
            edit(&[("/spec/logConfiguration", json!({"log4j-console.properties": "x"}))]),
            None,
        ),
        (
            "log config bad key",
            edit(&[("/spec/logConfiguration", json!({"log4j.properties": "x"}))]),
            Some((
                "spec.logConfiguration[log4j.properties]",
                "log4j-console.properties",
            )),
        ),
        (
            "no service account",
            edit(&[("/spec/serviceAccount", Value::Null)]),
            Some(("spec.serviceAccount", "not set")),
        ),
        (
            "empty service account passes",
            edit(&[("/spec/serviceAccount", json!(""))]),
            None,
        ),
        (
            "service account the API server refuses in a pod",
            edit(&[("/spec/serviceAccount", json!("Flink_SA"))]),
            Some((
                "spec.serviceAccount",
                "'Flink_SA' is not a valid ServiceAccount name",
            )),
        ),
        (
            "dotted service account passes",
            edit(&[("/spec/serviceAccount", json!("flink.jobs"))]),
            None,
        ),
        (
            "image pull policy the API server refuses",
            edit(&[("/spec/imagePullPolicy", json!("ifNotPresent"))]),
            Some((
                "spec.imagePullPolicy",
                "'ifNotPresent' is not an image pull policy",
            )),
        ),
        (
            "pod-template container asking for more than its limit",
            edit(&[(
                "/spec/podTemplate",
                json!({"spec": {"containers": [{"name": "log-shipper", "resources": {"requests": {"memory": "512Mi"}, "limits": {"memory": "256Mi"}}}]}}),
            )]),
            Some((
                "spec.podTemplate.spec.containers[0].resources.requests.memory",
                "exceeds the limit",
            )),
        ),
        (
            "image pull policy passes",
            edit(&[("/spec/imagePullPolicy", json!("Never"))]),
            None,
        ),
    ];
    check_deployments(rows, &OperatorConfig::default());
}

#[test]
fn upgrade_mode_rules_with_both_key_generations() {
    let no_dirs = |v: &mut Value| {
        for k in ["state.checkpoints.dir", "state.savepoints.dir"] {
            v["spec"]["flinkConfiguration"].as_object_mut().unwrap().remove(k);
        }
    };
    let rows: Vec<(&str, Edit, Expect)> = vec![
        (
            "stateless needs nothing",
            Box::new(move |v: &mut Value| {
                no_dirs(v);
                set(v, "/spec/job/upgradeMode", json!("stateless"));
            }),
            None,
        ),
        (
            "last-state without checkpoint dir",
            Box::new(move |v: &mut Value| {
                no_dirs(v);
                set(v, "/spec/job/upgradeMode", json!("last-state"));
            }),
            Some((
                "spec.flinkConfiguration[execution.checkpointing.dir]",
                "no checkpoint directory",
            )),
        ),
        (
            "last-state with 2.x checkpoint key",
            Box::new(move |v: &mut Value| {
                no_dirs(v);
                set(v, "/spec/job/upgradeMode", json!("last-state"));
                set(
                    v,
                    "/spec/flinkConfiguration/execution",
                    json!({"checkpointing": {"dir": "s3://b/cp"}}),
                );
            }),
            None,
        ),
        (
            "last-state without HA is legal",
            edit(&[
                ("/spec/job/upgradeMode", json!("last-state")),
                ("/spec/flinkConfiguration/high-availability.type", Value::Null),
            ]),
            None,
        ),
        (
            "savepoint without savepoint dir",
            edit(&[("/spec/flinkConfiguration/state.savepoints.dir", Value::Null)]),
            Some((
                "spec.flinkConfiguration[execution.checkpointing.savepoint-dir]",
                "no savepoint directory",
            )),
        ),
        (
            "savepoint with 2.x savepoint key",
            edit(&[
                ("/spec/flinkConfiguration/state.savepoints.dir", Value::Null),
                (
                    "/spec/flinkConfiguration/execution.checkpointing.savepoint-dir",
                    json!("s3://b/sp"),
                ),
            ]),
            None,
        ),
        (
            "savepoint with blank savepoint dir",
            edit(&[("/spec/flinkConfiguration/state.savepoints.dir", json!("  "))]),
            Some((
                "spec.flinkConfiguration[execution.checkpointing.savepoint-dir]",
                "savepoint",
            )),
        ),
        (
            "manual savepoint without dir",
            edit(&[
                ("/spec/flinkConfiguration/state.savepoints.dir", Value::Null),
                ("/spec/job/upgradeMode", json!("last-state")),
                ("/spec/job/savepointTriggerNonce", json!(1)),
            ]),
            Some((
                "spec.flinkConfiguration[execution.checkpointing.savepoint-dir]",
                "savepointTriggerNonce",
            )),
        ),
        (
            "periodic savepoints without dir",
            edit(&[
                ("/spec/flinkConfiguration/state.savepoints.dir", Value::Null),
                ("/spec/job/upgradeMode", json!("last-state")),
                (
                    "/spec/flinkConfiguration/kubernetes.operator.periodic.savepoint.interval",
                    json!("1h"),
                ),
            ]),
            Some((
                "spec.flinkConfiguration[execution.checkpointing.savepoint-dir]",
                "periodic",
            )),
        ),
        (
            "max checkpoint age without dir",
            edit(&[
                ("/spec/flinkConfiguration/state.savepoints.dir", Value::Null),
                ("/spec/job/upgradeMode", json!("last-state")),
                (
                    "/spec/flinkConfiguration/kubernetes.operator.job.upgrade.last-state.max.allowed.checkpoint.age",
                    json!("5 min"),
                ),
            ]),
            Some((
                "spec.flinkConfiguration[execution.checkpointing.savepoint-dir]",
                "too old",
            )),
        ),
        (
            "no parallelism",
            edit(&[("/spec/job/parallelism", Value::Null)]),
            Some(("spec.job.parallelism", "larger than 0")),
        ),
        (
            "no parallelism, tm replicas",
            edit(&[
                ("/spec/job/parallelism", Value::Null),
                ("/spec/taskManager/replicas", json!(2)),
            ]),
            None,
        ),
        (
            "tm replicas 0",
            edit(&[("/spec/taskManager/replicas", json!(0))]),
            Some(("spec.taskManager.replicas", "larger than 0")),
        ),
    ];
    check_deployments(rows, &OperatorConfig::default());
}

#[test]
fn savepoint_dir_from_operator_config_counts() {
    let operator = OperatorConfig::from_yaml("state.savepoints.dir: s3://ops/sp\n").unwrap();
    let rows: Vec<(&str, Edit, Expect)> = vec![(
        "savepoint dir from operator defaults",
        edit(&[("/spec/flinkConfiguration/state.savepoints.dir", Value::Null)]),
        None,
    )];
    check_deployments(rows, &operator);
    let scoped = OperatorConfig::from_yaml(
        "kubernetes.operator.default-configuration.namespace.other.state.savepoints.dir: s3://ops/sp\n",
    )
    .unwrap();
    let rows: Vec<(&str, Edit, Expect)> = vec![(
        "savepoint dir of another namespace does not count",
        edit(&[("/spec/flinkConfiguration/state.savepoints.dir", Value::Null)]),
        Some((
            "spec.flinkConfiguration[execution.checkpointing.savepoint-dir]",
            "savepoint",
        )),
    )];
    check_deployments(rows, &scoped);
}

#[test]
fn component_rules() {
    let rows: Vec<(&str, Edit, Expect)> = vec![
        (
            "jm memory missing",
            edit(&[("/spec/jobManager/resources", json!({"requests": {"cpu": "1"}}))]),
            Some(("spec.jobManager.resources.requests.memory", "JobManager memory")),
        ),
        (
            "jm memory from config",
            edit(&[
                ("/spec/jobManager/resources", Value::Null),
                (
                    "/spec/flinkConfiguration/jobmanager.memory.process.size",
                    json!("2g"),
                ),
            ]),
            None,
        ),
        (
            "jm absent entirely",
            edit(&[("/spec/jobManager", Value::Null)]),
            Some(("spec.jobManager.resources.requests.memory", "not defined")),
        ),
        (
            "jm deprecated memory",
            edit(&[(
                "/spec/jobManager",
                json!({"resource": {"memory": "2048m", "cpu": 1.0}}),
            )]),
            None,
        ),
        (
            "jm deprecated bad memory",
            edit(&[("/spec/jobManager", json!({"resource": {"memory": "lots"}}))]),
            Some(("spec.jobManager.resource", "lots")),
        ),
        (
            "jm deprecated bad storage",
            edit(&[(
                "/spec/jobManager",
                json!({"resource": {"memory": "1g", "ephemeralStorage": "x1"}}),
            )]),
            Some(("spec.jobManager.resource", "ephemeralStorage")),
        ),
        (
            "tm memory from task heap + managed",
            edit(&[
                ("/spec/taskManager/resources", Value::Null),
                (
                    "/spec/flinkConfiguration/taskmanager.memory.task.heap.size",
                    json!("1g"),
                ),
                (
                    "/spec/flinkConfiguration/taskmanager.memory.managed.size",
                    json!("1g"),
                ),
            ]),
            None,
        ),
        (
            "tm memory from task heap only",
            edit(&[
                ("/spec/taskManager/resources", Value::Null),
                (
                    "/spec/flinkConfiguration/taskmanager.memory.task.heap.size",
                    json!("1g"),
                ),
            ]),
            Some(("spec.taskManager.resources.requests.memory", "TaskManager memory")),
        ),
        (
            "memory limit only",
            edit(&[(
                "/spec/taskManager/resources",
                json!({"limits": {"memory": "4Gi"}}),
            )]),
            None,
        ),
        (
            "errors are joined",
            edit(&[(
                "/spec/taskManager/resources",
                json!({"requests": {"memory": "-1Gi", "cpu": "0", "ephemeral-storage": "-1"}}),
            )]),
            Some(("spec.taskManager.resources", "; ")),
        ),
        (
            "cpu request above limit",
            edit(&[(
                "/spec/taskManager/resources",
                json!({"requests": {"memory": "4Gi", "cpu": "1000m"}, "limits": {"cpu": "500m"}}),
            )]),
            Some(("spec.taskManager.resources", "must not exceed its limit")),
        ),
        (
            "memory request above limit",
            edit(&[(
                "/spec/jobManager/resources",
                json!({"requests": {"memory": "3g"}, "limits": {"memory": "2Gi"}}),
            )]),
            Some((
                "spec.jobManager.resources",
                "(3g) must not exceed its limit (2Gi)",
            )),
        ),
        (
            "unparsable cpu",
            edit(&[(
                "/spec/jobManager/resources",
                json!({"requests": {"memory": "1Gi", "cpu": "one"}}),
            )]),
            Some(("spec.jobManager.resources", "cpu")),
        ),
        (
            "jm replicas 0",
            edit(&[("/spec/jobManager/replicas", json!(0))]),
            Some(("spec.jobManager.replicas", "at least 1")),
        ),
        (
            "jm replicas 2 with HA",
            edit(&[("/spec/jobManager/replicas", json!(2))]),
            None,
        ),
        (
            "jm replicas 2 without HA",
            edit(&[
                ("/spec/jobManager/replicas", json!(2)),
                ("/spec/flinkConfiguration/high-availability.type", Value::Null),
            ]),
            Some(("spec.jobManager.replicas", "high availability")),
        ),
        (
            "session cluster tm replicas 0",
            edit(&[
                ("/spec/job", Value::Null),
                ("/spec/taskManager/replicas", json!(0)),
            ]),
            Some(("spec.taskManager.replicas", "at least 1")),
        ),
    ];
    check_deployments(rows, &OperatorConfig::default());
}

#[test]
fn spec_change_rules() {
    let with_old = |change: fn(&mut Value), new_change: fn(&mut Value)| -> Edit {
        Box::new(move |v: &mut Value| {
            let mut old = v["spec"].clone();
            change(&mut old);
            with_status(v, old);
            new_change(v);
        })
    };
    let rows: Vec<(&str, Edit, Expect)> = vec![
        ("unchanged", with_old(|_| {}, |_| {}), None),
        (
            "session to job",
            with_old(
                |o| {
                    o.as_object_mut().unwrap().remove("job");
                },
                |_| {},
            ),
            Some(("spec.job", "session cluster cannot become")),
        ),
        (
            "job to session",
            with_old(
                |_| {},
                |v| {
                    v["spec"].as_object_mut().unwrap().remove("job");
                },
            ),
            Some(("spec.job", "cannot become a session")),
        ),
        (
            "native to standalone",
            with_old(|_| {}, |v| set(v, "/spec/mode", json!("standalone"))),
            Some(("spec.mode", "native to standalone")),
        ),
        (
            "standalone to native (absent)",
            with_old(|o| set(o, "/mode", json!("standalone")), |_| {}),
            Some(("spec.mode", "standalone to native")),
        ),
        (
            "native explicit vs absent",
            with_old(|o| set(o, "/mode", json!("native")), |_| {}),
            None,
        ),
        (
            "redeploy nonce without path",
            with_old(|_| {}, |v| set(v, "/spec/job/savepointRedeployNonce", json!(1))),
            Some(("spec.job.initialSavepointPath", "savepointRedeployNonce changed")),
        ),
        (
            "redeploy nonce with blank path",
            with_old(
                |_| {},
                |v| {
                    set(v, "/spec/job/savepointRedeployNonce", json!(1));
                    set(v, "/spec/job/initialSavepointPath", json!(" "));
                },
            ),
            Some(("spec.job.initialSavepointPath", "empty")),
        ),
        (
            "redeploy nonce with path",
            with_old(
                |_| {},
                |v| {
                    set(v, "/spec/job/savepointRedeployNonce", json!(1));
                    set(v, "/spec/job/initialSavepointPath", json!("s3://b/sp/1"));
                },
            ),
            None,
        ),
        (
            "unchanged nonce without path",
            with_old(
                |o| set(o, "/job/savepointRedeployNonce", json!(1)),
                |v| set(v, "/spec/job/savepointRedeployNonce", json!(1)),
            ),
            None,
        ),
        (
            "nonce on create is not checked",
            edit(&[("/spec/job/savepointRedeployNonce", json!(1))]),
            None,
        ),
        (
            "any state transition",
            with_old(|o| set(o, "/job/state", json!("suspended")), |_| {}),
            None,
        ),
        (
            "upgradeMode change",
            with_old(|o| set(o, "/job/upgradeMode", json!("stateless")), |_| {}),
            None,
        ),
    ];
    check_deployments(rows, &OperatorConfig::default());
}

#[test]
fn autoscaler_rules() {
    let on = |extra: &[(&str, &str)]| -> Edit {
        let mut changes = vec![(
            "/spec/flinkConfiguration/job.autoscaler.enabled".to_string(),
            json!("true"),
        )];
        for (k, v) in extra {
            changes.push((format!("/spec/flinkConfiguration/{k}"), json!(v)));
        }
        Box::new(move |v: &mut Value| {
            for (p, val) in &changes {
                set(v, p, val.clone());
            }
        })
    };
    let rows: Vec<(&str, Edit, Expect)> = vec![
        ("enabled with defaults", on(&[]), None),
        (
            "target too high",
            on(&[("job.autoscaler.utilization.target", "1.2")]),
            Some((
                "spec.flinkConfiguration[job.autoscaler.utilization.target]",
                "[0, 1]",
            )),
        ),
        (
            "min above target",
            on(&[
                ("job.autoscaler.utilization.target", "0.5"),
                ("job.autoscaler.utilization.min", "0.6"),
            ]),
            Some((
                "spec.flinkConfiguration[job.autoscaler.utilization.min]",
                "outside",
            )),
        ),
        (
            "not a number",
            on(&[("job.autoscaler.scale-down.max-factor", "half")]),
            Some((
                "spec.flinkConfiguration[job.autoscaler.scale-down.max-factor]",
                "invalid value",
            )),
        ),
        (
            "coefficient only checked when enabled",
            on(&[("job.autoscaler.observed-scalability.coefficient-min", "5")]),
            None,
        ),
        (
            "coefficient checked when enabled",
            on(&[
                ("job.autoscaler.observed-scalability.coefficient-min", "5"),
                ("job.autoscaler.observed-scalability.enabled", "true"),
            ]),
            Some((
                "spec.flinkConfiguration[job.autoscaler.observed-scalability.coefficient-min]",
                "0.01",
            )),
        ),
        (
            "excluded period bad",
            on(&[("job.autoscaler.excluded.periods", "12:00-11:00")]),
            Some((
                "spec.flinkConfiguration[job.autoscaler.excluded.periods]",
                "12:00-11:00",
            )),
        ),
        (
            "excluded periods ok",
            on(&[("job.autoscaler.excluded.periods", "01:00-02:00;0 0 * ? * SUN")]),
            None,
        ),
        (
            "window below reconcile interval",
            on(&[("job.autoscaler.metrics.window", "10 s")]),
            Some((
                "spec.flinkConfiguration[job.autoscaler.metrics.window]",
                "reconcile interval",
            )),
        ),
        (
            "window vs CR reconcile interval",
            on(&[
                ("job.autoscaler.metrics.window", "10 s"),
                ("kubernetes.operator.reconcile.interval", "5 s"),
            ]),
            None,
        ),
        (
            "disabled: not checked",
            edit(&[(
                "/spec/flinkConfiguration/job.autoscaler.utilization.target",
                json!("7"),
            )]),
            None,
        ),
    ];
    check_deployments(rows, &OperatorConfig::default());
}

fn resolver(pairs: &[(&str, &str)]) -> ResolvedHosts {
    let mut map = HashMap::new();
    for (host, ip) in pairs {
        let ip: IpAddr = ip.parse().unwrap();
        map.insert(host.to_string(), Ok(vec![ip]));
    }
    ResolvedHosts(map)
}

fn check_session_jobs(
    rows: Vec<(&str, Edit, Option<Edit>, Expect)>,
    operator: &OperatorConfig,
    dns: &ResolvedHosts,
) {
    for (name, change, session_change, expect) in rows {
        let mut v = base_session_job();
        change(&mut v);
        let job: FlinkSessionJob = serde_json::from_value(v.clone()).unwrap();
        let session_value = session_change.map(|c| {
            let mut s = session_cluster();
            c(&mut s);
            s
        });
        let session = session_value
            .as_ref()
            .map(|s| serde_json::from_value::<FlinkDeployment>(s.clone()).unwrap());
        let got = validate_session_job(&job, session.as_ref(), operator, dns);
        let rules = got.as_ref().map(|_| ()).map_err(|e| e.to_string());
        let sessions: Arc<dyn SessionLookup> = match &session {
            Some(s) => Arc::new(KnownSessions::new([s.clone()])),
            None => Arc::new(NoSessions),
        };
        let others: Vec<Value> = session_value.into_iter().collect();
        same_answer_everywhere(name, &v, &rules, &others, operator, sessions, dns);
        match (expect, got) {
            (None, Ok(())) => {}
            (None, Err(e)) => panic!("{name}: expected allowed, got denied: {e}"),
            (Some((loc, words)), Ok(())) => panic!("{name}: expected denied at {loc} ({words}), got allowed"),
            (Some((loc, words)), Err(e)) => {
                assert_eq!(e.location, loc, "{name}: {e}");
                assert!(e.to_string().contains(words), "{name}: '{words}' not in: {e}");
            }
        }
    }
}

#[test]
fn session_job_rules() {
    let dns = resolver(&[
        ("repo.example.com", "93.184.216.34"),
        ("internal.example.com", "10.0.0.7"),
    ]);
    let session = || -> Option<Edit> { Some(edit(&[])) };
    let rows: Vec<(&str, Edit, Option<Edit>, Expect)> = vec![
        ("valid, session known", edit(&[]), session(), None),
        ("valid, session unknown", edit(&[]), None, None),
        (
            "no deploymentName",
            edit(&[("/spec/deploymentName", Value::Null)]),
            None,
            Some(("spec.deploymentName", "not set")),
        ),
        (
            "bad deploymentName",
            edit(&[("/spec/deploymentName", json!("Session_1"))]),
            None,
            Some(("spec.deploymentName", "cannot name")),
        ),
        (
            "no job",
            edit(&[("/spec/job", Value::Null)]),
            None,
            Some(("spec.job", "empty")),
        ),
        (
            "deploymentName changed after deploy",
            Box::new(|v: &mut Value| {
                let mut old = v["spec"].clone();
                set(&mut old, "/deploymentName", json!("other"));
                with_status(v, old);
            }),
            None,
            Some(("spec.deploymentName", "cannot change")),
        ),
        (
            "scheme not allowed",
            edit(&[("/spec/job/jarURI", json!("s3://bucket/job.jar"))]),
            None,
            Some(("spec.job.jarURI", "allowlist [https]")),
        ),
        (
            "http not allowed by default",
            edit(&[("/spec/job/jarURI", json!("http://repo.example.com/job.jar"))]),
            None,
            Some(("spec.job.jarURI", "'http'")),
        ),
        (
            "no scheme",
            edit(&[("/spec/job/jarURI", json!("/opt/job.jar"))]),
            None,
            Some(("spec.job.jarURI", "no scheme")),
        ),
        (
            "invalid uri",
            edit(&[("/spec/job/jarURI", json!("https://exa mple.com/x.jar"))]),
            None,
            Some(("spec.job.jarURI", "not a valid URI")),
        ),
        (
            "literal loopback",
            edit(&[("/spec/job/jarURI", json!("https://127.0.0.1/job.jar"))]),
            None,
            Some(("spec.job.jarURI", "restricted")),
        ),
        (
            "literal metadata address",
            edit(&[("/spec/job/jarURI", json!("https://169.254.169.254/job.jar"))]),
            None,
            Some(("spec.job.jarURI", "restricted")),
        ),
        (
            "literal ipv6 private",
            edit(&[("/spec/job/jarURI", json!("https://[fd00::1]/job.jar"))]),
            None,
            Some(("spec.job.jarURI", "restricted")),
        ),
        (
            "literal public ip",
            edit(&[("/spec/job/jarURI", json!("https://93.184.216.34/job.jar"))]),
            None,
            None,
        ),
        (
            "host resolving private",
            edit(&[("/spec/job/jarURI", json!("https://internal.example.com/job.jar"))]),
            None,
            Some(("spec.job.jarURI", "10.0.0.7")),
        ),
        (
            "host not resolvable now: admitted (the download checks the address it connects to)",
            edit(&[("/spec/job/jarURI", json!("https://nowhere.invalid/job.jar"))]),
            None,
            None,
        ),
        (
            "application cluster as target",
            edit(&[]),
            Some(Box::new(|s: &mut Value| {
                set(s, "/spec/job", json!({"parallelism": 1}))
            })),
            Some(("spec.deploymentName", "application cluster")),
        ),
        (
            "no parallelism",
            edit(&[("/spec/job/parallelism", Value::Null)]),
            session(),
            Some(("spec.job.parallelism", "larger than 0")),
        ),
        (
            "no parallelism, session unknown",
            edit(&[("/spec/job/parallelism", Value::Null)]),
            None,
            None,
        ),
        (
            "savepoint needs dir from merged config",
            edit(&[("/spec/job/upgradeMode", json!("savepoint"))]),
            Some(edit(&[(
                "/spec/flinkConfiguration/state.savepoints.dir",
                Value::Null,
            )])),
            Some((
                "spec.flinkConfiguration[execution.checkpointing.savepoint-dir]",
                "savepoint",
            )),
        ),
        (
            "savepoint dir from the job's own config",
            edit(&[
                ("/spec/job/upgradeMode", json!("savepoint")),
                (
                    "/spec/flinkConfiguration",
                    json!({"state.savepoints.dir": "s3://j/sp"}),
                ),
            ]),
            Some(edit(&[(
                "/spec/flinkConfiguration/state.savepoints.dir",
                Value::Null,
            )])),
            None,
        ),
        (
            "redeploy nonce without path",
            Box::new(|v: &mut Value| {
                let old = v["spec"].clone();
                with_status(v, old);
                set(v, "/spec/job/savepointRedeployNonce", json!(3));
            }),
            None,
            Some(("spec.job.initialSavepointPath", "empty")),
        ),
    ];
    check_session_jobs(rows, &OperatorConfig::default(), &dns);

    let open = OperatorConfig::from_yaml(
        "kubernetes.operator.user.artifacts.allowed-schemes: https;s3;http\nkubernetes.operator.user.artifacts.disallow-restricted-hosts: false\n",
    )
    .unwrap();
    let rows: Vec<(&str, Edit, Option<Edit>, Expect)> = vec![
        (
            "s3 allowed by config",
            edit(&[("/spec/job/jarURI", json!("s3://bucket/job.jar"))]),
            None,
            None,
        ),
        (
            "loopback allowed by config",
            edit(&[("/spec/job/jarURI", json!("http://127.0.0.1:8080/job.jar"))]),
            None,
            None,
        ),
        (
            "local still not allowed",
            edit(&[("/spec/job/jarURI", json!("local:///job.jar"))]),
            None,
            Some(("spec.job.jarURI", "allowlist")),
        ),
    ];
    check_session_jobs(rows, &open, &dns);
}

#[test]
fn warnings_for_risky_but_legal_specs() {
    let op = OperatorConfig::default();
    let dep = |change: Edit| -> FlinkDeployment {
        let mut v = base_deployment();
        change(&mut v);
        serde_json::from_value(v).unwrap()
    };
    let warns = |d: &FlinkDeployment| {
        assert!(validate_deployment(d, &op).is_ok());
        deployment_warnings(d, &op)
    };
    assert!(warns(&dep(edit(&[]))).is_empty(), "{:?}", warns(&dep(edit(&[]))));
    let w = warns(&dep(edit(&[
        ("/spec/job/upgradeMode", json!("last-state")),
        ("/spec/flinkConfiguration/high-availability.type", Value::Null),
    ])));
    assert!(
        w.iter()
            .any(|l| l.contains("last-state without high availability")),
        "{w:?}"
    );
    let w = warns(&dep(edit(&[("/spec/job/upgradeMode", json!("last-state"))])));
    assert!(w.is_empty(), "{w:?}");
    let w = warns(&dep(edit(&[
        (
            "/spec/flinkConfiguration/kubernetes.operator.deployment.rollback.enabled",
            json!("true"),
        ),
        ("/spec/flinkConfiguration/high-availability.type", Value::Null),
    ])));
    assert!(
        w.iter()
            .any(|l| l.contains("rollback.enabled without high availability") && l.contains("never started")),
        "{w:?}"
    );
    let w = warns(&dep(edit(&[(
        "/spec/flinkConfiguration/kubernetes.operator.deployment.rollback.enabled",
        json!("true"),
    )])));
    assert!(
        w.iter().all(|l| !l.contains("rollback")),
        "with HA every rollback works: {w:?}"
    );
    let template =
        |image: &str| json!({"spec": {"containers": [{"name": "flink-main-container", "image": image}]}});
    let w = warns(&dep(edit(&[("/spec/image", Value::Null)])));
    assert!(
        w.iter()
            .any(|l| l.starts_with("spec.image is not set: the Flink pods will run flink:1.20,")),
        "{w:?}"
    );
    let w = warns(&dep(edit(&[
        ("/spec/image", json!("")),
        ("/spec/jobManager/podTemplate", template("registry.example/job:3")),
    ])));
    assert!(
        w.iter().any(|l| l.starts_with("spec.image is not set")),
        "the TaskManagers still get the default: {w:?}"
    );
    let w = warns(&dep(edit(&[
        ("/spec/image", Value::Null),
        ("/spec/podTemplate", template("registry.example/job:3")),
    ])));
    assert!(w.is_empty(), "{w:?}");
    let w = warns(&dep(edit(&[("/spec/flinkVersion", json!("v1_16"))])));
    assert!(w.iter().any(|l| l.contains("v1_16 is deprecated")), "{w:?}");
    let w = warns(&dep(edit(&[(
        "/spec/jobManager",
        json!({"resource": {"memory": "2g"}}),
    )])));
    assert!(
        w.iter()
            .any(|l| l.contains("spec.jobManager.resource is deprecated")),
        "{w:?}"
    );
    let w = warns(&dep(edit(&[("/spec/job/upgradeMode", json!("stateless"))])));
    assert!(w.iter().any(|l| l.contains("empty state")), "{w:?}");
    let w = warns(&dep(edit(&[
        ("/spec/job/upgradeMode", json!("stateless")),
        ("/spec/flinkConfiguration/state.savepoints.dir", Value::Null),
        (
            "/spec/flinkConfiguration/kubernetes.operator.job.savepoint-on-deletion",
            json!("true"),
        ),
    ])));
    assert!(w.iter().any(|l| l.contains("savepoint-on-deletion")), "{w:?}");
    let w = warns(&dep(Box::new(|v: &mut Value| {
        set(
            v,
            "/status/reconciliationStatus/lastReconciledSpec",
            json!("{garbage"),
        )
    })));
    assert!(w.iter().any(|l| l.contains("cannot be read")), "{w:?}");

    let job: FlinkSessionJob = serde_json::from_value(base_session_job()).unwrap();
    let w = session_job_warnings(&job, None, &op);
    assert!(w.iter().any(|l| l.contains("'session' was not found")), "{w:?}");
    let session: FlinkDeployment = serde_json::from_value(session_cluster()).unwrap();
    let w = session_job_warnings(&job, Some(&session), &op);
    assert!(w.len() == 1 && w[0].contains("stateless"), "{w:?}");
    let mut v = base_session_job();
    set(&mut v, "/spec/job/upgradeMode", json!("savepoint"));
    let job: FlinkSessionJob = serde_json::from_value(v).unwrap();
    let w = session_job_warnings(&job, Some(&session), &op);
    assert!(w.is_empty(), "{w:?}");
}
