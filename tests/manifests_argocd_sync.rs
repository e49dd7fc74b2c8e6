//! Argo CD applies every overlay in an order that cannot deadlock: objects sorted by Argo CD's
//! rules (phase, then sync wave, then kind, then name; gitops-engine's `syncTasks` order), and
//! Argo CD waits for a wave to be healthy before it starts the next one. So everything the
//! operator Deployment mounts or runs as (ConfigMap, Secret, ServiceAccount, its RBAC, the CRDs
//! it watches) must be synced before it and in a wave no later than its own; the webhook
//! configurations after it; and the CRDs must survive the deletion of the Application.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "install/mod.rs"]
mod install;

use install::argo_sync::*;
use install::*;
use serde_json::Value;

fn label(o: &Value) -> String {
    format!("{} {} (wave {})", kind(o), name(o), wave(o))
}

fn lookup<'a>(objs: &'a [Value], k: &str, n: &str) -> Option<&'a Value> {
    objs.iter().find(|o| kind(o) == k && name(o) == n)
}

/// The (kind, name) of every ConfigMap, Secret and ServiceAccount a pod template refers to.
fn pod_references(pod: &Value) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let sa = pod["serviceAccountName"].as_str().unwrap_or("default");
    out.push(("ServiceAccount", sa.to_string()));
    for s in pod["imagePullSecrets"].as_array().into_iter().flatten() {
        out.push(("Secret", s["name"].as_str().unwrap().to_string()));
    }
    for v in pod["volumes"].as_array().into_iter().flatten() {
        if let Some(n) = v["configMap"]["name"].as_str() {
            out.push(("ConfigMap", n.to_string()));
        }
        if let Some(n) = v["secret"]["secretName"].as_str() {
            out.push(("Secret", n.to_string()));
        }
        for src in v["projected"]["sources"].as_array().into_iter().flatten() {
            if let Some(n) = src["configMap"]["name"].as_str() {
                out.push(("ConfigMap", n.to_string()));
            }
            if let Some(n) = src["secret"]["name"].as_str() {
                out.push(("Secret", n.to_string()));
            }
        }
    }
    let containers = pod["containers"]
        .as_array()
        .into_iter()
        .chain(pod["initContainers"].as_array())
        .flatten();
    for c in containers {
        for e in c["env"].as_array().into_iter().flatten() {
            if let Some(n) = e["valueFrom"]["configMapKeyRef"]["name"].as_str() {
                out.push(("ConfigMap", n.to_string()));
            }
            if let Some(n) = e["valueFrom"]["secretKeyRef"]["name"].as_str() {
                out.push(("Secret", n.to_string()));
            }
        }
        for e in c["envFrom"].as_array().into_iter().flatten() {
            if let Some(n) = e["configMapRef"]["name"].as_str() {
                out.push(("ConfigMap", n.to_string()));
            }
            if let Some(n) = e["secretRef"]["name"].as_str() {
                out.push(("Secret", n.to_string()));
            }
        }
    }
    out
}

/// The bindings granting `sa` (in `ns`) anything, and the roles they bind.
fn rbac_of<'a>(objs: &'a [Value], sa: &str, ns: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    for b in objs
        .iter()
        .filter(|o| matches!(kind(o), "RoleBinding" | "ClusterRoleBinding"))
    {
        let binds_sa = b["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["kind"] == "ServiceAccount" && s["name"] == sa && s["namespace"] == ns);
        if !binds_sa {
            continue;
        }
        out.push(b);
        let role_kind = b["roleRef"]["kind"].as_str().unwrap();
        let role_name = b["roleRef"]["name"].as_str().unwrap();
        let role = objs
            .iter()
            .find(|o| kind(o) == role_kind && name(o) == role_name && namespace(o) == namespace(b))
            .unwrap_or_else(|| panic!("{}: binds missing {role_kind} {role_name}", label(b)));
        out.push(role);
    }
    out
}

/// Asserts `before` is synced before `after` and in a wave no later than its.
fn synced_before(overlay: &str, before: &Value, after: &Value, failures: &mut Vec<String>) {
    if sync_key(before) >= sync_key(after) {
        failures.push(format!(
            "{overlay}: {} is synced after {} that needs it",
            label(before),
            label(after)
        ));
    }
}

#[test]
fn everything_the_operator_deployment_uses_is_synced_before_it() {
    let mut failures = Vec::new();
    for overlay in OVERLAYS {
        let objs = overlay_objects(overlay);
        let dep = find(&objs, "Deployment", "flink-lifecycle");
        let pod = &dep["spec"]["template"]["spec"];
        let ns = namespace(dep);
        let mut needed = Vec::new();
        for (k, n) in pod_references(pod) {
            match lookup(&objs, k, &n) {
                Some(o) => needed.push(o),
                None if k == "Secret" => {
                    // Not in Git: a cert-manager Certificate must produce it in an earlier wave,
                    // so Argo CD waits for it (Certificate health: Ready) before the Deployment.
                    let cert = objs
                        .iter()
                        .find(|o| kind(o) == "Certificate" && o["spec"]["secretName"] == n.as_str())
                        .unwrap_or_else(|| {
                            panic!("{overlay}: the Deployment mounts Secret {n}, which nothing creates")
                        });
                    if wave(cert) >= wave(dep) {
                        failures.push(format!(
                            "{overlay}: {} produces Secret {n} but is not in an earlier wave than {}",
                            label(cert),
                            label(dep)
                        ));
                    }
                    let issuer = cert["spec"]["issuerRef"]["name"].as_str().unwrap();
                    if let Some(i) = lookup(&objs, "Issuer", issuer)
                        && wave(i) > wave(cert)
                    {
                        failures.push(format!("{overlay}: {} after {}", label(i), label(cert)));
                    }
                }
                None => failures.push(format!("{overlay}: the Deployment uses missing {k} {n}")),
            }
        }
        let sa = pod["serviceAccountName"].as_str().unwrap();
        let rbac = rbac_of(&objs, sa, ns);
        assert!(rbac.len() >= 2, "{overlay}: no RBAC for {sa}");
        needed.extend(rbac);
        // The CRDs it watches, and the namespace it runs in.
        needed.extend(find_all(&objs, "CustomResourceDefinition"));
        needed.push(find(&objs, "Namespace", ns));
        for o in &needed {
            synced_before(overlay, o, dep, &mut failures);
        }
        // The namespace comes first of all.
        let nso = find(&objs, "Namespace", ns);
        for o in objs
            .iter()
            .filter(|o| !namespace(o).is_empty() && namespace(o) == ns)
        {
            synced_before(overlay, nso, o, &mut failures);
        }
        let names: Vec<String> = needed.iter().map(|o| label(o)).collect();
        println!("{overlay}: before {}: {}", label(dep), names.join(", "));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The generated ConfigMap (its name carries a content hash) gets the Deployment's wave: it is
/// the object a wave-less generator used to leave in wave 0, after the Deployment mounting it.
#[test]
fn the_generated_operator_config_is_in_the_deployment_wave() {
    for overlay in OVERLAYS {
        let objs = overlay_objects(overlay);
        let dep = find(&objs, "Deployment", "flink-lifecycle");
        let cm = find(&objs, "ConfigMap", "flink-lifecycle-config-");
        assert_eq!(wave(cm), wave(dep), "{overlay}: {}", label(cm));
    }
}

/// The webhook configurations (failurePolicy: Fail) are applied after the operator that serves
/// them, never in an earlier wave, and nothing the install syncs or prunes can be refused by them:
/// the install holds no object they intercept and they never intercept DELETE.
#[test]
fn webhook_configurations_come_after_the_operator_and_cannot_refuse_the_install() {
    let mut failures = Vec::new();
    for overlay in OVERLAYS {
        let objs = overlay_objects(overlay);
        let dep = find(&objs, "Deployment", "flink-lifecycle");
        for k in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"] {
            let w = find(&objs, k, "flink-lifecycle");
            synced_before(overlay, dep, w, &mut failures);
            for hook in w["webhooks"].as_array().unwrap() {
                let svc = &hook["clientConfig"]["service"];
                let svc = lookup(&objs, "Service", svc["name"].as_str().unwrap())
                    .unwrap_or_else(|| panic!("{overlay}: {k}: no Service {}", svc["name"]));
                synced_before(overlay, svc, w, &mut failures);
                for rule in hook["rules"].as_array().unwrap() {
                    let ops: Vec<&str> = rule["operations"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|o| o.as_str().unwrap())
                        .collect();
                    assert!(
                        !ops.contains(&"DELETE") && !ops.contains(&"*"),
                        "{overlay}: {k} intercepts deletes: {ops:?}"
                    );
                    let groups = rule["apiGroups"].as_array().unwrap();
                    assert!(!groups.iter().any(|g| g == "*"), "{overlay}: {k}: all groups");
                    for o in &objs {
                        let group = o["apiVersion"]
                            .as_str()
                            .unwrap()
                            .rsplit_once('/')
                            .map_or("", |(g, _)| g);
                        assert!(
                            !groups.iter().any(|g| g == group),
                            "{overlay}: {k} intercepts {} of the install itself",
                            label(o)
                        );
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every object states its wave; no wave is used before the Namespace exists.
#[test]
fn every_object_carries_a_sync_wave() {
    for overlay in OVERLAYS {
        for o in overlay_objects(overlay) {
            assert!(
                annotation(&o, "argocd.argoproj.io/sync-wave").is_some(),
                "{overlay}: {} has no sync-wave",
                label(&o)
            );
        }
    }
}

/// Deleting the Application that installed the operator must not delete the CRDs (that would
/// delete every FlinkDeployment and FlinkSessionJob), nor may a prune.
#[test]
fn crds_are_never_pruned_or_deleted_by_argo_cd() {
    for overlay in OVERLAYS {
        let objs = overlay_objects(overlay);
        let crds = find_all(&objs, "CustomResourceDefinition");
        assert_eq!(crds.len(), flink_lifecycle::crd::all().len());
        for crd in crds {
            let opts: Vec<&str> = annotation(crd, "argocd.argoproj.io/sync-options")
                .unwrap_or_else(|| panic!("{overlay}: {} has no sync-options", name(crd)))
                .split(',')
                .map(str::trim)
                .collect();
            for want in ["Delete=false", "Prune=false"] {
                assert!(
                    opts.contains(&want),
                    "{overlay}: {}: {opts:?} lacks {want}",
                    name(crd)
                );
            }
        }
    }
}

/// The wave table of docs/argocd.md names each kind (in backticks) in the wave it is rendered in.
#[test]
fn the_documented_waves_are_the_rendered_ones() {
    let doc = std::fs::read_to_string(repo().join("docs/argocd.md")).unwrap();
    let section = doc
        .split("## Ordering: sync waves")
        .nth(1)
        .expect("docs/argocd.md has no sync waves section");
    let mut checked = 0;
    for line in section.lines().take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let Ok(doc_wave) = cells[1].split_whitespace().next().unwrap_or("").parse::<i64>() else {
            continue;
        };
        for k in cells[2].split('`').skip(1).step_by(2) {
            for overlay in OVERLAYS {
                for o in find_all(&overlay_objects(overlay), k) {
                    assert_eq!(
                        wave(o),
                        doc_wave,
                        "docs/argocd.md puts {k} in wave {doc_wave}; {overlay} renders {}",
                        label(o)
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(
        checked > 20,
        "the wave table names few rendered kinds ({checked})"
    );
}
