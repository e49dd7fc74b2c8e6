//! A real Kubernetes control plane for a test binary: etcd, kube-apiserver and
//! kube-controller-manager on 127.0.0.1, built and started by `tests/cluster/` (see its README),
//! or the cluster of `$E2E_KUBECONFIG` when that is set.
//!
//! Without `E2E_KUBECONFIG`, [`ControlPlane::start`] runs `tests/cluster/build.sh` (a failure is a
//! test failure with the script's stderr, never a skip), then `start.sh` in a fresh directory
//! under the temp dir; dropping the value (also while a test panics) runs `stop.sh`, which kills
//! the three process groups and removes the directory.
//!
//! kubectl: `$E2E_KUBECTL` if set, else the one build.sh built (the same minor as the
//! apiserver; `/usr/bin/kubectl` on the CI machines is older).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct ControlPlane {
    /// The admin's client (system:masters with a local control plane).
    pub client: kube::Client,
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    /// `gitVersion` of the apiserver, e.g. `v1.37.2`.
    pub version: String,
    /// The apiserver URL and its CA (PEM), from the kubeconfig.
    pub server: String,
    pub ca_pem: Vec<u8>,
    /// The directory start.sh made; `None` for an `E2E_KUBECONFIG` cluster (left running).
    workdir: Option<PathBuf>,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script(name: &str) -> PathBuf {
    repo().join("tests/cluster").join(name)
}

/// The bin dir build.sh prints as its last stdout line (builds on a cold cache: ~13 min).
fn build() -> PathBuf {
    let out = Command::new(script("build.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("run tests/cluster/build.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tests/cluster/build.sh failed ({}):\n{}\n{}",
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = stdout.lines().last().unwrap_or_default().trim();
    assert!(
        !bin.is_empty(),
        "tests/cluster/build.sh printed no bin dir; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(bin)
}

fn stop(workdir: &Path) {
    match Command::new(script("stop.sh"))
        .arg(workdir)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => {}
        Ok(out) => eprintln!(
            "real-cluster: stop.sh {} failed ({}): {}",
            workdir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("real-cluster: cannot run stop.sh: {e}"),
    }
}

/// `cluster.server` and the decoded `certificate-authority-data` of the current context.
fn server_and_ca(kubeconfig: &Kubeconfig) -> (String, Vec<u8>) {
    use base64::Engine;
    let context = kubeconfig.current_context.clone().unwrap_or_default();
    let cluster_name = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .unwrap_or_default();
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.clone())
        .expect("kubeconfig: the current context's cluster");
    let ca = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(data), _) => base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .expect("certificate-authority-data is base64"),
        (None, Some(file)) => std::fs::read(file).expect("certificate-authority file"),
        (None, None) => Vec::new(),
    };
    (cluster.server.unwrap_or_default(), ca)
}

/// A client from kubeconfig YAML text.
pub async fn client_from_yaml(yaml: &str) -> kube::Client {
    let kc = Kubeconfig::from_yaml(yaml).expect("kubeconfig YAML");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kube config");
    kube::Client::try_from(config).expect("kube client")
}

impl ControlPlane {
    pub async fn start() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let external = std::env::var_os("E2E_KUBECONFIG").map(PathBuf::from);
        let kubectl = match std::env::var_os("E2E_KUBECTL") {
            Some(k) => PathBuf::from(k),
            None => build().join("kubectl"),
        };
        let (kubeconfig, workdir) = match external {
            Some(k) => {
                eprintln!("real-cluster: using E2E_KUBECONFIG={}", k.display());
                (k, None)
            }
            None => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or_default();
                let wd = std::env::temp_dir().join(format!(
                    "flink-lifecycle-real-cluster-{}-{nanos}",
                    std::process::id()
                ));
                let bin = kubectl.parent().map(Path::to_path_buf).unwrap_or_default();
                let t0 = std::time::Instant::now();
                let out = Command::new(script("start.sh"))
                    .arg(&wd)
                    .env("FLINK_LIFECYCLE_K8S_BIN", &bin)
                    .stdin(Stdio::null())
                    .output()
                    .expect("run tests/cluster/start.sh");
                if !out.status.success() {
                    // start.sh keeps the workdir for inspection; the logs are in its stderr.
                    stop(&wd);
                    panic!(
                        "tests/cluster/start.sh failed ({}):\n{}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                eprintln!(
                    "real-cluster: control plane started in {:.1} s ({})",
                    t0.elapsed().as_secs_f64(),
                    wd.display()
                );
                (wd.join("admin.kubeconfig"), Some(wd))
            }
        };
        // From here on, a panic drops `guard`, which stops the control plane.
        let guard = StopOnDrop(workdir);
        let kc = Kubeconfig::read_from(&kubeconfig).expect("read kubeconfig");
        let (server, ca_pem) = server_and_ca(&kc);
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("kube config from the kubeconfig");
        let client = kube::Client::try_from(config).expect("kube client");
        let version = client
            .apiserver_version()
            .await
            .expect("apiserver /version")
            .git_version;
        eprintln!("real-cluster: kube-apiserver {version}");
        Self {
            client,
            kubeconfig,
            kubectl,
            version,
            server,
            ca_pem,
            workdir: guard.take(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.kubectl);
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--request-timeout=30s")
            .args(args);
        c
    }

    /// Runs kubectl with the admin kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run kubectl")
    }

    /// Runs kubectl with `input` on its stdin (`apply -f -`).
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write kubectl stdin");
        child.wait_with_output().expect("kubectl output")
    }

    /// kubectl that must succeed; returns its stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {}: {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A client authenticated with a bearer `token` (a ServiceAccount's), same server and CA.
    pub async fn client_with_token(&self, token: &str) -> kube::Client {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        let yaml = format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\n\
             users:\n- name: u\n  user:\n    token: {token}\n\
             contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n\
             current-context: x\n",
            self.server
        );
        client_from_yaml(&yaml).await
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Some(wd) = self.workdir.take() {
            stop(&wd);
        }
    }
}

/// Stops the control plane of `start.sh <dir>` when dropped, unless taken.
struct StopOnDrop(Option<PathBuf>);

impl StopOnDrop {
    fn take(mut self) -> Option<PathBuf> {
        self.0.take()
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(wd) = self.0.take() {
            stop(&wd);
        }
    }
}
