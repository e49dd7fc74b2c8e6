//! Pod templates: `spec.podTemplate` merged with the JobManager / TaskManager template, then the
//! operator's main container `flink-main-container` merged into it. Objects merge key by key;
//! lists of named objects (containers, volumes, env, ports, mounts) merge by `name`; other lists
//! are replaced by the overlay.

use crate::api::{FlinkDeploymentSpec, FlinkVersion};
use serde_json::{Map, Value};

/// Name of the Flink container in every pod.
pub const MAIN_CONTAINER: &str = "flink-main-container";

/// The volume of the Flink configuration, which the operator adds to every pod and mounts at
/// [`super::CONF_DIR`] in the main container.
pub const CONFIG_VOLUME: &str = "flink-config-volume";

/// Deep-merges `overlay` onto `base`.
pub fn merge(base: &Value, overlay: &Value) -> Value {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (k, ov) in o {
                let merged = match b.get(k) {
                    Some(bv) => merge(bv, ov),
                    None => ov.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(b), Value::Array(o)) if is_named_list(b) && is_named_list(o) => {
            Value::Array(merge_by_name(b, o))
        }
        (_, Value::Null) => base.clone(),
        (_, o) => o.clone(),
    }
}

fn is_named_list(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("name").and_then(Value::as_str).is_some())
}

fn merge_by_name(base: &[Value], overlay: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = base.to_vec();
    for o in overlay {
        let name = o.get("name");
        match out.iter_mut().find(|b| b.get("name") == name) {
            Some(b) => *b = merge(b, o),
            None => out.push(o.clone()),
        }
    }
    out
}

/// The pod template of one role: the common template with the role's template over it.
pub fn role_template(common: Option<&Value>, role: Option<&Value>) -> Value {
    let empty = Value::Object(Map::new());
    merge(common.unwrap_or(&empty), role.unwrap_or(&empty))
}

/// Merges the operator's main container into the template's `flink-main-container` (created if
/// absent, placed first). Operator fields win for scalars (image, command, args, resources);
/// env, ports and mounts merge by name, keeping the user's extra entries.
pub fn with_main_container(template: &Value, main: &Value) -> Value {
    let mut t = template.clone();
    if !t.is_object() {
        t = Value::Object(Map::new());
    }
    let spec = t
        .as_object_mut()
        .map(|o| o.entry("spec").or_insert_with(|| Value::Object(Map::new())));
    let Some(spec) = spec else {
        return t;
    };
    if !spec.is_object() {
        *spec = Value::Object(Map::new());
    }
    let containers = spec
        .as_object_mut()
        .map(|o| o.entry("containers").or_insert_with(|| Value::Array(Vec::new())));
    let Some(containers) = containers else {
        return t;
    };
    if !containers.is_array() {
        *containers = Value::Array(Vec::new());
    }
    if let Some(list) = containers.as_array_mut() {
        match list
            .iter()
            .position(|c| c.get("name").and_then(Value::as_str) == Some(MAIN_CONTAINER))
        {
            Some(i) => {
                let user = list.remove(i);
                list.insert(0, merge(&user, main));
            }
            None => list.insert(0, main.clone()),
        }
    }
    t
}

/// The image the template gives its main container, if any (empty counts as none).
pub fn main_image(template: Option<&Value>) -> Option<&str> {
    template?
        .pointer("/spec/containers")?
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(MAIN_CONTAINER))?
        .get("image")?
        .as_str()
        .filter(|i| !i.is_empty())
}

/// The image a role's pods run (`role_template` is the JobManager's or TaskManager's own pod
/// template): `spec.image`, else the image the pod templates give the main container (the role's
/// over the common one, as they merge), else the default of the spec's Flink version. The flag
/// says it is that default.
pub fn role_image(spec: &FlinkDeploymentSpec, role_template: Option<&Value>) -> Option<(String, bool)> {
    if let Some(image) = spec.image.as_deref().filter(|i| !i.is_empty()) {
        return Some((image.to_string(), false));
    }
    if let Some(image) = main_image(role_template).or_else(|| main_image(spec.pod_template.as_ref())) {
        return Some((image.to_string(), false));
    }
    spec.flink_version.map(|v| (default_image(v), true))
}

/// The image of a FlinkDeployment that names none: Docker's official Flink image of its Flink
/// version (`v1_20` gives `flink:1.20`). The reference falls back to Flink's own default image
/// (`apache/flink` of the Flink version bundled with the operator); this one at least runs the
/// Flink version the spec declares.
pub fn default_image(version: FlinkVersion) -> String {
    let numbers = version.as_str().trim_start_matches('v').replace('_', ".");
    format!("flink:{numbers}")
}

/// Appends named items to a list field of the pod spec unless an item of that name exists.
pub fn add_named(template: &mut Value, field: &str, items: Vec<Value>) {
    let Some(spec) = template.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let list = spec.entry(field).or_insert_with(|| Value::Array(Vec::new()));
    if let Some(list) = list.as_array_mut() {
        for item in items {
            if !list.iter().any(|e| e.get("name") == item.get("name")) {
                list.push(item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn role_template_merges_containers_by_name() {
        let common = json!({"metadata": {"labels": {"team": "a"}}, "spec": {"containers": [
            {"name": "flink-main-container", "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "busybox"}
        ], "nodeSelector": {"disk": "ssd"}}});
        let jm = json!({"metadata": {"labels": {"role": "jm"}}, "spec": {"containers": [
            {"name": "flink-main-container", "env": [{"name": "B", "value": "2"}]}
        ]}});
        let t = role_template(Some(&common), Some(&jm));
        assert_eq!(t["metadata"]["labels"], json!({"team": "a", "role": "jm"}));
        assert_eq!(t["spec"]["nodeSelector"], json!({"disk": "ssd"}));
        let main = &t["spec"]["containers"][0];
        assert_eq!(
            main["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(t["spec"]["containers"][1]["name"], "sidecar");
    }

    #[test]
    fn main_container_goes_first_and_operator_fields_win() {
        let t = json!({"spec": {"containers": [
            {"name": "sidecar"},
            {"name": "flink-main-container", "image": "user", "env": [{"name": "U", "value": "u"}]}
        ]}});
        let main = json!({"name": "flink-main-container", "image": "flink:1.20", "env": [{"name": "O", "value": "o"}]});
        let out = with_main_container(&t, &main);
        let c = &out["spec"]["containers"][0];
        assert_eq!(c["image"], "flink:1.20");
        assert_eq!(c["env"].as_array().unwrap().len(), 2);
        assert_eq!(out["spec"]["containers"][1]["name"], "sidecar");
    }
}
