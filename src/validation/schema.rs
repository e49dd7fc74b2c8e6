//! Structural checks before the rules: the object against its CRD's OpenAPI schema, and the
//! embedded Kubernetes structures the CRD keeps as `x-kubernetes-preserve-unknown-fields`
//! (pod templates, resource requirements) against the Kubernetes schema, with unknown fields
//! rejected so a typo is reported with its path instead of silently ignored.
//! Validators are compiled once per process.

use super::api_server_values;
use super::error::ValidationError;
use jsonschema::{Draft, Validator};
use k8s_openapi::api::core::v1::{PodTemplateSpec, ResourceRequirements};
use serde_json::{Map, Value};
use std::sync::LazyLock;

/// The kinds this crate admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlinkKind {
    Deployment,
    SessionJob,
    StateSnapshot,
}

impl FlinkKind {
    /// The kind as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "FlinkDeployment",
            Self::SessionJob => "FlinkSessionJob",
            Self::StateSnapshot => "FlinkStateSnapshot",
        }
    }

    /// Reads a `kind` field.
    pub fn from_kind(kind: &str) -> Option<Self> {
        match kind {
            "FlinkDeployment" => Some(Self::Deployment),
            "FlinkSessionJob" => Some(Self::SessionJob),
            "FlinkStateSnapshot" => Some(Self::StateSnapshot),
            _ => None,
        }
    }
}

type Compiled = Result<Validator, String>;

static DEPLOYMENT: LazyLock<Compiled> = LazyLock::new(|| crd_validator("FlinkDeployment"));
static SESSION_JOB: LazyLock<Compiled> = LazyLock::new(|| crd_validator("FlinkSessionJob"));
static STATE_SNAPSHOT: LazyLock<Compiled> = LazyLock::new(|| crd_validator("FlinkStateSnapshot"));
static POD_TEMPLATE: LazyLock<Compiled> = LazyLock::new(|| kubernetes_validator::<PodTemplateSpec>(true));
// Not with the API server's value rules: the operator reads `spec.*.resources` itself (memory in
// Flink's syntax first, as the reference does) and renders quantities from it.
static RESOURCES: LazyLock<Compiled> = LazyLock::new(|| kubernetes_validator::<ResourceRequirements>(false));

/// Embedded Kubernetes structures of a FlinkDeployment: (JSON pointer, schema, type name).
const DEPLOYMENT_EMBEDDED: [(&str, &LazyLock<Compiled>, &str); 5] = [
    ("/spec/podTemplate", &POD_TEMPLATE, "core/v1 PodTemplateSpec"),
    (
        "/spec/jobManager/podTemplate",
        &POD_TEMPLATE,
        "core/v1 PodTemplateSpec",
    ),
    (
        "/spec/taskManager/podTemplate",
        &POD_TEMPLATE,
        "core/v1 PodTemplateSpec",
    ),
    (
        "/spec/jobManager/resources",
        &RESOURCES,
        "core/v1 ResourceRequirements",
    ),
    (
        "/spec/taskManager/resources",
        &RESOURCES,
        "core/v1 ResourceRequirements",
    ),
];

/// Compiles every validator now (startup), reporting a schema that does not compile.
pub fn warm_up() -> Result<(), String> {
    for v in [
        &DEPLOYMENT,
        &SESSION_JOB,
        &STATE_SNAPSHOT,
        &POD_TEMPLATE,
        &RESOURCES,
    ] {
        if let Err(e) = LazyLock::force(v) {
            return Err(e.clone());
        }
    }
    Ok(())
}

/// Checks `object` (a whole FlinkDeployment, FlinkSessionJob or FlinkStateSnapshot as JSON)
/// against the schemas.
/// Explicit nulls count as absent, as the API server treats them.
pub fn validate_schema(kind: FlinkKind, object: &Value) -> Result<(), ValidationError> {
    let stripped;
    let object = if has_nulls(object) {
        stripped = without_nulls(object);
        &stripped
    } else {
        object
    };
    let crd = match kind {
        FlinkKind::Deployment => &DEPLOYMENT,
        FlinkKind::SessionJob => &SESSION_JOB,
        FlinkKind::StateSnapshot => &STATE_SNAPSHOT,
    };
    check(crd, object, "", || format!("the {} CRD schema", kind.as_str()))?;
    if kind == FlinkKind::Deployment {
        for (pointer, validator, type_name) in DEPLOYMENT_EMBEDDED {
            if let Some(embedded) = object.pointer(pointer) {
                check(validator, embedded, pointer, || {
                    format!("the Kubernetes {type_name} schema")
                })?;
            }
        }
    }
    Ok(())
}

/// Checks `instance`, found at JSON `pointer`, against a compiled schema. The words of an error
/// are only put together for one (a webhook checks every review).
fn check(
    compiled: &Compiled,
    instance: &Value,
    pointer: &str,
    against: impl FnOnce() -> String,
) -> Result<(), ValidationError> {
    let validator = compiled.as_ref().map_err(|e| {
        ValidationError::new(
            path_of(pointer),
            format!("internal error: schema does not compile: {e}"),
            "",
        )
    })?;
    if validator.is_valid(instance) {
        return Ok(());
    }
    let Some(error) = validator.iter_errors(instance).next() else {
        return Ok(());
    };
    let prefix = path_of(pointer);
    let prefix = prefix.as_str();
    let against = against();
    let inner = path_of(error.instance_path().as_str());
    let location = match (prefix.is_empty(), inner.is_empty()) {
        (true, _) => inner,
        (false, true) => prefix.to_string(),
        (false, false) if inner.starts_with('[') => format!("{prefix}{inner}"),
        (false, false) => format!("{prefix}.{inner}"),
    };
    let location = if location.is_empty() {
        "<root>".to_string()
    } else {
        location
    };
    let problem = api_server_values::problem_words(&error);
    Err(ValidationError::new(
        location,
        format!("does not match {against}: {problem}"),
        "Fix the field name or value (kubectl explain shows the expected fields and types)",
    ))
}

/// `/spec/containers/0/name` → `spec.containers[0].name`.
fn path_of(pointer: &str) -> String {
    let mut out = String::new();
    for raw in pointer.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

fn has_nulls(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().any(has_nulls),
        Value::Array(items) => items.iter().any(has_nulls),
        _ => false,
    }
}

fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn compile(schema: &Value) -> Compiled {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(false)
        .build(schema)
        .map_err(|e| e.to_string())
}

fn crd_validator(kind: &str) -> Compiled {
    let crd = crate::crd::all()
        .into_iter()
        .find(|g| g.crd.spec.names.kind == kind)
        .ok_or_else(|| format!("no CRD for {kind}"))?;
    let schema = crd
        .crd
        .spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .ok_or_else(|| format!("the {kind} CRD has no schema"))?;
    let mut schema = serde_json::to_value(schema).map_err(|e| e.to_string())?;
    openapi_to_json_schema(&mut schema, false);
    compile(&schema)
}

/// With `rendered`: a structure the operator passes on to the API server (a pod template), so
/// it gets the API server's value rules too.
fn kubernetes_validator<T: schemars::JsonSchema>(rendered: bool) -> Compiled {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let root = generator.into_root_schema_for::<T>();
    let mut schema = serde_json::to_value(root).map_err(|e| e.to_string())?;
    openapi_to_json_schema(&mut schema, true);
    if rendered {
        let missing = api_server_values::add_value_rules(&mut schema);
        if !missing.is_empty() {
            return Err(format!(
                "value rules name no schema definition: {}",
                missing.join(", ")
            ));
        }
    }
    compile(&schema)
}

/// Rewrites Kubernetes schema extensions into plain JSON Schema: int-or-string values accept
/// both; with `closed` (partial Kubernetes structures), objects with declared properties reject
/// unknown ones and nothing is required.
fn openapi_to_json_schema(schema: &mut Value, closed: bool) {
    match schema {
        Value::Object(map) => {
            rewrite_object(map, closed);
            for (key, child) in map.iter_mut() {
                // Property names and enum values are data, not schemas.
                if key == "enum" || key == "required" {
                    continue;
                }
                if key == "properties" || key == "$defs" || key == "definitions" {
                    if let Value::Object(children) = child {
                        for grandchild in children.values_mut() {
                            openapi_to_json_schema(grandchild, closed);
                        }
                    }
                    continue;
                }
                openapi_to_json_schema(child, closed);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| openapi_to_json_schema(i, closed)),
        _ => {}
    }
}

fn rewrite_object(map: &mut Map<String, Value>, closed: bool) {
    if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) && !map.contains_key("type") {
        map.insert("type".into(), serde_json::json!(["integer", "number", "string"]));
    }
    if closed {
        // Flink pod templates are partial: the operator merges them over its own pod, so no
        // Kubernetes field is required in them (e.g. a template without containers is fine).
        map.remove("required");
    }
    let preserve = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if closed && !preserve && map.contains_key("properties") && !map.contains_key("additionalProperties") {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_schemas_compile() {
        assert_eq!(warm_up(), Ok(()));
    }

    #[test]
    fn pointer_to_path() {
        assert_eq!(path_of("/spec/containers/0/name"), "spec.containers[0].name");
        assert_eq!(path_of("/metadata/labels/a~1b"), "metadata.labels.a/b");
        assert_eq!(path_of(""), "");
    }

    fn dep(spec: Value) -> Value {
        json!({"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment", "metadata": {"name": "x"}, "spec": spec})
    }

    #[test]
    fn crd_types_are_checked() {
        assert!(validate_schema(FlinkKind::Deployment, &dep(json!({"flinkVersion": "v1_20"}))).is_ok());
        let e = validate_schema(FlinkKind::Deployment, &dep(json!({"flinkVersion": "v9"}))).unwrap_err();
        assert_eq!(e.location, "spec.flinkVersion", "{e}");
        let e = validate_schema(
            FlinkKind::Deployment,
            &dep(json!({"job": {"parallelism": "two"}})),
        )
        .unwrap_err();
        assert_eq!(e.location, "spec.job.parallelism", "{e}");
        let e = validate_schema(
            FlinkKind::SessionJob,
            &json!({"kind": "FlinkSessionJob", "spec": {"job": {"upgradeMode": "fast"}}}),
        )
        .unwrap_err();
        assert_eq!(e.location, "spec.job.upgradeMode", "{e}");
        assert!(validate_schema(FlinkKind::Deployment, &dep(json!({"image": null}))).is_ok());
    }

    #[test]
    fn pod_templates_get_the_values_the_api_server_accepts() {
        let accepted = dep(json!({
            "podTemplate": {"metadata": {"labels": {"app.kubernetes.io/name": "orders", "tier": "", "v": "1.2_b-c"}, "annotations": {"example.com/note": "any text: 1, 2"}}, "spec": {
                "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                "tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": ""}],
                "volumes": [{"name": "v", "emptyDir": {"sizeLimit": "1Gi"}}, {"name": "h", "hostPath": {"path": "/x", "type": ""}}],
                "containers": [{"name": "sidecar", "imagePullPolicy": "", "ports": [{"containerPort": 1, "protocol": "UDP"}],
                    "resources": {"requests": {"cpu": 0.5, "memory": "512Mi", "nvidia.com/gpu": 1}, "limits": {"cpu": "1500m"}}}]
            }}
        }));
        assert_eq!(validate_schema(FlinkKind::Deployment, &accepted), Ok(()));
        for (spec, location) in [
            (
                json!({"podTemplate": {"spec": {"restartPolicy": "Sometimes"}}}),
                "spec.podTemplate.spec.restartPolicy",
            ),
            (
                json!({"jobManager": {"podTemplate": {"spec": {"tolerations": [{"operator": "exists"}]}}}}),
                "spec.jobManager.podTemplate.spec.tolerations[0].operator",
            ),
            (
                json!({"podTemplate": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 1, "protocol": "tcp"}]}]}}}),
                "spec.podTemplate.spec.containers[0].ports[0].protocol",
            ),
            (
                json!({"podTemplate": {"spec": {"volumes": [{"name": "v", "emptyDir": {"sizeLimit": "1 GB"}}]}}}),
                "spec.podTemplate.spec.volumes[0].emptyDir.sizeLimit",
            ),
            (
                json!({"podTemplate": {"spec": {"overhead": {"memory": "2gb"}}}}),
                "spec.podTemplate.spec.overhead.memory",
            ),
            (
                json!({"podTemplate": {"metadata": {"labels": {"team": "data platform"}}}}),
                "spec.podTemplate.metadata.labels.team",
            ),
            (
                json!({"jobManager": {"podTemplate": {"metadata": {"labels": {"team name": "data"}}}}}),
                "spec.jobManager.podTemplate.metadata.labels",
            ),
            (
                json!({"podTemplate": {"metadata": {"annotations": {"-x": "y"}}}}),
                "spec.podTemplate.metadata.annotations",
            ),
            (
                json!({"podTemplate": {"spec": {"containers": [{"name": "Log_Shipper"}]}}}),
                "spec.podTemplate.spec.containers[0].name",
            ),
            (
                json!({"podTemplate": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 70000}]}]}}}),
                "spec.podTemplate.spec.containers[0].ports[0].containerPort",
            ),
            (
                json!({"podTemplate": {"spec": {"volumes": [{"name": "flink_data", "emptyDir": {}}]}}}),
                "spec.podTemplate.spec.volumes[0].name",
            ),
            (
                json!({"podTemplate": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 9, "name": "metrics-exporter-port"}]}]}}}),
                "spec.podTemplate.spec.containers[0].ports[0].name",
            ),
        ] {
            let e = validate_schema(FlinkKind::Deployment, &dep(spec)).unwrap_err();
            assert_eq!(e.location, location, "{e}");
            assert!(!e.problem.contains('^'), "a pattern, not words: {e}");
        }
        let e = validate_schema(
            FlinkKind::Deployment,
            &dep(json!({"podTemplate": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 9, "name": "metrics-exporter"}]}]}}})),
        )
        .unwrap_err();
        assert!(
            e.problem
                .ends_with(r#""metrics-exporter" is longer than 15 characters"#),
            "{e}"
        );
        let e = validate_schema(
            FlinkKind::Deployment,
            &dep(json!({"podTemplate": {"metadata": {"labels": {"team name": "data"}}}})),
        )
        .unwrap_err();
        assert!(e.problem.ends_with(r#""team name" is not a valid label or annotation key (an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"#), "{e}");
        // The operator reads spec.*.resources itself, memory in Flink's syntax first.
        let flink_memory = dep(json!({"jobManager": {"resources": {"requests": {"memory": "2048 mb"}}}}));
        assert_eq!(validate_schema(FlinkKind::Deployment, &flink_memory), Ok(()));
    }

    #[test]
    fn embedded_kubernetes_structures_are_checked() {
        let good = dep(json!({
            "podTemplate": {"metadata": {"labels": {"a": "b"}, "creationTimestamp": null}, "spec": {"containers": [{"name": "flink-main-container", "env": [{"name": "A", "value": "1"}]}]}},
            "jobManager": {"resources": {"requests": {"cpu": 1, "memory": "2Gi"}}},
            "taskManager": {"podTemplate": {"spec": {"tolerations": [{"key": "k", "operator": "Exists"}]}}}
        }));
        assert_eq!(validate_schema(FlinkKind::Deployment, &good), Ok(()));
        let typo = dep(
            json!({"podTemplate": {"spec": {"containers": [{"name": "c", "imagePullPolicyy": "Always"}]}}}),
        );
        let e = validate_schema(FlinkKind::Deployment, &typo).unwrap_err();
        assert_eq!(e.location, "spec.podTemplate.spec.containers[0]", "{e}");
        assert!(e.problem.contains("imagePullPolicyy"), "{e}");
        let typo = dep(json!({"taskManager": {"resources": {"request": {"cpu": 1}}}}));
        let e = validate_schema(FlinkKind::Deployment, &typo).unwrap_err();
        assert_eq!(e.location, "spec.taskManager.resources", "{e}");
        let e = validate_schema(
            FlinkKind::Deployment,
            &dep(json!({"podTemplate": {"spec": {"containers": [{"name": "c", "imagePullPolicy": "Sometimes"}]}}})),
        )
        .unwrap_err();
        assert_eq!(
            e.location, "spec.podTemplate.spec.containers[0].imagePullPolicy",
            "{e}"
        );
        assert!(
            e.problem
                .ends_with(r#""Sometimes" is not one of Always, IfNotPresent, Never"#),
            "{e}"
        );
        let e = validate_schema(
            FlinkKind::Deployment,
            &dep(json!({"taskManager": {"podTemplate": {"spec": {"initContainers": [{"name": "c", "resources": {"limits": {"cpu": "lots"}}}]}}}})),
        )
        .unwrap_err();
        assert_eq!(
            e.location, "spec.taskManager.podTemplate.spec.initContainers[0].resources.limits.cpu",
            "{e}"
        );
        assert!(
            e.problem.contains(r#""lots" is not a Kubernetes quantity"#),
            "{e}"
        );
        let wrong_type = dep(json!({"jobManager": {"podTemplate": {"spec": {"containers": {"name": "c"}}}}}));
        let e = validate_schema(FlinkKind::Deployment, &wrong_type).unwrap_err();
        assert_eq!(e.location, "spec.jobManager.podTemplate.spec.containers", "{e}");
    }
}
