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
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd { out: None } => print_crds(),
        Command::Crd { out: Some(dir) } => write_crds(&dir),
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
