//! The optional Ingress `<name>` in front of `<name>-rest`, from `spec.ingress.template`
//! (`host/path` with `{{name}}` / `{{namespace}}` placeholders, scheme optional).

use super::{REST_PORT, RenderError, name_of, namespace_of, object_meta, rest_service_name};
use crate::api::FlinkDeployment;
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend,
    IngressSpec as K8sIngressSpec, IngressTLS, ServiceBackendPort,
};

/// Host (empty for any host) and path of an ingress template for one resource.
pub fn ingress_host_path(template: &str, name: &str, namespace: &str) -> (String, String) {
    let filled = replace_ci(
        &replace_ci(template.trim(), "{{name}}", name),
        "{{namespace}}",
        namespace,
    );
    let without_scheme = filled
        .strip_prefix("https://")
        .or_else(|| filled.strip_prefix("http://"))
        .unwrap_or(&filled);
    match without_scheme.find('/') {
        Some(i) => (without_scheme[..i].to_string(), without_scheme[i..].to_string()),
        None => (without_scheme.to_string(), "/".to_string()),
    }
}

fn replace_ci(text: &str, needle: &str, with: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::new();
    let mut last = 0;
    for (i, _) in lower.match_indices(needle) {
        out.push_str(&text[last..i]);
        out.push_str(with);
        last = i + needle.len();
    }
    out.push_str(&text[last..]);
    out
}

pub(super) fn ingress(dep: &FlinkDeployment) -> Result<Option<Ingress>, RenderError> {
    let Some(spec) = &dep.spec.ingress else {
        return Ok(None);
    };
    let template = spec
        .template
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| RenderError::InvalidSpec {
            field: "spec.ingress.template".into(),
            message: "an ingress needs a template such as flink.example.com/{{namespace}}/{{name}}".into(),
        })?;
    let name = name_of(dep)?;
    let (host, path) = ingress_host_path(template, name, namespace_of(dep)?);
    let mut meta = object_meta(dep, name, None)?;
    if let Some(extra) = &spec.labels
        && let Some(labels) = meta.labels.as_mut()
    {
        labels.extend(extra.clone());
    }
    meta.annotations = spec.annotations.clone();
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: rest_service_name(name),
            port: Some(ServiceBackendPort {
                number: Some(REST_PORT),
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    let rule = IngressRule {
        host: (!host.is_empty()).then_some(host),
        http: Some(HTTPIngressRuleValue {
            paths: vec![HTTPIngressPath {
                path: Some(path),
                path_type: "ImplementationSpecific".into(),
                backend,
            }],
        }),
    };
    let tls = spec.tls.as_ref().map(|list| {
        list.iter()
            .map(|t| IngressTLS {
                hosts: t.hosts.clone(),
                secret_name: t.secret_name.clone(),
            })
            .collect()
    });
    Ok(Some(Ingress {
        metadata: meta,
        spec: Some(K8sIngressSpec {
            ingress_class_name: spec.class_name.clone(),
            rules: Some(vec![rule]),
            tls,
            ..Default::default()
        }),
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_placeholders_case_insensitively() {
        assert_eq!(
            ingress_host_path("flink.example.com/{{namespace}}/{{NAME}}(/|$)(.*)", "job", "prod"),
            ("flink.example.com".into(), "/prod/job(/|$)(.*)".into())
        );
        assert_eq!(
            ingress_host_path("https://{{name}}.{{namespace}}.flink.k8s.io", "job", "prod"),
            ("job.prod.flink.k8s.io".into(), "/".into())
        );
        assert_eq!(
            ingress_host_path("/{{name}}", "job", "prod"),
            ("".into(), "/job".into())
        );
    }
}
