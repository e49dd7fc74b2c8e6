//! The real-cluster node's runtime for the operator's own Pod: the built `flink-lifecycle`
//! binary run as the Deployment describes it, the way a kubelet would run its image.
//!
//! What a kubelet gives a container, and how it is mapped here:
//! - its own network address: each operator Pod gets a loopback address of its own
//!   (`127.x.y.z`); the wildcard `0.0.0.0` in its flags and environment becomes that address;
//! - its volumes at their mount paths: ConfigMaps, Secrets and emptyDirs are written to a
//!   directory per Pod, and the container's arguments and environment that name a mount path
//!   name that directory instead (no container filesystem here);
//! - its ServiceAccount token: a TokenRequest bound to the Pod, handed over as a kubeconfig
//!   (`KUBECONFIG`), so the process holds exactly the manifests' RBAC;
//! - cluster DNS: the process runs in a mount namespace of its own (`unshare --mount`) whose
//!   `/etc/hosts` is the node's hosts file, answering `<service>.<namespace>[.svc]` of the Flink
//!   REST Services with their JobManager's address, as cluster DNS does;
//! - the readiness probe: its `httpGet` is polled by the node, which reports the Pod Ready only
//!   while it answers 2xx.
#![allow(dead_code)]

use crate::kubelet::RunningContainer;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::Api;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// What the node needs to start the process and probe it.
pub struct PodLaunch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub dir: PathBuf,
    /// `http://<pod ip>:<port><path>` of the readiness probe.
    pub readiness_url: Option<String>,
}

static NEXT_ADDRESS: AtomicU32 = AtomicU32::new(0);

/// A loopback address no other process of this machine listens on at `ports`, distinct per test
/// process (the second octet comes from the pid) and per call.
pub fn loopback_address(ports: &[u16]) -> String {
    let octet = 20 + std::process::id() % 200;
    loop {
        let n = NEXT_ADDRESS.fetch_add(1, Ordering::SeqCst);
        let ip = format!("127.{octet}.{}.{}", (n / 250) % 250, n % 250 + 1);
        let free = ports
            .iter()
            .all(|p| std::net::TcpListener::bind((ip.as_str(), *p)).is_ok());
        if free {
            return ip;
        }
    }
}

/// A free port on `ip`.
pub fn free_port_on(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn field(pod: &Pod, path: &str, ip: &str) -> Option<String> {
    let spec = pod.spec.as_ref();
    match path {
        "metadata.namespace" => pod.metadata.namespace.clone(),
        "metadata.name" => pod.metadata.name.clone(),
        "metadata.uid" => pod.metadata.uid.clone(),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()),
        "status.podIP" | "status.hostIP" => Some(ip.to_string()),
        _ => None,
    }
}

/// Writes the Pod's volumes below `dir` and describes its main container's process: `binary`
/// for the image, the container's args and environment with mount paths and the wildcard
/// address mapped, `KUBECONFIG` set to `kubeconfig`.
pub async fn describe(
    admin: &kube::Client,
    pod: &Pod,
    binary: &Path,
    ip: &str,
    dir: &Path,
    kubeconfig: &Path,
) -> Result<PodLaunch, String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let spec = pod.spec.as_ref().ok_or("pod without spec")?;
    let container = spec.containers.first().ok_or("pod without containers")?;
    let mut mounts: Vec<(String, PathBuf)> = Vec::new();
    for m in container.volume_mounts.iter().flatten() {
        let host = dir.join("volumes").join(&m.name);
        fs::create_dir_all(&host).map_err(|e| format!("{}: {e}", host.display()))?;
        let volume = spec
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == m.name)
            .ok_or_else(|| format!("volumeMount {} names no volume", m.name))?;
        let files: BTreeMap<String, Vec<u8>> = if let Some(cm) = &volume.config_map {
            let api: Api<ConfigMap> = Api::namespaced(admin.clone(), &namespace);
            let cm = api
                .get(&cm.name)
                .await
                .map_err(|e| format!("ConfigMap {} of volume {}: {e}", cm.name, m.name))?;
            cm.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect()
        } else if let Some(secret) = &volume.secret {
            let name = secret.secret_name.clone().unwrap_or_default();
            let api: Api<Secret> = Api::namespaced(admin.clone(), &namespace);
            let s = api
                .get(&name)
                .await
                .map_err(|e| format!("Secret {name} of volume {}: {e}", m.name))?;
            s.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect()
        } else {
            BTreeMap::new()
        };
        for (file, bytes) in files {
            fs::write(host.join(&file), bytes).map_err(|e| format!("{file}: {e}"))?;
        }
        mounts.push((m.mount_path.trim_end_matches('/').to_string(), host));
    }
    // The longest mount path first, so /etc/x/y is mapped before /etc/x.
    mounts.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    let map = |value: &str| -> String {
        // The wildcard bind address, alone or with a port; never inside other values (a CIDR).
        let value = match value.strip_prefix("0.0.0.0") {
            Some(rest) if rest.is_empty() || rest.starts_with(':') => format!("{ip}{rest}"),
            _ => value.to_string(),
        };
        for (path, host) in &mounts {
            if value == *path {
                return host.display().to_string();
            }
            if let Some(rest) = value.strip_prefix(&format!("{path}/")) {
                return host.join(rest).display().to_string();
            }
        }
        value
    };
    let mut env = vec![
        ("PATH".to_string(), "/usr/local/bin:/usr/bin:/bin".to_string()),
        ("KUBECONFIG".to_string(), kubeconfig.display().to_string()),
    ];
    for e in container.env.iter().flatten() {
        let value = match (&e.value, &e.value_from) {
            (Some(v), _) => map(v),
            (None, Some(from)) => match from.field_ref.as_ref() {
                Some(f) => field(pod, &f.field_path, ip)
                    .ok_or_else(|| format!("env {}: fieldRef {} not served", e.name, f.field_path))?,
                None => return Err(format!("env {}: only fieldRef is served here", e.name)),
            },
            (None, None) => String::new(),
        };
        env.push((e.name.clone(), value));
    }
    let args: Vec<String> = container.args.iter().flatten().map(|a| map(a)).collect();
    let readiness_url = container
        .readiness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .and_then(|get| {
            let port = match &get.port {
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p) => *p,
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(name) => {
                    container
                        .ports
                        .iter()
                        .flatten()
                        .find(|p| p.name.as_deref() == Some(name))?
                        .container_port
                }
            };
            Some(format!(
                "http://{ip}:{port}{}",
                get.path.as_deref().unwrap_or("/")
            ))
        });
    Ok(PodLaunch {
        program: binary.to_path_buf(),
        args,
        env,
        dir: dir.to_path_buf(),
        readiness_url,
    })
}

/// A running Pod process; dropping it stops it as a kubelet does (SIGTERM, then SIGKILL after
/// the grace period).
pub struct PodProcess {
    child: Child,
    log: PathBuf,
    stopped: bool,
}

impl PodProcess {
    /// Starts `launch` in a mount namespace whose `/etc/hosts` is `hosts` (root only: the node
    /// plays the kubelet).
    pub fn start(launch: &PodLaunch, hosts: &Path) -> Result<Self, String> {
        fs::create_dir_all(&launch.dir).map_err(|e| e.to_string())?;
        let log = launch.dir.join("console.log");
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        // SIGKILLed with the thread that started it, so a test process killed before its Drop
        // guards ran leaves no operator behind.
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--", "unshare"])
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(r#"mount --bind "$0" /etc/hosts && exec "$@""#)
            .arg(hosts)
            .arg(&launch.program)
            .args(&launch.args)
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&launch.dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("setpriv/unshare {}: {e}", launch.program.display()))?;
        Ok(Self {
            child,
            log,
            stopped: false,
        })
    }

    fn signal(&self, signal: &str) -> bool {
        Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PodProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

impl RunningContainer for PodProcess {
    fn is_alive(&mut self) -> bool {
        !self.stopped && matches!(self.child.try_wait(), Ok(None))
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(500)..].join("\n")
    }

    fn kill(&mut self) -> bool {
        if !self.is_alive() {
            return false;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        true
    }

    fn freeze(&mut self, frozen: bool) -> bool {
        self.is_alive() && self.signal(if frozen { "-STOP" } else { "-CONT" })
    }
}

/// Whether `url` answers 2xx within a second (a kubelet's httpGet probe).
pub async fn probe(url: &str) -> bool {
    // One client for every probe of the node (polled every 300 ms): connections are reused.
    static CLIENT: std::sync::OnceLock<Option<reqwest::Client>> = std::sync::OnceLock::new();
    let Some(client) = CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(1))
                .build()
                .ok()
        })
        .as_ref()
    else {
        return false;
    };
    client
        .get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}
