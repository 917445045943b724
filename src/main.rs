//! The `sealtrail` command line: parses arguments and hands each subcommand
//! to the library. Owns terminal concerns only (progress bars, exit codes).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
