//! The scenario file's types, with their defaults. Every field not marked required has a default
//! named here and in the README; unknown fields are errors.

use super::time_spec::TimeSpec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A scenario: everything one run needs.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name of the scenario; names the output folder `out/<name>-s<seed>/`. Letters, digits, `_`, `-`, `.`.
    pub name: String,
    /// Free text describing the scenario (not part of the scenario hash).
    #[serde(default)]
    pub description: String,
    /// Root seed of every random stream of the run. Default 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Length of one tick in milliseconds (used to convert durations like "10s"). Default 1000.
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
    /// How long the run lasts: ticks 0 .. duration-1 are simulated. Required.
    pub duration: TimeSpec,
    /// The nodes. Required, at least one.
    pub nodes: Vec<NodeSpec>,
    /// The groups (message scopes) and who shares them with whom. Default none.
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    /// The links between nodes. Default: a full mesh, latency 1 tick, no loss.
    #[serde(default)]
    pub links: LinksSpec,
    /// The sync protocol's settings, for every node.
    #[serde(default)]
    pub sync: SyncSpec,
    /// What the nodes' applications append.
    #[serde(default)]
    pub workload: WorkloadSpec,
    /// Extra outputs.
    #[serde(default)]
    pub outputs: OutputsSpec,
}

fn default_seed() -> u64 {
    1
}

fn default_tick_ms() -> u64 {
    1000
}

/// One node.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique name (letters, digits, `_`, `-`, `.`); names its sync-state files.
    pub name: String,
    /// When the node is online. Default `{"kind": "always"}`.
    #[serde(default)]
    pub availability: AvailabilitySpec,
}

/// When a node is online. (Variants without parameters are written as empty struct variants so
/// that unknown fields beside their `kind` are refused.)
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AvailabilitySpec {
    /// Always online.
    Always {},
    /// The seed PoC's model: the node always steps, but processes each incoming packet only with
    /// probability `p` (otherwise the packet is lost, counted as lost_offline).
    Reliability {
        /// Probability in [0, 1] that an incoming packet is processed.
        p: f64,
    },
    /// Online for `on` ticks, then offline for `off` ticks, repeating; online at tick t iff
    /// (t + phase) mod (on + off) < on. Offline nodes neither step nor receive.
    Periodic {
        /// Length of the online span (at least 1 tick).
        on: TimeSpec,
        /// Length of the offline span.
        off: TimeSpec,
        /// Shift of the cycle: where in the cycle tick 0 falls. Default 0.
        #[serde(default)]
        phase: TimeSpec,
    },
}

/// A group: a scope of messages, its members, and with whom each member shares it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Unique name (letters, digits, `_`, `-`, `.`); the 32-byte group id is SHA-256("GROUP_ID" || name).
    pub name: String,
    /// The member nodes (at least one).
    pub members: Vec<String>,
    /// Per member, the members it shares the group with. A member not listed shares it with
    /// every other member. Default: every member shares with every other member.
    #[serde(default)]
    pub sharing: BTreeMap<String, Vec<String>>,
}

/// The links between nodes.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LinksSpec {
    /// Which pairs of nodes are linked. Default `{"kind": "full_mesh"}`.
    #[serde(default)]
    pub topology: TopologySpec,
    /// Latency of every link unless the link says otherwise. Default `{"kind": "fixed", "delay": 1}`.
    #[serde(default)]
    pub latency: LatencySpec,
    /// Loss of every link unless the link says otherwise. Default `{"kind": "none"}`.
    #[serde(default)]
    pub loss: LossSpec,
    /// Bytes added to every packet's encoded size (transport headers). Default 0.
    #[serde(default)]
    pub overhead_bytes: u64,
    /// With topology `explicit`, the links; with `full_mesh`, per-link overrides of latency and
    /// loss. Each link is two-way; each direction draws from its own random streams.
    #[serde(default)]
    pub list: Vec<LinkSpec>,
}

/// Which pairs of nodes are linked.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TopologySpec {
    /// Every pair of nodes.
    FullMesh {},
    /// Exactly the pairs in `links.list`.
    Explicit {},
}

/// One two-way link.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// The two nodes.
    pub between: [String; 2],
    /// Latency of this link (both directions). Default: `links.latency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
    /// Loss of this link (both directions). Default: `links.loss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossSpec>,
}

/// A latency distribution; every latency is at least 1 tick.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LatencySpec {
    /// Always `delay`.
    Fixed {
        /// The latency (at least 1 tick).
        delay: TimeSpec,
    },
    /// Uniform over the whole ticks min..=max.
    Uniform {
        /// Smallest latency (at least 1 tick).
        min: TimeSpec,
        /// Largest latency (at least min).
        max: TimeSpec,
    },
}

impl Default for LatencySpec {
    fn default() -> Self {
        LatencySpec::Fixed {
            delay: TimeSpec::Ticks(1),
        }
    }
}

/// A loss model.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LossSpec {
    /// No loss.
    None {},
    /// Each packet lost independently with probability p.
    Bernoulli {
        /// Loss probability in [0, 1].
        p: f64,
    },
}

/// The sync protocol's settings.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyncSpec {
    /// Sync mode. Default "batch".
    #[serde(default)]
    pub mode: ModeSpec,
    /// How items are packed into packets. Default "record".
    #[serde(default)]
    pub packing: PackingSpec,
    /// Ticks between a node's steps; nodes step at multiples of epoch. Default 1.
    #[serde(default = "default_epoch")]
    pub epoch: TimeSpec,
    /// When an owed ACK leaves: "step" (at the next step, the spec) or "immediate" (on receipt,
    /// the seed PoC). Default "step".
    #[serde(default)]
    pub ack: AckSpec,
    /// Retransmission backoff. Default `{"kind": "fixed", "interval": 2}` (the seed's).
    #[serde(default)]
    pub backoff: BackoffSpec,
    /// Store-and-forward: a node passes a received message on to the other peers it shares the
    /// group with. Default true (the spec); the seed PoC has it off.
    #[serde(default = "default_true")]
    pub forwarding: bool,
}

fn default_epoch() -> TimeSpec {
    TimeSpec::Ticks(1)
}

fn default_true() -> bool {
    true
}

impl Default for SyncSpec {
    fn default() -> Self {
        Self {
            mode: ModeSpec::default(),
            packing: PackingSpec::default(),
            epoch: default_epoch(),
            ack: AckSpec::default(),
            backoff: BackoffSpec::default(),
            forwarding: true,
        }
    }
}

/// Sync mode.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ModeSpec {
    /// Send messages outright.
    #[default]
    Batch,
}

/// Packing of items into packets.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum PackingSpec {
    /// Every item in its own packet (the seed PoC).
    #[default]
    Record,
}

/// When an owed ACK leaves.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum AckSpec {
    /// At the node's next step.
    #[default]
    Step,
    /// On receipt of the message.
    Immediate,
}

/// A backoff policy: the next send time after the n-th send at tick now.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackoffSpec {
    /// now + interval.
    Fixed {
        /// Ticks between sends (at least 1).
        interval: TimeSpec,
    },
}

impl Default for BackoffSpec {
    fn default() -> Self {
        BackoffSpec::Fixed {
            interval: TimeSpec::Ticks(2),
        }
    }
}

/// What the nodes' applications do.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Explicit appends. Default none.
    #[serde(default)]
    pub appends: Vec<AppendSpec>,
}

/// One message appended by a node's application.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppendSpec {
    /// The appending node (a member of the group).
    pub node: String,
    /// When (before duration).
    pub tick: TimeSpec,
    /// The group.
    pub group: String,
    /// The message body (UTF-8 text).
    pub body: String,
}

/// Extra outputs.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutputsSpec {
    /// Ticks at whose end the sync-state tables are also written, as
    /// `sync_state/<node>.t<tick>.txt`/`.csv`. Default none (the tables at the end are always written).
    #[serde(default)]
    pub tables_at: Vec<TimeSpec>,
}

impl Default for AvailabilitySpec {
    fn default() -> Self {
        AvailabilitySpec::Always {}
    }
}

impl Default for TopologySpec {
    fn default() -> Self {
        TopologySpec::FullMesh {}
    }
}

impl Default for LossSpec {
    fn default() -> Self {
        LossSpec::None {}
    }
}
