//! The command line: one module per subcommand. Every failure is a [`CliError`] that prints as
//! one line and maps to an exit code (2 for bad input, 1 for a failed run).

mod bench;
mod check;
mod plot;
mod run;
mod schema;
mod sweep;
mod validate;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// A deterministic, tick-based network simulator for peer-to-peer data-sync protocols.
#[derive(Debug, Parser)]
#[command(name = "sim", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario and write its outputs (summary.json, sync_state/, deliveries.csv).
    Run(run::RunArgs),
    /// Check a scenario without running it.
    Validate(validate::ValidateArgs),
    /// Redraw the plots and report.html of a finished run from its files.
    Plot(plot::PlotArgs),
    /// Run a parameter sweep over seeds (in parallel, in shards, resumable).
    Sweep(sweep::SweepArgs),
    /// Print a sweep's run table as JSON lines, for a batch scheduler.
    Expand(sweep::ExpandArgs),
    /// Merge sweep folders (shards) into one result.
    Merge(sweep::MergeArgs),
    /// Compare a summary.json or an aggregate.csv with a baseline; exit 1 on regression.
    Check(check::CheckArgs),
    /// Print the JSON Schema of scenario files.
    Schema,
    /// Run the benchmark workloads and print their figures (speed, memory).
    Bench(bench::BenchArgs),
}

/// Scenario selection shared by `run` and `validate`.
#[derive(Debug, clap::Args)]
pub struct ScenarioArgs {
    /// The scenario file (JSON).
    pub scenario: PathBuf,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override a scenario field by its dotted path, e.g. --set sync.backoff.interval=4
    /// or --set nodes.A.availability.p=0.5 (repeatable; VALUE is JSON, or else a string).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
}

impl ScenarioArgs {
    fn load(&self) -> Result<crate::scenario::Plan, CliError> {
        Ok(crate::scenario::load(&self.scenario, &self.set, self.seed)?)
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The scenario or an argument was refused.
    #[error(transparent)]
    Input(#[from] crate::scenario::InputError),
    /// The output folder could not be written.
    #[error(transparent)]
    Output(#[from] crate::report::OutputError),
    /// A folder given as a run folder is not one.
    #[error("{0}: not a run folder (it has no summary.json)")]
    NotARun(String),
    /// A run folder's files could not be read back or drawn.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// An argument is malformed.
    #[error("{0}")]
    Usage(String),
    /// A run could not finish.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    /// A sweep could not run or merge.
    #[error(transparent)]
    Sweep(#[from] crate::experiment::runner::SweepError),
    /// Metrics regressed against their baseline (the table is printed).
    #[error("{0} metrics regressed")]
    Regressed(usize),
    /// Two runs of the same scenario and seed differed.
    #[error("determinism check failed: {0}")]
    NotDeterministic(String),
    /// Writing to standard output failed.
    #[error("cannot write to standard output: {0}")]
    Stdout(#[from] std::io::Error),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Input(_) | CliError::NotARun(_) | CliError::Usage(_) => 2,
            CliError::Regressed(_) => 1,
            CliError::Sweep(
                crate::experiment::runner::SweepError::Input(_)
                | crate::experiment::runner::SweepError::Folder(_)
                | crate::experiment::runner::SweepError::UnknownMetric(_)
                | crate::experiment::runner::SweepError::Merge(_),
            ) => 2,
            CliError::Sweep(_) => 1,
            CliError::Report(crate::report::ReportError::Plot(_)) => 1,
            CliError::Report(_) => 2,
            CliError::Output(crate::report::OutputError::Io { .. }) => 1,
            CliError::Output(_) => 2,
            CliError::NotDeterministic(_) | CliError::Stdout(_) | CliError::Engine(_) => 1,
        }
    }
}

/// Runs the parsed command line.
pub fn main(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Bench(args) => bench::bench(args),
        Command::Validate(args) => validate::validate(args),
        Command::Plot(args) => plot::plot(args),
        Command::Sweep(args) => sweep::sweep(args),
        Command::Expand(args) => sweep::expand(args),
        Command::Merge(args) => sweep::merge(args),
        Command::Check(args) => check::check(args),
        Command::Schema => schema::schema(),
    }
}

/// The default output folder of a plan: `out/<name>-s<seed>`.
pub fn default_out_dir(plan: &crate::scenario::Plan) -> PathBuf {
    PathBuf::from("out").join(plan.run_dir_name())
}

/// The threads of a `-j N` option: `N` (at least 1), or all cores when not given.
fn jobs(given: Option<usize>) -> Result<usize, CliError> {
    match given {
        Some(0) => Err(CliError::Usage("-j: expected at least 1 worker".into())),
        Some(j) => Ok(j),
        None => Ok(std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)),
    }
}

/// The threads of a `-j N` option with a default: `N`, which must be at least 1.
fn threads(n: usize) -> Result<usize, CliError> {
    jobs(Some(n))
}
