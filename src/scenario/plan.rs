//! The resolved plan of a run: a validated scenario with names turned into dense ids, times into
//! ticks, and probabilities into samplers. The engine reads only this.

use super::Scenario;
use crate::engine::time::Tick;
use crate::ids::{GroupId, NodeId};
use crate::net::{Availability, Latency, Loss};
use crate::protocol::sync::SyncConfig;

/// A node of the plan.
#[derive(Clone, Debug)]
pub struct PlanNode {
    /// Its name.
    pub name: String,
    /// When it is online.
    pub availability: Availability,
}

/// A group of the plan.
#[derive(Clone, Debug)]
pub struct PlanGroup {
    /// Its name.
    pub name: String,
    /// Its 32-byte id.
    pub id: [u8; 32],
    /// Its members, in scenario order.
    pub members: Vec<NodeId>,
    /// For each member (same order as `members`), the members it shares the group with.
    pub sharing: Vec<Vec<NodeId>>,
}

/// A two-way link (`a < b`); each direction gets its own random streams.
#[derive(Clone, Debug)]
pub struct PlanLink {
    /// One end (the smaller id).
    pub a: NodeId,
    /// The other end.
    pub b: NodeId,
    /// Latency distribution of both directions.
    pub latency: Latency,
    /// Loss model of both directions.
    pub loss: Loss,
}

/// One explicit append.
#[derive(Clone, Debug)]
pub struct PlanAppend {
    /// The appending node.
    pub node: NodeId,
    /// When.
    pub tick: Tick,
    /// The group.
    pub group: GroupId,
    /// The body.
    pub body: Vec<u8>,
}

/// A validated run plan.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The effective scenario (after `--set` and `--seed`), as parsed.
    pub scenario: Scenario,
    /// SHA-256 (hex) of the effective scenario in canonical form, with `seed` and `description`
    /// blanked: runs of one scenario with different seeds share it.
    pub hash: String,
    /// Root seed.
    pub seed: u64,
    /// Milliseconds per tick.
    pub tick_ms: u64,
    /// Ticks `0 .. duration` are simulated.
    pub duration: Tick,
    /// Nodes, in scenario order (index = [`NodeId`]).
    pub nodes: Vec<PlanNode>,
    /// Groups, in scenario order (index = [`GroupId`]).
    pub groups: Vec<PlanGroup>,
    /// Links, sorted by `(a, b)`.
    pub links: Vec<PlanLink>,
    /// Bytes added to each packet's encoded size.
    pub overhead_bytes: u64,
    /// Sync configuration of every node.
    pub sync: SyncConfig,
    /// Explicit appends, in file order.
    pub appends: Vec<PlanAppend>,
    /// Ticks at whose end tables are written (sorted, unique, all `< duration`).
    pub tables_at: Vec<Tick>,
}

impl Plan {
    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.scenario.name
    }

    /// The default output folder name, `<name>-s<seed>`.
    pub fn run_dir_name(&self) -> String {
        format!("{}-s{}", self.scenario.name, self.seed)
    }
}
