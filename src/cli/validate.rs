//! `sim validate SCENARIO`: checks a scenario (with any --set/--seed) without running it.

use super::{CliError, ScenarioArgs};
use std::io::Write;

#[derive(Debug, clap::Args)]
pub(super) struct ValidateArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
}

pub(super) fn validate(args: ValidateArgs) -> Result<(), CliError> {
    let plan = args.scenario.load()?;
    let plural = |n: u64, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    writeln!(
        std::io::stdout(),
        "{}: ok: {}, {}, {}, {}; {} ticks of {} ms; seed {}",
        args.scenario.scenario.display(),
        plural(plan.nodes.len() as u64, "node"),
        plural(plan.groups.len() as u64, "group"),
        plural(plan.link_count(), "link"),
        plural(plan.appends.len() as u64, "append"),
        plan.duration,
        plan.tick_ms,
        plan.seed
    )?;
    Ok(())
}
