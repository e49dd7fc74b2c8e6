//! The examples in `examples/` are what a user would apply: each parses with the API types, the
//! admission the webhook runs (`flink-lifecycle validate`: mutation, validation, warnings) accepts
//! every one without a warning, and together they cover each upgrade mode, a session cluster and a
//! session job on it, in the namespace the watch-namespaces component watches.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "install/mod.rs"]
mod install;

use flink_lifecycle::api::{FlinkDeployment, FlinkSessionJob};
use flink_lifecycle::config::{OperatorConfig, flink_keys};
use flink_lifecycle::offline::{admit_all, collect_files, read_documents};
use flink_lifecycle::validation::{FlinkKind, ResolvedHosts};
use install::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::process::Command;

fn examples() -> Vec<flink_lifecycle::offline::Document> {
    let (files, errors) = collect_files(&[repo().join("examples")]);
    assert!(errors.is_empty(), "{errors:?}");
    let (docs, errors) = read_documents(&files);
    assert!(errors.is_empty(), "{errors:?}");
    docs
}

/// DNS answers for the jar hosts of the examples (tests do not depend on the network): a public
/// address, as the real host has.
fn resolver() -> ResolvedHosts {
    let public: IpAddr = "151.101.0.209".parse().unwrap();
    ResolvedHosts(HashMap::from([("repo1.maven.org".to_string(), Ok(vec![public]))]))
}

#[test]
fn every_example_is_admitted_without_warnings() {
    let docs = examples();
    assert!(
        docs.len() >= 5,
        "only {} Flink resources in examples/",
        docs.len()
    );
    let verdicts = admit_all(&docs, &[], &OperatorConfig::default(), &resolver());
    for v in &verdicts {
        println!("{}", v.lines().join("\n"));
        assert_eq!(v.decision, Ok(()), "{} {} denied", v.source, v.name);
        assert!(v.warnings.is_empty(), "{}: warnings {:?}", v.name, v.warnings);
    }
}

#[test]
fn examples_cover_each_upgrade_mode_a_session_cluster_and_a_session_job() {
    let mut modes = BTreeMap::new();
    let mut sessions = BTreeSet::new();
    let mut jobs = Vec::new();
    for d in examples() {
        assert_eq!(d.value["metadata"]["namespace"], "flink-jobs", "{}", d.source);
        match d.kind {
            FlinkKind::Deployment => {
                let dep: FlinkDeployment = serde_json::from_value(d.value.clone()).unwrap();
                let name = dep.metadata.name.clone().unwrap();
                match &dep.spec.job {
                    Some(job) => {
                        let mode = serde_json::to_value(job.upgrade_mode).unwrap();
                        let conf = dep.spec.flink_configuration.clone().unwrap_or_default().flatten();
                        modes.insert(mode.as_str().unwrap().to_string(), conf);
                    }
                    None => {
                        sessions.insert(name);
                    }
                }
            }
            FlinkKind::SessionJob => {
                let job: FlinkSessionJob = serde_json::from_value(d.value.clone()).unwrap();
                jobs.push(job.spec.deployment_name.clone().unwrap_or_default());
            }
            FlinkKind::StateSnapshot => {}
        }
    }
    let names: Vec<_> = modes.keys().cloned().collect();
    assert_eq!(names, ["last-state", "savepoint", "stateless"]);
    assert!(
        flink_keys::kubernetes_ha_enabled(&modes["last-state"]),
        "last-state example without HA"
    );
    assert!(flink_keys::checkpoint_dir(&modes["last-state"]).is_some());
    assert!(flink_keys::savepoint_dir(&modes["savepoint"]).is_some());
    assert!(!sessions.is_empty(), "no session cluster example");
    assert!(!jobs.is_empty(), "no session job example");
    for target in jobs {
        assert!(
            sessions.contains(&target),
            "session job targets unknown cluster {target}"
        );
    }
}

/// The plain Kubernetes objects among the examples (the Flink pods' service account) validate
/// against the Kubernetes schema like the install manifests do.
#[test]
fn example_kubernetes_objects_validate() {
    let (ok, stdout, stderr) = run(Command::new(tool("kubernetes-validate"))
        .args(["--strict", "-k", "1.33.0"])
        .arg(repo().join("examples/flink-serviceaccount.yaml")));
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("serviceaccount/flink"), "{stdout}");
}
