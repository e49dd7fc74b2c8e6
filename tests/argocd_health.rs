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
            // A suspension the spec asks for: upstream's Suspended is no false alarm.
            let asked_suspended = case["object"]["spec"]["job"]["state"] == "suspended";
            assert!(
                u.status == "Healthy" || (asked_suspended && u.status == "Suspended"),
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

/// Statuses without lifecycleState (older writers): our check gives what Argo CD's bundled check
/// gives, except on the cases marked `differs`, each listed with its reason in the fixture's
/// header comment; and a listed difference is a real one.
#[test]
fn legacy_statuses_agree_with_upstream_except_the_listed_cases() {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/argocd/health-cases.yaml")).unwrap();
    let header: String = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut failures = Vec::new();
    let mut legacy = 0;
    let mut differing = 0;
    for (case, h) in results(false) {
        let name = case["name"].as_str().unwrap();
        let upstream = case["upstream"].as_str().unwrap();
        let listed = header.contains(&format!("#   {name}:"));
        if case["differs"].is_string() {
            differing += 1;
            if !listed {
                failures.push(format!("{name}: differs but is not listed in the fixture header"));
            }
            if h.status == upstream {
                failures.push(format!("{name}: marked differs, yet both say {upstream}"));
            }
            continue;
        }
        if listed {
            failures.push(format!("{name}: listed as differing but not marked `differs`"));
        }
        let status = &case["object"]["status"];
        if !status.is_object() || !status["lifecycleState"].is_null() {
            continue;
        }
        legacy += 1;
        if h.status != upstream {
            failures.push(format!(
                "{name}: ours {} {:?}, upstream {upstream}",
                h.status, h.message
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(legacy >= 15, "few legacy cases ({legacy})");
    assert!(differing >= 3, "few listed differences ({differing})");
}

/// Partial, unknown or malformed statuses never make the check fail (Argo CD would show Unknown):
/// every fixture object, mutated in ways a status can be broken, gets a health with a message;
/// an empty or non-object status is Progressing or Degraded.
#[test]
fn partial_or_malformed_statuses_never_break_the_check() {
    use serde_json::json;
    type Mutation = (&'static str, bool, fn(&mut Value));
    let mutations: &[Mutation] = &[
        ("status-empty", true, |o| o["status"] = json!({})),
        ("status-string", true, |o| o["status"] = json!("garbage")),
        ("status-number", true, |o| o["status"] = json!(7)),
        ("status-list", true, |o| o["status"] = json!([1, 2])),
        ("jobstatus-null", false, |o| {
            o["status"]["jobStatus"] = Value::Null
        }),
        ("jobstatus-string", false, |o| {
            o["status"]["jobStatus"] = json!("RUNNING")
        }),
        ("jobstatus-state-number", false, |o| {
            o["status"]["jobStatus"] = json!({"state": 3})
        }),
        ("jobstatus-state-unknown", false, |o| {
            o["status"]["jobStatus"] = json!({"state": "WEIRD"})
        }),
        ("conditions-map", false, |o| {
            o["status"]["conditions"] = json!({"type": "Ready"})
        }),
        ("conditions-string", false, |o| {
            o["status"]["conditions"] = json!("Ready")
        }),
        ("conditions-of-strings", false, |o| {
            o["status"]["conditions"] = json!(["Ready", 1])
        }),
        ("conditions-partial", false, |o| {
            o["status"]["conditions"] = json!([{"type": "Degraded", "status": "True"}, {}])
        }),
        ("error-object", false, |o| {
            o["status"]["error"] = json!({"message": "x"})
        }),
        ("error-number", false, |o| o["status"]["error"] = json!(42)),
        ("observed-generation-string", false, |o| {
            o["status"]["observedGeneration"] = json!("1")
        }),
        ("observed-generation-object", false, |o| {
            o["status"]["observedGeneration"] = json!({})
        }),
        ("generation-string", false, |o| {
            o["metadata"]["generation"] = json!("9")
        }),
        ("lifecycle-unknown", false, |o| {
            o["status"]["lifecycleState"] = json!("SOMETHING_NEW")
        }),
        ("lifecycle-number", false, |o| {
            o["status"]["lifecycleState"] = json!(5)
        }),
        ("reconciliation-string", false, |o| {
            o["status"]["reconciliationStatus"] = json!("DEPLOYED")
        }),
        ("jm-number", false, |o| {
            o["status"]["jobManagerDeploymentStatus"] = json!(1)
        }),
        ("spec-job-string", false, |o| {
            o["spec"]["job"] = json!("suspended")
        }),
        ("spec-string", false, |o| o["spec"] = json!("x")),
        ("metadata-string", false, |o| o["metadata"] = json!("x")),
    ];
    let mut failures = Vec::new();
    let mut count = 0;
    for kind_name in ["FlinkDeployment", "FlinkSessionJob"] {
        let mut mutated = Vec::new();
        for base in cases().into_iter().filter(|c| c["kind"] == kind_name) {
            for (label, strict, mutate) in mutations {
                let mut obj = base["object"].clone();
                if !obj["status"].is_object() {
                    obj["status"] = json!({});
                }
                mutate(&mut obj);
                let name = format!("{}+{label}", base["name"].as_str().unwrap());
                mutated.push((json!({"name": name, "object": obj}), *strict));
            }
        }
        let refs: Vec<&Value> = mutated.iter().map(|(c, _)| c).collect();
        let script = repo().join(format!("argocd/health/flink.apache.org/{kind_name}/health.lua"));
        let res = run_script(&script, &refs);
        for (c, strict) in &mutated {
            count += 1;
            let name = c["name"].as_str().unwrap();
            let h = &res[name];
            let ok = if *strict {
                matches!(h.status.as_str(), "Progressing" | "Degraded")
            } else {
                matches!(
                    h.status.as_str(),
                    "Healthy" | "Progressing" | "Degraded" | "Suspended"
                )
            };
            if !ok || h.message.is_empty() || h.message.starts_with("Cannot read the status") {
                failures.push(format!("{kind_name} {name}: {} {:?}", h.status, h.message));
            }
        }
    }
    assert!(count > 500, "few mutated cases ({count})");
    assert!(
        failures.is_empty(),
        "{} of {count}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
