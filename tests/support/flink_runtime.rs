//! The container runtime of the test kubelet backed by real Flink: a rendered JobManager or
//! TaskManager container becomes a local Flink JVM started from the same entrypoint arguments and
//! the same configuration (the rendered ConfigMap), with host-specific keys (addresses, ports,
//! directories) made local and the image's jar path mapped to the compiled test job.
#![allow(dead_code)]

use super::flink::{FlinkHome, LocalProcess, Ports, local_overrides};
use super::kubelet::{ContainerLaunch, ContainerRuntime, RunningContainer};
use std::path::PathBuf;

/// Where jars live inside the flink image.
const IMAGE_USRLIB: &str = "local:///opt/flink/usrlib/";

pub struct FlinkRuntime {
    pub home: FlinkHome,
    pub run_root: PathBuf,
    pub job_jar: PathBuf,
}

impl RunningContainer for LocalProcess {
    fn is_alive(&mut self) -> bool {
        LocalProcess::is_alive(self)
    }
}

impl FlinkRuntime {
    fn map_path(&self, value: &str) -> String {
        match value.strip_prefix(IMAGE_USRLIB) {
            Some(_) => format!("file://{}", self.job_jar.display()),
            None => value.to_string(),
        }
    }
}

impl ContainerRuntime for FlinkRuntime {
    fn start(&self, launch: &ContainerLaunch) -> Result<Box<dyn RunningContainer>, String> {
        let text = launch
            .config_files
            .get("config.yaml")
            .or_else(|| launch.config_files.get("flink-conf.yaml"))
            .ok_or("the mounted ConfigMap has no Flink configuration file")?;
        let mut conf = flink_lifecycle::config::flat_yaml(text)?;
        let run_dir = self
            .run_root
            .join(format!("{}-{}", launch.namespace, launch.cluster));
        conf.extend(local_overrides(
            &self.home,
            &run_dir,
            Ports {
                rest: launch.ports.rest,
                rpc: launch.ports.rpc,
            },
        ));
        for v in conf.values_mut() {
            *v = self.map_path(v);
        }
        let args: Vec<String> = launch.args.iter().map(|a| self.map_path(a)).collect();
        let process = LocalProcess::start_entrypoint(&self.home, &run_dir, &conf, &args)?;
        Ok(Box::new(process))
    }
}
