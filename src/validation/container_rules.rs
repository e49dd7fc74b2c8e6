//! One container of a pod template, checked as the API server checks a pod's container: its
//! resources, environment, ports, probes and mounts. The schema checks cover each value's syntax
//! (`api_server_values`); these are the rules across values, which a schema cannot say.

use super::components::quantity_text;
use super::error::{Rule, reject};
use super::names::{is_env_var_name, is_port_name};
use super::quantity::parse_quantity;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt::Display;

/// Checks the container at `at` (a JSON path). `main` is the Flink container, whose cpu and
/// memory the operator sets from `spec.*.resource(s)` over the template's.
pub fn check_container(at: &impl Display, container: &Value, main: bool) -> Rule {
    check_resources(at, container, main)?;
    check_env(at, container)?;
    check_ports(at, container)?;
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = container.get(probe).filter(|p| !p.is_null()) {
            check_probe(at, probe, p)?;
        }
    }
    check_mount_paths(at, container)
}

fn list<'a>(value: &'a Value, field: &str) -> impl Iterator<Item = (usize, &'a Value)> {
    value
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

fn object<'a>(value: &'a Value, pointer: &str) -> Option<&'a Map<String, Value>> {
    value.pointer(pointer).and_then(Value::as_object)
}

/// Requests no larger than limits; extended resources (a vendor's, such as `nvidia.com/gpu`)
/// whole, with a limit, and requested at exactly their limit, as they cannot be overcommitted.
fn check_resources(at: &impl Display, container: &Value, main: bool) -> Rule {
    let requests = object(container, "/resources/requests");
    let limits = object(container, "/resources/limits");
    let quantity = |v: &Value| quantity_text(v).and_then(|t| parse_quantity(&t).map(|q| (t, q)));
    for (name, value) in limits.into_iter().flatten() {
        if let Some((text, q)) = quantity(value)
            && is_extended_resource(name)
            && q.fract() != 0.0
        {
            return reject(
                format!("{at}.resources.limits.{name}"),
                format!("{name} is an extended resource and must be a whole number, not {text}"),
                format!("Give {name} a whole number of units"),
            );
        }
    }
    for (name, value) in requests.into_iter().flatten() {
        let Some((text, request)) = quantity(value) else {
            continue;
        };
        let limit = limits.and_then(|l| l.get(name)).and_then(quantity);
        if is_extended_resource(name) {
            let fix = format!(
                "Set {at}.resources.limits.{name} to {text}, or leave the request out (it defaults to the limit)"
            );
            match limit {
                None => {
                    return reject(
                        format!("{at}.resources.requests.{name}"),
                        format!(
                            "{name} is an extended resource, which cannot be overcommitted: Kubernetes refuses a request without a limit"
                        ),
                        fix,
                    );
                }
                Some((limit_text, l)) if l != request => {
                    return reject(
                        format!("{at}.resources.requests.{name}"),
                        format!(
                            "{name} is an extended resource, which cannot be overcommitted: its request ({text}) must equal its limit ({limit_text})"
                        ),
                        fix,
                    );
                }
                Some(_) => continue,
            }
        }
        if main && (name == "cpu" || name == "memory") {
            continue;
        }
        if let Some((limit_text, l)) = limit
            && request > l
        {
            return reject(
                format!("{at}.resources.requests.{name}"),
                format!(
                    "the request ({text}) exceeds the limit ({limit_text}); Kubernetes refuses such a pod"
                ),
                format!("Lower {at}.resources.requests.{name} or raise its limit"),
            );
        }
    }
    Ok(())
}

/// A resource Kubernetes does not define (`vendor.example/thing`), as its `IsExtendedResourceName`.
fn is_extended_resource(name: &str) -> bool {
    name.contains('/') && !name.contains("kubernetes.io/") && !name.starts_with("requests.")
}

const ENV_SOURCES: &[&str] = &[
    "fieldRef",
    "resourceFieldRef",
    "configMapKeyRef",
    "secretKeyRef",
    "fileKeyRef",
];

fn check_env(at: &impl Display, container: &Value) -> Rule {
    for (i, var) in list(container, "env") {
        let here = || format!("{at}.env[{i}]");
        let name = var.get("name").and_then(Value::as_str).unwrap_or_default();
        if !is_env_var_name(name) {
            return reject(
                format!("{}.name", here()),
                format!(
                    "'{name}' is not an environment variable name Kubernetes accepts (printable ASCII characters other than '=')"
                ),
                "Rename the variable, e.g. MY_SETTING",
            );
        }
        let Some(from) = var.get("valueFrom").filter(|v| !v.is_null()) else {
            continue;
        };
        if var
            .get("value")
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
        {
            return reject(
                format!("{}.valueFrom", here()),
                format!(
                    "variable {name} sets both value and valueFrom; Kubernetes refuses a variable with both"
                ),
                "Keep one of them",
            );
        }
        let sources = set_fields(from, ENV_SOURCES);
        if sources.len() != 1 {
            return reject(
                format!("{}.valueFrom", here()),
                format!(
                    "variable {name} must take its value from exactly one source, not {}",
                    if sources.is_empty() {
                        "none".to_string()
                    } else {
                        sources.join(" and ")
                    }
                ),
                format!("Keep one of {}", ENV_SOURCES.join(", ")),
            );
        }
    }
    Ok(())
}

/// Which of `fields` are set (present and not null) in `value`.
pub(crate) fn set_fields<'a>(value: &Value, fields: &[&'a str]) -> Vec<&'a str> {
    fields
        .iter()
        .copied()
        .filter(|f| value.get(f).is_some_and(|v| !v.is_null()))
        .collect()
}

fn check_ports(at: &impl Display, container: &Value) -> Rule {
    let mut names = BTreeSet::new();
    for (i, port) in list(container, "ports") {
        if let Some(name) = port.get("name").and_then(Value::as_str).filter(|n| !n.is_empty())
            && !names.insert(name)
        {
            return reject(
                format!("{at}.ports[{i}].name"),
                format!(
                    "port name '{name}' is used twice in this container; Kubernetes refuses duplicate port names"
                ),
                "Give each port its own name",
            );
        }
    }
    Ok(())
}

const PROBE_HANDLERS: &[&str] = &["exec", "httpGet", "tcpSocket", "grpc"];

fn check_probe(container: &impl Display, kind: &str, probe: &Value) -> Rule {
    let at = || format!("{container}.{kind}");
    let handlers = set_fields(probe, PROBE_HANDLERS);
    if handlers.len() != 1 {
        let problem = if handlers.is_empty() {
            "the probe has no handler".to_string()
        } else {
            format!(
                "the probe has {} handlers ({})",
                handlers.len(),
                handlers.join(", ")
            )
        };
        return reject(
            at(),
            format!("{problem}; Kubernetes needs exactly one"),
            format!("Keep one of {}", PROBE_HANDLERS.join(", ")),
        );
    }
    if kind != "readinessProbe"
        && let Some(n) = probe.get("successThreshold").and_then(Value::as_i64)
        && n != 0
        && n != 1
    {
        return reject(
            format!("{}.successThreshold", at()),
            format!("a {kind}'s successThreshold must be 1, not {n}"),
            "Set it to 1 or leave it out",
        );
    }
    for handler in ["httpGet", "tcpSocket"] {
        let Some(port) = probe.pointer(&format!("/{handler}/port")) else {
            continue;
        };
        let valid = match port {
            Value::String(name) => is_port_name(name),
            Value::Number(n) => n.as_i64().is_some_and(|n| (1..=65535).contains(&n)),
            _ => true,
        };
        if !valid {
            return reject(
                format!("{}.{handler}.port", at()),
                format!(
                    "{port} is neither a port number (1-65535) nor a port name (at most 15 lower case letters, digits or '-', with a letter)"
                ),
                "Give the port's number, or the name of one of the container's ports",
            );
        }
    }
    Ok(())
}

fn check_mount_paths(at: &impl Display, container: &Value) -> Rule {
    let mut paths = BTreeSet::new();
    for (i, mount) in list(container, "volumeMounts") {
        if let Some(path) = mount.get("mountPath").and_then(Value::as_str)
            && !paths.insert(path)
        {
            return reject(
                format!("{at}.volumeMounts[{i}].mountPath"),
                format!("two volumes are mounted at {path} in this container; Kubernetes refuses that"),
                "Mount each volume at its own path",
            );
        }
    }
    Ok(())
}
