use std::process::ExitCode;

// glibc's malloc/free took a quarter of an admission decision's CPU (the webhook reads and drops
// many small strings per review); see bench-results/webhook.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    flink_lifecycle::cli::main()
}
