//! `sim plot RUN_DIR`: redraws the plots and report.html of a finished run from its files,
//! without running anything.

use super::CliError;
use crate::report;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(super) struct PlotArgs {
    /// A run folder written by `sim run`.
    run_dir: PathBuf,
}

pub(super) fn plot(args: PlotArgs) -> Result<(), CliError> {
    let dir = &args.run_dir;
    if !dir.join("summary.json").is_file() {
        return Err(CliError::NotARun(dir.display().to_string()));
    }
    let mut files = report::output::read_run_dir(dir)?;
    report::add_pictures(&dir.display().to_string(), &mut files)?;
    report::output::write_pictures(dir, &files)?;
    let count = files.keys().filter(|p| p.starts_with("plots/")).count();
    writeln!(
        std::io::stdout(),
        "{}: redrew {count} plot files and report.html",
        dir.display()
    )?;
    Ok(())
}
