//! The effective Flink configuration of a resource, layered as the reference does:
//! operator defaults → `default-configuration.namespace.<ns>.*` →
//! `default-configuration.flink-version.<vX_Y>[+].*` (oldest first) → the resource's own.

use super::{OPERATOR_PREFIX, OperatorConfig};
use crate::api::FlinkVersion;
use std::collections::BTreeMap;

const SCOPED: &str = "kubernetes.operator.default-configuration.";

/// Merges the layers into the flat configuration the resource runs with.
pub fn effective_flink_config(
    operator: &OperatorConfig,
    namespace: Option<&str>,
    version: Option<FlinkVersion>,
    resource: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = operator
        .raw
        .iter()
        .filter(|(k, _)| !k.starts_with(SCOPED))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    if let Some(ns) = namespace {
        let prefix = format!("{SCOPED}namespace.{ns}.");
        overlay_prefixed(&mut out, &operator.raw, &prefix);
    }
    if let Some(v) = version {
        for candidate in FlinkVersion::ALL {
            if candidate > v {
                break;
            }
            let or_newer = format!("{SCOPED}flink-version.{}+.", candidate.as_str());
            overlay_prefixed(&mut out, &operator.raw, &or_newer);
            if candidate == v {
                let exact = format!("{SCOPED}flink-version.{}.", candidate.as_str());
                overlay_prefixed(&mut out, &operator.raw, &exact);
            }
        }
    }
    for (k, v) in resource {
        out.insert(k.clone(), v.clone());
    }
    debug_assert!(OPERATOR_PREFIX.ends_with('.'));
    out
}

fn overlay_prefixed(out: &mut BTreeMap<String, String>, raw: &BTreeMap<String, String>, prefix: &str) {
    for (k, v) in raw {
        if let Some(rest) = k.strip_prefix(prefix) {
            out.insert(rest.to_string(), v.clone());
        }
    }
}
