//! `sim sweep`, `sim expand`, `sim merge`: parameter sweeps over seeds, in parallel, in shards,
//! resumable.

use super::CliError;
use crate::experiment::Sweep;
use crate::experiment::runner::{self, Selection, SweepOptions};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(super) struct SweepArgs {
    /// The sweep file (JSON).
    sweep: PathBuf,
    /// Worker threads [default: all cores].
    #[arg(short = 'j', long)]
    jobs: Option<usize>,
    /// Output folder [default: out/<sweep name>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Compute only runs whose index is I modulo N (I from 0), e.g. --shard 0/4.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Compute only runs A to B (inclusive), e.g. --runs 0-99.
    #[arg(long, value_name = "A-B")]
    runs: Option<String>,
    /// Continue a sweep folder: skip the runs it already has.
    #[arg(long)]
    resume: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
pub(super) struct ExpandArgs {
    /// The sweep file (JSON).
    sweep: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(super) struct MergeArgs {
    /// Sweep folders (shards) to merge.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// The merged folder.
    #[arg(long)]
    out: PathBuf,
}

fn usage(arg: &str, msg: String) -> CliError {
    CliError::Usage(format!("{arg}: {msg}"))
}

pub(super) fn sweep(args: SweepArgs) -> Result<(), CliError> {
    let sweep = Sweep::load(&args.sweep)?;
    let selection = Selection {
        shard: args
            .shard
            .as_deref()
            .map(Selection::parse_shard)
            .transpose()
            .map_err(|m| usage("--shard", m))?,
        runs: args
            .runs
            .as_deref()
            .map(Selection::parse_runs)
            .transpose()
            .map_err(|m| usage("--runs", m))?,
    };
    let jobs = super::jobs(args.jobs)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(&sweep.spec.name));
    let bar = progress_bar(args.quiet);
    let progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    #[allow(clippy::disallowed_methods)] // wall time, for the report line only
    let started = std::time::Instant::now();
    let outcome = runner::run_sweep(
        &sweep,
        &SweepOptions {
            jobs,
            out: out.clone(),
            selection,
            resume: args.resume,
            progress: &progress,
        },
    )?;
    let secs = started.elapsed().as_secs_f64();
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if !args.quiet {
        writeln!(
            std::io::stdout(),
            "{}: {} runs computed, {} already done, {} of {} recorded; {:.1} s ({:.1} runs/s, {jobs} workers) -> {}",
            sweep.spec.name,
            outcome.computed,
            outcome.skipped,
            outcome.recorded,
            outcome.total,
            secs,
            outcome.computed as f64 / secs.max(1e-9),
            out.display()
        )?;
    }
    Ok(())
}

fn progress_bar(quiet: bool) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "[{bar:40}] {pos}/{len} runs, {per_sec}, {elapsed} elapsed, eta {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    Some(bar)
}

pub(super) fn expand(args: ExpandArgs) -> Result<(), CliError> {
    let sweep = Sweep::load(&args.sweep)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 0..sweep.len() {
        let line = serde_json::Value::Object(sweep.run(i).to_json());
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

pub(super) fn merge(args: MergeArgs) -> Result<(), CliError> {
    let n = runner::merge(&args.dirs, &args.out)?;
    let total = runner::sweep_from_record(&args.out)?.len();
    writeln!(
        std::io::stdout(),
        "merged {} folders: {n} of {total} runs -> {}",
        args.dirs.len(),
        args.out.display()
    )?;
    Ok(())
}
