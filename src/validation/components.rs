//! JobManager / TaskManager rules (reference §2.4): memory must be known, resource values must
//! parse, requests must not exceed limits, and standby JobManagers need HA.

use super::error::{Rule, ValidationError, reject};
use super::keys::ENABLE_HA;
use super::quantity::{parse_memory_bytes, parse_quantity};
use crate::api::{JobManagerSpec, Resource, TaskManagerSpec};
use crate::config::flink_keys;
use serde_json::Value;
use std::collections::BTreeMap;

/// Which component a rule is about, for paths and messages.
#[derive(Clone, Copy)]
pub(crate) enum Component {
    JobManager,
    TaskManager,
}

impl Component {
    fn label(self) -> &'static str {
        match self {
            Self::JobManager => "JobManager",
            Self::TaskManager => "TaskManager",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Self::JobManager => "spec.jobManager",
            Self::TaskManager => "spec.taskManager",
        }
    }

    /// Flink config keys from which Flink derives the process memory without a spec value.
    fn memory_from_config(self, conf: &BTreeMap<String, String>) -> bool {
        let set = |k: &str| conf.get(k).is_some_and(|v| !v.trim().is_empty());
        match self {
            Self::JobManager => [
                "jobmanager.memory.process.size",
                "jobmanager.memory.flink.size",
                "jobmanager.memory.heap.size",
                "jobmanager.heap.size",
            ]
            .iter()
            .any(|k| set(k)),
            Self::TaskManager => {
                set("taskmanager.memory.process.size")
                    || set("taskmanager.memory.flink.size")
                    || (set("taskmanager.memory.task.heap.size") && set("taskmanager.memory.managed.size"))
            }
        }
    }

    fn config_hint(self) -> &'static str {
        match self {
            Self::JobManager => "jobmanager.memory.process.size",
            Self::TaskManager => "taskmanager.memory.process.size",
        }
    }
}

/// The parts of JobManagerSpec and TaskManagerSpec the rules read.
struct Parts<'a> {
    resource: Option<&'a Resource>,
    resources: Option<&'a Value>,
}

fn memory_defined(parts: Option<&Parts<'_>>) -> bool {
    let Some(p) = parts else { return false };
    let deprecated = p
        .resource
        .and_then(|r| r.memory.as_deref())
        .is_some_and(|m| !m.trim().is_empty());
    let in_requirements = ["requests", "limits"].iter().any(|section| {
        p.resources
            .and_then(|r| r.get(section))
            .and_then(|s| s.get("memory"))
            .is_some_and(|m| !m.is_null())
    });
    deprecated || in_requirements
}

pub(crate) fn validate_job_manager(jm: Option<&JobManagerSpec>, conf: &BTreeMap<String, String>) -> Rule {
    let parts = jm.map(|j| Parts {
        resource: j.resource.as_ref(),
        resources: j.resources.as_ref(),
    });
    validate_common(Component::JobManager, parts.as_ref(), conf)?;
    let Some(jm) = jm else { return Ok(()) };
    let replicas = jm.replicas();
    if replicas < 1 {
        return reject(
            "spec.jobManager.replicas",
            format!("JobManager replicas must be at least 1, got {replicas}"),
            "Set spec.jobManager.replicas to 1 (or more with high availability)",
        );
    }
    if replicas > 1 && !flink_keys::ha_enabled(conf) {
        return reject(
            "spec.jobManager.replicas",
            format!(
                "{replicas} JobManager replicas need high availability to elect a leader, but HA is not enabled"
            ),
            format!("{ENABLE_HA}, or set spec.jobManager.replicas to 1"),
        );
    }
    Ok(())
}

pub(crate) fn validate_task_manager(tm: Option<&TaskManagerSpec>, conf: &BTreeMap<String, String>) -> Rule {
    let parts = tm.map(|t| Parts {
        resource: t.resource.as_ref(),
        resources: t.resources.as_ref(),
    });
    validate_common(Component::TaskManager, parts.as_ref(), conf)?;
    if let Some(replicas) = tm.and_then(|t| t.replicas)
        && replicas < 1
    {
        return reject(
            "spec.taskManager.replicas",
            format!("TaskManager replicas must be at least 1, got {replicas}"),
            "Set spec.taskManager.replicas to 1 or more, or remove it",
        );
    }
    Ok(())
}

fn validate_common(c: Component, parts: Option<&Parts<'_>>, conf: &BTreeMap<String, String>) -> Rule {
    if !memory_defined(parts) && !c.memory_from_config(conf) {
        return reject(
            format!("{}.resources.requests.memory", c.path()),
            format!("{} memory is not defined", c.label()),
            format!(
                "Set {path}.resources.requests.memory (e.g. 2Gi), the deprecated {path}.resource.memory, or {key} \
                 in spec.flinkConfiguration",
                path = c.path(),
                key = c.config_hint()
            ),
        );
    }
    let Some(parts) = parts else { return Ok(()) };
    if let Some(resource) = parts.resource {
        validate_deprecated_resource(c, resource)?;
    }
    if let Some(resources) = parts.resources {
        validate_requirements(c, resources)?;
    }
    Ok(())
}

fn validate_deprecated_resource(c: Component, r: &Resource) -> Rule {
    let mut problems = Vec::new();
    if let Some(memory) = &r.memory
        && let Err(e) = parse_memory_bytes(memory)
    {
        problems.push(format!("{}.resource.memory: {e}", c.path()));
    }
    if let Some(storage) = &r.ephemeral_storage
        && parse_quantity(storage).is_none_or(|q| q < 0.0)
    {
        problems.push(format!(
            "{}.resource.ephemeralStorage: '{storage}' is not a Kubernetes quantity (e.g. 10Gi)",
            c.path()
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(ValidationError::new(
        format!("{}.resource", c.path()),
        format!("{} resource cannot be parsed: {}", c.label(), problems.join("; ")),
        "Write memory as 2048m or 2Gi and ephemeral storage as a Kubernetes quantity",
    ))
}

/// A quantity as JSON: the API server accepts strings and plain numbers.
pub(super) fn quantity_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_resource_value(key: &str, text: &str) -> Result<f64, String> {
    if key == "memory" {
        parse_memory_bytes(text).map(|b| b as f64)
    } else {
        parse_quantity(text).ok_or_else(|| format!("'{text}' is not a Kubernetes quantity"))
    }
}

/// All problems of `resources`, joined with "; " as the reference does.
fn validate_requirements(c: Component, resources: &Value) -> Rule {
    let mut problems = Vec::new();
    let mut parsed: BTreeMap<(&str, String), f64> = BTreeMap::new();
    for section in ["requests", "limits"] {
        let Some(map) = resources.get(section).and_then(Value::as_object) else {
            continue;
        };
        for (key, raw) in map {
            let at = format!("{}.resources.{section}.{key}", c.path());
            let Some(text) = quantity_text(raw) else {
                problems.push(format!("{at}: {raw} is not a quantity"));
                continue;
            };
            match parse_resource_value(key, &text) {
                Err(e) => problems.push(format!("{at}: {e}")),
                Ok(q) if (key == "memory" || key == "cpu") && q <= 0.0 => {
                    problems.push(format!("{at}: must be positive, got {text}"))
                }
                Ok(q) if q < 0.0 => problems.push(format!("{at}: must not be negative, got {text}")),
                Ok(q) => {
                    parsed.insert((section, key.clone()), q);
                }
            }
        }
    }
    for key in ["cpu", "memory"] {
        if let (Some(req), Some(lim)) = (
            parsed.get(&("requests", key.to_string())),
            parsed.get(&("limits", key.to_string())),
        ) && req > lim
        {
            let text = |section: &str| {
                resources
                    .get(section)
                    .and_then(|s| s.get(key))
                    .and_then(quantity_text)
                    .unwrap_or_default()
            };
            problems.push(format!(
                "{}.resources.requests.{key}: request ({}) must not exceed its limit ({})",
                c.path(),
                text("requests"),
                text("limits")
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(ValidationError::new(
        format!("{}.resources", c.path()),
        format!(
            "{} resource requirements are invalid: {}",
            c.label(),
            problems.join("; ")
        ),
        "Use positive Kubernetes quantities (cpu: 500m, memory: 2Gi) with requests no larger than limits",
    ))
}
