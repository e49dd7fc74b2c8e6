use super::*;
use crate::api::FlinkVersion;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn flat(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The reference operator's defaults (KubernetesOperatorConfigOptions), written out by hand.
#[test]
fn defaults_equal_the_reference() {
    let c = OperatorConfig::default();
    let expected_durations: &[(&str, Duration, Duration)] = &[
        ("reconcile.interval", c.reconcile_interval, secs(60)),
        (
            "observer.progress-check.interval",
            c.progress_check_interval,
            secs(10),
        ),
        ("observer.rest-ready.delay", c.rest_ready_delay, secs(10)),
        ("flink.client.timeout", c.flink_client_timeout, secs(10)),
        (
            "flink.client.cancel.timeout",
            c.flink_client_cancel_timeout,
            secs(60),
        ),
        ("job.submission.timeout", c.job_submission_timeout, secs(600)),
        ("resource.cleanup.timeout", c.resource_cleanup_timeout, secs(300)),
        ("retry.initial.interval", c.retry_initial_interval, secs(5)),
        ("deployment.readiness.timeout", c.readiness_timeout, secs(300)),
        (
            "cluster.health-check.restarts.window",
            c.health_check_restarts_window,
            secs(120),
        ),
        ("jm-deployment.shutdown-ttl", c.jm_shutdown_ttl, secs(86_400)),
        (
            "savepoint.trigger.grace-period",
            c.savepoint_trigger_grace_period,
            secs(60),
        ),
        (
            "savepoint.history.max.age",
            c.savepoint_history_max_age,
            secs(86_400),
        ),
    ];
    for (key, got, want) in expected_durations {
        assert_eq!(got, want, "{key}");
    }
    let expected_bools: &[(&str, bool, bool)] = &[
        (
            "user.artifacts.disallow-restricted-hosts",
            c.artifacts_disallow_restricted_hosts,
            true,
        ),
        ("leader-election.enabled", c.leader_election_enabled, false),
        ("deployment.rollback.enabled", c.rollback_enabled, false),
        (
            "jm-deployment-recovery.enabled",
            c.jm_deployment_recovery_enabled,
            true,
        ),
        ("cluster.health-check.enabled", c.health_check_enabled, false),
        (
            "cluster.health-check.checkpoint-progress.enabled",
            c.health_check_checkpoint_progress_enabled,
            true,
        ),
        ("job.restart.failed", c.job_restart_failed, false),
        (
            "job.upgrade.ignore-pending-savepoint",
            c.ignore_pending_savepoint,
            false,
        ),
        (
            "job.upgrade.last-state-fallback.enabled",
            c.last_state_fallback_enabled,
            true,
        ),
        (
            "job.upgrade.last-state.job-cancel.enabled",
            c.last_state_job_cancel_enabled,
            false,
        ),
        ("job.savepoint-on-deletion", c.savepoint_on_deletion, false),
        (
            "job.drain-on-savepoint-deletion",
            c.drain_on_savepoint_deletion,
            false,
        ),
        (
            "session.deletion.block-on-session-jobs",
            c.session_block_on_session_jobs,
            true,
        ),
        (
            "session.deletion.block-on-unmanaged-jobs",
            c.session_block_on_unmanaged_jobs,
            true,
        ),
    ];
    for (key, got, want) in expected_bools {
        assert_eq!(got, want, "{key}");
    }
    assert_eq!(c.health_check_restarts_threshold, 64);
    assert_eq!(c.retry_interval_multiplier, 1.5);
    assert_eq!(c.retry_max_attempts, 15);
    assert_eq!(c.retry_max_interval, None);
    assert_eq!(c.reconcile_parallelism, 50);
    assert_eq!(c.savepoint_history_max_count, 10);
    assert_eq!(c.savepoint_format, SavepointFormat::Canonical);
    assert_eq!(c.artifacts_allowed_schemes, vec!["https".to_string()]);
    assert_eq!(c.last_state_max_checkpoint_age, None);
    assert_eq!(c.health_check_checkpoint_progress_window, None);
    assert!(c.periodic_savepoint_interval.is_none());
    assert!(c.watched_namespaces.is_empty());
}

#[test]
fn every_table_key_is_read_by_the_model() {
    // Each key must parse from its own default; a key missing from the model would panic in def().
    let c = OperatorConfig::from_flat(&BTreeMap::new()).unwrap();
    assert_eq!(c, OperatorConfig::default());
    for k in KEYS {
        assert!(
            !k.key.starts_with(OPERATOR_PREFIX),
            "{} must be listed without prefix",
            k.key
        );
    }
}

#[test]
fn reads_a_yaml_file_of_flat_keys() {
    let c = OperatorConfig::from_yaml(
        "kubernetes.operator.reconcile.interval: 15 s\n\
         kubernetes.operator.observer.progress-check.interval: 5 s\n\
         kubernetes.operator.user.artifacts.allowed-schemes: https;http;s3\n\
         kubernetes.operator.watched.namespaces: team-a,team-b\n\
         state.savepoints.dir: s3://bucket/sp\n",
    )
    .unwrap();
    assert_eq!(c.reconcile_interval, secs(15));
    assert_eq!(c.progress_check_interval, secs(5));
    assert_eq!(c.artifacts_allowed_schemes, vec!["https", "http", "s3"]);
    assert_eq!(c.watched_namespaces, vec!["team-a", "team-b"]);
    assert_eq!(
        c.raw.get("state.savepoints.dir").map(String::as_str),
        Some("s3://bucket/sp")
    );
}

#[test]
fn deprecated_aliases_are_honoured() {
    let c = OperatorConfig::from_flat(&flat(&[
        ("kubernetes.operator.reconciler.reschedule.interval", "30 s"),
        (
            "kubernetes.operator.reconciler.jm-deployment-recovery.enabled",
            "false",
        ),
    ]))
    .unwrap();
    assert_eq!(c.reconcile_interval, secs(30));
    assert!(!c.jm_deployment_recovery_enabled);
}

#[test]
fn bad_values_name_the_key_and_the_accepted_forms() {
    let err = OperatorConfig::from_flat(&flat(&[(
        "kubernetes.operator.deployment.readiness.timeout",
        "soon",
    )]))
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("kubernetes.operator.deployment.readiness.timeout"),
        "{msg}"
    );
    assert!(msg.contains("soon"), "{msg}");
    assert!(msg.contains("min"), "{msg}");

    let err =
        OperatorConfig::from_flat(&flat(&[("kubernetes.operator.job.restart.failed", "yes")])).unwrap_err();
    assert!(err.to_string().contains("true or false"));
}

#[test]
fn resources_override_dynamic_keys_only() {
    let op = OperatorConfig::default();
    let c = op
        .for_resource(&flat(&[
            ("kubernetes.operator.deployment.rollback.enabled", "true"),
            (
                "kubernetes.operator.job.upgrade.last-state.max.allowed.checkpoint.age",
                "2 min",
            ),
            ("kubernetes.operator.reconcile.interval", "1 s"),
        ]))
        .unwrap();
    assert!(c.rollback_enabled);
    assert_eq!(c.last_state_max_checkpoint_age, Some(secs(120)));
    assert_eq!(c.reconcile_interval, secs(60), "system keys are not overridable");
}

/// A resource that overrides no operator key gets the operator's configuration as it is, and one
/// that does keeps the operator file's other settings.
#[test]
fn resources_without_overrides_get_the_operator_configuration() {
    let op = OperatorConfig::from_yaml(
        "kubernetes.operator.deployment.rollback.enabled: true\n\
         kubernetes.operator.reconcile.interval: 5 s\n\
         kubernetes.operator.job.restart.failed: true\n",
    )
    .unwrap();
    for resource in [
        flat(&[]),
        flat(&[("taskmanager.numberOfTaskSlots", "2")]),
        flat(&[("kubernetes.operator.reconcile.interval", "1 s")]),
    ] {
        assert_eq!(op.for_resource(&resource).unwrap(), op, "{resource:?}");
    }
    let c = op
        .for_resource(&flat(&[(
            "kubernetes.operator.deployment.rollback.enabled",
            "false",
        )]))
        .unwrap();
    assert!(!c.rollback_enabled);
    assert!(c.job_restart_failed, "the file's other dynamic keys are kept");
    assert_eq!(c.reconcile_interval, secs(5));
    assert_eq!(c.raw, op.raw);
}

/// A resource's overrides re-read only their own fields; the result is what reading the
/// operator's keys with the overrides on top gives, value or error, for every dynamic key under
/// its name or an alias, with a valid value or not.
#[test]
fn overrides_give_what_reading_all_keys_gives() {
    let op = OperatorConfig::from_yaml(
        "kubernetes.operator.deployment.rollback.enabled: true\n\
         kubernetes.operator.job.upgrade.last-state.max.allowed.checkpoint.age: 2 min\n\
         kubernetes.operator.savepoint.format.type: NATIVE\n",
    )
    .unwrap();
    let all_keys_read = |resource: &BTreeMap<String, String>| {
        let mut merged = op.raw.clone();
        merged.extend(
            resource
                .iter()
                .filter(|(k, _)| k.strip_prefix(OPERATOR_PREFIX).is_some_and(keys::is_dynamic))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        OperatorConfig::from_flat(&merged).map(|mut c| {
            c.raw = op.raw.clone();
            c
        })
    };
    let mut checked = 0;
    for def in keys::KEYS.iter().filter(|d| keys::is_dynamic(d.key)) {
        for name in std::iter::once(&def.key).chain(def.aliases) {
            for value in [
                "7 s", "true", "false", "3", "1.5", "NATIVE", "a;b", "", "nonsense",
            ] {
                let resource = flat(&[
                    (&format!("{OPERATOR_PREFIX}{name}"), value),
                    ("kubernetes.operator.job.restart.failed", "true"),
                    ("taskmanager.numberOfTaskSlots", "2"),
                ]);
                assert_eq!(
                    op.for_resource(&resource),
                    all_keys_read(&resource),
                    "{name}: {value}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn effective_config_layers_namespace_and_version_defaults() {
    let op = OperatorConfig::from_flat(&flat(&[
        ("state.savepoints.dir", "file:///base"),
        (
            "kubernetes.operator.default-configuration.namespace.team-a.state.savepoints.dir",
            "file:///ns",
        ),
        (
            "kubernetes.operator.default-configuration.flink-version.v1_18+.a",
            "newer",
        ),
        (
            "kubernetes.operator.default-configuration.flink-version.v1_20.a",
            "exact",
        ),
        (
            "kubernetes.operator.default-configuration.flink-version.v2_0+.b",
            "two",
        ),
    ]))
    .unwrap();
    let eff = effective_flink_config(&op, Some("team-a"), Some(FlinkVersion::v1_20), &BTreeMap::new());
    assert_eq!(
        eff.get("state.savepoints.dir").map(String::as_str),
        Some("file:///ns")
    );
    assert_eq!(eff.get("a").map(String::as_str), Some("exact"));
    assert!(!eff.contains_key("b"));
    assert!(!eff.keys().any(|k| k.contains("default-configuration")));

    let eff = effective_flink_config(
        &op,
        Some("other"),
        Some(FlinkVersion::v2_1),
        &flat(&[("state.savepoints.dir", "file:///own")]),
    );
    assert_eq!(
        eff.get("state.savepoints.dir").map(String::as_str),
        Some("file:///own")
    );
    assert_eq!(eff.get("a").map(String::as_str), Some("newer"));
    assert_eq!(eff.get("b").map(String::as_str), Some("two"));
}

/// A name (key or alias) names one key only, so looking it up cannot be ambiguous.
#[test]
fn every_key_name_is_unique() {
    let names: Vec<&str> = keys::KEYS
        .iter()
        .flat_map(|d| std::iter::once(d.key).chain(d.aliases.iter().copied()))
        .collect();
    let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(names.len(), unique.len());
    for d in keys::KEYS {
        for name in std::iter::once(d.key).chain(d.aliases.iter().copied()) {
            assert_eq!(keys::is_dynamic(name), d.scope == Scope::Dynamic, "{name}");
        }
    }
    assert!(!keys::is_dynamic("no.such.key"));
}
