//! Argo CD's health of every status the operator writes: a watch records each distinct status of
//! the FlinkDeployments and FlinkSessionJobs of a namespace, and at the end of a scenario the
//! shipped health checks (real Lua 5.1) run over all of them; each answer must agree with what
//! that status says, by rules independent of the Lua ([`health_agrees`]).
//!
//! Include beside `install` (`#[path = "install/mod.rs"] mod install;`).
#![allow(dead_code)]

use flink_lifecycle::api::{FlinkDeployment, FlinkSessionJob};
use kube::api::Api;
use serde_json::{Value, json};
use std::sync::Arc;

/// Every distinct status of every FlinkDeployment and FlinkSessionJob in the test namespace, in
/// the order the operator wrote them (a watch on the API). Argo CD sees each of them: at the
/// end the shipped health checks run over all of them and must agree with what each status
/// says, at every step of the scenario, not only where the test looked.
pub struct StatusHistory {
    seen: Arc<std::sync::Mutex<Vec<Value>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for StatusHistory {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl StatusHistory {
    pub fn start(client: kube::Client, namespace: &str) -> Self {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks = vec![
            tokio::spawn(record::<FlinkDeployment>(
                client.clone(),
                namespace.to_string(),
                seen.clone(),
            )),
            tokio::spawn(record::<FlinkSessionJob>(
                client,
                namespace.to_string(),
                seen.clone(),
            )),
        ];
        Self { seen, tasks }
    }

    pub fn assert_health_agrees_at_every_write(&self) {
        let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        // Every scenario creates resources: an empty history is a watch that saw nothing.
        assert!(
            !seen.is_empty(),
            "no status recorded for the Argo CD health checks: the history watch saw nothing"
        );
        eprintln!("argo health: {} recorded statuses checked", seen.len());
        let mut wrong = Vec::new();
        for kind in ["FlinkDeployment", "FlinkSessionJob"] {
            let objs: Vec<&Value> = seen.iter().filter(|o| o["kind"] == kind).collect();
            if objs.is_empty() {
                continue;
            }
            let cases: Vec<Value> = objs
                .iter()
                .enumerate()
                .map(|(i, o)| json!({"name": i.to_string(), "object": o}))
                .collect();
            let script =
                crate::install::repo().join(format!("argocd/health/flink.apache.org/{kind}/health.lua"));
            let health = crate::install::run_script(&script, &cases.iter().collect::<Vec<_>>());
            for (i, o) in objs.iter().enumerate() {
                let h = &health[&i.to_string()];
                if let Err(why) = health_agrees(o, &h.status, &h.message) {
                    wrong.push(format!(
                        "{kind} {} (write {i}): {} {:?}: {why}; status: {}",
                        o["metadata"]["name"], h.status, h.message, o["status"]
                    ));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "Argo CD health disagrees with {} of {} recorded statuses:\n{}",
            wrong.len(),
            seen.len(),
            wrong.join("\n")
        );
    }
}

/// Records each new status of `K` (with its spec and generation, as Argo CD reads them).
async fn record<K>(client: kube::Client, namespace: String, seen: Arc<std::sync::Mutex<Vec<Value>>>)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize
        + Send
        + 'static,
{
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let api: Api<K> = Api::namespaced(client, &namespace);
    let mut last: std::collections::HashMap<String, Value> = Default::default();
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .boxed();
    while let Some(ev) = events.next().await {
        let Ok(obj) = ev else { continue };
        let Ok(mut v) = serde_json::to_value(&obj) else {
            continue;
        };
        v["kind"] = json!(K::kind(&()));
        if v["status"].is_null() {
            continue;
        }
        let name = v["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let key = json!([
            v["metadata"]["generation"],
            v["status"],
            v["metadata"]["deletionTimestamp"]
        ]);
        if last.get(&name) == Some(&key) {
            continue;
        }
        last.insert(name, key);
        if let Ok(mut s) = seen.lock() {
            s.push(v);
        }
    }
}

/// What a status says Argo CD's health must be, from the status alone (an oracle independent
/// of the Lua script): never Suspended or Unknown; Healthy only when the resource is as
/// requested (stable and running, or suspended as asked, with no error, the newest generation
/// observed); Degraded for a failed job or a rollback and only with a reason in status;
/// Progressing while an upgrade or rollback of the newest generation is under way.
fn health_agrees(o: &Value, health: &str, message: &str) -> Result<(), String> {
    let status = &o["status"];
    let lifecycle = status["lifecycleState"].as_str().unwrap_or_default();
    let job_state = status["jobStatus"]["state"].as_str().unwrap_or_default();
    let jm = status["jobManagerDeploymentStatus"].as_str().unwrap_or_default();
    let error = status["error"].as_str().unwrap_or_default();
    let generation = o["metadata"]["generation"].as_i64();
    let observed = status["observedGeneration"].as_i64();
    let current = generation.is_none() || observed.is_none() || generation == observed;
    let deleting = !o["metadata"]["deletionTimestamp"].is_null();
    let wants_suspended = o["spec"]["job"]["state"] == "suspended";
    let session_cluster = o["kind"] == "FlinkDeployment" && o["spec"]["job"].is_null();
    let conditions: Vec<&Value> = status["conditions"].as_array().into_iter().flatten().collect();
    let condition_false = |t: &str| {
        conditions
            .iter()
            .any(|c| c["type"] == t && c["status"] == "False")
    };
    let degraded_condition = conditions
        .iter()
        .any(|c| c["type"] == "Degraded" && c["status"] == "True");
    match health {
        "Healthy" => {
            let as_requested = if session_cluster {
                lifecycle == "STABLE" && jm == "READY"
            } else {
                (lifecycle == "STABLE" && job_state == "RUNNING")
                    // Created suspended and never deployed is as asked too.
                    || (wants_suspended && matches!(lifecycle, "SUSPENDED" | "CREATED"))
            };
            if !error.is_empty() {
                return Err("Healthy with an error in status".into());
            }
            if !current {
                return Err("Healthy before the newest generation is observed".into());
            }
            if !as_requested || deleting {
                return Err("Healthy while not as the spec requests".into());
            }
        }
        "Degraded" => {
            let reason = !error.is_empty()
                || matches!(lifecycle, "FAILED" | "ROLLED_BACK")
                || degraded_condition
                || condition_false("Ready")
                || condition_false("Reconciled")
                || job_state == "FAILED"
                || jm == "ERROR";
            if !reason || message.is_empty() {
                return Err("Degraded with no reason in status".into());
            }
        }
        "Progressing" => {
            if current && !deleting && matches!(lifecycle, "FAILED" | "ROLLED_BACK") {
                return Err("Progressing for a failed job or a rollback".into());
            }
        }
        other => return Err(format!("{other} is never an answer here")),
    }
    if current
        && !deleting
        && matches!(lifecycle, "UPGRADING" | "ROLLING_BACK")
        && !degraded_condition
        && health != "Progressing"
    {
        return Err("not Progressing while an upgrade or rollback is under way".into());
    }
    Ok(())
}
