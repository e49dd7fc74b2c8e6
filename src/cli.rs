//! Command line: one binary, one subcommand per job. Every flag also reads an environment variable.

use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

/// Admission webhook and lifecycle reconciler for Apache Flink on Kubernetes.
#[derive(Parser, Debug)]
#[command(
    name = "flink-lifecycle",
    version,
    about,
    long_about = "Admission webhook and lifecycle reconciler for Apache Flink on Kubernetes \
(FlinkDeployment, FlinkSessionJob). One binary, one subcommand per job: `run` is the operator, \
`webhook` the admission webhook alone, `validate` admits manifests offline, `plan` explains what \
the operator will do with a change, `crd` prints the CRDs and `certs` writes development \
certificates. Every flag also reads an environment variable (FLINK_LIFECYCLE_...).",
    after_help = HELP_MAIN
)]
pub struct Cli {
    /// Log format: `text` (coloured only on a terminal) or `json` (one JSON object per line).
    /// The level comes from RUST_LOG (default info).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "FLINK_LIFECYCLE_LOG_FORMAT",
        default_value_t = LogFormat::Text,
        display_order = 900
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// Format of the log lines.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines; ANSI colours only when the output is a terminal.
    Text,
    /// One JSON object per line (timestamp, level, fields, target).
    Json,
}

const HELP_MAIN: &str = "\
Exit codes: 0 success, 1 failure (a denial for `validate`), 2 usage error or unreadable input;
each subcommand's --help lists its own.

Example:
  flink-lifecycle validate --no-dns examples/
  flink-lifecycle certs --out certs --dns localhost --dns 127.0.0.1
  flink-lifecycle run --tls-dir certs --webhook-addr 127.0.0.1:9443";

const HELP_CRD: &str = "\
Input: none; the CRDs are generated from the operator's Rust types (the committed copies are
manifests/crds/*.yaml, regenerated with `make crds`).

Exit codes: 0 printed or written, 1 a CRD cannot be rendered or a file cannot be written,
2 usage error.

Example:
  flink-lifecycle crd | kubectl apply --server-side -f -
  flink-lifecycle crd --out manifests/crds";

const HELP_RUN: &str = "\
Inputs: the current kubeconfig (or the in-cluster service account), the serving certificate in
--tls-dir (tls.crt, tls.key; reloaded on change) and the optional --operator-config file.
Runs until SIGTERM or SIGINT, then drains.

Exit codes: 0 stopped by a signal, 1 startup failed (bad configuration, certificate missing,
address in use), 2 usage error.

Example:
  flink-lifecycle certs --out certs --dns localhost --dns 127.0.0.1
  flink-lifecycle run --tls-dir certs --webhook-addr 127.0.0.1:9443 --admin-addr 127.0.0.1:8080";

const HELP_WEBHOOK: &str = "\
Inputs: the serving certificate in --tls-dir (tls.crt, tls.key; reloaded on change), the optional
--operator-config file and, for session-job and snapshot checks, the cluster of the current
kubeconfig.
Runs until SIGTERM or SIGINT, then drains.

Exit codes: 0 stopped by a signal, 1 startup failed (bad configuration, certificate missing,
address in use), 2 usage error.

Example:
  flink-lifecycle webhook --tls-dir certs --webhook-addr 127.0.0.1:9443 --session-lookup false";

const HELP_CERTS: &str = "\
Output: tls.crt, tls.key (mode 0600) and ca.crt in --out; each file written is printed. An
existing ca.crt is not replaced without --force (a new CA invalidates every caBundle that
trusted the old one). For development and tests; never commit the keys.

Exit codes: 0 written, 1 ca.crt exists (without --force) or a file cannot be written,
2 usage error.

Example:
  flink-lifecycle certs --out certs --dns localhost --dns 127.0.0.1
  flink-lifecycle certs --out certs --dns webhook.flink.svc --days 30 --force";

const HELP_PLAN: &str = "\
Inputs: --stored (the resource with its status, as `kubectl get -o yaml` prints it), --desired
(the resource to apply), optionally --observation and --operator-config. Nothing is contacted.

Exit codes: 0 plan printed, 1 an input cannot be read or the plan cannot be made, 2 usage error.

Example:
  kubectl get flinkdep orders -o yaml > stored.yaml
  flink-lifecycle plan --stored stored.yaml --desired orders.yaml -o json";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the FlinkDeployment and FlinkSessionJob CRDs as YAML, or write one file per CRD.
    #[command(after_help = HELP_CRD)]
    Crd {
        /// Directory to write the CRD files into (and print their sizes) instead of stdout.
        #[arg(long, env = "FLINK_LIFECYCLE_CRD_OUT")]
        out: Option<std::path::PathBuf>,
    },
    /// Run the controllers and the admission webhook (the operator); without a reachable
    /// cluster, serve the webhook alone.
    #[command(after_help = HELP_RUN)]
    Run(crate::run::RunCommand),
    /// Serve the admission webhook (HTTPS /validate, /mutate) and the admin port.
    #[command(after_help = HELP_WEBHOOK)]
    Webhook(crate::webhook::WebhookCommand),
    /// Admit manifests offline (mutation, validation, warnings): exit 1 if any is denied, 2 if
    /// an input cannot be read or breaks an input limit, 3 if nothing was found to validate.
    Validate(crate::offline::ValidateCommand),
    /// Write a CA and a serving certificate in Kubernetes TLS Secret layout (tls.crt, tls.key, ca.crt).
    #[command(after_help = HELP_CERTS)]
    Certs {
        /// Output directory.
        #[arg(long, env = "FLINK_LIFECYCLE_CERTS_OUT")]
        out: std::path::PathBuf,
        /// DNS names (or IP addresses) of the serving certificate, e.g. webhook.ns.svc.
        #[arg(long = "dns", required = true)]
        dns: Vec<String>,
        /// Validity of the serving certificate in days (the CA gets ten times as long).
        #[arg(long, default_value_t = 365)]
        days: u16,
        /// Replace an existing CA (ca.crt) in the output directory.
        #[arg(long)]
        force: bool,
    },
    /// Show what the operator will do when a stored FlinkDeployment/FlinkSessionJob (with its
    /// status) is replaced by a desired one: the change, the next step and why.
    #[command(after_help = HELP_PLAN)]
    Plan {
        /// The resource as stored, with status (e.g. `kubectl get flinkdep x -o yaml`).
        #[arg(long)]
        stored: std::path::PathBuf,
        /// The resource as it will be applied.
        #[arg(long)]
        desired: std::path::PathBuf,
        /// Observed cluster state (YAML/JSON of the planner's Observation); default: as the
        /// stored status records it.
        #[arg(long)]
        observation: Option<std::path::PathBuf>,
        /// Operator configuration file (flat `kubernetes.operator.*` keys).
        #[arg(long, env = "FLINK_LIFECYCLE_OPERATOR_CONFIG")]
        operator_config: Option<std::path::PathBuf>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = PlanOutput::Text)]
        output: PlanOutput,
    },
}

/// Output format of `plan`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanOutput {
    Text,
    Json,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = cli.log_format;
    match cli.command {
        Command::Crd { out: None } => print_crds(),
        Command::Crd { out: Some(dir) } => write_crds(&dir),
        Command::Run(cmd) => block_on(crate::run::run(cmd), log_format),
        Command::Webhook(cmd) => block_on(crate::webhook::run::run(cmd), log_format),
        Command::Validate(cmd) => {
            init_tracing(log_format);
            let code = if cmd.no_dns {
                crate::offline::run(&cmd, &crate::validation::NoDns)
            } else {
                crate::offline::run(&cmd, &crate::validation::SystemResolver)
            };
            ExitCode::from(code)
        }
        Command::Certs {
            out,
            dns,
            days,
            force,
        } => write_certs(&out, &dns, days, force),
        Command::Plan {
            stored,
            desired,
            observation,
            operator_config,
            output,
        } => run_plan(
            &stored,
            &desired,
            observation.as_deref(),
            operator_config.as_deref(),
            output,
        ),
    }
}

fn run_plan(
    stored: &std::path::Path,
    desired: &std::path::Path,
    observation: Option<&std::path::Path>,
    operator_config: Option<&std::path::Path>,
    output: PlanOutput,
) -> ExitCode {
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let inputs = (|| -> Result<_, String> {
        let operator = match operator_config {
            Some(p) => crate::config::OperatorConfig::from_file(p).map_err(|e| e.to_string())?,
            None => crate::config::OperatorConfig::default(),
        };
        Ok((
            read(stored)?,
            read(desired)?,
            observation.map(read).transpose()?,
            operator,
        ))
    })();
    let (stored, desired, observation, operator) = match inputs {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let job_id = uuid::Uuid::new_v4().simple().to_string();
    let request = crate::lifecycle::PlanRequest {
        stored: &stored,
        desired: &desired,
        observation: observation.as_deref(),
        operator: &operator,
        now_ms: jiff::Timestamp::now().as_millisecond(),
        new_job_id: &job_id,
    };
    match crate::lifecycle::plan_change(&request) {
        Ok(report) => {
            let text = match output {
                PlanOutput::Text => report.to_text(),
                PlanOutput::Json => report.to_json() + "\n",
            };
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to standard output (as before); colours only when it is a terminal.
fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(std::io::stdout().is_terminal()).try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}

fn block_on(task: impl std::future::Future<Output = Result<(), String>>, log_format: LogFormat) -> ExitCode {
    init_tracing(log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_certs(out: &std::path::Path, dns: &[String], days: u16, force: bool) -> ExitCode {
    let today = jiff::Zoned::now().date();
    let written = crate::certs::refuse_existing_ca(out, force)
        .and_then(|()| crate::certs::generate(dns, today, days))
        .and_then(|c| crate::certs::write_secret_layout(out, &c));
    match written {
        Ok(paths) => {
            for p in paths {
                println!("wrote {}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_crds() -> ExitCode {
    match crate::crd::all_yaml() {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            if out.write_all(text.as_bytes()).is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot render CRDs: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_crds(dir: &std::path::Path) -> ExitCode {
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for g in crate::crd::all() {
        let text = match crate::crd::to_yaml(&g.crd) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot render {}: {e}", g.file_name);
                return ExitCode::FAILURE;
            }
        };
        let path = dir.join(g.file_name);
        if let Err(e) = std::fs::write(&path, &text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!(
            "{}: {} bytes (client-side apply limit {})",
            path.display(),
            text.len(),
            crate::crd::CLIENT_SIDE_APPLY_LIMIT
        );
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
