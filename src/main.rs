//! The `sim` command: parses arguments, calls the library, prints one line per error, and exits
//! with 0 (success), 1 (the run failed, e.g. a determinism check or a write error) or 2 (bad
//! input: arguments, scenario, output folder).

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = syncsim::cli::Cli::parse();
    match syncsim::cli::main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`sim expand ... | head`) is not an error of ours.
        Err(syncsim::cli::CliError::Stdout(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
