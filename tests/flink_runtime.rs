//! The kubelet's Flink runtime launches a rendered application cluster (entrypoint args and a
//! flat `config.yaml`, as the operator renders them) as real Flink processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/flink.rs"]
mod flink;
#[path = "support/flink_runtime.rs"]
mod flink_runtime;
#[path = "support/kubelet.rs"]
mod kubelet;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use flink::{CounterReport, FLINK_2, FlinkInstall, TestJob, TestJobArgs, wait_until_ready};
use flink_lifecycle::flink::{FlinkClientOptions, FlinkRestClient, JobState};
use flink_runtime::LocalFlinkRuntime;
use kubelet::{ClusterPorts, ContainerLaunch, ContainerRuntime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_application_cluster_runs_as_local_flink() {
    let home = FlinkInstall::ensure(FLINK_2).unwrap();
    let jar = TestJob::jar(&home).unwrap();
    let root = tempfile::tempdir().unwrap();
    let runtime = LocalFlinkRuntime {
        home: home.clone(),
        root: root.path().to_path_buf(),
        jars: BTreeMap::from([("job.jar".to_string(), jar)]),
    };
    let out = root.path().join("out");
    let job_id = "000000000000000000000000000000e2";
    // What a renderer produces: nested and flat keys mixed, image paths, cluster DNS names.
    let config_yaml = format!(
        "jobmanager.rpc.address: orders.streaming\n\
         rest.port: 8081\n\
         taskmanager.numberOfTaskSlots: 1\n\
         parallelism:\n  default: 1\n\
         execution.checkpointing.interval: 1s\n\
         execution.checkpointing.dir: file://{dir}/checkpoints\n\
         jobmanager.memory.process.size: 1024m\n\
         taskmanager.memory.process.size: 1024m\n",
        dir = root.path().display()
    );
    let ports = ClusterPorts {
        rest: flink::free_port(),
        rpc: flink::free_port(),
    };
    let mut job_args = vec![
        "standalone-job".to_string(),
        "--jars".to_string(),
        "local:///opt/flink/usrlib/job.jar".to_string(),
        "--job-classname".to_string(),
        TestJob::MAIN_CLASS.to_string(),
        "--job-id".to_string(),
        job_id.to_string(),
    ];
    job_args.extend(
        TestJobArgs {
            out_dir: Some(out.clone()),
            keys: Some(4),
            ..Default::default()
        }
        .to_args(),
    );
    let launch = |component: &str, args: Vec<String>| ContainerLaunch {
        namespace: "streaming".into(),
        deployment: format!("orders-{component}"),
        cluster: "orders".into(),
        component: component.into(),
        args,
        env: Vec::new(),
        config_files: BTreeMap::from([("config.yaml".to_string(), config_yaml.clone())]),
        ports,
        extra_conf: BTreeMap::new(),
    };
    let jm_launch = launch("jobmanager", job_args);
    let conf = runtime.local_conf(&jm_launch).unwrap();
    assert_eq!(conf.get("parallelism.default").map(String::as_str), Some("1"));
    assert_eq!(
        conf.get("rest.port").map(String::as_str),
        Some(ports.rest.to_string().as_str())
    );
    assert_eq!(
        conf.get("jobmanager.rpc.address").map(String::as_str),
        Some("localhost")
    );

    let mut jm = runtime.start(&jm_launch).unwrap();
    let mut tm = runtime
        .start(&launch("taskmanager", vec!["taskmanager".into()]))
        .unwrap();
    let url = format!("http://127.0.0.1:{}", ports.rest);
    wait_until_ready(&url, Duration::from_secs(180))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = FlinkRestClient::new(&url, FlinkClientOptions::default()).unwrap();
    let started = Instant::now();
    loop {
        match client.job_state(job_id).await {
            Ok(JobState::Running) => break,
            other => {
                assert!(started.elapsed() < Duration::from_secs(120), "{other:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let started = Instant::now();
    while CounterReport::read(&out).is_none_or(|r| r.max < 3) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the job does not count"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(jm.is_alive() && tm.is_alive());
    drop(jm);
    drop(tm);
    assert!(client.cluster_overview().await.unwrap_err().is_unreachable());
}
