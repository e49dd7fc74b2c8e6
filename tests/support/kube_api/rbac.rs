//! RBAC for the operator's identity. Calls made with the operator's credentials are checked
//! against `flink_lifecycle::rbac::REQUIRED_PERMISSIONS` (which the install manifests are tested
//! to grant exactly), as an API server checks the install's Roles: a call the list does not grant
//! is refused with 403 and recorded, so a test fails when the code makes a call a real install
//! would forbid.

use super::ApiPath;
use flink_lifecycle::rbac::{REQUIRED_PERMISSIONS, Scope};
use http::Method;
use std::sync::Mutex;

/// The bearer token of the operator's identity (its kubeconfig and in-process client use it).
pub const OPERATOR_TOKEN: &str = "flink-lifecycle-operator";

/// One API call as RBAC sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiCall {
    pub verb: &'static str,
    pub api_group: String,
    /// With the subresource: `flinkdeployments/status`.
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl ApiCall {
    pub fn of(method: &Method, api: &ApiPath, watch: bool) -> Option<Self> {
        let named = api.name.is_some();
        let verb = match *method {
            Method::GET if watch => "watch",
            Method::GET if named => "get",
            Method::GET => "list",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE if named => "delete",
            Method::DELETE => "deletecollection",
            _ => return None,
        };
        let resource = match &api.subresource {
            Some(sub) => format!("{}/{sub}", api.collection.resource),
            None => api.collection.resource.clone(),
        };
        Some(Self {
            verb,
            api_group: api.collection.group.clone(),
            resource,
            namespace: api.namespace.clone(),
            name: api.name.clone(),
        })
    }
}

impl std::fmt::Display for ApiCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.api_group.is_empty() {
            "core"
        } else {
            &self.api_group
        };
        write!(f, "{} {}/{}", self.verb, group, self.resource)?;
        if let Some(ns) = &self.namespace {
            write!(f, " in namespace {ns}")?;
        }
        if let Some(name) = &self.name {
            write!(f, " named {name}")?;
        }
        Ok(())
    }
}

/// The authoriser plus the record of what it refused.
pub struct RbacAudit {
    operator_namespace: String,
    /// `None`: the all-namespaces install; else the watch-namespaces install's list.
    watched: Option<Vec<String>>,
    refused: Mutex<Vec<String>>,
}

impl RbacAudit {
    /// The operator runs in `operator_namespace` and watches every namespace (the default install).
    pub fn new(operator_namespace: &str) -> Self {
        Self {
            operator_namespace: operator_namespace.to_string(),
            watched: None,
            refused: Mutex::new(Vec::new()),
        }
    }

    /// The watch-namespaces install: the Flink rules are granted only in `namespaces`.
    pub fn watching(operator_namespace: &str, namespaces: &[&str]) -> Self {
        Self {
            watched: Some(namespaces.iter().map(|n| n.to_string()).collect()),
            ..Self::new(operator_namespace)
        }
    }

    /// Whether the install grants the call.
    pub fn allows(&self, call: &ApiCall) -> bool {
        REQUIRED_PERMISSIONS.iter().any(|p| {
            p.api_group == call.api_group
                && p.resource == call.resource
                && p.verbs.contains(&call.verb)
                && (p.resource_names.is_empty()
                    || call
                        .name
                        .as_deref()
                        .is_some_and(|n| p.resource_names.contains(&n)))
                && match p.scope {
                    Scope::Watched => match (&self.watched, &call.namespace) {
                        (None, _) => true,
                        (Some(list), Some(ns)) => list.contains(ns),
                        (Some(_), None) => false,
                    },
                    Scope::OperatorNamespace => call.namespace.as_deref() == Some(&self.operator_namespace),
                    Scope::Cluster => call.namespace.is_none(),
                }
        })
    }

    /// Authorises the call; a refusal is recorded and returned as the API server's message.
    pub fn authorise(&self, call: &ApiCall) -> Result<(), String> {
        if self.allows(call) {
            return Ok(());
        }
        let message = format!("forbidden: the operator's RBAC does not grant {call}");
        self.refused.lock().expect("rbac record").push(call.to_string());
        Err(message)
    }

    /// Every call refused so far.
    pub fn refused(&self) -> Vec<String> {
        self.refused.lock().expect("rbac record").clone()
    }
}
