//! Objects without `spec`. The reference operator's CRDs do not require it, and its health
//! canary (a FlinkDeployment or FlinkSessionJob labelled `flink.apache.org/canary: "true"`) has
//! none. kube's derive types the root object with a required spec, so a spec-less object would
//! not decode and would break the watch of every object of its kind; each spec type reads an
//! absent (or `null`) spec as its default instead, and the CRDs leave `spec` optional.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The label of the reference operator's health canaries. The operator does not reconcile a
/// resource carrying it with the value `"true"`, and admission does not check it.
pub const CANARY_LABEL: &str = "flink.apache.org/canary";

/// Whether an object is a health canary (see [`CANARY_LABEL`]).
pub fn is_canary(metadata: &ObjectMeta) -> bool {
    metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CANARY_LABEL))
        .is_some_and(|v| v == "true")
}

/// The CRD with `spec` optional, as the reference's CRDs have it.
pub fn spec_optional(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        let root = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut());
        if let Some(root) = root
            && let Some(required) = root.required.as_mut()
        {
            required.retain(|field| field != "spec");
            if required.is_empty() {
                root.required = None;
            }
        }
    }
    crd
}

/// Implements `Serialize` and `Deserialize` for a spec type whose derives are generated as
/// inherent functions (`#[serde(remote = "Self")]`), reading an absent or `null` spec as
/// `Default::default()`. serde reads a missing field through `deserialize_option`, which gives
/// `None` here; a present spec is read by the derived code.
macro_rules! spec_may_be_absent {
    ($spec:ty) => {
        impl serde::Serialize for $spec {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                <$spec>::serialize(self, serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $spec {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Present($spec);
                impl<'de> serde::Deserialize<'de> for Present {
                    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                        <$spec>::deserialize(deserializer).map(Present)
                    }
                }
                Ok(Option::<Present>::deserialize(deserializer)?
                    .map(|p| p.0)
                    .unwrap_or_default())
            }
        }
    };
}

pub(super) use spec_may_be_absent;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{FlinkDeployment, FlinkDeploymentSpec, FlinkSessionJob, FlinkSessionJobSpec};
    use kube::CustomResourceExt;

    const CANARY: &str = "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata:\n  name: canary\n  labels:\n    flink.apache.org/canary: \"true\"\n";

    #[test]
    fn an_absent_or_null_spec_reads_as_the_default_and_a_present_one_as_written() {
        let dep: FlinkDeployment = serde_saphyr::from_str(CANARY).expect("spec-less");
        assert_eq!(dep.spec, FlinkDeploymentSpec::default());
        assert!(is_canary(&dep.metadata));
        let null: FlinkDeployment =
            serde_json::from_str(r#"{"metadata":{"name":"c"},"spec":null}"#).expect("null spec");
        assert_eq!(null.spec, FlinkDeploymentSpec::default());
        let job: FlinkSessionJob =
            serde_json::from_str(r#"{"metadata":{"name":"c"}}"#).expect("spec-less job");
        assert_eq!(job.spec, FlinkSessionJobSpec::default());
        let written: FlinkDeployment =
            serde_json::from_str(r#"{"metadata":{"name":"c"},"spec":{"image":"flink:1.20"}}"#).expect("spec");
        assert_eq!(written.spec.image.as_deref(), Some("flink:1.20"));
        let again: FlinkDeployment =
            serde_json::from_value(serde_json::to_value(&written).expect("JSON")).expect("round trip");
        assert_eq!(again, written);
        // A spec of the wrong shape is still an error, not a default.
        assert!(serde_json::from_str::<FlinkDeployment>(r#"{"metadata":{},"spec":[1]}"#).is_err());
        assert!(serde_json::from_str::<FlinkDeployment>(r#"{"metadata":{},"spec":{"image":1}}"#).is_err());
    }

    #[test]
    fn only_spec_leaves_the_required_list() {
        let crd = spec_optional(FlinkDeployment::crd());
        let root = crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("schema");
        assert!(
            root.required
                .as_ref()
                .is_none_or(|r| !r.iter().any(|f| f == "spec")),
            "{:?}",
            root.required
        );
        assert!(root.properties.as_ref().is_some_and(|p| p.contains_key("spec")));
    }

    #[test]
    fn only_the_value_true_makes_a_canary() {
        let meta = |v: &str| ObjectMeta {
            labels: Some([(CANARY_LABEL.to_string(), v.to_string())].into()),
            ..ObjectMeta::default()
        };
        assert!(is_canary(&meta("true")));
        assert!(!is_canary(&meta("false")));
        assert!(!is_canary(&ObjectMeta::default()));
    }
}
