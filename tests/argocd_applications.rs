//! The Argo CD Applications documented in docs/argocd.md are complete and copy-pasteable: the
//! install Application points at a real overlay, retries with backoff, keeps the runtime caBundle
//! of both webhook configurations; the team Application retries, tolerates CRDs that do not exist
//! yet, and leaves HPA-managed TaskManager replicas alone (at the CRD's scale subresource path).
//! The page also says what each health state the checks return means.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "install/mod.rs"]
mod install;

use install::*;
use serde_json::Value;

fn doc() -> String {
    std::fs::read_to_string(repo().join("docs/argocd.md")).unwrap()
}

/// Every Argo CD Application in the page's YAML blocks.
fn applications() -> Vec<Value> {
    let text = doc();
    let mut out = Vec::new();
    for block in text.split("```yaml\n").skip(1) {
        let body = block.split("```").next().unwrap();
        let v: Value = serde_saphyr::from_str(body)
            .unwrap_or_else(|e| panic!("docs/argocd.md: a YAML block does not parse ({e}):\n{body}"));
        if v["kind"] == "Application" {
            assert_eq!(v["apiVersion"], "argoproj.io/v1alpha1");
            out.push(v);
        }
    }
    out
}

fn sync_options(app: &Value) -> Vec<String> {
    app["spec"]["syncPolicy"]["syncOptions"]
        .as_array()
        .map(|a| a.iter().map(|o| o.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn assert_retry_with_backoff(app: &Value) {
    let name = app["metadata"]["name"].as_str().unwrap();
    let retry = &app["spec"]["syncPolicy"]["retry"];
    assert!(
        retry["limit"].as_i64().is_some_and(|l| l >= 3),
        "{name}: no syncPolicy.retry.limit >= 3"
    );
    let backoff = &retry["backoff"];
    for key in ["duration", "maxDuration"] {
        assert!(backoff[key].is_string(), "{name}: retry.backoff.{key} missing");
    }
    assert!(
        backoff["factor"].as_i64().is_some_and(|f| f >= 2),
        "{name}: retry.backoff.factor"
    );
}

/// The `ignoreDifferences` entry for a kind, or a panic.
fn ignore<'a>(app: &'a Value, kind_name: &str) -> &'a Value {
    app["spec"]["ignoreDifferences"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no ignoreDifferences", app["metadata"]["name"]))
        .iter()
        .find(|d| d["kind"] == kind_name)
        .unwrap_or_else(|| {
            panic!(
                "{}: no ignoreDifferences for {kind_name}",
                app["metadata"]["name"]
            )
        })
}

fn ignored_paths(entry: &Value) -> Vec<String> {
    ["jsonPointers", "jqPathExpressions"]
        .iter()
        .flat_map(|k| entry[*k].as_array().cloned().unwrap_or_default())
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_install_application_is_complete() {
    let apps = applications();
    let install = apps
        .iter()
        .find(|a| {
            a["spec"]["source"]["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("manifests/overlays/"))
        })
        .expect("docs/argocd.md has no Application installing an overlay");
    let path = install["spec"]["source"]["path"].as_str().unwrap();
    let overlay = path.trim_start_matches("manifests/overlays/");
    assert!(OVERLAYS.contains(&overlay), "{path} is not an overlay");
    assert!(install["spec"]["destination"]["server"].is_string());
    assert_retry_with_backoff(install);
    let opts = sync_options(install);
    assert!(
        opts.iter().any(|o| o == "RespectIgnoreDifferences=true"),
        "install: the ignored caBundle would be overwritten on sync: {opts:?}"
    );
    // Client-side apply is enough (the CRDs fit); Replace would recreate the CRDs.
    assert!(!opts.iter().any(|o| o.starts_with("Replace=true")), "{opts:?}");
    for k in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"] {
        let entry = ignore(install, k);
        assert_eq!(entry["group"], "admissionregistration.k8s.io");
        assert_eq!(entry["name"], "flink-lifecycle");
        assert!(
            ignored_paths(entry).iter().any(|p| p.contains("caBundle")),
            "install: {k}: caBundle not ignored"
        );
    }
}

#[test]
fn the_team_application_is_complete() {
    let apps = applications();
    let team = apps
        .iter()
        .find(|a| {
            a["spec"]["ignoreDifferences"]
                .as_array()
                .is_some_and(|d| d.iter().any(|e| e["group"] == "flink.apache.org"))
        })
        .expect("docs/argocd.md has no Application for Flink jobs");
    assert_retry_with_backoff(team);
    let opts = sync_options(team);
    for want in [
        "SkipDryRunOnMissingResource=true",
        "RespectIgnoreDifferences=true",
    ] {
        assert!(opts.iter().any(|o| o == want), "team: {want} missing: {opts:?}");
    }
    assert!(team["spec"]["destination"]["namespace"].is_string());
    // The ignored path is the one the HPA writes: the CRD's scale subresource.
    let objs = overlay_objects("self-signed");
    let crd = find(&objs, "CustomResourceDefinition", "flinkdeployments.");
    let spec_path = crd["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"]
        .as_str()
        .unwrap();
    let pointer = spec_path.trim_start_matches('.').replace('.', "/");
    let entry = ignore(team, "FlinkDeployment");
    let paths = ignored_paths(entry);
    assert!(
        paths
            .iter()
            .any(|p| p == &format!("/{pointer}") || p == spec_path),
        "team: {paths:?} does not ignore {spec_path}"
    );
}

#[test]
fn every_health_state_is_explained() {
    let text = doc();
    let section = text
        .split("### What each health state means")
        .nth(1)
        .expect("docs/argocd.md does not say what each health state means");
    for state in ["Healthy", "Progressing", "Degraded", "Suspended"] {
        assert!(
            section.lines().any(|l| l.starts_with(&format!("| {state} |"))),
            "docs/argocd.md: health {state} not explained"
        );
    }
}

#[test]
fn deleting_the_crds_on_purpose_is_documented() {
    let text = doc();
    assert!(text.contains("Delete=false,Prune=false"));
    let section = text
        .split("## Deleting the CRDs on purpose")
        .nth(1)
        .expect("docs/argocd.md does not tell how to delete the CRDs");
    assert!(
        section.contains(
            "kubectl delete crd flinkdeployments.flink.apache.org flinksessionjobs.flink.apache.org"
        )
    );
}
