//! Command line: one binary, one subcommand per job. Every flag also reads an environment variable.

use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

/// Admission webhook and lifecycle reconciler for Apache Flink on Kubernetes.
#[derive(Parser, Debug)]
#[command(name = "flink-lifecycle", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the FlinkDeployment and FlinkSessionJob CRDs as YAML, or write one file per CRD.
    Crd {
        /// Directory to write the CRD files into (and print their sizes) instead of stdout.
        #[arg(long, env = "FLINK_LIFECYCLE_CRD_OUT")]
        out: Option<std::path::PathBuf>,
    },
    /// Run the controllers and the admission webhook (the operator); without a reachable
    /// cluster, serve the webhook alone.
    Run(crate::run::RunCommand),
    /// Serve the admission webhook (HTTPS /validate, /mutate) and the admin port.
    Webhook(crate::webhook::WebhookCommand),
    /// Admit manifests offline (mutation, validation, warnings): exit 1 if any is denied, 2 if
    /// an input cannot be read or breaks an input limit, 3 if nothing was found to validate.
    Validate(crate::offline::ValidateCommand),
    /// Write a CA and a serving certificate in Kubernetes TLS Secret layout (tls.crt, tls.key, ca.crt).
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
    },
    /// Show what the operator will do when a stored FlinkDeployment/FlinkSessionJob (with its
    /// status) is replaced by a desired one: the change, the next step and why.
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
    match cli.command {
        Command::Crd { out: None } => print_crds(),
        Command::Crd { out: Some(dir) } => write_crds(&dir),
        Command::Run(cmd) => block_on(crate::run::run(cmd)),
        Command::Webhook(cmd) => block_on(crate::webhook::run::run(cmd)),
        Command::Validate(cmd) => {
            init_tracing();
            let code = if cmd.no_dns {
                crate::offline::run(&cmd, &crate::validation::NoDns)
            } else {
                crate::offline::run(&cmd, &crate::validation::SystemResolver)
            };
            ExitCode::from(code)
        }
        Command::Certs { out, dns, days } => write_certs(&out, &dns, days),
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

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}

fn block_on(task: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    init_tracing();
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

fn write_certs(out: &std::path::Path, dns: &[String], days: u16) -> ExitCode {
    let today = jiff::Zoned::now().date();
    let written =
        crate::certs::generate(dns, today, days).and_then(|c| crate::certs::write_secret_layout(out, &c));
    match written {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
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
