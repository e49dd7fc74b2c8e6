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
    /// Print the FlinkDeployment and FlinkSessionJob CRDs as YAML.
    Crd,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => print_crds(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
