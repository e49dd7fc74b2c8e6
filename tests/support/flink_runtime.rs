//! The test kubelet's container runtime backed by real local Flink processes: a rendered
//! JobManager/TaskManager container (flink image entrypoint args + the mounted `config.yaml`) runs
//! as `bin/<script>.sh start-foreground` from a cached Flink distribution.
//!
//! Include next to the kubelet and the Flink harness:
//! `#[path = "support/flink.rs"] mod flink;`, `#[path = "support/kubelet.rs"] mod kubelet;`,
//! `#[path = "support/flink_runtime.rs"] mod flink_runtime;`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use flink_lifecycle::api::FlinkConfiguration;

use crate::flink::{FlinkHome, LocalProcess, Ports, local_overrides};
use crate::kubelet::{ContainerLaunch, ContainerRuntime, RunningContainer};

/// Where the image keeps user jars; rendered `local://` jar URIs point here.
const IMAGE_USRLIB: &str = "/opt/flink/usrlib/";

pub struct LocalFlinkRuntime {
    pub home: FlinkHome,
    /// Each cluster (`<namespace>-<cluster>`) gets its run dir below this root.
    pub root: PathBuf,
    /// Local jars by file name: `local:///opt/flink/usrlib/<name>` in rendered args maps to them.
    /// An application cluster whose args name no `--jars` gets the first one.
    pub jars: BTreeMap<String, PathBuf>,
}

impl LocalFlinkRuntime {
    /// The rendered config file (`config.yaml`, or `flink-conf.yaml` before 1.19), flattened,
    /// with the keys that make it run locally (ports, loopback, dirs) overlaid.
    pub fn local_conf(&self, launch: &ContainerLaunch) -> Result<BTreeMap<String, String>, String> {
        let text = launch
            .config_files
            .get("config.yaml")
            .or_else(|| launch.config_files.get("flink-conf.yaml"))
            .map(String::as_str)
            .unwrap_or("");
        let rendered: FlinkConfiguration = if text.trim().is_empty() {
            FlinkConfiguration::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| format!("rendered Flink config: {e}"))?
        };
        let mut conf = rendered.flatten();
        let ports = Ports {
            rest: launch.ports.rest,
            rpc: launch.ports.rpc,
        };
        conf.extend(local_overrides(&self.home, &self.run_dir(launch), ports));
        // In Kubernetes every pod has its own address, so the rendered fixed ports (blob 6124,
        // TaskManager RPC 6122, ...) never clash; on one host several clusters would.
        for key in [
            "blob.server.port",
            "taskmanager.rpc.port",
            "taskmanager.data.port",
            "metrics.internal.query-service.port",
        ] {
            conf.insert(key.to_string(), "0".to_string());
        }
        conf.extend(launch.extra_conf.clone());
        Ok(conf)
    }

    pub fn run_dir(&self, launch: &ContainerLaunch) -> PathBuf {
        self.root.join(format!("{}-{}", launch.namespace, launch.cluster))
    }

    /// Maps image jar paths to local files and gives `standalone-job` a `--jars` first.
    pub fn local_args(&self, args: &[String]) -> Vec<String> {
        let mut out: Vec<String> = args.iter().map(|a| self.local_jar(a)).collect();
        let is_application = out.first().map(String::as_str) == Some("standalone-job");
        if is_application
            && !out.iter().any(|a| a == "--jars")
            && let Some(jar) = self.jars.values().next()
        {
            out.splice(1..1, ["--jars".to_string(), format!("file://{}", jar.display())]);
        }
        out
    }

    fn local_jar(&self, arg: &str) -> String {
        let name = ["local://", "file://", ""]
            .iter()
            .find_map(|scheme| arg.strip_prefix(scheme)?.strip_prefix(IMAGE_USRLIB));
        match name.and_then(|n| self.jars.get(n)) {
            Some(path) => format!("file://{}", path.display()),
            None => arg.to_string(),
        }
    }
}

impl ContainerRuntime for LocalFlinkRuntime {
    fn start(&self, launch: &ContainerLaunch) -> Result<Box<dyn RunningContainer>, String> {
        let conf = self.local_conf(launch)?;
        let args = self.local_args(&launch.args);
        let process = LocalProcess::start_entrypoint(&self.home, &self.run_dir(launch), &conf, &args)?;
        Ok(Box::new(process))
    }
}

impl RunningContainer for LocalProcess {
    fn is_alive(&mut self) -> bool {
        LocalProcess::is_alive(self)
    }

    fn log_tail(&self) -> String {
        LocalProcess::log_tail(self, 25)
    }

    fn kill(&mut self) -> bool {
        LocalProcess::kill(self)
    }

    fn freeze(&mut self, frozen: bool) -> bool {
        LocalProcess::signal(self, if frozen { "-STOP" } else { "-CONT" })
    }
}
