//! The resolved plan of a run: a validated scenario with names turned into dense ids, templates
//! and node counts expanded, topologies generated, times turned into ticks, and probabilities
//! into samplers. The engine reads only this. A full mesh is not expanded pair by pair
//! ([`Plan::mesh`]): a plan's size follows its nodes and listed links, never n².

use super::Scenario;
use crate::engine::time::Tick;
use crate::ids::{GroupId, NodeId};
use crate::net::{Availability, Latency, Loss};
use crate::protocol::sync::SyncConfig;
use std::collections::BTreeMap;

/// A node of the plan.
#[derive(Clone, Debug)]
pub struct PlanNode {
    /// Its name.
    pub name: String,
    /// The template it was made from, if any.
    pub template: Option<String>,
    /// When it is online.
    pub availability: Availability,
    /// Its sync configuration.
    pub sync: SyncConfig,
}

/// A join or leave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanChange {
    /// When (applied before anything else in that tick).
    pub tick: Tick,
    /// Who.
    pub node: NodeId,
    /// Join (true) or leave (false).
    pub join: bool,
}

/// A group of the plan.
#[derive(Clone, Debug)]
pub struct PlanGroup {
    /// Its name.
    pub name: String,
    /// Its 32-byte id.
    pub id: [u8; 32],
    /// Its members at tick 0, sorted.
    pub members: Vec<NodeId>,
    /// Explicit sharing lists (member → nodes, sorted); members not listed share with all other
    /// members. Always intersected with the current members.
    pub sharing: BTreeMap<NodeId, Vec<NodeId>>,
    /// Joins and leaves, sorted by tick (stable).
    pub changes: Vec<PlanChange>,
    /// Its members at the end of the run, sorted.
    pub final_members: Vec<NodeId>,
    /// Share only with discovered (verified) peers.
    pub discovered: bool,
}

impl PlanGroup {
    /// The peers `member` shares the group with when the members are `members` (sorted).
    pub fn sharing_of(&self, member: NodeId, members: &[NodeId]) -> Vec<NodeId> {
        match self.sharing.get(&member) {
            Some(list) => list
                .iter()
                .copied()
                .filter(|p| members.binary_search(p).is_ok())
                .collect(),
            None => members.iter().copied().filter(|&p| p != member).collect(),
        }
    }

    /// Whether `member` shares the group with `peer` when both are members: [`sharing_of`]'s
    /// answer for one peer, without listing the others.
    ///
    /// [`sharing_of`]: PlanGroup::sharing_of
    pub fn shares_with(&self, member: NodeId, peer: NodeId) -> bool {
        peer != member
            && self
                .sharing
                .get(&member)
                .is_none_or(|list| list.binary_search(&peer).is_ok())
    }
}

/// Latency and loss of one link direction.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanDirection {
    /// Latency distribution.
    pub latency: Latency,
    /// Loss model.
    pub loss: Loss,
}

/// A two-way link (`a < b`); each direction has its own settings and random streams.
#[derive(Clone, Debug)]
pub struct PlanLink {
    /// One end (the smaller id).
    pub a: NodeId,
    /// The other end.
    pub b: NodeId,
    /// The direction a→b.
    pub ab: PlanDirection,
    /// The direction b→a.
    pub ba: PlanDirection,
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
    /// The message id (`wire::message_id` of the group, the append's time and the body),
    /// computed once at validation.
    pub id: [u8; 32],
    /// Ephemeral.
    pub ephemeral: bool,
    /// Indices of earlier appends that are its parents.
    pub parents: Vec<usize>,
}

/// Body sizes of generated messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodySize {
    /// Always this many bytes.
    Fixed(u32),
    /// Uniform over min..=max bytes.
    Uniform(u32, u32),
}

/// A Poisson traffic generator.
#[derive(Clone, Debug)]
pub struct PlanGenerator {
    /// Its index in the scenario's generator list: it names the generator's random streams
    /// (`workload/<index>/<node>`), so a generator keeps its streams in a component's plan.
    pub index: usize,
    /// Appending nodes, sorted.
    pub nodes: Vec<NodeId>,
    /// The group.
    pub group: GroupId,
    /// Mean gap between two appends of one node, in ticks.
    pub mean_interval: f64,
    /// Body sizes.
    pub body: BodySize,
    /// Window start.
    pub from: Tick,
    /// Window end (exclusive).
    pub to: Tick,
    /// Ephemeral messages.
    pub ephemeral: bool,
    /// Each message's parent is the node's previous one of this generator.
    pub chain: bool,
}

/// A Poisson request load.
#[derive(Clone, Debug)]
pub struct PlanRpcLoad {
    /// Requesting nodes, sorted.
    pub nodes: Vec<NodeId>,
    /// Mean gap between two requests of one node, in ticks.
    pub mean_interval: f64,
    /// The target, or `None` for a random linked peer per request.
    pub target: Option<NodeId>,
    /// Window start.
    pub from: Tick,
    /// Window end (exclusive).
    pub to: Tick,
}

/// Request/response flows of a run.
#[derive(Clone, Debug, Default)]
pub struct PlanRpc {
    /// Whether any flow runs (then every node gets a request cache and answers requests).
    pub enabled: bool,
    /// Per node: its flow.
    pub flows: Vec<crate::protocol::rpc::Flow>,
    /// Per node: its cache timeout in ticks.
    pub timeouts: Vec<Tick>,
    /// Per node: its service time in ticks.
    pub service_times: Vec<Tick>,
    /// Drop responses without a cache.
    pub replay_protection: bool,
    /// count_to's start tick.
    pub count_start: Tick,
    /// The loads.
    pub loads: Vec<PlanRpcLoad>,
}

/// A validated run plan.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The effective scenario (after `--set` and `--seed`), as parsed (shared: the plans of a
    /// run's components refer to the same one).
    pub scenario: std::sync::Arc<Scenario>,
    /// SHA-256 (hex) of the effective scenario in canonical form, with `seed` and `description`
    /// blanked: runs of one scenario with different seeds share it.
    pub hash: String,
    /// Root seed.
    pub seed: u64,
    /// Milliseconds per tick.
    pub tick_ms: u64,
    /// Ticks `0 .. duration` are simulated.
    pub duration: Tick,
    /// Nodes, in scenario order with counts expanded (index = [`NodeId`]).
    pub nodes: Vec<PlanNode>,
    /// Groups, in scenario order (index = [`GroupId`]).
    pub groups: Vec<PlanGroup>,
    /// Links, sorted by `(a, b)`: every link of the run, or with [`Plan::mesh`] only the
    /// pairs `links.list` gives settings of their own.
    pub links: Vec<PlanLink>,
    /// With a full mesh (`links.topology` `full_mesh`): the settings of every direction of every
    /// pair not in `links`. Every two distinct nodes are then linked, but the plan holds no entry
    /// for the pairs with the default settings, so its size does not grow with the square of
    /// the node count (and the engine creates a direction at its first packet). `None`: exactly
    /// the pairs in `links` are linked.
    pub mesh: Option<PlanDirection>,
    /// Bytes added to each packet's encoded size.
    pub overhead_bytes: u64,
    /// Explicit appends, in file order.
    pub appends: Vec<PlanAppend>,
    /// Traffic generators, in file order.
    pub generators: Vec<PlanGenerator>,
    /// Request/response flows.
    pub rpc: PlanRpc,
    /// Peer stores (when configured).
    pub peer_store: Option<PlanPeerStore>,
    /// Per node, its discovery settings (when discovery is configured).
    pub discovery: Option<Vec<crate::protocol::discovery::DiscoveryConfig>>,
    /// Ticks at whose end tables are written (sorted, unique, all `< duration`; empty when
    /// `tables` is false).
    pub tables_at: Vec<Tick>,
    /// Whether the run folder gets the sync-state tables (`outputs.tables`).
    pub tables: bool,
}

/// Peer stores of a run.
#[derive(Clone, Debug)]
pub struct PlanPeerStore {
    /// The stores' timings.
    pub config: crate::protocol::peer_store::PeerStoreConfig,
    /// Ticks between syncs to the peer database (at least 1).
    pub sync_interval: Tick,
    /// Stores to start from instead of empty ones (`sim run --peers-from`), by node index.
    pub start_from: Option<PeersFrom>,
}

/// Stores read from an earlier run's peer database.
#[derive(Clone, Debug)]
pub struct PeersFrom {
    /// The file, as given.
    pub file: String,
    /// SHA-256 of its bytes (hex), recorded in summary.json.
    pub sha256: String,
    /// Per node index, its stored store (`None`: the database does not know the node).
    pub stores: Vec<Option<crate::protocol::peer_store::persist::StoredNode>>,
}

impl Plan {
    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.scenario.name
    }

    /// How many two-way links the run has (a full mesh of n nodes: n(n-1)/2).
    pub fn link_count(&self) -> u64 {
        match self.mesh {
            Some(_) => {
                let n = self.nodes.len() as u64;
                n * n.saturating_sub(1) / 2
            }
            None => self.links.len() as u64,
        }
    }

    /// The listed link between `a` and `b` (either order), if any.
    fn listed(&self, a: NodeId, b: NodeId) -> Option<&PlanLink> {
        let key = (a.min(b), a.max(b));
        self.links
            .binary_search_by_key(&key, |l| (l.a, l.b))
            .ok()
            .map(|i| &self.links[i])
    }

    /// Whether `a` and `b` are linked.
    pub fn linked(&self, a: NodeId, b: NodeId) -> bool {
        self.direction(a, b).is_some()
    }

    /// The settings of the link direction from `from` to `to`, if the two are linked.
    pub fn direction(&self, from: NodeId, to: NodeId) -> Option<&PlanDirection> {
        if let Some(l) = self.listed(from, to) {
            return Some(if from == l.a { &l.ab } else { &l.ba });
        }
        let n = self.nodes.len();
        match &self.mesh {
            Some(d) if from != to && from.idx() < n && to.idx() < n => Some(d),
            _ => None,
        }
    }

    /// The default output folder name, `<name>-s<seed>`.
    pub fn run_dir_name(&self) -> String {
        format!("{}-s{}", self.scenario.name, self.seed)
    }
}
