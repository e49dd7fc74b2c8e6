//! Real Apache Flink for tests: install a version from PyPI once, build the stateful test job,
//! and run JobManager / TaskManager processes on free loopback ports under a per-test run dir.
//!
//! - [`FlinkInstall::ensure`] → [`FlinkHome`] (cache: `$FLINK_LIFECYCLE_CACHE`, else
//!   `<repo>/.flink-cache`; `tests/flink-harness/install-flink.sh` does the work under a lock).
//! - [`TestJob::jar`] compiles `tests/flink-harness/job/` with `javac --release 11`.
//! - [`LocalProcess`] runs one `bin/<script>.sh start-foreground` from a flat `config.yaml`
//!   (the shape of a rendered Flink ConfigMap); dropping it stops the process.
//! - [`LocalCluster`] = JobManager + TaskManager with a temp run dir, waiting until the REST API
//!   answers and a TaskManager registered; on failure the error holds the logs' tails.
//!
//! Only processes started here are signalled, and only after checking that their
//! `/proc/<pid>/cmdline` mentions the run dir.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use flink_lifecycle::flink::{FlinkClientOptions, FlinkRestClient};

/// The Flink versions the project is tested against: the last 1.x line and the newest 2.x.
pub const FLINK_1_20: &str = "1.20.5";
pub const FLINK_2: &str = "2.3.0";

pub type HarnessResult<T> = Result<T, String>;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where Flink distributions and built test jobs are cached.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("FLINK_LIFECYCLE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".flink-cache"))
}

/// An unpacked Flink distribution (`bin/ conf/ lib/ ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlinkHome {
    pub version: String,
    pub path: PathBuf,
}

impl FlinkHome {
    pub fn dist_jar(&self) -> PathBuf {
        self.path
            .join("lib")
            .join(format!("flink-dist-{}.jar", self.version))
    }

    pub fn is_2x(&self) -> bool {
        self.version.starts_with("2.")
    }
}

pub struct FlinkInstall;

impl FlinkInstall {
    /// Installs `version` into the cache (once per process; the script's lock covers
    /// concurrent test processes) and returns its home.
    pub fn ensure(version: &str) -> HarnessResult<FlinkHome> {
        static HOMES: OnceLock<Mutex<HashMap<String, FlinkHome>>> = OnceLock::new();
        let homes = HOMES.get_or_init(Default::default);
        let mut homes = homes.lock().map_err(|e| e.to_string())?;
        if let Some(home) = homes.get(version) {
            return Ok(home.clone());
        }
        let script = repo_root().join("tests/flink-harness/install-flink.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(version)
            .arg(cache_dir())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "installing Flink {version} from PyPI failed ({}); see the output above",
                out.status
            ));
        }
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let home = FlinkHome {
            version: version.to_string(),
            path,
        };
        if !home.dist_jar().is_file() {
            return Err(format!(
                "Flink {version} install incomplete: {} missing",
                home.dist_jar().display()
            ));
        }
        homes.insert(version.to_string(), home.clone());
        Ok(home)
    }
}

/// The stateful streaming job of `tests/flink-harness/job/` (see its Javadoc).
pub struct TestJob;

impl TestJob {
    pub const MAIN_CLASS: &'static str = "lifecycle.LifecycleTestJob";

    fn source() -> PathBuf {
        repo_root().join("tests/flink-harness/job/lifecycle/LifecycleTestJob.java")
    }

    /// Builds the job against `home`'s flink-dist (cached by source hash and version).
    pub fn jar(home: &FlinkHome) -> HarnessResult<PathBuf> {
        static JARS: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
        let jars = JARS.get_or_init(Default::default);
        let mut jars = jars.lock().map_err(|e| e.to_string())?;
        if let Some(jar) = jars.get(&home.version) {
            return Ok(jar.clone());
        }
        let source = fs::read(Self::source()).map_err(|e| format!("test job source: {e}"))?;
        let dir = cache_dir()
            .join("test-job")
            .join(format!("{}-{:016x}", home.version, fnv1a(&source)));
        let jar = dir.join("lifecycle-test-job.jar");
        if !jar.is_file() {
            Self::build(home, &dir)?;
        }
        jars.insert(home.version.clone(), jar.clone());
        Ok(jar)
    }

    fn build(home: &FlinkHome, dir: &Path) -> HarnessResult<()> {
        let staging = dir.with_extension(format!("tmp-{}", std::process::id()));
        let classes = staging.join("classes");
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir_all(&classes).map_err(|e| e.to_string())?;
        run_tool(
            Command::new("javac")
                .args(["-nowarn", "--release", "11", "-cp"])
                .arg(home.dist_jar())
                .arg("-d")
                .arg(&classes)
                .arg(Self::source()),
        )?;
        run_tool(
            Command::new("jar")
                .arg("--create")
                .arg("--file")
                .arg(staging.join("lifecycle-test-job.jar"))
                .arg("--main-class")
                .arg(Self::MAIN_CLASS)
                .arg("-C")
                .arg(&classes)
                .arg("."),
        )?;
        // A concurrent builder may have won; its jar is identical.
        if fs::rename(&staging, dir).is_err() && !dir.join("lifecycle-test-job.jar").is_file() {
            return Err(format!("cannot move the built job to {}", dir.display()));
        }
        let _ = fs::remove_dir_all(&staging);
        Ok(())
    }
}

fn run_tool(cmd: &mut Command) -> HarnessResult<()> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?} (a JDK is needed): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Arguments of the test job.
#[derive(Clone, Debug, Default)]
pub struct TestJobArgs {
    pub name: Option<String>,
    pub out_dir: Option<PathBuf>,
    pub fail_file: Option<PathBuf>,
    pub sticky_fail_file: Option<PathBuf>,
    pub snapshot_delay_ms: Option<u64>,
    pub rate: Option<u32>,
    pub keys: Option<u32>,
}

impl TestJobArgs {
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut push = |k: &str, v: String| {
            args.push(k.to_string());
            args.push(v);
        };
        if let Some(v) = &self.name {
            push("--name", v.clone());
        }
        if let Some(v) = &self.out_dir {
            push("--out-dir", v.display().to_string());
        }
        if let Some(v) = &self.fail_file {
            push("--fail-file", v.display().to_string());
        }
        if let Some(v) = &self.sticky_fail_file {
            push("--sticky-fail-file", v.display().to_string());
        }
        if let Some(v) = self.snapshot_delay_ms {
            push("--snapshot-delay-ms", v.to_string());
        }
        if let Some(v) = self.rate {
            push("--rate", v.to_string());
        }
        if let Some(v) = self.keys {
            push("--keys", v.to_string());
        }
        args
    }
}

/// What the test job's keyed counter reports in `<out-dir>/counter-<subtask>.properties`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterReport {
    /// Highest per-key count now.
    pub max: i64,
    /// Lowest count a key had when this task attempt first saw it (0 = started empty).
    pub restored_min: i64,
    pub keys_seen: i64,
    pub attempt: i64,
}

impl CounterReport {
    /// The report of subtask 0, if written yet.
    pub fn read(out_dir: &Path) -> Option<Self> {
        let text = fs::read_to_string(out_dir.join("counter-0.properties")).ok()?;
        let field = |name: &str| -> Option<i64> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.trim().parse().ok())
        };
        Some(Self {
            max: field("max")?,
            restored_min: field("restored-min")?,
            keys_seen: field("keys-seen")?,
            attempt: field("attempt")?,
        })
    }

    /// Removes the report in `out_dir`, if any: only a report written afterwards counts (the
    /// run before a restart, or a killed JobManager's job, wrote there too).
    pub fn forget(out_dir: &Path) {
        let report = out_dir.join("counter-0.properties");
        match fs::remove_file(&report) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("removing {}: {e}", report.display()),
        }
    }
}

/// The newest savepoint directory with a `_metadata` in `dir`, as a `file:` URI (what a person
/// restoring by hand picks).
pub fn newest_savepoint(dir: &str) -> Option<String> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("savepoint-"))
        .filter(|e| e.path().join("_metadata").exists())
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| format!("file://{}", e.path().display()))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Loopback ports of one cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub rest: u16,
    pub rpc: u16,
}

impl Ports {
    pub fn free() -> Self {
        Self {
            rest: free_port(),
            rpc: free_port(),
        }
    }
}

/// Keys that make a Flink process local: loopback addresses and the given ports, every
/// directory under `run_dir`, the shipped Java 17 flags plus `-XX:-UsePerfData` and a private
/// tmpdir, a 1 s metric fetcher. A rendered ConfigMap is overlaid with these.
pub fn local_overrides(home: &FlinkHome, run_dir: &Path, ports: Ports) -> BTreeMap<String, String> {
    let run = run_dir.display();
    let java_opts = format!(
        "{} -XX:-UsePerfData -Djava.io.tmpdir={run}/tmp",
        shipped_java_opts(home)
    );
    [
        ("env.java.opts.all", java_opts),
        ("jobmanager.rpc.address", "localhost".into()),
        ("jobmanager.rpc.port", ports.rpc.to_string()),
        ("jobmanager.bind-host", "localhost".into()),
        ("taskmanager.host", "localhost".into()),
        ("taskmanager.bind-host", "localhost".into()),
        ("rest.address", "127.0.0.1".into()),
        ("rest.bind-address", "127.0.0.1".into()),
        ("rest.port", ports.rest.to_string()),
        ("io.tmp.dirs", format!("{run}/tmp")),
        ("web.tmpdir", format!("{run}/web")),
        ("blob.storage.directory", format!("{run}/blob")),
        // Application mode copies --jars here (default /opt/flink/artifacts) and silently
        // reuses a same-named stale file.
        ("user.artifacts.base-dir", format!("{run}/artifacts")),
        ("metrics.fetcher.update-interval", "1000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A complete local configuration: [`local_overrides`] plus small memory, hashmap state,
/// checkpoints/savepoints under `run_dir`, 1 s checkpoints retained on cancel, fixed-delay
/// restarts (1000 × 1 s).
pub fn local_config(home: &FlinkHome, run_dir: &Path, ports: Ports) -> BTreeMap<String, String> {
    let run = run_dir.display();
    let mut conf: BTreeMap<String, String> = [
        ("jobmanager.memory.process.size", "1024m".to_string()),
        ("taskmanager.memory.process.size", "1024m".into()),
        ("taskmanager.numberOfTaskSlots", "2".into()),
        ("parallelism.default", "1".into()),
        ("state.backend.type", "hashmap".into()),
        ("execution.checkpointing.dir", format!("file://{run}/checkpoints")),
        (
            "execution.checkpointing.savepoint-dir",
            format!("file://{run}/savepoints"),
        ),
        ("execution.checkpointing.interval", "1s".into()),
        (
            "execution.checkpointing.externalized-checkpoint-retention",
            "RETAIN_ON_CANCELLATION".into(),
        ),
        ("execution.checkpointing.num-retained", "3".into()),
        ("restart-strategy.type", "fixed-delay".into()),
        ("restart-strategy.fixed-delay.attempts", "1000".into()),
        ("restart-strategy.fixed-delay.delay", "1s".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    conf.extend(local_overrides(home, run_dir, ports));
    conf
}

/// The `--add-opens/--add-exports` list the distribution's own config.yaml ships for Java 17.
fn shipped_java_opts(home: &FlinkHome) -> String {
    fs::read_to_string(home.path.join("conf/config.yaml"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.trim_start().strip_prefix("all:").map(|v| v.trim().to_string()))
        })
        .unwrap_or_default()
}

fn yaml_quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Writes `conf` as a flat `config.yaml` (plus the distribution's log4j files) into `dir`.
pub fn write_conf_dir(home: &FlinkHome, dir: &Path, conf: &BTreeMap<String, String>) -> HarnessResult<()> {
    fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut yaml = String::from("# written by tests/support/flink.rs (flat keys)\n");
    for (k, v) in conf {
        yaml.push_str(&format!("{k}: {}\n", yaml_quote(v)));
    }
    fs::write(dir.join("config.yaml"), yaml).map_err(|e| e.to_string())?;
    for entry in fs::read_dir(home.path.join("conf")).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("log4j") && !dir.join(&name).exists() {
            fs::copy(entry.path(), dir.join(&name)).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Arguments of `bin/standalone-job.sh start-foreground` (application mode).
#[derive(Clone, Debug, Default)]
pub struct ApplicationArgs {
    pub jar: PathBuf,
    pub entry_class: String,
    pub job_id: Option<String>,
    pub from_savepoint: Option<String>,
    pub allow_non_restored_state: bool,
    pub dynamic_properties: BTreeMap<String, String>,
    pub job_args: Vec<String>,
}

impl ApplicationArgs {
    /// `--jars` first and `--job-classname` right after it: `--jars` swallows following
    /// non-option tokens.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--jars".to_string(),
            format!("file://{}", self.jar.display()),
            "--job-classname".to_string(),
            self.entry_class.clone(),
        ];
        if let Some(id) = &self.job_id {
            args.extend(["--job-id".to_string(), id.clone()]);
        }
        if let Some(sp) = &self.from_savepoint {
            args.extend(["--fromSavepoint".to_string(), sp.clone()]);
        }
        if self.allow_non_restored_state {
            args.push("--allowNonRestoredState".to_string());
        }
        for (k, v) in &self.dynamic_properties {
            args.push(format!("-D{k}={v}"));
        }
        args.extend(self.job_args.iter().cloned());
        args
    }
}

/// One Flink JVM started with `bin/<script> start-foreground` (the script execs java, so the
/// child's pid is the JVM's). Dropping it stops the process.
pub struct LocalProcess {
    pub role: String,
    /// `rest.port` of the configuration it was started with.
    pub rest_port: Option<u16>,
    pub run_dir: PathBuf,
    pub dir: PathBuf,
    child: Child,
    stopped: bool,
}

static PROCESS_SEQ: AtomicUsize = AtomicUsize::new(0);

impl LocalProcess {
    /// `bin/standalone-job.sh start-foreground <args>` (build `args` with [`ApplicationArgs`]).
    pub fn start_jobmanager_application(
        home: &FlinkHome,
        run_dir: &Path,
        conf: &BTreeMap<String, String>,
        args: &[String],
    ) -> HarnessResult<Self> {
        Self::start(home, run_dir, "jobmanager", "standalone-job.sh", conf, args)
    }

    /// `bin/jobmanager.sh start-foreground`: a session cluster's JobManager.
    pub fn start_session(
        home: &FlinkHome,
        run_dir: &Path,
        conf: &BTreeMap<String, String>,
    ) -> HarnessResult<Self> {
        Self::start(home, run_dir, "jobmanager", "jobmanager.sh", conf, &[])
    }

    /// `bin/taskmanager.sh start-foreground`.
    pub fn start_taskmanager(
        home: &FlinkHome,
        run_dir: &Path,
        conf: &BTreeMap<String, String>,
    ) -> HarnessResult<Self> {
        Self::start(home, run_dir, "taskmanager", "taskmanager.sh", conf, &[])
    }

    /// The flink image's `/docker-entrypoint.sh` arguments: `standalone-job <args>`,
    /// `jobmanager`, or `taskmanager`.
    pub fn start_entrypoint(
        home: &FlinkHome,
        run_dir: &Path,
        conf: &BTreeMap<String, String>,
        entrypoint_args: &[String],
    ) -> HarnessResult<Self> {
        let (first, rest) = entrypoint_args.split_first().ok_or("empty entrypoint args")?;
        match first.as_str() {
            "standalone-job" => Self::start_jobmanager_application(home, run_dir, conf, rest),
            "jobmanager" => Self::start(home, run_dir, "jobmanager", "jobmanager.sh", conf, rest),
            "taskmanager" => Self::start(home, run_dir, "taskmanager", "taskmanager.sh", conf, rest),
            other => Err(format!("unsupported entrypoint command {other:?}")),
        }
    }

    fn start(
        home: &FlinkHome,
        run_dir: &Path,
        role: &str,
        script: &str,
        conf: &BTreeMap<String, String>,
        args: &[String],
    ) -> HarnessResult<Self> {
        reap_orphans_once();
        mark_owner(run_dir)?;
        let seq = PROCESS_SEQ.fetch_add(1, Ordering::SeqCst);
        let dir = run_dir.join(format!("{role}-{seq}"));
        for sub in ["conf", "log", "pid"] {
            fs::create_dir_all(dir.join(sub)).map_err(|e| e.to_string())?;
        }
        for sub in ["tmp", "web", "blob", "artifacts"] {
            fs::create_dir_all(run_dir.join(sub)).map_err(|e| e.to_string())?;
        }
        write_conf_dir(home, &dir.join("conf"), conf)?;
        let console = fs::File::create(dir.join("console.out")).map_err(|e| e.to_string())?;
        let console_err = console.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(home.path.join("bin").join(script))
            .arg("start-foreground")
            .args(args)
            .env("FLINK_CONF_DIR", dir.join("conf"))
            .env("FLINK_LOG_DIR", dir.join("log"))
            .env("FLINK_PID_DIR", dir.join("pid"))
            // helper JVMs of the scripts (BashJavaUtils) write hsperfdata into TMPDIR
            .env("TMPDIR", run_dir.join("tmp"))
            .stdin(Stdio::null())
            .stdout(console)
            .stderr(console_err)
            .spawn()
            .map_err(|e| format!("cannot start {script}: {e}"))?;
        Ok(Self {
            role: role.to_string(),
            rest_port: conf.get("rest.port").and_then(|p| p.parse().ok()),
            run_dir: run_dir.to_path_buf(),
            dir,
            child,
            stopped: false,
        })
    }

    /// The REST URL a JobManager started with this configuration listens on.
    pub fn rest_url(&self) -> Option<String> {
        self.rest_port.map(|p| format!("http://127.0.0.1:{p}"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_alive(&mut self) -> bool {
        !self.stopped && matches!(self.child.try_wait(), Ok(None))
    }

    /// True if the pid still belongs to a process of this run dir (guards against pid reuse).
    fn is_ours(&self) -> bool {
        fs::read(format!("/proc/{}/cmdline", self.pid()))
            .map(|c| {
                let run = self.run_dir.display().to_string();
                String::from_utf8_lossy(&c).replace('\0', " ").contains(&run)
            })
            .unwrap_or(false)
    }

    /// SIGKILL at once, as a crashed JVM (no shutdown hooks, no cleanup); whether it was alive.
    pub fn kill(&mut self) -> bool {
        if !self.is_alive() {
            return false;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        true
    }

    /// Sends a signal (`-STOP`, `-CONT`) to the JVM; whether it was alive and ours.
    pub fn signal(&mut self, signal: &str) -> bool {
        if !self.is_alive() || !self.is_ours() {
            return false;
        }
        Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// SIGTERM, up to 10 s to exit, then SIGKILL.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        if self.is_ours() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.pid().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last `lines` lines of the process's log files and console output.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut files: Vec<PathBuf> = fs::read_dir(self.dir.join("log"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files.push(self.dir.join("console.out"));
        let mut out = String::new();
        for f in files {
            let text = fs::read_to_string(&f).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            if !tail.is_empty() {
                out.push_str(&format!("---- {} ({}) ----\n", f.display(), self.role));
                out.push_str(&tail.join("\n"));
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for LocalProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

const OWNER_FILE: &str = "harness-owner.pid";

/// Records which test process owns the run dir, so a later test process can tell leftovers of a
/// killed one (whose Drop guards never ran) from processes of a live one.
fn mark_owner(run_dir: &Path) -> HarnessResult<()> {
    fs::create_dir_all(run_dir).map_err(|e| e.to_string())?;
    fs::write(run_dir.join(OWNER_FILE), std::process::id().to_string()).map_err(|e| e.to_string())
}

/// Once per test process: SIGKILLs Flink JVMs started by this harness in an earlier test process
/// that is gone (killed before its Drop guards ran).
fn reap_orphans_once() {
    static REAPED: OnceLock<()> = OnceLock::new();
    REAPED.get_or_init(|| {
        for (pid, owner, run_dir) in harness_jvms() {
            if owner != std::process::id() && !Path::new(&format!("/proc/{owner}")).exists() {
                eprintln!("flink harness: killing orphaned Flink process {pid} of {run_dir}");
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
        }
    });
}

/// SIGKILLs the Flink JVMs this test process started, for an exit that skips their Drop guards
/// (the end-to-end watchdog's).
pub fn kill_own_jvms() {
    for (pid, owner, _) in harness_jvms() {
        if owner == std::process::id() {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
    }
}

/// The Flink JVMs this harness started, with the test process that owns each and its run dir. A
/// JVM qualifies only if its command line names a run dir (`-Djava.io.tmpdir=<run>/tmp`) holding
/// our owner file.
fn harness_jvms() -> Vec<(u32, u32, String)> {
    let Ok(procs) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut jvms = Vec::new();
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let Some(run_dir) = cmdline
            .split(' ')
            .find_map(|arg| arg.strip_prefix("-Djava.io.tmpdir="))
            .and_then(|tmp| tmp.strip_suffix("/tmp"))
        else {
            continue;
        };
        let owner = fs::read_to_string(Path::new(run_dir).join(OWNER_FILE))
            .ok()
            .and_then(|o| o.trim().parse::<u32>().ok());
        if let Some(owner) = owner {
            jvms.push((pid, owner, run_dir.to_string()));
        }
    }
    jvms
}

/// Waits until the REST API at `rest_url` answers `/overview` with at least one TaskManager
/// (for processes started one by one with [`LocalProcess`]).
pub async fn wait_until_ready(rest_url: &str, timeout: Duration) -> HarnessResult<()> {
    let client = FlinkRestClient::new(rest_url, FlinkClientOptions::with_timeout(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    loop {
        match client.cluster_overview().await {
            Ok(o) if o.taskmanagers.unwrap_or(0) >= 1 => return Ok(()),
            other if started.elapsed() > timeout => {
                return Err(format!("{rest_url} not ready after {timeout:?}: {other:?}"));
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// A local cluster: one JobManager (session or application) and one TaskManager.
pub struct LocalCluster {
    pub home: FlinkHome,
    pub run_dir: PathBuf,
    pub ports: Ports,
    pub conf: BTreeMap<String, String>,
    // Fields drop in order: processes stop before the run dir is deleted.
    pub taskmanager: LocalProcess,
    pub jobmanager: LocalProcess,
    run_dir_guard: Option<tempfile::TempDir>,
}

/// How long a cluster may take to answer REST with a registered TaskManager.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

impl LocalCluster {
    fn new_run_dir(home: &FlinkHome) -> HarnessResult<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix(&format!("flink-run-{}-", home.version))
            .tempdir()
            .map_err(|e| format!("cannot create a run dir: {e}"))
    }

    /// A session cluster with [`local_config`] plus `extra` keys.
    pub async fn start_session(home: &FlinkHome, extra: &BTreeMap<String, String>) -> HarnessResult<Self> {
        Self::start(home, extra, None).await
    }

    /// An application cluster running `app` with [`local_config`] plus `extra` keys.
    pub async fn start_application(
        home: &FlinkHome,
        extra: &BTreeMap<String, String>,
        app: &ApplicationArgs,
    ) -> HarnessResult<Self> {
        Self::start(home, extra, Some(app)).await
    }

    async fn start(
        home: &FlinkHome,
        extra: &BTreeMap<String, String>,
        app: Option<&ApplicationArgs>,
    ) -> HarnessResult<Self> {
        let guard = Self::new_run_dir(home)?;
        let run_dir = guard.path().canonicalize().map_err(|e| e.to_string())?;
        let ports = Ports::free();
        let mut conf = local_config(home, &run_dir, ports);
        conf.extend(extra.clone());
        let jobmanager = match app {
            Some(app) => LocalProcess::start_jobmanager_application(home, &run_dir, &conf, &app.to_args())?,
            None => LocalProcess::start_session(home, &run_dir, &conf)?,
        };
        let taskmanager = LocalProcess::start_taskmanager(home, &run_dir, &conf)?;
        let mut cluster = Self {
            home: home.clone(),
            run_dir,
            ports,
            conf,
            taskmanager,
            jobmanager,
            run_dir_guard: Some(guard),
        };
        if let Err(e) = cluster.wait_ready(READY_TIMEOUT).await {
            cluster.stop();
            cluster.keep_run_dir();
            return Err(format!("{e}\n(run dir kept: {})", cluster.run_dir.display()));
        }
        Ok(cluster)
    }

    pub fn rest_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.rest)
    }

    pub fn client(&self) -> FlinkRestClient {
        FlinkRestClient::new(&self.rest_url(), FlinkClientOptions::default())
            .unwrap_or_else(|e| panic!("client for {}: {e}", self.rest_url()))
    }

    /// Waits until `/overview` answers with at least one TaskManager.
    pub async fn wait_ready(&mut self, timeout: Duration) -> HarnessResult<()> {
        let client = FlinkRestClient::new(
            &self.rest_url(),
            FlinkClientOptions::with_timeout(Duration::from_secs(2)),
        )
        .map_err(|e| e.to_string())?;
        let started = Instant::now();
        loop {
            if let Ok(o) = client.cluster_overview().await
                && o.taskmanagers.unwrap_or(0) >= 1
            {
                return Ok(());
            }
            let dead = [&mut self.jobmanager, &mut self.taskmanager]
                .into_iter()
                .find_map(|p| (!p.is_alive()).then(|| p.role.clone()));
            if let Some(role) = dead {
                return Err(format!(
                    "Flink {} {role} exited before the cluster was ready\n{}",
                    self.home.version,
                    self.logs_tail(40)
                ));
            }
            if started.elapsed() > timeout {
                return Err(format!(
                    "Flink {} not ready at {} after {timeout:?}\n{}",
                    self.home.version,
                    self.rest_url(),
                    self.logs_tail(40)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn logs_tail(&self, lines: usize) -> String {
        format!(
            "{}{}",
            self.jobmanager.log_tail(lines),
            self.taskmanager.log_tail(lines)
        )
    }

    pub fn savepoint_dir(&self) -> String {
        format!("file://{}/savepoints", self.run_dir.display())
    }

    pub fn stop(&mut self) {
        self.taskmanager.stop();
        self.jobmanager.stop();
    }

    /// Keep the run dir after the test (set `FLINK_LIFECYCLE_KEEP_RUNS=1` to keep all).
    pub fn keep_run_dir(&mut self) {
        if let Some(g) = self.run_dir_guard.take() {
            let _ = g.keep();
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("FLINK_LIFECYCLE_KEEP_RUNS").is_some() || std::thread::panicking() {
            if std::thread::panicking() {
                let _ = writeln!(
                    std::io::stderr(),
                    "keeping Flink run dir {} of the failed test",
                    self.run_dir.display()
                );
            }
            self.keep_run_dir();
        }
    }
}
