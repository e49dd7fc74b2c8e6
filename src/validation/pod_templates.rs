//! The pod templates, checked as the API server will check the pods the operator makes from
//! them. The reference admits a template whose pods Kubernetes refuses; the Deployment then fails
//! after admission, when an upgrade may already have stopped the old job. The schema checks
//! cover each value's syntax (`api_server_values`); here are the rules across values: each
//! template's items on their own (`container_rules`, volumes, duplicate names), then each role's
//! pods as the templates merge into them (`pod_references`).

use super::container_rules::{check_container, set_fields};
use super::error::{Rule, reject};
use super::pod_references::{Item, Template, check_role_pods};
use crate::api::FlinkDeploymentSpec;
use crate::render::{CONFIG_VOLUME, MAIN_CONTAINER};
use serde_json::Value;
use std::collections::BTreeSet;

/// Checks the three pod templates of a FlinkDeployment and the JobManager and TaskManager pods
/// they make.
pub fn validate_pod_templates(spec: &FlinkDeploymentSpec) -> Rule {
    let common: Template<'_> = ("spec.podTemplate", spec.pod_template.as_ref());
    let job_manager: Template<'_> = (
        "spec.jobManager.podTemplate",
        spec.job_manager.as_ref().and_then(|jm| jm.pod_template.as_ref()),
    );
    let task_manager: Template<'_> = (
        "spec.taskManager.podTemplate",
        spec.task_manager.as_ref().and_then(|tm| tm.pod_template.as_ref()),
    );
    for (path, template) in [common, job_manager, task_manager] {
        if let Some(template) = template {
            check_template(path, template)?;
        }
    }
    if common.1.is_none() && job_manager.1.is_none() && task_manager.1.is_none() {
        return Ok(());
    }
    check_role_pods("JobManager", common, job_manager)?;
    check_role_pods("TaskManager", common, task_manager)
}

fn check_template(path: &str, template: &Value) -> Rule {
    for list in ["containers", "initContainers"] {
        let containers = items(template, list);
        unique_names(path, list, "container", containers)?;
        for (index, container) in containers.iter().enumerate() {
            let main =
                list == "containers" && container.get("name").and_then(Value::as_str) == Some(MAIN_CONTAINER);
            check_container(
                &Item {
                    template: path,
                    list,
                    index,
                },
                container,
                main,
            )?;
        }
    }
    let volumes = items(template, "volumes");
    unique_names(path, "volumes", "volume", volumes)?;
    for (index, volume) in volumes.iter().enumerate() {
        check_volume(
            &Item {
                template: path,
                list: "volumes",
                index,
            },
            volume,
        )?;
    }
    Ok(())
}

fn items<'a>(template: &'a Value, list: &str) -> &'a [Value] {
    template
        .get("spec")
        .and_then(|spec| spec.get(list))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn unique_names(template: &str, list: &'static str, what: &str, items: &[Value]) -> Rule {
    let mut seen = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        if let Some(name) = item.get("name").and_then(Value::as_str)
            && !seen.insert(name)
        {
            return reject(
                format!(
                    "{}.name",
                    Item {
                        template,
                        list,
                        index: i
                    }
                ),
                format!(
                    "two {what}s are named '{name}'; Kubernetes refuses a pod with two {what}s of one name"
                ),
                format!("Give each {what} its own name"),
            );
        }
    }
    Ok(())
}

/// Every volume source a `Volume` may name: all its fields but `name`.
fn volume_sources(volume: &Value) -> Vec<&str> {
    let fields: Vec<&str> = volume
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .filter(|k| *k != "name")
        .collect();
    set_fields(volume, &fields)
}

fn check_volume(at: &Item<'_>, volume: &Value) -> Rule {
    let name = volume.get("name").and_then(Value::as_str).unwrap_or_default();
    if name == CONFIG_VOLUME {
        return reject(
            format!("{at}.name"),
            format!(
                "'{CONFIG_VOLUME}' is the volume the operator adds to every Flink pod for the Flink configuration"
            ),
            "Give the volume another name",
        );
    }
    let sources = volume_sources(volume);
    if sources.len() > 1 {
        return reject(
            at.to_string(),
            format!(
                "volume '{name}' has {} sources ({}); Kubernetes refuses a volume with more than one",
                sources.len(),
                sources.join(", ")
            ),
            "Keep one source, or make each its own volume",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
