//! Resource requirements inside pod templates, checked as the API server checks a pod's
//! containers: a request may not exceed its limit. The schema checks cover the quantities'
//! syntax (`api_server_values`); this is the one rule across two of them.

use super::components::quantity_text;
use super::error::{Rule, reject};
use super::quantity::parse_quantity;
use crate::api::FlinkDeploymentSpec;
use crate::render::MAIN_CONTAINER;
use serde_json::Value;

/// Checks every container of the three pod templates. The main container's cpu and memory are
/// left out: the operator sets them from `spec.*.resource(s)` over the template's.
pub fn validate_pod_template_resources(spec: &FlinkDeploymentSpec) -> Rule {
    let templates = [
        ("spec.podTemplate", spec.pod_template.as_ref()),
        (
            "spec.jobManager.podTemplate",
            spec.job_manager.as_ref().and_then(|jm| jm.pod_template.as_ref()),
        ),
        (
            "spec.taskManager.podTemplate",
            spec.task_manager.as_ref().and_then(|tm| tm.pod_template.as_ref()),
        ),
    ];
    for (path, template) in templates {
        for list in ["containers", "initContainers"] {
            let containers = template
                .and_then(|t| t.pointer(&format!("/spec/{list}")))
                .and_then(Value::as_array);
            for (i, container) in containers.into_iter().flatten().enumerate() {
                let main = list == "containers"
                    && container.get("name").and_then(Value::as_str) == Some(MAIN_CONTAINER);
                check_container(&format!("{path}.spec.{list}[{i}]"), container, main)?;
            }
        }
    }
    Ok(())
}

fn check_container(at: &str, container: &Value, main: bool) -> Rule {
    let Some(requests) = container
        .pointer("/resources/requests")
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    let limits = container.pointer("/resources/limits").and_then(Value::as_object);
    for (name, request) in requests {
        if main && (name == "cpu" || name == "memory") {
            continue;
        }
        let Some(limit) = limits.and_then(|l| l.get(name)) else {
            continue;
        };
        let (Some(request), Some(limit)) = (quantity_text(request), quantity_text(limit)) else {
            continue;
        };
        if let (Some(r), Some(l)) = (parse_quantity(&request), parse_quantity(&limit))
            && r > l
        {
            return reject(
                format!("{at}.resources.requests.{name}"),
                format!("the request ({request}) exceeds the limit ({limit}); Kubernetes refuses such a pod"),
                format!("Lower {at}.resources.requests.{name} or raise its limit"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(template: Value) -> FlinkDeploymentSpec {
        serde_json::from_value(json!({"taskManager": {"podTemplate": template}})).unwrap()
    }

    fn container(name: &str, requests: Value, limits: Value) -> Value {
        json!({"spec": {"containers": [{"name": name, "resources": {"requests": requests, "limits": limits}}]}})
    }

    #[test]
    fn a_request_above_its_limit_is_refused_as_the_api_server_would() {
        let e = validate_pod_template_resources(&spec(container(
            "sidecar",
            json!({"cpu": "500m", "memory": "2Gi"}),
            json!({"cpu": 1, "memory": "1Gi"}),
        )))
        .unwrap_err();
        assert_eq!(
            e.location,
            "spec.taskManager.podTemplate.spec.containers[0].resources.requests.memory"
        );
        assert!(
            e.problem.contains("the request (2Gi) exceeds the limit (1Gi)"),
            "{e}"
        );
        let init = json!({"spec": {"initContainers": [{"name": "fetch", "resources": {"requests": {"ephemeral-storage": "2G"}, "limits": {"ephemeral-storage": "1Gi"}}}]}});
        assert!(validate_pod_template_resources(&spec(init)).is_err());
    }

    #[test]
    fn equal_missing_or_overridden_values_pass() {
        for template in [
            container("sidecar", json!({"cpu": "1"}), json!({"cpu": "1000m"})),
            container("sidecar", json!({"cpu": "2"}), json!({"memory": "1Gi"})),
            container("sidecar", json!({"cpu": "lots"}), json!({"cpu": "1"})),
            // The operator sets the main container's cpu and memory.
            container(MAIN_CONTAINER, json!({"cpu": "4"}), json!({"cpu": "1"})),
        ] {
            assert_eq!(
                validate_pod_template_resources(&spec(template.clone())),
                Ok(()),
                "{template}"
            );
        }
        let gpu = container(
            MAIN_CONTAINER,
            json!({"nvidia.com/gpu": 2}),
            json!({"nvidia.com/gpu": 1}),
        );
        assert!(
            validate_pod_template_resources(&spec(gpu)).is_err(),
            "other resources pass through"
        );
    }
}
