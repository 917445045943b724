//! The `sealtrail` command line: parses arguments and hands each subcommand
//! to the library. Owns terminal concerns only (progress bars, exit codes).

mod cli;

// Ingest, verify and packs allocate per record (parsed fields, leaves, Arrow
// builders); the profile showed the system allocator at ~17 % of ingest.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
