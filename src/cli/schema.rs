//! `sim schema`: prints the JSON Schema of scenario files, for editors to complete and check them.

use super::CliError;
use std::io::Write;

pub(super) fn schema() -> Result<(), CliError> {
    let schema = schemars::schema_for!(crate::scenario::Scenario);
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &schema).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}
