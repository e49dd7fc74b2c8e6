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
use std::fmt;

/// A pod template and its JSON path.
pub type Template<'a> = (&'a str, Option<&'a Value>);

/// Where an item of a template's list is, written out only for a message.
#[derive(Clone, Copy)]
pub struct Item<'a> {
    pub template: &'a str,
    pub list: &'static str,
    pub index: usize,
}

impl fmt::Display for Item<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.spec.{}[{}]", self.template, self.list, self.index)
    }
}

/// The named items of one list across the templates, by name, each with its path, in merge
/// order: the last one's fields win.
type Merged<'a> = BTreeMap<&'a str, Vec<(Item<'a>, &'a Value)>>;

fn merged<'a>(templates: &[Template<'a>], list: &'static str) -> Merged<'a> {
    let mut out: Merged<'a> = BTreeMap::new();
    for (template, value) in templates {
        let items = value
            .and_then(|t| t.get("spec"))
            .and_then(|spec| spec.get(list))
            .and_then(Value::as_array);
        for (index, item) in items.into_iter().flatten().enumerate() {
            if let Some(name) = item.get("name").and_then(Value::as_str) {
                out.entry(name).or_default().push((
                    Item {
                        template,
                        list,
                        index,
                    },
                    item,
                ));
            }
        }
    }
    out
}

/// The value of `field` the merge keeps: the last template's that sets it.
fn last_set<'a>(items: &'a [(Item<'a>, &'a Value)], field: &str) -> Option<&'a Value> {
    items.iter().rev().find_map(|(_, item)| item.get(field))
}

/// Checks the pods of `role` ("JobManager", "TaskManager") made from the common template and
/// the role's own.
pub fn check_role_pods(role: &str, common: Template<'_>, own: Template<'_>) -> Rule {
    let templates = [common, own];
    let sources = || {
        templates
            .iter()
            .filter(|(_, t)| t.is_some())
            .map(|(p, _)| *p)
            .collect::<Vec<_>>()
            .join(" and ")
    };
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
        let image = last_set(items, "image").and_then(Value::as_str);
        if image.is_none_or(str::is_empty) {
            let (last, _) = items[items.len() - 1];
            return reject(
                last.to_string(),
                format!(
                    "container '{name}' of the {role} pods has no image (from {}); Kubernetes refuses a container without one",
                    sources()
                ),
                "Set the container's image",
            );
        }
    }
    let volumes = merged(&templates, "volumes");
    for (name, items) in all {
        check_mounts(role, name, items, &volumes, sources)?;
    }
    Ok(())
}

/// Where a user's mount is (its container and index); `None` for the operator's.
type Mount<'a> = Option<(Item<'a>, usize)>;

/// The merged container's mounts: each names a volume of the pod, each at its own path. Mounts
/// merge by volume name like the other named lists; the operator mounts its configuration
/// volume at the configuration directory of the main container.
fn check_mounts(
    role: &str,
    container: &str,
    items: &[(Item<'_>, &Value)],
    volumes: &Merged<'_>,
    sources: impl Fn() -> String,
) -> Rule {
    // Volume name -> (where the user's mount is: container and index; its path).
    let mut mounts: BTreeMap<&str, (Mount<'_>, &str)> = BTreeMap::new();
    for (container_at, item) in items {
        let list = item.get("volumeMounts").and_then(Value::as_array);
        for (j, mount) in list.into_iter().flatten().enumerate() {
            let (Some(volume), Some(at)) = (
                mount.get("name").and_then(Value::as_str),
                mount.get("mountPath").and_then(Value::as_str),
            ) else {
                continue;
            };
            mounts.insert(volume, (Some((*container_at, j)), at));
        }
    }
    if container == MAIN_CONTAINER {
        mounts.insert(CONFIG_VOLUME, (None, CONF_DIR));
    }
    let written = |mount: &Mount<'_>| match mount {
        Some((container_at, j)) => format!("{container_at}.volumeMounts[{j}]"),
        None => String::new(),
    };
    let mut paths: BTreeMap<&str, (&str, &Mount<'_>)> = BTreeMap::new();
    for (volume, (mount, at)) in &mounts {
        if *volume != CONFIG_VOLUME && !volumes.contains_key(volume) {
            let sources = sources();
            return reject(
                format!("{}.name", written(mount)),
                format!(
                    "container '{container}' of the {role} pods mounts volume '{volume}', which they do not have (volumes come from {sources}); Kubernetes refuses a mount of a missing volume"
                ),
                format!(
                    "Add a volume named '{volume}' to the pod template's volumes, or mount a volume the pods have"
                ),
            );
        }
        if let Some((other, other_mount)) = paths.insert(at, (volume, mount)) {
            // The operator's mount has no place in the spec: point at the user's.
            let user_mount = if *volume == CONFIG_VOLUME {
                other_mount
            } else {
                mount
            };
            return reject(
                format!("{}.mountPath", written(user_mount)),
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
