//! The scenario file's types, with their defaults. Every field not marked required has a default
//! named here and in the README; unknown fields are errors. Variants without parameters are
//! written as empty struct variants so that unknown fields beside their `kind` are refused.

use super::time_spec::{FloatTicks, TimeSpec};
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
    /// Node templates by name: settings shared by the nodes that name them. Default none.
    #[serde(default)]
    pub templates: BTreeMap<String, TemplateSpec>,
    /// The nodes. Required, at least one.
    pub nodes: Vec<NodeSpec>,
    /// The groups (message scopes), their members and who shares them with whom. Default none.
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    /// The links between nodes. Default: a full mesh, latency 1 tick, no loss.
    #[serde(default)]
    pub links: LinksSpec,
    /// The sync protocol's settings for every node (templates and nodes may override them).
    #[serde(default)]
    pub sync: SyncSpec,
    /// What the nodes' applications append, and their request/response flows.
    #[serde(default)]
    pub workload: WorkloadSpec,
    /// Settings of the request caches that hold request/response flows.
    #[serde(default)]
    pub request_cache: RequestCacheSpec,
    /// A p2p0mq-style peer store on every node (states, hellos, heartbeats). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_store: Option<PeerStoreSpec>,
    /// Peer discovery (IPv8 DiscoveryStrategy), configured as IPv8 configures an overlay.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoverySpec>,
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

/// Settings shared by the nodes of a template.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    /// Availability of the template's nodes. Default: the node's own, else always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<AvailabilitySpec>,
    /// Sync settings overriding the scenario's `sync` for the template's nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncOverride>,
}

/// One node, or `count` nodes made from a template.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// The node's name (letters, digits, `_`, `-`, `.`); with `count`, the prefix of the names
    /// `<name>-0 .. <name>-<count-1>`. Required unless `template` is given (then the template's
    /// name is the prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A template from `templates` whose settings the node takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// How many nodes this entry makes (named `<prefix>-<i>`). Default: one node named `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// When the node is online. Default: the template's, else `{"kind": "always"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<AvailabilitySpec>,
    /// Sync settings overriding the template's and the scenario's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncOverride>,
}

/// When a node is online.
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
        /// Shift of the cycle. Default 0.
        #[serde(default)]
        phase: TimeSpec,
    },
    /// Online at each tick independently with probability p.
    Bernoulli {
        /// Probability in [0, 1] of being online at a tick.
        p: f64,
    },
    /// Two-state Markov chain: online and offline spans of geometric lengths with these means
    /// (each at least 1 tick); starts in its stationary distribution.
    Markov {
        /// Mean length of an online span.
        mean_on: FloatTicks,
        /// Mean length of an offline span.
        mean_off: FloatTicks,
    },
    /// Online inside the listed [from, to) spans (sorted, not overlapping), offline elsewhere.
    Intervals {
        /// The online spans.
        spans: Vec<[TimeSpec; 2]>,
    },
    /// Online, except that the node crashes at `at` and restarts `restart_after` later. A crash
    /// loses the node's memory (its peer store and discovery state; its sync store is durable,
    /// as MVDS persists it); on restart the peer store reloads what it last synced to the run's
    /// peer database.
    Crash {
        /// When the node crashes.
        at: TimeSpec,
        /// How long it stays down (at least 1 tick).
        restart_after: TimeSpec,
    },
}

impl Default for AvailabilitySpec {
    fn default() -> Self {
        AvailabilitySpec::Always {}
    }
}

/// A change of a group's membership.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupChange {
    /// When (before duration).
    pub tick: TimeSpec,
    /// The node joining or leaving.
    pub node: String,
    /// "join" or "leave".
    pub action: ChangeAction,
}

/// Join or leave.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// Become a member: sharing with the other members starts, and they start syncing the
    /// group's messages with the node.
    Join,
    /// Stop being a member: every record for and of the node in the group is dropped.
    Leave,
}

/// A group: a scope of messages, its members, and with whom each member shares it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Unique name (letters, digits, `_`, `-`, `.`); the 32-byte group id is SHA-256("GROUP_ID" || name).
    pub name: String,
    /// The members at tick 0: node names, `"@<template>"` for every node of a template,
    /// `"<prefix>*"` for every node whose name starts with the prefix, `"*"` for all nodes.
    pub members: Vec<String>,
    /// Per member, the nodes it shares the group with (selectors as in `members`), always
    /// restricted to the current members. A member not listed shares with every other member.
    #[serde(default)]
    pub sharing: BTreeMap<String, Vec<String>>,
    /// Joins and leaves during the run. Default none.
    #[serde(default)]
    pub changes: Vec<GroupChange>,
    /// "members" (share with the sharing list) or "discovered" (share only with the peers of the
    /// sharing list this node currently has verified through discovery). Default "members".
    #[serde(default)]
    pub policy: SharingPolicySpec,
}

/// Whom a member syncs a group with.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SharingPolicySpec {
    /// Its sharing list (all other members by default).
    #[default]
    Members,
    /// Its sharing list, restricted to the peers it has verified through discovery right now
    /// (with a `discovery` section), or else to the peers its peer store has `connected` or
    /// `routed` right now.
    Discovered,
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
    /// With topology `explicit`, the links; otherwise per-link overrides of latency and loss
    /// (a listed pair the topology lacks is added). Each link is two-way; each direction draws
    /// from its own random streams.
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
    /// One node linked to every other.
    Star {
        /// The center node.
        center: String,
    },
    /// A uniformly random simple graph where every node has k links (n * k even, k < n), from
    /// the stream `topology`.
    RandomRegular {
        /// Links per node.
        k: u32,
    },
    /// Every pair linked independently with probability p, from the stream `topology`.
    ErdosRenyi {
        /// Probability in [0, 1] of each link.
        p: f64,
    },
}

impl Default for TopologySpec {
    fn default() -> Self {
        TopologySpec::FullMesh {}
    }
}

/// One two-way link.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// The two nodes [a, b].
    pub between: [String; 2],
    /// Latency a→b (and b→a unless `reverse` says otherwise). Default: `links.latency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
    /// Loss a→b (and b→a unless `reverse` says otherwise). Default: `links.loss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossSpec>,
    /// Settings of the b→a direction, for asymmetric links. Default: the same as a→b.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse: Option<DirectionSpec>,
}

/// Settings of one link direction.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DirectionSpec {
    /// Latency of this direction. Default: the link's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
    /// Loss of this direction. Default: the link's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossSpec>,
}

/// A latency distribution; every latency is a whole number of ticks, at least 1.
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
    /// Normal, rounded to the nearest tick and truncated at 1 tick (lower draws are redrawn).
    Normal {
        /// Mean (> 0).
        mean: FloatTicks,
        /// Standard deviation (>= 0).
        sd: FloatTicks,
    },
    /// Exponential, rounded to the nearest tick, at least 1.
    Exponential {
        /// Mean (> 0).
        mean: FloatTicks,
    },
    /// Log-normal: median * exp(sigma * Z), rounded to the nearest tick, at least 1.
    Lognormal {
        /// Median (> 0).
        median: FloatTicks,
        /// Shape (>= 0), the standard deviation of the logarithm.
        sigma: f64,
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
    /// Gilbert–Elliott bursty loss: a good and a bad state, stepped once per packet.
    GilbertElliott {
        /// Probability of moving from good to bad before a packet.
        p_good_to_bad: f64,
        /// Probability of moving from bad to good before a packet (mean burst 1/p packets).
        p_bad_to_good: f64,
        /// Loss probability in the good state. Default 0.
        #[serde(default)]
        loss_good: f64,
        /// Loss probability in the bad state. Default 1.
        #[serde(default = "one")]
        loss_bad: f64,
    },
}

fn one() -> f64 {
    1.0
}

impl Default for LossSpec {
    fn default() -> Self {
        LossSpec::None {}
    }
}

/// The sync protocol's settings.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyncSpec {
    /// "batch" (messages sent outright) or "interactive" (ids offered, messages sent on
    /// request). Default "batch".
    #[serde(default)]
    pub mode: ModeSpec,
    /// "record" (every item its own packet, the seed) or "payload" (one 2/MVDS Payload per peer
    /// per step, the spec). Default "record".
    #[serde(default)]
    pub packing: PackingSpec,
    /// Ticks between a node's steps; nodes step at multiples of epoch. Default 1.
    #[serde(default = "default_epoch")]
    pub epoch: TimeSpec,
    /// When an owed ACK leaves: "step" (at the next step, the spec) or "immediate" (on receipt,
    /// the seed PoC). Default "step".
    #[serde(default)]
    pub ack: AckSpec,
    /// Retransmission backoff of messages, offers and requests. Default `{"kind": "fixed", "interval": 2}` (the seed's).
    #[serde(default)]
    pub backoff: BackoffSpec,
    /// Store-and-forward: a node passes a received message on to the other peers it shares the
    /// group with. Default true (the spec); the seed PoC has it off.
    #[serde(default = "default_true")]
    pub forwarding: bool,
    /// Capacity of each peer's list of offered ids not yet acked or requested; when full the
    /// oldest is dropped. Default 1024.
    #[serde(default = "default_offered_cap")]
    pub offered_cap: u32,
    /// Retransmit a request on its backoff until the message arrives (the Go implementation);
    /// false: request once per offer received (BSP). Default true.
    #[serde(default = "default_true")]
    pub request_retransmit: bool,
    /// "eventual" (deliver at once) or "consistent" (deliver once all parents are delivered,
    /// requesting missing parents). Default "eventual".
    #[serde(default)]
    pub delivery: DeliverySpec,
    /// Pull a peer's due times back to now when it is heard from after `contact_silence`.
    /// Default false.
    #[serde(default)]
    pub reset_on_contact: bool,
    /// How long a peer must have been silent for `reset_on_contact`. Default 10 ticks.
    #[serde(default = "default_contact_silence")]
    pub contact_silence: TimeSpec,
}

fn default_epoch() -> TimeSpec {
    TimeSpec::Ticks(1)
}

fn default_true() -> bool {
    true
}

fn default_offered_cap() -> u32 {
    1024
}

fn default_contact_silence() -> TimeSpec {
    TimeSpec::Ticks(10)
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
            offered_cap: default_offered_cap(),
            request_retransmit: true,
            delivery: DeliverySpec::default(),
            reset_on_contact: false,
            contact_silence: default_contact_silence(),
        }
    }
}

/// Per-node (or per-template) overrides of `sync`: every field optional, same meaning.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct SyncOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ModeSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packing: Option<PackingSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<TimeSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<AckSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<BackoffSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarding: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_cap: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_retransmit: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_on_contact: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_silence: Option<TimeSpec>,
}

impl SyncSpec {
    /// These settings with `o`'s fields, where given, replacing them.
    pub fn with(&self, o: &SyncOverride) -> SyncSpec {
        SyncSpec {
            mode: o.mode.unwrap_or(self.mode),
            packing: o.packing.unwrap_or(self.packing),
            epoch: o.epoch.unwrap_or(self.epoch),
            ack: o.ack.unwrap_or(self.ack),
            backoff: o.backoff.clone().unwrap_or_else(|| self.backoff.clone()),
            forwarding: o.forwarding.unwrap_or(self.forwarding),
            offered_cap: o.offered_cap.unwrap_or(self.offered_cap),
            request_retransmit: o.request_retransmit.unwrap_or(self.request_retransmit),
            delivery: o.delivery.unwrap_or(self.delivery),
            reset_on_contact: o.reset_on_contact.unwrap_or(self.reset_on_contact),
            contact_silence: o.contact_silence.unwrap_or(self.contact_silence),
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
    /// Offer ids; send messages on request.
    Interactive,
}

/// Packing of items into packets.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum PackingSpec {
    /// Every item in its own packet (the seed PoC).
    #[default]
    Record,
    /// One Payload per peer per step (the spec).
    Payload,
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

/// When a stored message is delivered.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum DeliverySpec {
    /// At once.
    #[default]
    Eventual,
    /// Once all its parents are delivered.
    Consistent,
}

/// A backoff policy: the next send time after the n-th send at tick now.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackoffSpec {
    /// now + interval (the seed PoC).
    Fixed {
        /// Ticks between sends (at least 1).
        interval: TimeSpec,
    },
    /// now + step * n (Go mvds).
    Linear {
        /// Growth per send (at least 1 tick).
        step: TimeSpec,
    },
    /// now + min(max, ceil(base * factor^(n-1))) + uniform[0, jitter) (status-go, Briar).
    Exponential {
        /// First interval (at least 1 tick).
        base: TimeSpec,
        /// Growth factor per send (>= 1). Default 2.
        #[serde(default = "two")]
        factor: f64,
        /// Largest interval. Default: no cap.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<TimeSpec>,
        /// Random extra delay below this. Default 0 (none).
        #[serde(default)]
        jitter: TimeSpec,
    },
    /// send_time + now + 2n: the PoC's final rule and Go mvds before its fix; retransmission all
    /// but stops. Kept to show why.
    Accumulating {},
}

fn two() -> f64 {
    2.0
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
    /// Generated traffic. Default none.
    #[serde(default)]
    pub generators: Vec<GeneratorSpec>,
    /// The seed's count-to-ten example between two peers. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_to: Option<CountToSpec>,
    /// Request/response load. Default none.
    #[serde(default)]
    pub rpc: Vec<RpcLoadSpec>,
}

/// Peer discovery of every node (bootstrap nodes excepted: they only answer).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiscoverySpec {
    /// Time between two rounds of the strategy loop. Default "500ms" (IPv8's).
    #[serde(default = "default_walk_interval")]
    pub walk_interval: TimeSpec,
    /// Verified peers beyond which a node stops answering strangers. Default 30.
    #[serde(default = "default_max_peers")]
    pub max_peers: u32,
    /// The strategies, in registration order: `{strategy, peers, init}` as in IPv8's configuration.
    pub walkers: Vec<WalkerSpec>,
    /// Bootstrap (tracker) nodes (selectors): they answer introduction requests for anyone and
    /// keep at most 100 peers. Default none.
    #[serde(default)]
    pub bootstrappers: Vec<String>,
}

fn default_walk_interval() -> TimeSpec {
    TimeSpec::Millis(500)
}

fn default_max_peers() -> u32 {
    30
}

/// A discovery strategy as IPv8 configures it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WalkerSpec {
    /// "RandomWalk", "EdgeWalk" or "RandomChurn".
    pub strategy: String,
    /// target_peers: the strategy is called while the node has fewer verified peers; -1: always.
    pub peers: i64,
    /// The strategy's parameters (times as ticks or durations); unnamed ones keep IPv8's defaults.
    #[serde(default)]
    pub init: serde_json::Map<String, serde_json::Value>,
}

/// Timings of the peer stores (p2p0mq's).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PeerStoreSpec {
    /// A hello without reply makes the peer no_connection after this. Default "40s".
    #[serde(default = "s40")]
    pub hello_deadline: TimeSpec,
    /// no_connection peers are tried again (initial) after this. Default "120s".
    #[serde(default = "s120")]
    pub retry_after: TimeSpec,
    /// First heartbeat interval. Default "4s".
    #[serde(default = "s4")]
    pub heartbeat: TimeSpec,
    /// Growth of the heartbeat interval per beat. Default "2s".
    #[serde(default = "s2")]
    pub heartbeat_step: TimeSpec,
    /// Largest growth of the heartbeat interval. Default "10s".
    #[serde(default = "s10")]
    pub heartbeat_max_extra: TimeSpec,
    /// Silence after which a peer is unreachable. Default "40s".
    #[serde(default = "s40")]
    pub unreachable_after: TimeSpec,
    /// Silence after which a peer is no_connection. Default "240s".
    #[serde(default = "s240")]
    pub no_connection_after: TimeSpec,
    /// Every this much simulated time, all stores are synced to the run's peer database
    /// (`peers.sqlite`), in one transaction; the first sync is at tick 0. Default "10s".
    #[serde(default = "s10")]
    pub sync_interval: TimeSpec,
}

fn s2() -> TimeSpec {
    TimeSpec::Millis(2_000)
}
fn s4() -> TimeSpec {
    TimeSpec::Millis(4_000)
}
fn s10() -> TimeSpec {
    TimeSpec::Millis(10_000)
}
fn s40() -> TimeSpec {
    TimeSpec::Millis(40_000)
}
fn s120() -> TimeSpec {
    TimeSpec::Millis(120_000)
}
fn s240() -> TimeSpec {
    TimeSpec::Millis(240_000)
}

/// Settings of the request caches.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RequestCacheSpec {
    /// How long a cache lives before it times out. Default "10s" (IPv8's default).
    #[serde(default = "default_cache_timeout")]
    pub timeout: TimeSpec,
    /// Drop a response whose cache is gone (true, IPv8), or process it anyway (false, to show
    /// what the cache prevents). Default true.
    #[serde(default = "default_true")]
    pub replay_protection: bool,
}

fn default_cache_timeout() -> TimeSpec {
    TimeSpec::Millis(10_000)
}

impl Default for RequestCacheSpec {
    fn default() -> Self {
        Self {
            timeout: default_cache_timeout(),
            replay_protection: true,
        }
    }
}

/// Two peers count to `target` by request, increment, response (IPv8's RequestCache tutorial).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CountToSpec {
    /// The two peers (linked to each other).
    pub peers: [String; 2],
    /// The value to reach. Default 10.
    #[serde(default = "default_target")]
    pub target: u32,
    /// Send every request after the first twice (the tutorial's replay attack). Default true.
    #[serde(default = "default_true")]
    pub replay: bool,
    /// When both peers start. Default 0.
    #[serde(default)]
    pub start: TimeSpec,
}

fn default_target() -> u32 {
    10
}

/// Poisson request load: every listed node sends requests to `target` with exponential gaps of
/// mean `mean_interval`, from `from` to `to`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RpcLoadSpec {
    /// The requesting nodes (selectors as in `groups[].members`); a node is in at most one load.
    pub nodes: Vec<String>,
    /// Mean time between two requests of one node (> 0).
    pub mean_interval: FloatTicks,
    /// How long a target takes to answer. Default 0 (at once).
    #[serde(default)]
    pub service_time: TimeSpec,
    /// Cache timeout of these requests. Default: `request_cache.timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<TimeSpec>,
    /// "random_peer" (a linked peer drawn for each request) or a node's name. Default "random_peer".
    #[serde(default = "default_rpc_target")]
    pub target: String,
    /// Start of the window. Default 0.
    #[serde(default)]
    pub from: TimeSpec,
    /// End of the window (exclusive). Default: the end of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<TimeSpec>,
}

fn default_rpc_target() -> String {
    "random_peer".into()
}

/// One message appended by a node's application.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppendSpec {
    /// The appending node (a member of the group at that tick).
    pub node: String,
    /// When (before duration).
    pub tick: TimeSpec,
    /// The group.
    pub group: String,
    /// The message body (UTF-8 text).
    pub body: String,
    /// A label other appends can name as a parent. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Labels of earlier appends of the same group: the message's parents. Default none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<String>,
    /// Ephemeral: sent once, delivered, never acked, stored or forwarded. Default false.
    #[serde(default)]
    pub ephemeral: bool,
}

/// Poisson traffic: every listed node appends to `group` with exponential gaps of mean
/// `mean_interval`, from `from` to `to`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSpec {
    /// The appending nodes (selectors as in `groups[].members`). A node appends only while it
    /// is a member.
    pub nodes: Vec<String>,
    /// The group.
    pub group: String,
    /// Mean time between two appends of one node (> 0).
    pub mean_interval: FloatTicks,
    /// Body size in bytes. Default `{"kind": "fixed", "bytes": 64}`.
    #[serde(default)]
    pub body_bytes: BodySizeSpec,
    /// Start of the window. Default 0.
    #[serde(default)]
    pub from: TimeSpec,
    /// End of the window (exclusive). Default: the end of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<TimeSpec>,
    /// Ephemeral messages. Default false.
    #[serde(default)]
    pub ephemeral: bool,
    /// "none", or "previous": each message's parent is the node's previous message of this
    /// generator. Default "none".
    #[serde(default)]
    pub parents: ParentsSpec,
}

/// Body sizes of generated messages.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BodySizeSpec {
    /// Always `bytes`.
    Fixed {
        /// Body size.
        bytes: u32,
    },
    /// Uniform over min..=max bytes.
    Uniform {
        /// Smallest size.
        min: u32,
        /// Largest size (at least min).
        max: u32,
    },
}

impl Default for BodySizeSpec {
    fn default() -> Self {
        BodySizeSpec::Fixed { bytes: 64 }
    }
}

/// Parents of generated messages.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ParentsSpec {
    /// No parents.
    #[default]
    None,
    /// The node's previous message of the same generator.
    Previous,
}

/// Extra outputs.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutputsSpec {
    /// Write every node's sync-state table at the end of the run (`sync_state/<node>.txt` and
    /// `.csv`). Default true. With false the run folder has no `sync_state/` (the tables are
    /// most of a large run's folder) and `report.html` shows no tables; `tables_at` must then be
    /// empty. (Left out of the stored scenario when true, so scenarios written before it have
    /// the same hash.)
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    #[schemars(extend("default" = true))]
    pub tables: bool,
    /// Ticks at whose end the sync-state tables are also written, as
    /// `sync_state/<node>.t<tick>.txt`/`.csv`. Default none (the tables at the end are written
    /// unless `tables` is false).
    #[serde(default)]
    pub tables_at: Vec<TimeSpec>,
    /// Write `trace.jsonl`, every event of the run, one JSON object per line. Default false.
    #[serde(default)]
    pub trace: bool,
}

impl Default for OutputsSpec {
    fn default() -> Self {
        Self {
            tables: true,
            tables_at: Vec::new(),
            trace: false,
        }
    }
}

fn is_true(b: &bool) -> bool {
    *b
}
