//! The RBAC of every overlay grants exactly the API calls the operator makes
//! (`flink_lifecycle::rbac::REQUIRED_PERMISSIONS`): nothing missing, nothing more.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "install/mod.rs"]
mod install;

use flink_lifecycle::rbac::{self, Feature, Scope};
use install::*;
use serde_json::Value;
use std::collections::BTreeSet;

const OPERATOR_NS: &str = "flink-lifecycle";
const OPERATOR_SA: &str = "flink-lifecycle";

/// (where, apiGroup, resource, verb, resourceName or "*")
type Grant = (String, String, String, String, String);

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

fn binds_operator(binding: &Value) -> bool {
    binding["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["kind"] == "ServiceAccount" && s["name"] == OPERATOR_SA && s["namespace"] == OPERATOR_NS)
}

const CLUSTER_SCOPED: &[&str] = &["validatingwebhookconfigurations", "mutatingwebhookconfigurations"];

/// What the rendered objects grant the operator's service account.
fn granted(objs: &[Value]) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for b in objs
        .iter()
        .filter(|o| matches!(kind(o), "RoleBinding" | "ClusterRoleBinding"))
    {
        assert!(binds_operator(b), "{} {} binds someone else", kind(b), name(b));
        let role_kind = b["roleRef"]["kind"].as_str().unwrap();
        let role_name = b["roleRef"]["name"].as_str().unwrap();
        let role = objs
            .iter()
            .find(|o| {
                kind(o) == role_kind
                    && name(o) == role_name
                    && (role_kind == "ClusterRole" || namespace(o) == namespace(b))
            })
            .unwrap_or_else(|| {
                panic!(
                    "{} {} refers to missing {role_kind} {role_name}",
                    kind(b),
                    name(b)
                )
            });
        for r in role["rules"].as_array().unwrap() {
            let names = strings(&r["resourceNames"]);
            let names = if names.is_empty() {
                vec!["*".to_string()]
            } else {
                names
            };
            for group in strings(&r["apiGroups"]) {
                for resource in strings(&r["resources"]) {
                    let place = if CLUSTER_SCOPED.contains(&resource.as_str()) {
                        assert_eq!(
                            kind(b),
                            "ClusterRoleBinding",
                            "{resource} needs a cluster binding"
                        );
                        "cluster".to_string()
                    } else if kind(b) == "ClusterRoleBinding" {
                        "watched:*".to_string()
                    } else if namespace(b) == OPERATOR_NS {
                        "operator".to_string()
                    } else {
                        format!("watched:{}", namespace(b))
                    };
                    for verb in strings(&r["verbs"]) {
                        for n in &names {
                            assert!(
                                verb != "*" && resource != "*" && group != "*",
                                "wildcard in {role_kind} {role_name}"
                            );
                            out.insert((
                                place.clone(),
                                group.clone(),
                                resource.clone(),
                                verb.clone(),
                                n.clone(),
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}

/// What the operator needs, for the given features and watched namespaces ("*" = all).
fn required(features: &[Feature], watched: &[&str]) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for p in rbac::required(features) {
        let places: Vec<String> = match p.scope {
            Scope::Watched => watched.iter().map(|ns| format!("watched:{ns}")).collect(),
            Scope::OperatorNamespace => vec!["operator".into()],
            Scope::Cluster => vec!["cluster".into()],
        };
        let names: Vec<&str> = if p.resource_names.is_empty() {
            vec!["*"]
        } else {
            p.resource_names.to_vec()
        };
        for place in &places {
            for verb in p.verbs {
                for n in &names {
                    out.insert((
                        place.clone(),
                        p.api_group.into(),
                        p.resource.into(),
                        verb.to_string(),
                        n.to_string(),
                    ));
                }
            }
        }
    }
    out
}

fn assert_exact(overlay: &str, features: &[Feature], watched: &[&str]) {
    let got = granted(&overlay_objects(overlay));
    let want = required(features, watched);
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{overlay}: RBAC differs from src/rbac.rs\nmissing: {missing:#?}\nextra: {extra:#?}"
    );
    println!("{overlay}: {} grants, as src/rbac.rs requires", got.len());
}

#[test]
fn cert_manager_overlay_grants_exactly_the_required_calls() {
    assert_exact("cert-manager", &[Feature::Always], &["*"]);
}

#[test]
fn self_signed_overlay_grants_exactly_the_required_calls() {
    assert_exact("self-signed", &[Feature::Always, Feature::SelfSigned], &["*"]);
}

#[test]
fn watch_namespaces_overlay_grants_only_in_the_watched_namespaces() {
    assert_exact(
        "self-signed-watch-namespaces",
        &[Feature::Always, Feature::SelfSigned],
        &["flink-jobs"],
    );
}

/// The namespace list lives in three places; they must agree.
#[test]
fn watch_namespaces_list_agrees_across_rbac_config_and_webhooks() {
    let objs = overlay_objects("self-signed-watch-namespaces");
    let bound: BTreeSet<String> = find_all(&objs, "RoleBinding")
        .into_iter()
        .map(|b| namespace(b).to_string())
        .filter(|ns| ns != OPERATOR_NS)
        .collect();
    let cm = find(&objs, "ConfigMap", "flink-lifecycle-config");
    let config =
        flink_lifecycle::config::OperatorConfig::from_yaml(cm["data"]["config.yaml"].as_str().unwrap())
            .unwrap();
    let configured: BTreeSet<String> = config.watched_namespaces.into_iter().collect();
    assert_eq!(
        bound, configured,
        "RoleBindings vs kubernetes.operator.watched.namespaces"
    );
    for k in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"] {
        let sel =
            &find(&objs, k, "flink-lifecycle")["webhooks"][0]["namespaceSelector"]["matchExpressions"][0];
        assert_eq!(sel["key"], "kubernetes.io/metadata.name");
        assert_eq!(sel["operator"], "In");
        let values: BTreeSet<String> = strings(&sel["values"]).into_iter().collect();
        assert_eq!(values, configured, "{k} namespaceSelector");
    }
    // And the all-namespaces overlays watch everything.
    let cm = find(
        &overlay_objects("self-signed"),
        "ConfigMap",
        "flink-lifecycle-config",
    )
    .clone();
    let config =
        flink_lifecycle::config::OperatorConfig::from_yaml(cm["data"]["config.yaml"].as_str().unwrap())
            .unwrap();
    assert!(config.watched_namespaces.is_empty());
}

/// The test itself notices a missing or an extra grant.
#[test]
fn the_comparison_detects_missing_and_extra_grants() {
    let mut objs = overlay_objects("cert-manager");
    let role = objs
        .iter_mut()
        .find(|o| kind(o) == "ClusterRole" && name(o) == "flink-lifecycle-watched")
        .unwrap();
    role["rules"].as_array_mut().unwrap().push(serde_json::json!({
        "apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]
    }));
    role["rules"].as_array_mut().unwrap().remove(0);
    let got = granted(&objs);
    let want = required(&[Feature::Always], &["*"]);
    assert!(got.contains(&(
        "watched:*".into(),
        "".into(),
        "secrets".into(),
        "list".into(),
        "*".into()
    )));
    assert!(!want.is_subset(&got));
    assert!(!got.is_subset(&want));
}
