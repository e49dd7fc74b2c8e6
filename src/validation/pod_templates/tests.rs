use super::*;
use serde_json::json;

fn spec(common: Value, job_manager: Value, task_manager: Value) -> FlinkDeploymentSpec {
    serde_json::from_value(json!({
        "podTemplate": common,
        "jobManager": {"podTemplate": job_manager},
        "taskManager": {"podTemplate": task_manager},
    }))
    .unwrap()
}

/// A TaskManager template with these containers (and volumes).
fn task_manager(containers: Value, volumes: Value) -> FlinkDeploymentSpec {
    spec(
        Value::Null,
        Value::Null,
        json!({"spec": {"containers": containers, "volumes": volumes}}),
    )
}

fn sidecar(fields: Value) -> Value {
    let mut c = json!({"name": "sidecar", "image": "busybox"});
    c.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    c
}

fn denied(spec: &FlinkDeploymentSpec) -> ValidationError {
    validate_pod_templates(spec).expect_err("denied")
}

use crate::validation::ValidationError;

#[test]
fn a_request_above_its_limit_is_refused_as_the_api_server_would() {
    let e = denied(&task_manager(
        json!([sidecar(
            json!({"resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": 1, "memory": "1Gi"}}})
        )]),
        json!([]),
    ));
    assert_eq!(
        e.location,
        "spec.taskManager.podTemplate.spec.containers[0].resources.requests.memory"
    );
    assert!(
        e.problem.contains("the request (2Gi) exceeds the limit (1Gi)"),
        "{e}"
    );
    let init = json!({"spec": {"initContainers": [{"name": "fetch", "image": "busybox", "resources": {"requests": {"ephemeral-storage": "2G"}, "limits": {"ephemeral-storage": "1Gi"}}}]}});
    assert!(validate_pod_templates(&spec(Value::Null, Value::Null, init)).is_err());
}

#[test]
fn equal_missing_or_overridden_values_pass() {
    for container in [
        sidecar(json!({"resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1000m"}}})),
        sidecar(json!({"resources": {"requests": {"cpu": "2"}, "limits": {"memory": "1Gi"}}})),
        sidecar(json!({"resources": {"requests": {"cpu": "lots"}, "limits": {"cpu": "1"}}})),
        // The operator sets the main container's cpu and memory.
        json!({"name": MAIN_CONTAINER, "resources": {"requests": {"cpu": "4"}, "limits": {"cpu": "1"}}}),
    ] {
        assert_eq!(
            validate_pod_templates(&task_manager(json!([container.clone()]), json!([]))),
            Ok(()),
            "{container}"
        );
    }
}

#[test]
fn extended_resources_are_whole_and_requested_at_their_limit() {
    for (resources, why) in [
        (
            json!({"requests": {"nvidia.com/gpu": 1}}),
            "a request without a limit",
        ),
        (
            json!({"requests": {"nvidia.com/gpu": 2}, "limits": {"nvidia.com/gpu": 1}}),
            "more than the limit",
        ),
        (
            json!({"requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 2}}),
            "less than the limit",
        ),
        (json!({"limits": {"example.com/fpga": "500m"}}), "a fraction"),
    ] {
        let main = json!({"name": MAIN_CONTAINER, "resources": resources});
        let e = denied(&task_manager(json!([main]), json!([])));
        assert!(e.problem.contains("extended resource"), "{why}: {e}");
    }
    for resources in [
        json!({"requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": "1"}}),
        json!({"limits": {"nvidia.com/gpu": 2}}),
        json!({"requests": {"hugepages-2Mi": "1Gi"}, "limits": {"hugepages-2Mi": "1Gi"}}),
    ] {
        let main = json!({"name": MAIN_CONTAINER, "resources": resources});
        assert_eq!(
            validate_pod_templates(&task_manager(json!([main]), json!([]))),
            Ok(()),
            "{resources}"
        );
    }
}

#[test]
fn environment_variables_have_a_usable_name_and_one_source() {
    for (env, location, words) in [
        (
            json!({"name": "A=B", "value": "x"}),
            "env[0].name",
            "'A=B' is not an environment variable name",
        ),
        (
            json!({"name": "", "value": "x"}),
            "env[0].name",
            "is not an environment variable name",
        ),
        (
            json!({"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}),
            "env[0].valueFrom",
            "both value and valueFrom",
        ),
        (
            json!({"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}, "secretKeyRef": {"name": "s", "key": "k"}}}),
            "env[0].valueFrom",
            "exactly one source, not fieldRef and secretKeyRef",
        ),
        (
            json!({"name": "A", "valueFrom": {}}),
            "env[0].valueFrom",
            "not none",
        ),
    ] {
        let e = denied(&task_manager(json!([sidecar(json!({"env": [env]}))]), json!([])));
        assert_eq!(
            e.location,
            format!("spec.taskManager.podTemplate.spec.containers[0].{location}"),
            "{env}"
        );
        assert!(e.problem.contains(words), "{env}: {e}");
    }
    let fine = json!([
        {"name": "my.setting-1", "value": "x"},
        {"name": "Lower case too", "value": ""},
        {"name": "B", "value": "", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
    ]);
    assert_eq!(
        validate_pod_templates(&task_manager(json!([sidecar(json!({"env": fine}))]), json!([]))),
        Ok(())
    );
}

#[test]
fn probes_have_one_handler_and_a_usable_port() {
    for (probe, fields, words) in [
        ("livenessProbe", json!({"periodSeconds": 5}), "no handler"),
        (
            "readinessProbe",
            json!({"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}),
            "2 handlers (exec, tcpSocket)",
        ),
        (
            "startupProbe",
            json!({"exec": {"command": ["true"]}, "successThreshold": 2}),
            "successThreshold must be 1",
        ),
        (
            "livenessProbe",
            json!({"httpGet": {"port": "not_a_name!"}}),
            "neither a port number",
        ),
        (
            "readinessProbe",
            json!({"tcpSocket": {"port": 0}}),
            "neither a port number",
        ),
        (
            "readinessProbe",
            json!({"httpGet": {"port": "web--ui"}}),
            "neither a port number",
        ),
    ] {
        let e = denied(&task_manager(
            json!([sidecar(json!({ probe: fields }))]),
            json!([]),
        ));
        assert!(
            e.location.starts_with(&format!(
                "spec.taskManager.podTemplate.spec.containers[0].{probe}"
            )),
            "{e}"
        );
        assert!(e.problem.contains(words), "{probe} {fields}: {e}");
    }
    for (probe, fields) in [
        (
            "livenessProbe",
            json!({"httpGet": {"port": "metrics", "path": "/"}, "successThreshold": 1}),
        ),
        (
            "readinessProbe",
            json!({"tcpSocket": {"port": 8081}, "successThreshold": 3}),
        ),
        ("startupProbe", json!({"grpc": {"port": 9000}})),
    ] {
        let spec = task_manager(json!([sidecar(json!({ probe: fields }))]), json!([]));
        assert_eq!(validate_pod_templates(&spec), Ok(()), "{probe} {fields}");
    }
}

#[test]
fn names_and_paths_inside_a_template_are_unique() {
    let cases = [
        (
            json!([sidecar(
                json!({"ports": [{"name": "web", "containerPort": 80}, {"name": "web", "containerPort": 81}]})
            )]),
            json!([]),
            "spec.taskManager.podTemplate.spec.containers[0].ports[1].name",
        ),
        (
            json!([sidecar(
                json!({"volumeMounts": [{"name": "a", "mountPath": "/data"}, {"name": "b", "mountPath": "/data"}]})
            )]),
            json!([{"name": "a"}, {"name": "b"}]),
            "spec.taskManager.podTemplate.spec.containers[0].volumeMounts[1].mountPath",
        ),
        (
            json!([sidecar(json!({})), sidecar(json!({}))]),
            json!([]),
            "spec.taskManager.podTemplate.spec.containers[1].name",
        ),
        (
            json!([]),
            json!([{"name": "a", "emptyDir": {}}, {"name": "a", "emptyDir": {}}]),
            "spec.taskManager.podTemplate.spec.volumes[1].name",
        ),
    ];
    for (containers, volumes, location) in cases {
        assert_eq!(denied(&task_manager(containers, volumes)).location, location);
    }
}

#[test]
fn a_volume_has_one_source_and_not_the_operators_name() {
    let e = denied(&task_manager(
        json!([]),
        json!([{"name": "v", "emptyDir": {}, "configMap": {"name": "x"}}]),
    ));
    assert_eq!(e.location, "spec.taskManager.podTemplate.spec.volumes[0]");
    assert!(e.problem.contains("2 sources (configMap, emptyDir)"), "{e}");
    let e = denied(&task_manager(
        json!([]),
        json!([{"name": CONFIG_VOLUME, "emptyDir": {}}]),
    ));
    assert!(e.problem.contains("the operator adds"), "{e}");
    for volumes in [
        json!([{"name": "defaulted-to-empty-dir"}]),
        json!([{"name": "v", "emptyDir": {}, "configMap": null}]),
    ] {
        assert_eq!(
            validate_pod_templates(&task_manager(json!([]), volumes.clone())),
            Ok(()),
            "{volumes}"
        );
    }
}

#[test]
fn each_roles_pods_are_checked_as_the_templates_merge() {
    // The common template's sidecar gets its image from the TaskManager template only: the
    // JobManager pods would run it without one.
    let common = json!({"spec": {"containers": [{"name": "proxy"}]}});
    let with_image = json!({"spec": {"containers": [{"name": "proxy", "image": "envoy"}]}});
    let e = denied(&spec(common.clone(), Value::Null, with_image.clone()));
    assert_eq!(e.location, "spec.podTemplate.spec.containers[0]");
    assert!(
        e.problem
            .contains("container 'proxy' of the JobManager pods has no image"),
        "{e}"
    );
    assert_eq!(
        validate_pod_templates(&spec(common, with_image.clone(), with_image)),
        Ok(())
    );

    // A mount may name a volume of the other template, as long as each role's pods have it.
    let mounts = json!({"spec": {"containers": [{"name": MAIN_CONTAINER, "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}});
    let volume = json!({"spec": {"volumes": [{"name": "data", "emptyDir": {}}]}});
    let e = denied(&spec(mounts.clone(), Value::Null, volume.clone()));
    assert_eq!(
        e.location,
        "spec.podTemplate.spec.containers[0].volumeMounts[0].name"
    );
    assert!(
        e.problem.contains("of the JobManager pods mounts volume 'data'"),
        "{e}"
    );
    assert_eq!(
        validate_pod_templates(&spec(mounts, volume.clone(), volume)),
        Ok(())
    );

    let init = json!({"spec": {"initContainers": [{"name": "proxy", "image": "busybox"}]}});
    let sidecar_too = json!({"spec": {"containers": [{"name": "proxy", "image": "envoy"}]}});
    let e = denied(&spec(sidecar_too, Value::Null, init));
    assert_eq!(
        e.location,
        "spec.taskManager.podTemplate.spec.initContainers[0].name"
    );
}

#[test]
fn the_configuration_directory_is_the_operators() {
    let over_conf = json!({"spec": {
        "containers": [{"name": MAIN_CONTAINER, "volumeMounts": [{"name": "conf", "mountPath": "/opt/flink/conf"}]}],
        "volumes": [{"name": "conf", "configMap": {"name": "mine"}}],
    }});
    let e = denied(&spec(Value::Null, over_conf, Value::Null));
    assert_eq!(
        e.location,
        "spec.jobManager.podTemplate.spec.containers[0].volumeMounts[0].mountPath"
    );
    assert!(
        e.problem
            .contains("JobManager pods mounts both 'conf' and 'flink-config-volume' at /opt/flink/conf"),
        "{e}"
    );
    // Elsewhere, in a sidecar, the same mount is fine.
    let sidecar_conf = json!({"spec": {
        "containers": [{"name": "s", "image": "busybox", "volumeMounts": [{"name": "conf", "mountPath": "/opt/flink/conf"}]}],
        "volumes": [{"name": "conf", "configMap": {"name": "mine"}}],
    }});
    assert_eq!(
        validate_pod_templates(&spec(Value::Null, sidecar_conf, Value::Null)),
        Ok(())
    );
}
