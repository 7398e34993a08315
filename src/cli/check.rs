//! `sim check SUMMARY|AGGREGATE --baseline BASELINE`: a regression table; exit 1 on regression.

use super::CliError;
use crate::experiment::check;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(super) struct CheckArgs {
    /// A run's summary.json, or a sweep's aggregate.csv.
    subject: PathBuf,
    /// The baseline file (JSON) with the checks.
    #[arg(long)]
    baseline: PathBuf,
    /// Write the current values into the baseline (creating it with default checks for a
    /// summary if it does not exist) instead of judging.
    #[arg(long)]
    update: bool,
}

pub(super) fn check(args: CheckArgs) -> Result<(), CliError> {
    let subject = check::load_subject(&args.subject)?;
    let label = args.baseline.display().to_string();
    if args.update && !args.baseline.exists() {
        let check::Subject::Summary(s) = &subject else {
            return Err(CliError::Usage(format!(
                "{label}: does not exist; a new baseline is made from a summary.json, not an aggregate"
            )));
        };
        return write(&args.baseline, &check::default_checks(s));
    }
    let baseline = check::load_baseline(&args.baseline)?;
    let rows = check::check(&subject, &baseline, &label)?;
    if args.update {
        return write(&args.baseline, &check::updated(&baseline, &rows));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(check::table(&rows).as_bytes())?;
    let regressed = rows
        .iter()
        .filter(|r| r.verdict == check::Verdict::Regressed)
        .count();
    if regressed > 0 {
        writeln!(
            out,
            "{regressed} of {} metrics regressed against {label}",
            rows.len()
        )?;
        return Err(CliError::Regressed(regressed));
    }
    writeln!(
        out,
        "all {} metrics within tolerance of {label}",
        rows.len()
    )?;
    Ok(())
}

fn write(path: &std::path::Path, b: &check::Baseline) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(b).expect("serializes");
    text.push('\n');
    crate::report::output::write_file_atomic(path, text.as_ref()).map_err(|source| {
        CliError::Output(crate::report::OutputError::Io {
            path: path.to_path_buf(),
            source,
        })
    })?;
    writeln!(std::io::stdout(), "wrote {}", path.display())?;
    Ok(())
}
