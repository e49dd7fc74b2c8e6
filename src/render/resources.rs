//! JobManager / TaskManager resources, routed as the reference does: `resources` (core/v1
//! ResourceRequirements) wins when it sets any request or limit, else the deprecated `resource`.
//! Memory becomes `<role>.memory.process.size`, cpu `kubernetes.<role>.cpu.amount`, limit/request
//! ratios the limit factors; the container gets matching requests and limits.

use super::RenderError;
use super::memory::{
    format_cpu, format_flink_memory, format_quantity_bytes, parse_memory_bytes, parse_quantity,
};
use crate::api::Resource;
use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::Value;
use std::collections::BTreeMap;

/// JobManager or TaskManager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    JobManager,
    TaskManager,
}

impl Role {
    /// The Flink key prefix and `component` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JobManager => "jobmanager",
            Self::TaskManager => "taskmanager",
        }
    }

    fn process_size_key(self) -> String {
        format!("{}.memory.process.size", self.as_str())
    }

    fn cpu_key(self) -> String {
        format!("kubernetes.{}.cpu.amount", self.as_str())
    }

    fn limit_factor_key(self, what: &str) -> String {
        format!("kubernetes.{}.{what}.limit-factor", self.as_str())
    }
}

/// Flink keys to set from the spec's resources (they override the configuration).
pub fn flink_keys(
    role: Role,
    resource: Option<&Resource>,
    resources: Option<&Value>,
) -> Result<BTreeMap<String, String>, RenderError> {
    let mut out = BTreeMap::new();
    if let Some(req) = explicit_requirements(role, resources)? {
        let request = |k: &str| req.requests.as_ref().and_then(|m| m.get(k)).map(|q| q.0.clone());
        let limit = |k: &str| req.limits.as_ref().and_then(|m| m.get(k)).map(|q| q.0.clone());
        if let Some(mem) = request("memory").or_else(|| limit("memory")) {
            let bytes = memory(role, &mem)?;
            out.insert(role.process_size_key(), format_flink_memory(bytes));
        }
        if let Some(cpu) = request("cpu").or_else(|| limit("cpu")) {
            let cores = cpu_cores(role, &cpu)?;
            out.insert(role.cpu_key(), cores.to_string());
        }
        if let (Some(r), Some(l)) = (request("memory"), limit("memory")) {
            let (r, l) = (memory(role, &r)?, memory(role, &l)?);
            if r > 0 {
                out.insert(role.limit_factor_key("memory"), (l as f64 / r as f64).to_string());
            }
        }
        if let (Some(r), Some(l)) = (request("cpu"), limit("cpu")) {
            let (r, l) = (cpu_cores(role, &r)?, cpu_cores(role, &l)?);
            if r > 0.0 {
                out.insert(role.limit_factor_key("cpu"), (l / r).to_string());
            }
        }
        return Ok(out);
    }
    if let Some(res) = resource {
        if let Some(mem) = res.memory.as_deref().filter(|m| !m.trim().is_empty()) {
            out.insert(role.process_size_key(), format_flink_memory(memory(role, mem)?));
        }
        if let Some(cpu) = res.cpu {
            out.insert(role.cpu_key(), cpu.to_string());
        }
    }
    Ok(out)
}

/// The container's resource requirements: the explicit `resources` as given, else derived from
/// the final Flink configuration (process size, cpu amount, limit factors) plus the deprecated
/// `resource.ephemeralStorage`.
pub fn container_requirements(
    role: Role,
    resource: Option<&Resource>,
    resources: Option<&Value>,
    conf: &BTreeMap<String, String>,
) -> Result<Option<ResourceRequirements>, RenderError> {
    if let Some(req) = explicit_requirements(role, resources)? {
        return Ok(Some(req));
    }
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    let factor = |what: &str| {
        conf.get(&role.limit_factor_key(what))
            .and_then(|f| f.trim().parse::<f64>().ok())
            .filter(|f| f.is_finite() && *f >= 1.0)
            .unwrap_or(1.0)
    };
    if let Some(mem) = conf.get(&role.process_size_key()) {
        let bytes = memory(role, mem)?;
        requests.insert("memory".to_string(), Quantity(format_quantity_bytes(bytes)));
        let limit = (bytes as f64 * factor("memory")).ceil() as u64;
        limits.insert("memory".to_string(), Quantity(format_quantity_bytes(limit)));
    }
    if let Some(cpu) = conf.get(&role.cpu_key()) {
        let cores = cpu_cores(role, cpu)?;
        requests.insert("cpu".to_string(), Quantity(format_cpu(cores)));
        limits.insert("cpu".to_string(), Quantity(format_cpu(cores * factor("cpu"))));
    }
    if let Some(es) = resource.and_then(|r| r.ephemeral_storage.as_deref()) {
        requests.insert("ephemeral-storage".to_string(), Quantity(es.to_string()));
        limits.insert("ephemeral-storage".to_string(), Quantity(es.to_string()));
    }
    if requests.is_empty() {
        return Ok(None);
    }
    Ok(Some(ResourceRequirements {
        requests: Some(requests),
        limits: Some(limits),
        ..Default::default()
    }))
}

fn explicit_requirements(
    role: Role,
    resources: Option<&Value>,
) -> Result<Option<ResourceRequirements>, RenderError> {
    let Some(v) = resources else {
        return Ok(None);
    };
    let req: ResourceRequirements =
        serde_json::from_value(v.clone()).map_err(|e| RenderError::InvalidSpec {
            field: format!("spec.{}.resources", field_of(role)),
            message: e.to_string(),
        })?;
    let any = req.requests.as_ref().is_some_and(|m| !m.is_empty())
        || req.limits.as_ref().is_some_and(|m| !m.is_empty());
    Ok(any.then_some(req))
}

fn field_of(role: Role) -> &'static str {
    match role {
        Role::JobManager => "jobManager",
        Role::TaskManager => "taskManager",
    }
}

fn memory(role: Role, text: &str) -> Result<u64, RenderError> {
    parse_memory_bytes(text).ok_or_else(|| RenderError::InvalidSpec {
        field: format!("spec.{} memory", field_of(role)),
        message: format!("'{text}' is not a memory size (Flink syntax like 2048m or a quantity like 2Gi)"),
    })
}

fn cpu_cores(role: Role, text: &str) -> Result<f64, RenderError> {
    parse_quantity(text)
        .filter(|c| *c >= 0.0)
        .ok_or_else(|| RenderError::InvalidSpec {
            field: format!("spec.{} cpu", field_of(role)),
            message: format!("'{text}' is not a cpu amount (like 1, 0.5 or 500m)"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resources_win_over_deprecated_resource() {
        let old = Resource {
            cpu: Some(4.0),
            memory: Some("8g".into()),
            ephemeral_storage: None,
        };
        let new =
            json!({"requests": {"memory": "2Gi", "cpu": "500m"}, "limits": {"memory": "3Gi", "cpu": "1"}});
        let keys = flink_keys(Role::JobManager, Some(&old), Some(&new)).unwrap();
        assert_eq!(keys["jobmanager.memory.process.size"], "2048m");
        assert_eq!(keys["kubernetes.jobmanager.cpu.amount"], "0.5");
        assert_eq!(keys["kubernetes.jobmanager.memory.limit-factor"], "1.5");
        assert_eq!(keys["kubernetes.jobmanager.cpu.limit-factor"], "2");
    }

    #[test]
    fn deprecated_resource_uses_flink_memory_syntax() {
        let old = Resource {
            cpu: Some(1.0),
            memory: Some("2048m".into()),
            ephemeral_storage: Some("1Gi".into()),
        };
        let keys = flink_keys(Role::TaskManager, Some(&old), Some(&json!({}))).unwrap();
        assert_eq!(keys["taskmanager.memory.process.size"], "2048m");
        let req = container_requirements(Role::TaskManager, Some(&old), None, &keys)
            .unwrap()
            .unwrap();
        let requests = req.requests.unwrap();
        assert_eq!(requests["memory"].0, "2048Mi");
        assert_eq!(requests["cpu"].0, "1");
        assert_eq!(requests["ephemeral-storage"].0, "1Gi");
    }

    #[test]
    fn bad_memory_is_a_clear_error() {
        let old = Resource {
            memory: Some("much".into()),
            ..Default::default()
        };
        let err = flink_keys(Role::JobManager, Some(&old), None).unwrap_err();
        assert!(err.to_string().contains("'much' is not a memory size"), "{err}");
    }
}
