//! syncsim: a deterministic, tick-based discrete-event network simulator for peer-to-peer
//! data-sync protocols.
//!
//! A scenario (JSON) describes nodes, links, groups and a workload; [`engine::run`] executes it;
//! [`metrics::summarize`] and [`report::render_data`] turn the result into `summary.json`, the
//! sync-state tables and `deliveries.csv`. The same scenario and seed always give the same bytes.
//!
//! ```
//! let plan = syncsim::scenario::parse(
//!     "inline.json",
//!     r#"{
//!         "name": "two", "duration": 20,
//!         "nodes": [{"name": "A"}, {"name": "B"}],
//!         "groups": [{"name": "chat", "members": ["A", "B"]}],
//!         "workload": {"appends": [{"node": "A", "tick": 0, "group": "chat", "body": "hi"}]}
//!     }"#,
//!     &[],
//!     None,
//! )?;
//! let run = syncsim::execute(&plan);
//! assert_eq!(run.summary.delivery.delivered, 1);
//! assert!(run.files.contains_key("sync_state/A.txt"));
//! # Ok::<(), syncsim::scenario::InputError>(())
//! ```

#![forbid(unsafe_code)]

pub mod bench;
pub mod cli;
pub mod engine;
pub mod experiment;
pub mod ids;
pub mod metrics;
pub mod net;
pub mod protocol;
pub mod report;
pub mod scenario;
pub mod wire;

/// A finished run: the engine's output, its summary, and the rendered output files.
pub struct Executed {
    /// What the engine produced.
    pub output: engine::RunOutput,
    /// The metrics.
    pub summary: metrics::Summary,
    /// The files of the run folder.
    pub files: report::RunFiles,
}

/// Runs `plan` and renders all its outputs in memory: data files, tables, plots, report.html.
///
/// # Panics
/// If the run's peer database cannot be written in the system's temporary folder (only runs
/// with peer stores have one); [`try_execute`] returns that error instead.
pub fn execute(plan: &scenario::Plan) -> Executed {
    try_execute(plan, &engine::RunOptions::default())
        .unwrap_or_else(|e| panic!("the run could not finish: {e}"))
}

/// Runs `plan` and renders all its outputs in memory, or says why the run could not finish.
pub fn try_execute(
    plan: &scenario::Plan,
    options: &engine::RunOptions,
) -> Result<Executed, engine::EngineError> {
    let mut run = try_simulate(plan, options)?;
    report::add_pictures(&plan.run_dir_name(), &mut run.files)
        .expect("a run's own files always read back and draw");
    Ok(run)
}

/// Runs `plan` and renders its data files and tables in memory, without plots or report.html
/// (for many runs, where only the numbers matter).
///
/// # Panics
/// As [`execute`]; [`try_simulate`] returns the error instead.
pub fn simulate(plan: &scenario::Plan) -> Executed {
    try_simulate(plan, &engine::RunOptions::default())
        .unwrap_or_else(|e| panic!("the run could not finish: {e}"))
}

/// Runs `plan` and renders its data files and tables, or says why the run could not finish.
pub fn try_simulate(
    plan: &scenario::Plan,
    options: &engine::RunOptions,
) -> Result<Executed, engine::EngineError> {
    let output = engine::run_with(plan, options, &mut |_| {})?;
    Ok(finish(plan, output))
}

/// The summary and data files of a finished run.
pub fn finish(plan: &scenario::Plan, output: engine::RunOutput) -> Executed {
    let summary = metrics::summarize(plan, &output);
    let files = report::render_data(plan, &output, &summary);
    Executed {
        output,
        summary,
        files,
    }
}
