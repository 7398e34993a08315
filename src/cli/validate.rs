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
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    writeln!(
        std::io::stdout(),
        "{}: ok: {}, {}, {}, {}; {} ticks of {} ms; seed {}",
        args.scenario.scenario.display(),
        plural(plan.nodes.len(), "node"),
        plural(plan.groups.len(), "group"),
        plural(plan.links.len(), "link"),
        plural(plan.appends.len(), "append"),
        plan.duration,
        plan.tick_ms,
        plan.seed
    )?;
    Ok(())
}
