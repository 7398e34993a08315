//! Scenario files: parsing, `--set` overrides, validation, and the resolved [`Plan`] a run
//! executes.
//!
//! Guarantees: a scenario that loads is fully checked (every name resolves, every probability is
//! in [0, 1], every range is ordered, every time fits the run); a scenario that does not load
//! yields exactly one [`InputError`] naming the file, the JSON path and what was expected. Field
//! order in the file never matters: the scenario hash is computed from the typed scenario.

mod overrides;
mod plan;
mod time_spec;
mod types;
mod validate;

pub use overrides::Override;
pub use plan::{
    BodySize, PeersFrom, Plan, PlanAppend, PlanChange, PlanDirection, PlanGenerator, PlanGroup,
    PlanLink, PlanNode, PlanPeerStore, PlanRpc, PlanRpcLoad,
};
pub use time_spec::{FloatTicks, TimeSpec};
pub use types::*;

use serde_json::Value;
use std::path::Path;

/// Why a scenario (or another input) was refused. Every variant prints as one line.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be read.
    #[error("{file}: cannot read the file: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not well-formed JSON.
    #[error("{file}:{line}:{column}: not valid JSON: {msg}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        msg: String,
    },
    /// A value is missing, of the wrong type, unknown, or out of range.
    #[error("{file}: at `{path}`: {msg}")]
    Invalid {
        file: String,
        path: String,
        msg: String,
    },
    /// A `--set` argument is malformed or does not fit the scenario.
    #[error("--set {arg}: {msg}")]
    Set { arg: String, msg: String },
    /// Another command-line argument does not fit the scenario.
    #[error("{arg}: {msg}")]
    Arg { arg: String, msg: String },
}

/// Reads a JSON file: a [`InputError::Read`] if it cannot be read, a [`InputError::Syntax`]
/// with line and column if it is not JSON.
pub fn read_json(path: &Path) -> Result<Value, InputError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
        file: file.clone(),
        source,
    })?;
    parse_json(&file, &text)
}

fn parse_json(file: &str, text: &str) -> Result<Value, InputError> {
    serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        let msg = match full.rfind(" at line ") {
            Some(i) => full[..i].to_string(),
            None => full,
        };
        InputError::Syntax {
            file: file.to_string(),
            line: e.line(),
            column: e.column(),
            msg,
        }
    })
}

/// Reads, overrides and validates the scenario at `path`.
pub fn load(path: &Path, sets: &[String], seed: Option<u64>) -> Result<Plan, InputError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
        file: file.clone(),
        source,
    })?;
    parse(&file, &text, sets, seed)
}

/// Parses, overrides and validates a scenario given as text; `file` names it in errors.
pub fn parse(
    file: &str,
    text: &str,
    sets: &[String],
    seed: Option<u64>,
) -> Result<Plan, InputError> {
    let mut doc: Value = parse_json(file, text)?;
    if !doc.is_object() {
        return Err(InputError::Invalid {
            file: file.to_string(),
            path: ".".into(),
            msg: "expected a JSON object (a scenario)".into(),
        });
    }
    let typed = |doc: &Value, from_set: &dyn Fn(&str) -> String| {
        serde_path_to_error::deserialize::<_, Scenario>(doc).map_err(|e| {
            let path = e.path().to_string();
            let note = from_set(&path);
            InputError::Invalid {
                file: file.to_string(),
                msg: format!("{}{note}", e.into_inner()),
                path,
            }
        })
    };
    if !sets.is_empty() {
        // Fill in every default first, so that an override can reach into a defaulted field
        // (`--set sync.backoff.interval=4` on a scenario that never mentions backoff).
        let with_defaults = typed(&doc, &|_| String::new())?;
        doc = serde_json::to_value(&with_defaults).expect("a scenario always serializes");
    }
    let mut set_paths = Vec::new();
    for arg in sets {
        let o = Override::parse(arg)?;
        set_paths.push((o.apply(&mut doc)?, o.arg));
    }
    if let Some(seed) = seed {
        doc["seed"] = Value::from(seed);
        set_paths.push(("seed".to_string(), format!("--seed {seed}")));
    }
    let from_set = |path: &str| {
        set_paths
            .iter()
            .find(|(p, _)| {
                path == p
                    || path.starts_with(&format!("{p}."))
                    || path.starts_with(&format!("{p}["))
            })
            .map(|(_, arg)| format!(" (the value comes from --set {arg})"))
            .unwrap_or_default()
    };
    let scenario = typed(&doc, &from_set)?;
    validate::validate(file, scenario).map_err(|e| match e {
        InputError::Invalid { file, path, msg } => {
            let note = from_set(&path);
            InputError::Invalid {
                file,
                msg: format!("{msg}{note}"),
                path,
            }
        }
        other => other,
    })
}

/// Starts the peer stores of `plan` from an earlier run's peer database at `db` (`sim run
/// --peers-from`): each node the database knows starts with its stored uuid and peers (all
/// `initial`); nodes it does not know start empty. The database must come from a scenario with
/// the same nodes: a node name or peer index it does not have is refused.
pub fn start_peers_from(plan: &mut Plan, db: &Path) -> Result<(), InputError> {
    use sha2::{Digest, Sha256};
    let file = db.display().to_string();
    let invalid = |path: &str, msg: String| InputError::Invalid {
        file: file.clone(),
        path: path.to_string(),
        msg,
    };
    let n = plan.nodes.len();
    let Some(ps) = plan.peer_store.as_mut() else {
        return Err(InputError::Arg {
            arg: format!("--peers-from {file}"),
            msg: "the scenario has no `peer_store` section, so there are no stores to start".into(),
        });
    };
    let stored =
        crate::protocol::peer_store::persist::read_all(db).map_err(|msg| invalid(".", msg))?;
    let bytes = std::fs::read(db).map_err(|source| InputError::Read {
        file: file.clone(),
        source,
    })?;
    let mut stores = vec![None; n];
    for (name, node) in stored {
        let Some(i) = plan.nodes.iter().position(|p| p.name == name) else {
            return Err(invalid(
                &format!("meta[node = {name:?}]"),
                format!(
                    "unknown node {name:?}: the scenario has no such node (the database must come from a run of a scenario with the same nodes)"
                ),
            ));
        };
        if let Some(p) = node.peers.iter().find(|p| p.peer_id as usize >= n) {
            return Err(invalid(
                &format!("peers[node = {name:?}, peer_id = {}]", p.peer_id),
                format!("expected a peer_id below {n} (the scenario's node count)"),
            ));
        }
        stores[i] = Some(node);
    }
    ps.start_from = Some(plan::PeersFrom {
        file,
        sha256: crate::report::hex(&Sha256::digest(&bytes)),
        stores,
    });
    Ok(())
}

#[cfg(test)]
mod tests;
