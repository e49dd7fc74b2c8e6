//! Rendering of Flink clusters: golden-style assertions on the objects for both modes,
//! application and session, with and without HA and restore.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use flink_lifecycle::api::FlinkDeployment;
use flink_lifecycle::config::{OperatorConfig, effective_flink_config};
use flink_lifecycle::render::{self, GENERATION_ANNOTATION, RenderInput, RenderedCluster};
use k8s_openapi::api::core::v1::Container;
use std::collections::BTreeMap;

const JOB_ID: &str = "0000000000000000000000000000beef";

fn parse(yaml: &str) -> FlinkDeployment {
    let mut d: FlinkDeployment = serde_saphyr::from_str(yaml).unwrap();
    d.metadata.uid = Some("uid-1".into());
    d.metadata.generation = Some(3);
    d
}

fn app(mode: &str, version: &str, extra_conf: &str) -> FlinkDeployment {
    parse(&format!(
        r#"
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {{name: orders, namespace: prod}}
spec:
  image: flink:1.20
  flinkVersion: {version}
  mode: {mode}
  serviceAccount: flink
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: "2"
    state.checkpoints.dir: file:///chk
    kubernetes.operator.job.upgrade.last-state-fallback.enabled: "false"
{extra_conf}
  jobManager:
    resource: {{memory: 2048m, cpu: 1}}
  taskManager:
    resource: {{memory: 1g, cpu: 0.5}}
  job:
    jarURI: local:///opt/flink/usrlib/job.jar
    entryClass: lab.LifecycleJob
    args: [--name, orders]
    parallelism: 3
    upgradeMode: savepoint
    allowNonRestoredState: true
"#
    ))
}

fn session(mode: &str) -> FlinkDeployment {
    parse(&format!(
        r#"
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {{name: shared, namespace: prod}}
spec:
  image: flink:2.1
  flinkVersion: v2_1
  mode: {mode}
  serviceAccount: flink
  taskManager: {{replicas: 2}}
"#
    ))
}

fn input() -> RenderInput {
    RenderInput {
        job_id: Some(JOB_ID.into()),
        restore_path: None,
        ha_last_state_restore: false,
        generation: 3,
        job_result_store_id: "7e0c4b4e-1111-2222-3333-444455556666".into(),
        config_overrides: BTreeMap::new(),
    }
}

fn render_it(d: &FlinkDeployment, input: &RenderInput) -> RenderedCluster {
    let op = OperatorConfig::default();
    let eff = effective_flink_config(
        &op,
        d.metadata.namespace.as_deref(),
        d.spec.flink_version,
        &d.spec.flat_configuration(),
    );
    render::render(d, &eff, input).unwrap()
}

fn main_container(d: &k8s_openapi::api::apps::v1::Deployment) -> Container {
    let pod = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    pod.containers[0].clone()
}

fn args(d: &k8s_openapi::api::apps::v1::Deployment) -> Vec<String> {
    main_container(d).args.unwrap()
}

#[test]
fn standalone_application_without_restore() {
    let c = render_it(&app("standalone", "v1_20", ""), &input());
    assert_eq!(
        args(&c.jobmanager),
        [
            "standalone-job",
            "--jars",
            "local:///opt/flink/usrlib/job.jar",
            "--job-classname",
            "lab.LifecycleJob",
            "--job-id",
            JOB_ID,
            "--name",
            "orders"
        ]
    );
    let main = main_container(&c.jobmanager);
    assert_eq!(main.name, "flink-main-container");
    assert_eq!(main.command.unwrap(), ["/docker-entrypoint.sh"]);
    assert_eq!(main.image.as_deref(), Some("flink:1.20"));
    let mount = &main.volume_mounts.unwrap()[0];
    assert_eq!(mount.mount_path, "/opt/flink/conf");

    let tm = c.taskmanager.as_ref().unwrap();
    assert_eq!(tm.metadata.name.as_deref(), Some("orders-taskmanager"));
    assert_eq!(args(tm), ["taskmanager"]);
    // ceil(3 / 2 slots)
    assert_eq!(tm.spec.as_ref().unwrap().replicas, Some(2));
    assert_eq!(c.jobmanager.spec.as_ref().unwrap().replicas, Some(1));

    let conf = &c.flink_config;
    assert_eq!(conf["kubernetes.cluster-id"], "orders");
    assert_eq!(conf["kubernetes.namespace"], "prod");
    assert_eq!(conf["$internal.pipeline.job-id"], JOB_ID);
    assert_eq!(conf["execution.shutdown-on-application-finish"], "false");
    assert_eq!(conf["pipeline.name"], "orders");
    assert_eq!(conf["parallelism.default"], "3");
    assert_eq!(conf["jobmanager.memory.process.size"], "2048m");
    assert_eq!(conf["taskmanager.memory.process.size"], "1024m");
    assert_eq!(conf["jobmanager.rpc.address"], "orders.prod");
    assert_eq!(
        conf["execution.checkpointing.externalized-checkpoint-retention"],
        "RETAIN_ON_CANCELLATION"
    );
    assert!(!conf.contains_key("execution.savepoint.path"));
    assert!(
        !conf.keys().any(|k| k.starts_with("kubernetes.operator.")),
        "operator keys stripped"
    );
    assert!(!conf.contains_key("high-availability.cluster-id"));

    // The JM container gets the memory as requests and limits.
    let res = main.resources.unwrap();
    assert_eq!(res.requests.as_ref().unwrap()["memory"].0, "2048Mi");
    assert_eq!(res.limits.as_ref().unwrap()["cpu"].0, "1");

    // config.yaml for 1.20, with the same keys.
    let data = c.config_map.data.as_ref().unwrap();
    assert_eq!(c.config_map.metadata.name.as_deref(), Some("flink-config-orders"));
    let text = &data["config.yaml"];
    assert!(text.contains("kubernetes.cluster-id: \"orders\"\n"), "{text}");
    assert!(data.contains_key("log4j-console.properties"));
    let reparsed = flink_lifecycle::config::flat_yaml(text).unwrap();
    assert_eq!(
        &reparsed, conf,
        "the config file holds exactly the rendered configuration"
    );
}

#[test]
fn standalone_application_restores_from_a_savepoint_on_1x_and_2x() {
    let mut i = input();
    i.restore_path = Some("file:///sp/savepoint-1".into());
    let c = render_it(&app("standalone", "v1_18", ""), &i);
    let a = args(&c.jobmanager);
    let pos = a.iter().position(|x| x == "--fromSavepoint").unwrap();
    assert_eq!(a[pos + 1], "file:///sp/savepoint-1");
    assert_eq!(a[pos + 2], "--allowNonRestoredState");
    // Flink 1.18: no --jars (jar expected in usrlib), flink-conf.yaml, 1.x restore key.
    assert!(!a.contains(&"--jars".to_string()));
    assert_eq!(
        c.flink_config["execution.savepoint.path"],
        "file:///sp/savepoint-1"
    );
    assert_eq!(
        c.flink_config["execution.savepoint.ignore-unclaimed-state"],
        "true"
    );
    let data = c.config_map.data.as_ref().unwrap();
    assert!(data["flink-conf.yaml"].contains("execution.savepoint.path: file:///sp/savepoint-1\n"));

    let c2 = render_it(&app("standalone", "v2_1", ""), &i);
    assert_eq!(
        c2.flink_config["execution.state-recovery.path"],
        "file:///sp/savepoint-1"
    );
    assert!(!c2.flink_config.contains_key("execution.savepoint.path"));
}

/// A short checkpoint-statistics cache (Flink >= 1.18 has the key) shortens the planner's wait
/// before it reads a stopped job's last checkpoint; a user's own value is kept.
#[test]
fn checkpoint_statistics_are_cached_briefly_unless_the_user_says_otherwise() {
    let key = "rest.cache.checkpoint-statistics.timeout";
    for version in ["v1_18", "v1_20", "v2_1"] {
        let c = render_it(&app("standalone", version, ""), &input());
        assert_eq!(c.flink_config[key], "500 ms", "{version}");
    }
    let c = render_it(&app("standalone", "v1_17", ""), &input());
    assert!(!c.flink_config.contains_key(key), "1.17 has no such key");
    let c = render_it(
        &app(
            "standalone",
            "v1_20",
            "    rest.cache.checkpoint-statistics.timeout: 5 s",
        ),
        &input(),
    );
    assert_eq!(c.flink_config[key], "5 s");
}

#[test]
fn user_restore_keys_never_leak_into_a_fresh_start() {
    let d = app(
        "standalone",
        "v1_20",
        "    execution.savepoint.path: file:///stale\n",
    );
    let c = render_it(&d, &input());
    assert!(!c.flink_config.contains_key("execution.savepoint.path"));
    assert!(!args(&c.jobmanager).contains(&"--fromSavepoint".to_string()));
}

#[test]
fn ha_config_gets_cluster_ids_and_a_unique_job_result_store() {
    let ha = "    high-availability.type: kubernetes\n    high-availability.storageDir: file:///ha/\n";
    let mut i = input();
    i.ha_last_state_restore = true;
    let c = render_it(&app("native", "v1_20", ha), &i);
    let conf = &c.flink_config;
    assert_eq!(conf["high-availability.cluster-id"], "orders");
    assert_eq!(
        conf["job-result-store.storage-path"],
        "file:///ha/job-result-store/orders/7e0c4b4e-1111-2222-3333-444455556666"
    );
    assert_eq!(conf["job-result-store.delete-on-commit"], "false");
    // HA restore guard: never silently start empty if HA metadata vanished.
    assert_eq!(conf["execution.savepoint.path"], render::LAST_STATE_DUMMY_PATH);
}

#[test]
fn native_application_renders_what_flinks_client_would() {
    let c = render_it(&app("native", "v1_20", ""), &input());
    assert!(
        c.taskmanager.is_none(),
        "native JobManagers create their TaskManagers"
    );
    assert_eq!(c.jobmanager.metadata.name.as_deref(), Some("orders"));
    assert_eq!(
        args(&c.jobmanager),
        ["bash", "-c", "kubernetes-jobmanager.sh kubernetes-application"]
    );
    let labels = c.jobmanager.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["app"], "orders");
    assert_eq!(labels["component"], "jobmanager");
    assert_eq!(labels["type"], "flink-native-kubernetes");
    assert_eq!(c.flink_config["execution.target"], "kubernetes-application");
    assert_eq!(c.flink_config["kubernetes.container.image.ref"], "flink:1.20");
    assert_eq!(c.flink_config["kubernetes.service-account"], "flink");
    assert!(
        c.config_map
            .data
            .as_ref()
            .unwrap()
            .contains_key("taskmanager-pod-template.yaml")
    );
    let pod = c
        .jobmanager
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("flink"));
}

#[test]
fn sessions_in_both_modes() {
    let s = render_it(&session("standalone"), &RenderInput::default());
    assert_eq!(args(&s.jobmanager), ["jobmanager"]);
    assert_eq!(
        s.taskmanager.as_ref().unwrap().spec.as_ref().unwrap().replicas,
        Some(2)
    );
    assert!(!s.flink_config.contains_key("$internal.pipeline.job-id"));
    assert!(
        !s.flink_config
            .contains_key("execution.shutdown-on-application-finish")
    );
    assert!(s.config_map.data.as_ref().unwrap().contains_key("config.yaml"));

    let n = render_it(&session("native"), &RenderInput::default());
    assert_eq!(
        args(&n.jobmanager),
        ["bash", "-c", "kubernetes-jobmanager.sh kubernetes-session"]
    );
    assert_eq!(n.flink_config["execution.target"], "kubernetes-session");
}

#[test]
fn every_object_is_owned_labelled_and_annotated() {
    let c = render_it(&app("standalone", "v1_20", ""), &input());
    let metas = [
        &c.config_map.metadata,
        &c.jobmanager.metadata,
        &c.taskmanager.as_ref().unwrap().metadata,
        &c.rest_service.metadata,
        &c.internal_service.metadata,
    ];
    for m in metas {
        let owner = &m.owner_references.as_ref().unwrap()[0];
        assert_eq!(owner.kind, "FlinkDeployment");
        assert_eq!(owner.name, "orders");
        assert_eq!(owner.uid, "uid-1");
        assert_eq!(owner.controller, Some(true));
        assert_eq!(m.namespace.as_deref(), Some("prod"));
        assert_eq!(m.labels.as_ref().unwrap()["app"], "orders");
    }
    for d in [&c.jobmanager, c.taskmanager.as_ref().unwrap()] {
        assert_eq!(
            d.metadata.annotations.as_ref().unwrap()[GENERATION_ANNOTATION],
            "3"
        );
    }
    assert_eq!(c.rest_service.metadata.name.as_deref(), Some("orders-rest"));
    let port = &c.rest_service.spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
    assert_eq!(port.port, 8081);
    let sel = c.rest_service.spec.as_ref().unwrap().selector.as_ref().unwrap();
    let jm_labels = c
        .jobmanager
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    for (k, v) in sel {
        assert_eq!(
            jm_labels.get(k),
            Some(v),
            "REST service selects the JobManager pods"
        );
    }
}

#[test]
fn pod_templates_merge_with_the_main_container() {
    let d = parse(
        r#"
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: t, namespace: ns}
spec:
  image: flink:1.20
  flinkVersion: v1_20
  mode: standalone
  podTemplate:
    metadata: {labels: {team: data}}
    spec:
      containers:
        - name: flink-main-container
          env: [{name: A, value: "1"}]
          volumeMounts: [{name: data, mountPath: /data}]
      volumes: [{name: data, emptyDir: {}}]
  jobManager:
    resources: {requests: {memory: 1Gi, cpu: 250m}, limits: {memory: 1Gi, ephemeral-storage: 2Gi}}
    podTemplate:
      spec:
        containers:
          - name: flink-main-container
            env: [{name: B, value: "2"}]
          - name: sidecar
            image: busybox
  job: {jarURI: "local:///j.jar", parallelism: 1}
"#,
    );
    let c = render_it(&d, &input());
    let pod = c.jobmanager.spec.as_ref().unwrap().template.clone();
    let spec = pod.spec.unwrap();
    assert_eq!(spec.containers.len(), 2);
    let main = &spec.containers[0];
    assert_eq!(main.name, "flink-main-container");
    let env: Vec<_> = main
        .env
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.name.clone())
        .collect();
    assert!(env.contains(&"A".into()) && env.contains(&"B".into()), "{env:?}");
    let mounts: Vec<_> = main
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.mount_path.clone())
        .collect();
    assert!(mounts.contains(&"/data".into()) && mounts.contains(&"/opt/flink/conf".into()));
    let vols: Vec<_> = spec.volumes.unwrap().iter().map(|v| v.name.clone()).collect();
    assert_eq!(vols, ["data", "flink-config-volume"]);
    assert_eq!(spec.containers[1].name, "sidecar");
    assert_eq!(pod.metadata.unwrap().labels.unwrap()["team"], "data");
    // explicit resources are used as given, and routed to Flink memory.
    let res = main.resources.clone().unwrap();
    assert_eq!(res.limits.unwrap()["ephemeral-storage"].0, "2Gi");
    assert_eq!(c.flink_config["jobmanager.memory.process.size"], "1024m");
    assert_eq!(c.flink_config["kubernetes.jobmanager.cpu.amount"], "0.25");
    // the TM does not get the JM sidecar.
    let tm_spec = c.taskmanager.unwrap().spec.unwrap().template.spec.unwrap();
    assert_eq!(tm_spec.containers.len(), 1);
}

#[test]
fn pods_without_an_image_get_the_official_image_of_their_flink_version() {
    // (JobManager, TaskManagers): standalone TaskManagers are the operator's Deployment, native
    // ones Flink creates with kubernetes.container.image.ref.
    let image = |d: &FlinkDeployment| {
        let c = render_it(d, &input());
        let tm = match &c.taskmanager {
            Some(tm) => main_container(tm).image.unwrap_or_default(),
            None => c.flink_config["kubernetes.container.image.ref"].clone(),
        };
        (main_container(&c.jobmanager).image.unwrap_or_default(), tm)
    };
    for mode in ["standalone", "native"] {
        let mut d = session(mode);
        d.spec.image = None;
        assert_eq!(image(&d), ("flink:2.1".to_string(), "flink:2.1".to_string()));
        d.spec.image = Some(String::new());
        d.spec.task_manager.get_or_insert_default().pod_template = Some(serde_json::json!(
            {"spec": {"containers": [{"name": "flink-main-container", "image": "registry.example/tm:1"}]}}
        ));
        assert_eq!(
            image(&d),
            ("flink:2.1".to_string(), "registry.example/tm:1".to_string()),
            "a template's image is kept"
        );
        d.spec.image = Some("registry.example/job:2".into());
        assert_eq!(
            image(&d),
            (
                "registry.example/job:2".to_string(),
                "registry.example/job:2".to_string()
            ),
            "spec.image wins over the template, as before"
        );
    }
}

#[test]
fn ingress_from_the_template() {
    let d = parse(
        r#"
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: web, namespace: ns}
spec:
  image: flink:1.20
  flinkVersion: v1_20
  ingress:
    template: "flink.example.com/{{namespace}}/{{name}}(/|$)(.*)"
    className: nginx
    annotations: {nginx.ingress.kubernetes.io/rewrite-target: "/$2"}
"#,
    );
    let c = render_it(&d, &RenderInput::default());
    let ing = c.ingress.unwrap();
    let spec = ing.spec.unwrap();
    assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
    let rule = &spec.rules.unwrap()[0];
    assert_eq!(rule.host.as_deref(), Some("flink.example.com"));
    let path = &rule.http.as_ref().unwrap().paths[0];
    assert_eq!(path.path.as_deref(), Some("/ns/web(/|$)(.*)"));
    assert_eq!(path.backend.service.as_ref().unwrap().name, "web-rest");
    assert_eq!(
        ing.metadata.annotations.unwrap()["nginx.ingress.kubernetes.io/rewrite-target"],
        "/$2"
    );
}

#[test]
fn local_overrides_win_and_bad_input_is_an_error() {
    let mut i = input();
    i.config_overrides
        .insert("jobmanager.rpc.address".into(), "localhost".into());
    i.config_overrides.insert("rest.port".into(), "18081".into());
    let c = render_it(&app("standalone", "v1_20", ""), &i);
    assert_eq!(c.flink_config["jobmanager.rpc.address"], "localhost");
    let ports = main_container(&c.jobmanager).ports.unwrap();
    assert_eq!(ports[0].container_port, 18081);

    let mut d = app("standalone", "v1_20", "");
    d.metadata.uid = None;
    let err = render::render(&d, &BTreeMap::new(), &input()).unwrap_err();
    assert!(err.to_string().contains("metadata.uid"), "{err}");
}
