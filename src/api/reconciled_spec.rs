//! Encoding of `status.reconciliationStatus.lastReconciledSpec` / `lastStableSpec`: a compact
//! JSON string `{"spec": ..., "resource_metadata": {"apiVersion": ..., "firstDeployment": ...}}`,
//! readable by and from the reference operator (including its older formats).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Metadata stored next to the reconciled spec.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// True until the first upgrade or suspend after the initial deployment.
    #[serde(default)]
    pub first_deployment: bool,
}

impl Default for ResourceMetadata {
    fn default() -> Self {
        Self {
            api_version: Some(super::API_VERSION.to_string()),
            first_deployment: false,
        }
    }
}

/// A spec as recorded in status, with its metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct ReconciledSpec<S> {
    pub spec: S,
    pub meta: ResourceMetadata,
}

/// A recorded spec that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("status.reconciliationStatus spec is not readable: {0}")]
pub struct ReconciledSpecError(#[from] serde_json::Error);

#[derive(Serialize)]
struct Wire<'a, S> {
    spec: &'a S,
    resource_metadata: &'a ResourceMetadata,
}

impl<S: Serialize + DeserializeOwned> ReconciledSpec<S> {
    pub fn new(spec: S, first_deployment: bool) -> Self {
        Self {
            spec,
            meta: ResourceMetadata {
                first_deployment,
                ..ResourceMetadata::default()
            },
        }
    }

    /// The compact JSON string written to status.
    pub fn encode(&self) -> String {
        let wire = Wire {
            spec: &self.spec,
            resource_metadata: &self.meta,
        };
        // Serializing plain data structs into a String cannot fail.
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Reads the current format and the legacy one (the whole object is the spec).
    pub fn decode(text: &str) -> Result<Self, ReconciledSpecError> {
        match Self::decode_current(text) {
            Some(decoded) => Ok(decoded),
            None => Self::decode_any(text),
        }
    }

    /// Every format, through a `Value`.
    fn decode_any(text: &str) -> Result<Self, ReconciledSpecError> {
        let mut value: Value = serde_json::from_str(text)?;
        let Some(obj) = value.as_object_mut() else {
            return Ok(Self {
                spec: serde_json::from_value(value)?,
                meta: ResourceMetadata::default(),
            });
        };
        match obj.remove("resource_metadata") {
            Some(meta_value) => {
                let meta = match meta_value {
                    Value::Object(mut m) => {
                        // Older formats stored {"metadata": {"generation": n}} here; ignored.
                        m.remove("metadata");
                        serde_json::from_value(Value::Object(m))?
                    }
                    _ => ResourceMetadata::default(),
                };
                let spec = obj.remove("spec").unwrap_or(Value::Object(Default::default()));
                Ok(Self {
                    spec: serde_json::from_value(spec)?,
                    meta,
                })
            }
            None => {
                obj.remove("apiVersion");
                Ok(Self {
                    spec: serde_json::from_value(value)?,
                    meta: ResourceMetadata::default(),
                })
            }
        }
    }

    /// The current format read straight into the types, without the intermediate `Value` (the
    /// webhook decodes a recorded spec on every review). `None` for anything else, including an
    /// error: [`Self::decode`] then reads it the general way and reports that error.
    fn decode_current(text: &str) -> Option<Self> {
        // Objects only: serde reads a struct from an array too, the general way does not.
        if !text.trim_start().starts_with('{') {
            return None;
        }
        let wire: WireIn<'_> = serde_json::from_str(text).ok()?;
        let (spec, meta) = (wire.spec?, wire.resource_metadata?);
        if !spec.get().starts_with('{') || !meta.get().starts_with('{') {
            return None;
        }
        Some(Self {
            spec: serde_json::from_str(spec.get()).ok()?,
            // An older format's `metadata` entry is ignored here as an unknown field.
            meta: serde_json::from_str(meta.get()).ok()?,
        })
    }
}

/// The current format, parts left as text.
#[derive(Deserialize)]
struct WireIn<'a> {
    #[serde(borrow)]
    spec: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    resource_metadata: Option<&'a serde_json::value::RawValue>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{FlinkDeploymentSpec, JobSpec, UpgradeMode};

    #[test]
    fn the_direct_reading_agrees_with_the_general_one() {
        let fixture: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/admission/flinkdeployment-update.json"
        ))
        .unwrap();
        let recorded = fixture["request"]["object"]["status"]["reconciliationStatus"]["lastReconciledSpec"]
            .as_str()
            .unwrap()
            .to_string();
        let direct = |t: &str| ReconciledSpec::<FlinkDeploymentSpec>::decode_current(t);
        let general = |t: &str| ReconciledSpec::<FlinkDeploymentSpec>::decode_any(t).ok();
        assert!(
            direct(&recorded).is_some(),
            "the realistic recorded spec is read directly"
        );
        for text in [
            recorded.as_str(),
            r#"{"spec":{"image":"a"},"resource_metadata":{"metadata":{"generation":2},"firstDeployment":true}}"#,
            r#"{"spec":{"image":"a"},"resource_metadata":{"firstDeployment":true,"firstDeployment":false}}"#,
            r#"{"spec":{"image":"a"},"spec":{"image":"b"},"resource_metadata":{}}"#,
            r#"{"spec":{"image":"a","image":"b"},"resource_metadata":{}}"#,
            r#"{"spec":null,"resource_metadata":{}}"#,
            r#"{"resource_metadata":{}}"#,
            r#"{"spec":["a"],"resource_metadata":{}}"#,
            r#"{"spec":{},"resource_metadata":[]}"#,
            r#"{"spec":{},"resource_metadata":5}"#,
            r#"{"image":"a","apiVersion":"x"}"#,
            r#"[{"image":"a"}]"#,
            r#"[{"image":"a"},{}]"#,
            r#"{"spec":{"job":{"parallelism":"two"}},"resource_metadata":{}}"#,
        ] {
            if let Some(d) = direct(text) {
                assert_eq!(Some(d), general(text), "{text}");
            }
        }
    }

    #[test]
    fn encodes_and_decodes_current_format() {
        let spec = FlinkDeploymentSpec {
            image: Some("flink:1.20".into()),
            job: Some(JobSpec {
                upgrade_mode: Some(UpgradeMode::LastState),
                ..JobSpec::default()
            }),
            ..FlinkDeploymentSpec::default()
        };
        let rec = ReconciledSpec::new(spec.clone(), true);
        let text = rec.encode();
        assert!(text.contains("\"resource_metadata\""), "{text}");
        assert!(text.contains("\"firstDeployment\":true"), "{text}");
        let back = ReconciledSpec::<FlinkDeploymentSpec>::decode(&text).unwrap();
        assert_eq!(back.spec, spec);
        assert!(back.meta.first_deployment);
    }

    #[test]
    fn reads_reference_strings_with_nulls_and_legacy_metadata() {
        let text = r#"{"spec":{"job":{"jarURI":"local:///x.jar","parallelism":2,"entryClass":null,"args":[],"state":"suspended","savepointTriggerNonce":null,"initialSavepointPath":null,"upgradeMode":"savepoint","allowNonRestoredState":null},"restartNonce":null,"flinkConfiguration":{"a":"b"},"image":"flink:1.17","flinkVersion":"v1_17","serviceAccount":"flink","mode":null},"resource_metadata":{"apiVersion":"flink.apache.org/v1beta1","metadata":{"generation":2},"firstDeployment":false}}"#;
        let rec = ReconciledSpec::<FlinkDeploymentSpec>::decode(text).unwrap();
        let job = rec.spec.job.unwrap();
        assert_eq!(job.upgrade_mode, Some(UpgradeMode::Savepoint));
        assert_eq!(job.parallelism, Some(2));
        assert!(!rec.meta.first_deployment);
    }

    #[test]
    fn reads_legacy_format_without_metadata() {
        let text =
            r#"{"apiVersion":"flink.apache.org/v1beta1","image":"flink:1.15","job":{"state":"running"}}"#;
        let rec = ReconciledSpec::<FlinkDeploymentSpec>::decode(text).unwrap();
        assert_eq!(rec.spec.image.as_deref(), Some("flink:1.15"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(ReconciledSpec::<FlinkDeploymentSpec>::decode("{not json").is_err());
        assert!(
            ReconciledSpec::<FlinkDeploymentSpec>::decode(r#"{"spec":{"image":3},"resource_metadata":{}}"#)
                .is_err()
        );
    }
}
