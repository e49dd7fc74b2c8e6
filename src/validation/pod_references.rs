//! The references inside one role's pods, checked as the API server checks a pod: every
//! container has an image and a name no other container has, every mount names a volume, no two
//! mounts share a path. They are checked on the pods as the templates merge into them
//! (`render::pod_template`): `spec.podTemplate`, then the role's own template over it by name,
//! then the operator's main container with its configuration volume. A mount in one template
//! may name a volume the other template defines.

use super::error::{Rule, reject};
use crate::render::{CONF_DIR, CONFIG_VOLUME, MAIN_CONTAINER};
use serde_json::Value;
use std::collections::BTreeMap;

/// A pod template and its JSON path.
pub type Template<'a> = (&'a str, Option<&'a Value>);

/// The named items of one list across the templates, by name, each with its path, in merge
/// order: the last one's fields win.
type Merged<'a> = BTreeMap<&'a str, Vec<(String, &'a Value)>>;

fn merged<'a>(templates: &[Template<'a>], field: &str) -> Merged<'a> {
    let mut out: Merged<'a> = BTreeMap::new();
    for (path, template) in templates {
        let items = template
            .and_then(|t| t.pointer(&format!("/spec/{field}")))
            .and_then(Value::as_array);
        for (i, item) in items.into_iter().flatten().enumerate() {
            if let Some(name) = item.get("name").and_then(Value::as_str) {
                out.entry(name)
                    .or_default()
                    .push((format!("{path}.spec.{field}[{i}]"), item));
            }
        }
    }
    out
}

/// The value of `field` the merge keeps: the last template's that sets it.
fn last_set<'a>(items: &'a [(String, &'a Value)], field: &str) -> Option<(&'a str, &'a Value)> {
    items
        .iter()
        .rev()
        .find_map(|(path, item)| item.get(field).map(|v| (path.as_str(), v)))
}

/// Checks the pods of `role` ("JobManager", "TaskManager") made from the common template and
/// the role's own.
pub fn check_role_pods(role: &str, common: Template<'_>, own: Template<'_>) -> Rule {
    let templates = [common, own];
    let sources = templates
        .iter()
        .filter(|(_, t)| t.is_some())
        .map(|(p, _)| *p)
        .collect::<Vec<_>>()
        .join(" and ");
    let containers = merged(&templates, "containers");
    let init_containers = merged(&templates, "initContainers");
    for (name, items) in &init_containers {
        if *name == MAIN_CONTAINER || containers.contains_key(name) {
            return reject(
                format!("{}.name", items[0].0),
                format!(
                    "the {role} pods would have a container and an init container both named '{name}'; Kubernetes refuses two containers of one name"
                ),
                "Rename the init container",
            );
        }
    }
    let all = containers.iter().chain(&init_containers);
    for (name, items) in all.clone().filter(|(name, _)| **name != MAIN_CONTAINER) {
        let image = last_set(items, "image").and_then(|(_, v)| v.as_str());
        if image.is_none_or(str::is_empty) {
            let (path, _) = items[items.len() - 1].clone();
            return reject(
                path,
                format!(
                    "container '{name}' of the {role} pods has no image (from {sources}); Kubernetes refuses a container without one"
                ),
                "Set the container's image",
            );
        }
    }
    let volumes = merged(&templates, "volumes");
    for (name, items) in all {
        check_mounts(role, name, items, &volumes, &sources)?;
    }
    Ok(())
}

/// The merged container's mounts: each names a volume of the pod, each at its own path. Mounts
/// merge by volume name like the other named lists; the operator mounts its configuration
/// volume at the configuration directory of the main container.
fn check_mounts(
    role: &str,
    container: &str,
    items: &[(String, &Value)],
    volumes: &Merged<'_>,
    sources: &str,
) -> Rule {
    let mut mounts: BTreeMap<&str, (String, &str)> = BTreeMap::new();
    for (path, item) in items {
        let list = item.get("volumeMounts").and_then(Value::as_array);
        for (j, mount) in list.into_iter().flatten().enumerate() {
            let (Some(volume), Some(at)) = (
                mount.get("name").and_then(Value::as_str),
                mount.get("mountPath").and_then(Value::as_str),
            ) else {
                continue;
            };
            mounts.insert(volume, (format!("{path}.volumeMounts[{j}]"), at));
        }
    }
    if container == MAIN_CONTAINER {
        mounts.insert(CONFIG_VOLUME, (String::new(), CONF_DIR));
    }
    let mut paths: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for (volume, (path, at)) in &mounts {
        if *volume != CONFIG_VOLUME && !volumes.contains_key(volume) {
            return reject(
                format!("{path}.name"),
                format!(
                    "container '{container}' of the {role} pods mounts volume '{volume}', which they do not have (volumes come from {sources}); Kubernetes refuses a mount of a missing volume"
                ),
                format!(
                    "Add a volume named '{volume}' to the pod template's volumes, or mount a volume the pods have"
                ),
            );
        }
        if let Some((other, other_path)) = paths.insert(at, (volume, path)) {
            // The operator's mount has no place in the spec: point at the user's.
            let user_path = if *volume == CONFIG_VOLUME {
                other_path
            } else {
                path.as_str()
            };
            return reject(
                format!("{user_path}.mountPath"),
                format!(
                    "container '{container}' of the {role} pods mounts both '{other}' and '{volume}' at {at}; Kubernetes refuses two mounts at one path"
                ),
                if *at == CONF_DIR {
                    format!(
                        "{CONF_DIR} holds the Flink configuration the operator mounts; mount the volume elsewhere"
                    )
                } else {
                    "Mount each volume at its own path".to_string()
                },
            );
        }
    }
    Ok(())
}
