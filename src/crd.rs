//! CustomResourceDefinitions generated from the Rust types (committed under `manifests/crds/`).

use crate::api::{FlinkDeployment, FlinkSessionJob, FlinkStateSnapshot, spec_optional};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Client-side `kubectl apply` stores the object in an annotation limited to this many bytes.
pub const CLIENT_SIDE_APPLY_LIMIT: usize = 262_144;

/// One generated CRD with the file name it is committed under.
pub struct GeneratedCrd {
    pub file_name: &'static str,
    pub crd: CustomResourceDefinition,
}

/// Every CRD.
pub fn all() -> Vec<GeneratedCrd> {
    vec![
        GeneratedCrd {
            file_name: "flinkdeployments.flink.apache.org.yaml",
            crd: spec_optional(FlinkDeployment::crd()),
        },
        GeneratedCrd {
            file_name: "flinksessionjobs.flink.apache.org.yaml",
            crd: spec_optional(FlinkSessionJob::crd()),
        },
        GeneratedCrd {
            file_name: "flinkstatesnapshots.flink.apache.org.yaml",
            crd: FlinkStateSnapshot::crd(),
        },
    ]
}

/// The YAML text of one CRD, as committed.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_saphyr::ser::Error> {
    serde_saphyr::to_string(crd)
}

/// Every CRD as one multi-document YAML stream (what `flink-lifecycle crd` prints).
pub fn all_yaml() -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::new();
    for g in all() {
        out.push_str("---\n");
        out.push_str(&to_yaml(&g.crd)?);
    }
    Ok(out)
}
