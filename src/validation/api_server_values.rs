//! Values the Kubernetes API server checks in a pod template that its OpenAPI schema does not
//! say: the fixed sets of words (`imagePullPolicy: Always | IfNotPresent | Never`, ...), the
//! syntax of resource quantities, label keys and values, container, volume and port names, and
//! port ranges. The operator renders the pod template into the JobManager and TaskManager
//! Deployments, so a value the API server refuses there would fail the deployment after
//! admission said yes, with the old job possibly already stopped for the upgrade.
//!
//! All are added to the generated Kubernetes schema as JSON Schema (`enum`, `pattern`,
//! `maxLength`, `propertyNames`, `minimum`/`maximum`), keyed by the k8s-openapi definition
//! names; a test checks that every entry still names a definition.

use jsonschema::error::ValidationErrorKind;
use serde_json::{Value, json};

/// (definition, property, accepted values) as Kubernetes 1.33 validates them. An empty string is
/// accepted too: the API server fills in the default for it before validating.
pub const ENUMS: &[(&str, &str, &[&str])] = &[
    (CONTAINER, "imagePullPolicy", PULL_POLICIES),
    (CONTAINER, "terminationMessagePolicy", MESSAGE_POLICIES),
    (CONTAINER, "restartPolicy", &["Always"]),
    (EPHEMERAL, "imagePullPolicy", PULL_POLICIES),
    (EPHEMERAL, "terminationMessagePolicy", MESSAGE_POLICIES),
    (PORT, "protocol", &["TCP", "UDP", "SCTP"]),
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

/// A string syntax the API server checks, as a JSON Schema pattern and in a person's words.
pub struct Syntax {
    pub pattern: &'static str,
    pub max_len: Option<u64>,
    pub words: &'static str,
}

/// Kubernetes' quantity grammar: a signed decimal number and one suffix (binary SI, decimal
/// SI, or a decimal exponent). A plain JSON number is a quantity too; `pattern` only applies to
/// strings.
pub const QUANTITY: Syntax = Syntax {
    pattern: r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$",
    max_len: None,
    words: "a Kubernetes quantity (write e.g. 500m, 2, 1.5, 512Mi or 2Gi)",
};

/// A label or annotation key: an optional DNS subdomain prefix and `/`, then a name.
pub const QUALIFIED_NAME: Syntax = Syntax {
    pattern: r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
    max_len: Some(317),
    words: "a valid label or annotation key (an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)",
};

/// A label value: empty, or at most 63 letters, digits, '-', '_' and '.', alphanumeric at both ends.
pub const LABEL_VALUE: Syntax = Syntax {
    pattern: r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$",
    max_len: Some(63),
    words: "a valid label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)",
};

/// A DNS label (RFC 1123): container and volume names.
pub const DNS_LABEL: Syntax = Syntax {
    pattern: r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    max_len: Some(63),
    words: "a valid name (at most 63 lower case letters, digits or '-', starting and ending with a letter or digit)",
};

/// A port name (IANA service name): at most 15 lower case letters, digits and '-', with at least
/// one letter (the letter first, last, or inside).
pub const PORT_NAME: Syntax = Syntax {
    pattern: r"^([a-z]([-a-z0-9]*[a-z0-9])?|[a-z0-9][-a-z0-9]*[a-z]|[a-z0-9][-a-z0-9]*[a-z][-a-z0-9]*[a-z0-9])$",
    max_len: Some(15),
    words: "a valid port name (at most 15 lower case letters, digits or '-', with a letter, starting and ending with a letter or digit)",
};

/// Where in a definition a syntax applies.
pub enum Place {
    /// The definition itself (a quantity).
    Whole,
    /// A string property.
    Property(&'static str),
    /// Every key of a map property.
    Keys(&'static str),
    /// Every value of a map property.
    Values(&'static str),
}

/// (definition, place, syntax) as Kubernetes validates them in a pod.
pub const SYNTAXES: &[(&str, Place, &Syntax)] = &[
    (QUANTITY_DEF, Place::Whole, &QUANTITY),
    (OBJECT_META, Place::Keys("labels"), &QUALIFIED_NAME),
    (OBJECT_META, Place::Values("labels"), &LABEL_VALUE),
    (OBJECT_META, Place::Keys("annotations"), &QUALIFIED_NAME),
    (CONTAINER, Place::Property("name"), &DNS_LABEL),
    (EPHEMERAL, Place::Property("name"), &DNS_LABEL),
    ("io.k8s.api.core.v1.Volume", Place::Property("name"), &DNS_LABEL),
    (PORT, Place::Property("name"), &PORT_NAME),
];

/// (definition, property, minimum, maximum) of numbers Kubernetes bounds in a pod.
pub const RANGES: &[(&str, &str, i64, i64)] = &[
    (PORT, "containerPort", 1, 65535),
    // 0 is "no host port".
    (PORT, "hostPort", 0, 65535),
];

/// The definition of a resource quantity.
pub const QUANTITY_DEF: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const PORT: &str = "io.k8s.api.core.v1.ContainerPort";
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

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
    for (def, property, min, max) in RANGES {
        match defs
            .get_mut(*def)
            .and_then(|d| d.pointer_mut(&format!("/properties/{property}")))
            .and_then(Value::as_object_mut)
        {
            Some(p) => {
                p.insert("minimum".into(), json!(min));
                p.insert("maximum".into(), json!(max));
            }
            None => missing.push(format!("{def}.{property}")),
        }
    }
    for (def, place, syntax) in SYNTAXES {
        let Some(definition) = defs.get_mut(*def) else {
            missing.push((*def).to_string());
            continue;
        };
        let (target, keyword) = match place {
            Place::Whole => (Some(definition), None),
            Place::Property(p) => (definition.pointer_mut(&format!("/properties/{p}")), None),
            Place::Keys(p) => (
                definition.pointer_mut(&format!("/properties/{p}")),
                Some("propertyNames"),
            ),
            Place::Values(p) => (
                definition.pointer_mut(&format!("/properties/{p}")),
                Some("additionalProperties"),
            ),
        };
        let Some(target) = target.and_then(Value::as_object_mut) else {
            missing.push(format!("{def} {}", place.describe()));
            continue;
        };
        let mut rule = json!({"pattern": syntax.pattern});
        if let Some(max) = syntax.max_len {
            rule["maxLength"] = json!(max);
        }
        match keyword {
            None => target.extend(rule.as_object().cloned().unwrap_or_default()),
            // Map values keep their type; the syntax is added beside it.
            Some("additionalProperties") => {
                let values = target.entry("additionalProperties").or_insert_with(|| json!({}));
                if let (Some(values), Some(rule)) = (values.as_object_mut(), rule.as_object()) {
                    values.extend(rule.clone());
                }
            }
            Some(keyword) => {
                target.insert(keyword.into(), rule);
            }
        }
    }
    missing
}

/// A schema failure in a person's words: for the value rules above, the value and what it should
/// be (their patterns are no help to a reader); otherwise the validator's message without the
/// value.
pub fn problem_words(error: &jsonschema::ValidationError<'_>) -> String {
    let words = match error.kind() {
        ValidationErrorKind::Enum { options } => Some(enum_message(error.instance(), options)),
        ValidationErrorKind::Pattern { pattern } => syntax_message(error.instance(), pattern),
        ValidationErrorKind::PropertyNames { error: inner } => match inner.kind() {
            ValidationErrorKind::Pattern { pattern } => syntax_message(inner.instance(), pattern),
            _ => None,
        },
        ValidationErrorKind::MaxLength { limit } => error
            .instance()
            .as_str()
            .filter(|v| v.len() <= 80)
            .map(|_| format!("{} is longer than {limit} characters", error.instance())),
        _ => None,
    };
    words.unwrap_or_else(|| error.masked().to_string())
}

/// A person's words for an `enum` failure: the value and the accepted words, without the empty
/// string the schema also accepts.
fn enum_message(instance: &Value, options: &Value) -> String {
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

/// A person's words for a `pattern` failure of one of [`SYNTAXES`]; `None` for other patterns.
fn syntax_message(instance: &Value, pattern: &str) -> Option<String> {
    SYNTAXES
        .iter()
        .find(|(_, _, syntax)| syntax.pattern == pattern)
        .map(|(_, _, syntax)| format!("{instance} is not {}", syntax.words))
}

impl Place {
    fn describe(&self) -> String {
        match self {
            Self::Whole => "itself".into(),
            Self::Property(p) => format!(".{p}"),
            Self::Keys(p) => format!(".{p} keys"),
            Self::Values(p) => format!(".{p} values"),
        }
    }
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
        let schema = json!({"type": "string", "pattern": QUANTITY.pattern});
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
    fn each_syntax_has_its_own_pattern_so_its_message_is_found() {
        for (i, (_, _, a)) in SYNTAXES.iter().enumerate() {
            for (_, _, b) in &SYNTAXES[i + 1..] {
                assert!(a.pattern != b.pattern || a.words == b.words, "{}", a.words);
            }
        }
    }

    #[test]
    fn port_names_have_a_letter() {
        let schema = json!({"type": "string", "pattern": PORT_NAME.pattern});
        let matches = |text: &str| jsonschema::is_valid(&schema, &json!(text));
        for ok in ["http", "a", "metrics-1", "1a", "9x9", "rest"] {
            assert!(matches(ok), "{ok}");
        }
        for bad in ["8081", "1", "-a", "a-", "Rest", "a_b", ""] {
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
        assert!(
            syntax_message(&json!("lots"), QUANTITY.pattern)
                .is_some_and(|m| m.starts_with(r#""lots" is not a Kubernetes quantity"#))
        );
        assert_eq!(syntax_message(&json!("x"), "^other$"), None);
    }
}
