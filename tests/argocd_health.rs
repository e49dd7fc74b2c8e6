//! The Argo CD health checks shipped in `argocd/health/` run in a real Lua 5.1 interpreter (the
//! version Argo CD embeds) over a table of statuses written the way the reference operator writes
//! them (`tests/fixtures/argocd/health-cases.yaml`), and give the expected health and reason.
//! The same statuses go through a re-implementation of Argo CD's bundled checks, to show what users
//! without the override see and that it stays sensible.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "install/mod.rs"]
mod install;

use install::*;
use serde_json::Value;

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/argocd/health-cases.yaml")).unwrap();
    serde_saphyr::from_str::<Vec<Value>>(&text).unwrap()
}

fn results(upstream: bool) -> Vec<(Value, Health)> {
    let all = cases();
    let mut out = Vec::new();
    for kind_name in ["FlinkDeployment", "FlinkSessionJob"] {
        let of_kind: Vec<&Value> = all.iter().filter(|c| c["kind"] == kind_name).collect();
        assert!(of_kind.len() >= 8, "few {kind_name} cases");
        let script = if upstream {
            repo().join(format!("tests/fixtures/argocd/upstream-{kind_name}.lua"))
        } else {
            repo().join(format!("argocd/health/flink.apache.org/{kind_name}/health.lua"))
        };
        let res = run_script(&script, &of_kind);
        for c in of_kind {
            let h = res[c["name"].as_str().unwrap()].clone();
            out.push((c.clone(), h));
        }
    }
    out
}

#[test]
fn override_reports_the_expected_health_and_reason() {
    let mut failures = Vec::new();
    for (case, h) in results(false) {
        let want = case["expect"]["status"].as_str().unwrap();
        let msg = case["expect"]["message"].as_str().unwrap();
        println!(
            "{:45} {:12} {}",
            case["name"].as_str().unwrap(),
            h.status,
            h.message
        );
        if h.status != want || !h.message.contains(msg) {
            failures.push(format!(
                "{}: got {} {:?}, want {want} containing {msg:?}",
                case["name"], h.status, h.message
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_health_state_and_lifecycle_state_is_covered() {
    let res = results(false);
    for status in ["Healthy", "Progressing", "Degraded", "Suspended"] {
        assert!(
            res.iter().any(|(_, h)| h.status == status),
            "no case yields {status}"
        );
    }
    for state in [
        "CREATED",
        "SUSPENDED",
        "UPGRADING",
        "DEPLOYED",
        "STABLE",
        "ROLLING_BACK",
        "ROLLED_BACK",
        "FAILED",
    ] {
        assert!(
            res.iter()
                .any(|(c, _)| c["object"]["status"]["lifecycleState"] == state),
            "no case with lifecycleState {state}"
        );
    }
    // A Degraded health always says why.
    for (c, h) in &res {
        if h.status == "Degraded" && c["object"]["status"]["error"].is_string() {
            assert!(
                h.message.contains(": "),
                "{}: no reason in {:?}",
                c["name"],
                h.message
            );
        }
    }
}

#[test]
fn upstream_check_reads_the_same_statuses_as_documented() {
    let mut failures = Vec::new();
    for (case, h) in results(true) {
        let want = case["upstream"].as_str().unwrap();
        if h.status != want {
            failures.push(format!(
                "{}: upstream gives {} {:?}, table says {want}",
                case["name"], h.status, h.message
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Without the override nothing breaks: no Lua error (Unknown), no false alarm on a healthy job,
/// and nothing we call in progress shows as Degraded upstream.
#[test]
fn upstream_check_stays_sensible_on_our_statuses() {
    let ours = results(false);
    let upstream = results(true);
    for ((case, o), (_, u)) in ours.iter().zip(&upstream) {
        let name = case["name"].as_str().unwrap();
        assert_ne!(
            u.status, "Unknown",
            "{name}: upstream script error {:?}",
            u.message
        );
        if o.status == "Healthy" {
            assert_eq!(
                u.status, "Healthy",
                "{name}: healthy job shown as {} upstream",
                u.status
            );
        }
        if o.status == "Progressing" {
            assert_ne!(
                u.status, "Degraded",
                "{name}: in-progress job shown as Degraded upstream"
            );
        }
    }
}

/// The argocd-cm snippet in docs/argocd.md carries exactly the shipped scripts.
#[test]
fn argocd_cm_snippet_matches_the_shipped_scripts() {
    let doc = std::fs::read_to_string(repo().join("docs/argocd.md")).unwrap();
    for kind_name in ["FlinkDeployment", "FlinkSessionJob"] {
        let key = format!("resource.customizations.health.flink.apache.org_{kind_name}: |");
        let start = doc
            .find(&key)
            .unwrap_or_else(|| panic!("docs/argocd.md lacks {key}"));
        let script = std::fs::read_to_string(
            repo().join(format!("argocd/health/flink.apache.org/{kind_name}/health.lua")),
        )
        .unwrap();
        let body: Vec<&str> = doc[start..]
            .lines()
            .skip(1)
            .take(script.lines().count())
            .collect();
        let indent = body[0].len() - body[0].trim_start().len();
        for (doc_line, lua_line) in body.iter().zip(script.lines()) {
            let doc_line = if doc_line.len() >= indent {
                &doc_line[indent..]
            } else {
                doc_line.trim()
            };
            assert_eq!(
                doc_line, lua_line,
                "docs/argocd.md snippet for {kind_name} differs from the script"
            );
        }
    }
}
