//! Values the Kubernetes API server checks in a pod template that its OpenAPI schema does not
//! say: the fixed sets of words (`imagePullPolicy: Always | IfNotPresent | Never`, ...) and the
//! syntax of resource quantities. The operator renders the pod template into the JobManager and
//! TaskManager Deployments, so a value the API server refuses there would fail the deployment
//! after admission said yes, with the old job possibly already stopped for the upgrade.
//!
//! Both are added to the generated Kubernetes schema as JSON Schema (`enum`, `pattern`), keyed by
//! the k8s-openapi definition names; a test checks every entry still names a definition.

use serde_json::{Value, json};

/// (definition, property, accepted values) as Kubernetes 1.33 validates them. An empty string is
/// accepted too: the API server fills in the default for it before validating.
pub const ENUMS: &[(&str, &str, &[&str])] = &[
    (CONTAINER, "imagePullPolicy", PULL_POLICIES),
    (CONTAINER, "terminationMessagePolicy", MESSAGE_POLICIES),
    (CONTAINER, "restartPolicy", &["Always"]),
    (EPHEMERAL, "imagePullPolicy", PULL_POLICIES),
    (EPHEMERAL, "terminationMessagePolicy", MESSAGE_POLICIES),
    (
        "io.k8s.api.core.v1.ContainerPort",
        "protocol",
        &["TCP", "UDP", "SCTP"],
    ),
    (
        "io.k8s.api.core.v1.ContainerResizePolicy",
        "restartPolicy",
        &["NotRequired", "RestartContainer"],
    ),
    (POD_SPEC, "restartPolicy", &["Always", "OnFailure", "Never"]),
    (
        POD_SPEC,
        "dnsPolicy",
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
    ),
    (POD_SPEC, "preemptionPolicy", &["PreemptLowerPriority", "Never"]),
    ("io.k8s.api.core.v1.PodOS", "name", &["linux", "windows"]),
    ("io.k8s.api.core.v1.Toleration", "operator", &["Exists", "Equal"]),
    (
        "io.k8s.api.core.v1.Toleration",
        "effect",
        &["NoSchedule", "PreferNoSchedule", "NoExecute"],
    ),
    (
        "io.k8s.api.core.v1.NodeSelectorRequirement",
        "operator",
        &["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement",
        "operator",
        &["In", "NotIn", "Exists", "DoesNotExist"],
    ),
    (
        TOPOLOGY_SPREAD,
        "whenUnsatisfiable",
        &["DoNotSchedule", "ScheduleAnyway"],
    ),
    (TOPOLOGY_SPREAD, "nodeAffinityPolicy", HONOR_IGNORE),
    (TOPOLOGY_SPREAD, "nodeTaintsPolicy", HONOR_IGNORE),
    ("io.k8s.api.core.v1.SeccompProfile", "type", PROFILE_TYPES),
    ("io.k8s.api.core.v1.AppArmorProfile", "type", PROFILE_TYPES),
    (
        "io.k8s.api.core.v1.PodSecurityContext",
        "fsGroupChangePolicy",
        &["OnRootMismatch", "Always"],
    ),
    (
        "io.k8s.api.core.v1.SecurityContext",
        "procMount",
        &["Default", "Unmasked"],
    ),
    (
        "io.k8s.api.core.v1.VolumeMount",
        "mountPropagation",
        &["None", "HostToContainer", "Bidirectional"],
    ),
    (
        "io.k8s.api.core.v1.VolumeMount",
        "recursiveReadOnly",
        &["Disabled", "IfPossible", "Enabled"],
    ),
    (
        "io.k8s.api.core.v1.HostPathVolumeSource",
        "type",
        &[
            "DirectoryOrCreate",
            "Directory",
            "FileOrCreate",
            "File",
            "Socket",
            "CharDevice",
            "BlockDevice",
        ],
    ),
    ("io.k8s.api.core.v1.HTTPGetAction", "scheme", &["HTTP", "HTTPS"]),
    (
        "io.k8s.api.core.v1.ImageVolumeSource",
        "pullPolicy",
        PULL_POLICIES,
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
        "volumeMode",
        &["Filesystem", "Block"],
    ),
];

/// The definition of a resource quantity (`500m`, `2Gi`, `1e3`, or a plain JSON number).
pub const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/// Kubernetes' quantity grammar: a signed decimal number and one suffix (binary SI, decimal
/// SI, or a decimal exponent).
pub const QUANTITY_PATTERN: &str =
    r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$";

const CONTAINER: &str = "io.k8s.api.core.v1.Container";
const EPHEMERAL: &str = "io.k8s.api.core.v1.EphemeralContainer";
const POD_SPEC: &str = "io.k8s.api.core.v1.PodSpec";
const TOPOLOGY_SPREAD: &str = "io.k8s.api.core.v1.TopologySpreadConstraint";
pub(crate) const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const MESSAGE_POLICIES: &[&str] = &["File", "FallbackToLogsOnError"];
const HONOR_IGNORE: &[&str] = &["Honor", "Ignore"];
const PROFILE_TYPES: &[&str] = &["RuntimeDefault", "Unconfined", "Localhost"];

/// Adds the API server's value rules to a generated Kubernetes schema's definitions. Returns the
/// table entries whose definition or property the schema lacks (none, for the pod template).
pub fn add_value_rules(schema: &mut Value) -> Vec<String> {
    let mut missing = Vec::new();
    let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) else {
        return vec!["$defs".to_string()];
    };
    for (def, property, values) in ENUMS {
        match defs
            .get_mut(*def)
            .and_then(|d| d.get_mut("properties"))
            .and_then(|p| p.get_mut(*property))
            .and_then(Value::as_object_mut)
        {
            Some(p) => {
                let accepted: Vec<&str> = std::iter::once("").chain(values.iter().copied()).collect();
                p.insert("enum".into(), json!(accepted));
            }
            None => missing.push(format!("{def}.{property}")),
        }
    }
    match defs.get_mut(QUANTITY).and_then(Value::as_object_mut) {
        // `pattern` applies to strings only; a JSON number is always a quantity.
        Some(q) => {
            q.insert("pattern".into(), json!(QUANTITY_PATTERN));
        }
        None => missing.push(QUANTITY.to_string()),
    }
    missing
}

/// A person's words for an `enum` failure: the value and the accepted words, without the empty
/// string the schema also accepts.
pub fn enum_message(instance: &Value, options: &Value) -> String {
    let words: Vec<&str> = options
        .as_array()
        .map(|o| {
            o.iter()
                .filter_map(Value::as_str)
                .filter(|w| !w.is_empty())
                .collect()
        })
        .unwrap_or_default();
    format!("{instance} is not one of {}", words.join(", "))
}

/// A person's words for a quantity that does not parse.
pub fn quantity_message(instance: &Value) -> String {
    format!("{instance} is not a Kubernetes quantity (write e.g. 500m, 2, 1.5, 512Mi or 2Gi)")
}

/// True when a `pattern` failure is the quantity pattern's.
pub fn is_quantity_pattern(pattern: &str) -> bool {
    pattern == QUANTITY_PATTERN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_names_a_definition_of_the_pod_template_schema() {
        let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        let root = generator.into_root_schema_for::<k8s_openapi::api::core::v1::PodTemplateSpec>();
        let mut schema = serde_json::to_value(root).unwrap();
        assert_eq!(add_value_rules(&mut schema), Vec::<String>::new());
    }

    #[test]
    fn the_quantity_pattern_is_the_kubernetes_grammar() {
        let schema = json!({"type": "string", "pattern": QUANTITY_PATTERN});
        let matches = |text: &str| jsonschema::is_valid(&schema, &json!(text));
        for ok in [
            "1", "500m", "0.5", ".5", "5.", "2Gi", "1e3", "1E-3", "+1", "-1", "100n", "10u", "1k", "3M",
            "2Ei",
        ] {
            assert!(matches(ok), "{ok}");
            assert!(crate::validation::parse_quantity(ok).is_some(), "{ok}");
        }
        for bad in [
            "lots", "", "1.2.3", "2 Gi", "2gi", "2GB", "1K", "Gi", "e3", "1e", "1ki", "1Mb", ".", " 1",
        ] {
            assert!(!matches(bad), "{bad}");
        }
    }

    #[test]
    fn messages_name_the_value_and_the_accepted_words() {
        let options = json!(["", "Always", "IfNotPresent", "Never"]);
        assert_eq!(
            enum_message(&json!("Sometimes"), &options),
            r#""Sometimes" is not one of Always, IfNotPresent, Never"#
        );
        assert!(quantity_message(&json!("lots")).starts_with(r#""lots" is not a Kubernetes quantity"#));
    }
}
