use std::process::ExitCode;

fn main() -> ExitCode {
    flink_lifecycle::cli::main()
}
