//! The pieces of each overlay fit together: the hardened operator Deployment, its probes and
//! ports, the webhook Service and configurations, the certificate wiring of each mode, and the
//! operator ConfigMap holding exactly the defaults of `src/config/keys.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "install/mod.rs"]
mod install;

use flink_lifecycle::config::{KEYS, OPERATOR_PREFIX, OperatorConfig, flat_yaml};
use install::*;
use serde_json::{Value, json};

fn container(objs: &[Value]) -> &Value {
    let dep = find(objs, "Deployment", "flink-lifecycle");
    let containers = dep["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    &containers[0]
}

fn env<'a>(c: &'a Value, key: &str) -> Option<&'a str> {
    c["env"].as_array()?.iter().find(|e| e["name"] == key)?["value"].as_str()
}

fn volume<'a>(objs: &'a [Value], name: &str) -> &'a Value {
    let dep = find(objs, "Deployment", "flink-lifecycle");
    dep["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

#[test]
fn operator_deployment_is_hardened_and_probed() {
    for overlay in OVERLAYS {
        let objs = overlay_objects(overlay);
        let dep = find(&objs, "Deployment", "flink-lifecycle");
        let pod = &dep["spec"]["template"]["spec"];
        let c = container(&objs);
        assert_eq!(
            c["image"],
            format!("flink-lifecycle:{}", env!("CARGO_PKG_VERSION")),
            "{overlay}"
        );
        assert_eq!(c["args"], json!(["run"]));
        // One replica replaced whole, except in the HA overlay (its own test below).
        if !overlay.ends_with("-ha") {
            assert_eq!(dep["spec"]["replicas"], 1, "{overlay}");
            assert_eq!(dep["spec"]["strategy"]["type"], "Recreate", "{overlay}");
        }
        assert_eq!(pod["serviceAccountName"], "flink-lifecycle");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert!(pod["securityContext"]["runAsUser"].as_u64().unwrap() > 10_000);
        assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
        let sc = &c["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true, "{overlay}");
        assert_eq!(sc["readOnlyRootFilesystem"], true);
        assert_eq!(sc["allowPrivilegeEscalation"], false);
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
        assert!(sc["capabilities"]["add"].is_null());
        assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            assert_eq!(c[probe]["httpGet"]["port"], "admin", "{probe}");
        }
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/livez");
        assert_eq!(c["startupProbe"]["httpGet"]["path"], "/livez");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
        let ports = c["ports"].as_array().unwrap();
        let port = |n: &str| ports.iter().find(|p| p["name"] == n).unwrap()["containerPort"].clone();
        assert_eq!(port("admin"), 8080);
        assert_eq!(port("webhook"), 9443);
        assert_eq!(env(c, "FLINK_LIFECYCLE_WEBHOOK_ADDR"), Some("0.0.0.0:9443"));
        assert_eq!(env(c, "FLINK_LIFECYCLE_ADMIN_ADDR"), Some("0.0.0.0:8080"));
        for r in ["requests", "limits"] {
            for k in ["cpu", "memory"] {
                assert!(c["resources"][r][k].is_string(), "{overlay}: resources.{r}.{k}");
            }
        }
        // The config file the operator reads is the generated ConfigMap's key.
        let cm = find(&objs, "ConfigMap", "flink-lifecycle-config");
        assert_eq!(
            volume(&objs, "config")["configMap"]["name"],
            cm["metadata"]["name"]
        );
        assert_eq!(
            env(c, "FLINK_LIFECYCLE_OPERATOR_CONFIG"),
            Some("/etc/flink-lifecycle/config.yaml")
        );
        assert!(cm["data"]["config.yaml"].is_string());
    }
}

#[test]
fn webhooks_are_registered_through_the_service() {
    for overlay in OVERLAYS {
        let objs = overlay_objects(overlay);
        let svc = find(&objs, "Service", "flink-lifecycle-webhook");
        assert_eq!(svc["spec"]["ports"][0]["port"], 443);
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], "webhook");
        let pod_labels =
            &find(&objs, "Deployment", "flink-lifecycle")["spec"]["template"]["metadata"]["labels"];
        for (k, v) in svc["spec"]["selector"].as_object().unwrap() {
            assert_eq!(&pod_labels[k], v, "Service selector {k}");
        }
        // Validation sees all three kinds; mutation only session jobs, the one kind it changes.
        for (kind_name, path, resources) in [
            (
                "ValidatingWebhookConfiguration",
                "/validate",
                json!(["flinkdeployments", "flinksessionjobs", "flinkstatesnapshots"]),
            ),
            (
                "MutatingWebhookConfiguration",
                "/mutate",
                json!(["flinksessionjobs"]),
            ),
        ] {
            let cfg = find(&objs, kind_name, "flink-lifecycle");
            assert_eq!(name(cfg), flink_lifecycle::rbac::WEBHOOK_CONFIGURATION_NAME);
            let hooks = cfg["webhooks"].as_array().unwrap();
            assert_eq!(hooks.len(), 1);
            let w = &hooks[0];
            assert_eq!(w["sideEffects"], "None");
            assert_eq!(w["admissionReviewVersions"], json!(["v1"]));
            assert_eq!(w["failurePolicy"], "Fail");
            assert_eq!(w["timeoutSeconds"], 5);
            let s = &w["clientConfig"]["service"];
            assert_eq!(s["name"], name(svc));
            assert_eq!(s["namespace"], namespace(svc));
            assert_eq!(s["port"], 443);
            assert_eq!(s["path"], path);
            assert!(
                w["clientConfig"]["caBundle"].is_null(),
                "caBundle must not be in Git"
            );
            let rule = &w["rules"][0];
            assert_eq!(rule["apiGroups"], json!(["flink.apache.org"]));
            assert_eq!(rule["operations"], json!(["CREATE", "UPDATE"]));
            assert_eq!(rule["resources"], resources);
        }
    }
}

#[test]
fn cert_manager_overlay_injects_the_ca_of_the_served_certificate() {
    let objs = overlay_objects("cert-manager");
    let cert = find(&objs, "Certificate", "flink-lifecycle-webhook");
    let issuer = find(&objs, "Issuer", "flink-lifecycle-selfsigned");
    assert_eq!(cert["spec"]["issuerRef"]["name"], name(issuer));
    let svc = find(&objs, "Service", "flink-lifecycle-webhook");
    let host = format!("{}.{}.svc", name(svc), namespace(svc));
    let dns: Vec<&str> = cert["spec"]["dnsNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(dns.contains(&host.as_str()), "{dns:?} lacks {host}");
    assert_eq!(
        volume(&objs, "certs")["secret"]["secretName"],
        cert["spec"]["secretName"]
    );
    assert!(volume(&objs, "certs")["emptyDir"].is_null());
    let inject = format!("{}/{}", namespace(cert), name(cert));
    for k in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"] {
        assert_eq!(
            find(&objs, k, "flink-lifecycle")["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            inject.as_str()
        );
    }
    assert!(env(container(&objs), "FLINK_LIFECYCLE_SELF_SIGNED").is_none());
}

#[test]
fn self_signed_overlays_let_the_operator_issue_its_certificate() {
    for overlay in ["self-signed", "self-signed-watch-namespaces"] {
        let objs = overlay_objects(overlay);
        assert!(find_all(&objs, "Certificate").is_empty());
        let c = container(&objs);
        assert_eq!(env(c, "FLINK_LIFECYCLE_SELF_SIGNED"), Some("true"));
        assert_eq!(
            env(c, "FLINK_LIFECYCLE_SELF_SIGNED_SECRET"),
            Some(flink_lifecycle::rbac::SELF_SIGNED_SECRET_NAME)
        );
        assert_eq!(
            env(c, "FLINK_LIFECYCLE_WEBHOOK_SERVICE"),
            Some("flink-lifecycle-webhook")
        );
        assert_eq!(
            env(c, "FLINK_LIFECYCLE_WEBHOOK_CONFIGURATION"),
            Some(flink_lifecycle::rbac::WEBHOOK_CONFIGURATION_NAME)
        );
        // The operator writes the certificate into a writable in-memory volume.
        assert_eq!(volume(&objs, "certs")["emptyDir"]["medium"], "Memory");
        for k in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"] {
            assert!(find(&objs, k, "flink-lifecycle")["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].is_null());
        }
    }
}

fn without_raw(mut c: OperatorConfig) -> OperatorConfig {
    c.raw.clear();
    c
}

#[test]
fn operator_config_holds_exactly_the_reference_defaults() {
    let text = std::fs::read_to_string(repo().join("manifests/base/operator-config.yaml")).unwrap();
    let flat = flat_yaml(&text).unwrap();
    let parsed = OperatorConfig::from_yaml(&text).unwrap();
    assert_eq!(without_raw(parsed), without_raw(OperatorConfig::default()));
    // Same text as the table, key by key; keys without a default are present, commented out.
    for def in KEYS {
        let full = format!("{OPERATOR_PREFIX}{}", def.key);
        match def.default {
            Some(d) => assert_eq!(flat.get(&full).map(String::as_str), Some(d), "{full}"),
            None => {
                assert!(!flat.contains_key(&full), "{full} has no default");
                assert!(text.contains(&format!("# {full}:")), "{full} not listed");
            }
        }
    }
    for key in flat.keys() {
        let short = key
            .strip_prefix(OPERATOR_PREFIX)
            .unwrap_or_else(|| panic!("{key} is not an operator key"));
        assert!(
            KEYS.iter().any(|d| d.key == short),
            "{key} is not in src/config/keys.rs"
        );
    }
    // The rendered ConfigMap is this file.
    for overlay in ["cert-manager", "self-signed"] {
        let objs = overlay_objects(overlay);
        let cm = find(&objs, "ConfigMap", "flink-lifecycle-config");
        assert_eq!(cm["data"]["config.yaml"], text.as_str());
    }
}

#[test]
fn watch_namespaces_config_differs_from_the_base_only_in_the_namespace_list() {
    let read = |p: &str| flat_yaml(&std::fs::read_to_string(repo().join(p)).unwrap()).unwrap();
    let mut base = read("manifests/base/operator-config.yaml");
    let mut component = read("manifests/components/watch-namespaces/operator-config.yaml");
    let key = format!("{OPERATOR_PREFIX}watched.namespaces");
    assert!(component.remove(&key).is_some_and(|v| !v.trim().is_empty()));
    assert!(base.remove(&key).is_none());
    assert_eq!(base, component);
}

/// Environment variables of the operator container that the `run` command is expected to read
/// but no flag defines yet (the lead's `run` wires them; remove an entry once it does).
const ENV_AWAITING_RUN: &[&str] = &[];

/// Every FLINK_LIFECYCLE_* variable the manifests set is a flag the binary knows: a renamed flag
/// cannot silently leave the Deployment configuring nothing.
#[test]
fn every_operator_env_var_in_the_manifests_is_a_known_flag() {
    use clap::CommandFactory;
    fn collect(cmd: &clap::Command, out: &mut std::collections::BTreeSet<String>) {
        for a in cmd.get_arguments() {
            if let Some(e) = a.get_env() {
                out.insert(e.to_string_lossy().into_owned());
            }
        }
        for sub in cmd.get_subcommands() {
            collect(sub, out);
        }
    }
    let mut known = std::collections::BTreeSet::new();
    collect(&flink_lifecycle::cli::Cli::command(), &mut known);
    #[derive(clap::Parser)]
    struct SelfSigned {
        #[command(flatten)]
        args: flink_lifecycle::selfsigned::SelfSignedArgs,
    }
    collect(&SelfSigned::command(), &mut known);
    for overlay in OVERLAYS {
        let objs = overlay_objects(overlay);
        for e in container(&objs)["env"].as_array().unwrap() {
            let name = e["name"].as_str().unwrap();
            if name.starts_with("FLINK_LIFECYCLE_") && !ENV_AWAITING_RUN.contains(&name) {
                assert!(known.contains(name), "{overlay}: {name} is read by no flag");
            }
        }
    }
}

/// The image runs as the same non-root user the Deployment demands, from a separate runtime stage,
/// with `run` as its default command (what the Deployment passes).
#[test]
fn dockerfile_is_multi_stage_and_non_root_as_the_deployment_expects() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert!(froms.len() >= 2, "not multi-stage: {froms:?}");
    let runtime = text.rsplit("\nFROM ").next().unwrap();
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("runtime stage sets no USER");
    let uid: u64 = user.split(':').next().unwrap().trim().parse().unwrap();
    assert_ne!(uid, 0);
    let objs = overlay_objects("self-signed");
    let dep = find(&objs, "Deployment", "flink-lifecycle");
    assert_eq!(
        dep["spec"]["template"]["spec"]["securityContext"]["runAsUser"],
        uid
    );
    assert!(runtime.contains(r#"CMD ["run"]"#));
    assert!(text.contains("--bin flink-lifecycle"));
    // The build context leaves out the (large) target directory.
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l.trim() == "target/"));
}

/// Every relative link in the install docs and README points at a file that exists.
#[test]
fn install_docs_link_to_existing_files() {
    for doc in [
        "README.md",
        "docs/install.md",
        "docs/argocd.md",
        "docs/troubleshooting.md",
    ] {
        let path = repo().join(doc);
        let text = std::fs::read_to_string(&path).unwrap();
        for part in text.split("](").skip(1) {
            let target = part.split(')').next().unwrap().split('#').next().unwrap();
            if target.is_empty() || target.contains("://") {
                continue;
            }
            let resolved = path.parent().unwrap().join(target);
            assert!(resolved.exists(), "{doc}: broken link {target}");
        }
    }
}

/// The HA overlay: two replicas, only the Lease holder reconciles (leader election on), rolled
/// one at a time, and a PodDisruptionBudget that covers the operator's Pods.
#[test]
fn ha_overlay_runs_two_elected_replicas_with_a_disruption_budget() {
    let objs = overlay_objects("cert-manager-ha");
    let d = find(&objs, "Deployment", "flink-lifecycle");
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let env = d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    assert!(
        env.iter()
            .any(|e| e["name"] == "FLINK_LIFECYCLE_LEADER_ELECTION" && e["value"] == "true"),
        "leader election on: {env:?}"
    );
    let pdb = find(&objs, "PodDisruptionBudget", "flink-lifecycle");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    let pod_labels = &d["spec"]["template"]["metadata"]["labels"];
    for (k, v) in pdb["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&pod_labels[k], v, "the budget selects the operator's Pods ({k})");
    }
    assert_eq!(namespace(pdb), namespace(d));
}

/// The metrics Service reaches the admin port of the operator's Pods, and the optional
/// ServiceMonitor component selects it by its labels and port name.
#[test]
fn servicemonitor_component_scrapes_the_metrics_service() {
    use install::{objects, render};
    let objs = objects(&render("tests/fixtures/kustomize/servicemonitor"));
    let svc = find(&objs, "Service", "flink-lifecycle-metrics");
    let d = find(&objs, "Deployment", "flink-lifecycle");
    let pod_labels = &d["spec"]["template"]["metadata"]["labels"];
    for (k, v) in svc["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&pod_labels[k], v, "metrics Service selector {k}");
    }
    let port = &svc["spec"]["ports"][0];
    let container_ports = d["spec"]["template"]["spec"]["containers"][0]["ports"]
        .as_array()
        .unwrap();
    assert!(
        container_ports
            .iter()
            .any(|p| p["name"] == port["targetPort"] && p["containerPort"] == 8080),
        "the metrics Service targets the admin port: {port}"
    );
    let sm = find(&objs, "ServiceMonitor", "flink-lifecycle");
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&svc["metadata"]["labels"][k], v, "ServiceMonitor selector {k}");
    }
    assert_eq!(sm["spec"]["endpoints"][0]["port"], port["name"]);
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(namespace(sm), namespace(svc));
}
