//! Counters collected during a run, and the summary computed from them.
//!
//! The engine only counts (packets, items, bytes, losses, deliveries); every derived figure
//! (ratios, percentiles, multipliers) is computed once at the end by [`summarize`]. Definitions
//! are part of the interface and are documented in the README; the summary's key order is fixed
//! by the struct order.

mod summary;

pub use summary::{PEER_STATE_NAMES, Summary, percentile, summarize};

use crate::engine::time::Tick;
use crate::ids::{MsgRef, NodeId};
/// Names of the traffic kinds, in report order: the sync items (indexed by
/// `protocol::sync::Kind as usize`), then the request/response messages.
pub const KIND_NAMES: [&str; KINDS] = [
    "message",
    "ack",
    "offer",
    "request",
    "rpc_request",
    "rpc_response",
    "discovery",
    "peer",
];
/// Number of traffic kinds.
pub const KINDS: usize = 8;
/// Index of request messages of request/response flows.
pub const RPC_REQUEST: usize = 4;
/// Index of response messages of request/response flows.
pub const RPC_RESPONSE: usize = 5;
/// Index of discovery messages.
pub const DISCOVERY: usize = 6;
/// Index of peer-store messages (hello, hello reply, heartbeat).
pub const PEER: usize = 7;

/// Counters of packets, or of the items of one kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Put on a link.
    pub sent: u64,
    /// Their bytes: for packets, the encoded payload plus the per-packet overhead; for items,
    /// the item's own encoded entry in the payload.
    pub bytes: u64,
    /// Lost by the link's loss model.
    pub lost_link: u64,
    /// Arrived at a node that was offline (or, with `reliability`, did not process them).
    pub lost_offline: u64,
    /// Arrived and processed.
    pub received: u64,
    /// Processed messages the receiver already held (items of kind message only).
    pub duplicates: u64,
}

impl Counters {
    /// Adds `other`'s counts to these (the counters of two parts of a run).
    pub fn add(&mut self, other: &Counters) {
        self.sent += other.sent;
        self.bytes += other.bytes;
        self.lost_link += other.lost_link;
        self.lost_offline += other.lost_offline;
        self.received += other.received;
        self.duplicates += other.duplicates;
    }
}

/// Counters of one node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeCounters {
    /// Packets this node put on links.
    pub packets_sent: u64,
    /// Their bytes.
    pub bytes_sent: u64,
    /// Packets that arrived at this node and were processed.
    pub packets_received: u64,
    /// Packets that arrived at this node while it was offline.
    pub packets_lost_offline: u64,
}

/// A message delivered to a node's application for the first time (an author's own append is
/// not a delivery).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The receiving node.
    pub node: NodeId,
    /// The message.
    pub msg: MsgRef,
    /// When.
    pub tick: Tick,
}

/// Counters of the workload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadCounters {
    /// Messages appended (explicit and generated).
    pub appended: u64,
    /// Generated appends skipped because the node was not a member of the group then.
    pub skipped_not_member: u64,
    /// Generated appends that produced an id already appended (same group, tick and body): the
    /// same message, so not a new one.
    pub duplicate_ids: u64,
}

/// Traffic of one time bucket: items and their entry bytes per kind (indexed by `Kind as
/// usize`), packets and their bytes (with overhead).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Items sent per kind.
    pub items: [u64; KINDS],
    /// Entry bytes sent per kind.
    pub item_bytes: [u64; KINDS],
    /// Packets sent.
    pub packets: u64,
    /// Packet bytes sent.
    pub packet_bytes: u64,
}

impl Bucket {
    /// Adds `other`'s traffic to this bucket's (the same bucket of two parts of a run).
    pub fn add(&mut self, other: &Bucket) {
        for k in 0..KINDS {
            self.items[k] += other.items[k];
            self.item_bytes[k] += other.item_bytes[k];
        }
        self.packets += other.packets;
        self.packet_bytes += other.packet_bytes;
    }
}

impl WorkloadCounters {
    /// Adds `other`'s counts to these (the workloads of two parts of a run).
    pub fn add(&mut self, other: &WorkloadCounters) {
        self.appended += other.appended;
        self.skipped_not_member += other.skipped_not_member;
        self.duplicate_ids += other.duplicate_ids;
    }
}

/// Everything the engine counts during a run.
///
/// While a run goes, a packet is counted once per link direction and its items once per series
/// bucket; the totals that follow from those (`packets`, the packet counters of `nodes`, the
/// sent and bytes of `by_kind`) are filled in by [`Collector::derive_totals`] when the run ends.
#[derive(Clone, Debug)]
pub struct Collector {
    /// Packets of all kinds.
    pub packets: Counters,
    /// Items per kind, indexed as [`KIND_NAMES`].
    pub by_kind: [Counters; KINDS],
    /// Per node, indexed by node id.
    pub nodes: Vec<NodeCounters>,
    /// Packets per link direction, one entry per direction that exists in the run's engine;
    /// `link_ends` names each. While a run goes, in the order the directions were created (a
    /// full mesh's at their first packet); when it has ended, in link order
    /// ([`Collector::sort_links`]), the order of `links.csv`.
    pub links: Vec<Counters>,
    /// The `(from, to)` of each entry of `links`.
    pub link_ends: Vec<(NodeId, NodeId)>,
    /// Deliveries in the order they happened.
    pub deliveries: Vec<Delivery>,
    /// Packets still on a link when the run ended.
    pub in_flight: u64,
    /// The workload.
    pub workload: WorkloadCounters,
    /// Discovery messages not sent because there is no link to the address.
    pub discovery_unroutable: u64,
    /// Verified peers of discovering nodes at each bucket start: `(tick, mean, p10, p90)`.
    pub discovery_series: Vec<(Tick, f64, u64, u64)>,
    /// Peer-store state counts over all nodes at each bucket start: `(tick, counts)` in the
    /// order initial, connecting, connected, routed, unreachable, no_connection.
    pub peer_series: Vec<(Tick, [u64; 6])>,
    /// Peer-store messages not sent because their node was offline.
    pub peer_unsent_offline: u64,
    /// Ticks per bucket of `series`.
    pub bucket_ticks: Tick,
    /// Traffic over time, one bucket per `bucket_ticks` ticks (only buckets up to the last
    /// send exist).
    pub series: Vec<Bucket>,
    /// The bucket last asked for and its first tick (a run asks for the same one many times
    /// in a row; this spares a division each time).
    last_bucket: (usize, Tick),
}

/// How many buckets a run's traffic series has at most.
pub const SERIES_BUCKETS: u64 = 400;

impl Collector {
    /// Zeroed counters for `nodes` nodes and no link direction yet (see
    /// [`Collector::add_link`]), for a run of `duration` ticks.
    pub fn new(nodes: usize, duration: Tick) -> Self {
        Self {
            discovery_unroutable: 0,
            peer_series: Vec::new(),
            peer_unsent_offline: 0,
            discovery_series: Vec::new(),
            bucket_ticks: duration.div_ceil(SERIES_BUCKETS).max(1),
            last_bucket: (usize::MAX, 0),
            series: Vec::new(),
            packets: Counters::default(),
            by_kind: Default::default(),
            nodes: vec![NodeCounters::default(); nodes],
            links: Vec::new(),
            link_ends: Vec::new(),
            deliveries: Vec::new(),
            in_flight: 0,
            workload: WorkloadCounters::default(),
        }
    }

    /// Zeroed counters for the link direction from `from` to `to`; returns their index in
    /// `links`.
    pub fn add_link(&mut self, from: NodeId, to: NodeId) -> usize {
        self.links.push(Counters::default());
        self.link_ends.push((from, to));
        self.links.len() - 1
    }

    /// Puts `links` (and `link_ends`) in link order: by the pair's smaller node, then its
    /// larger, the direction out of the smaller first. Called once, when the run ends.
    pub fn sort_links(&mut self) {
        let mut order: Vec<usize> = (0..self.links.len()).collect();
        order.sort_unstable_by_key(|&i| {
            let (from, to) = self.link_ends[i];
            (from.min(to), from.max(to), from > to)
        });
        self.links = order.iter().map(|&i| self.links[i].clone()).collect();
        self.link_ends = order.iter().map(|&i| self.link_ends[i]).collect();
    }

    /// Fills in the totals that follow from the per-link counters and the series: `packets`
    /// (the sum over link directions), each node's packet counters (from the directions out of
    /// and into it), and the sent and bytes of every item kind (the sum over the series
    /// buckets). Called once, when the run ends.
    pub fn derive_totals(&mut self) {
        let mut packets = Counters::default();
        for (c, &(from, to)) in self.links.iter().zip(&self.link_ends) {
            packets.add(c);
            let f = &mut self.nodes[from.idx()];
            f.packets_sent += c.sent;
            f.bytes_sent += c.bytes;
            let t = &mut self.nodes[to.idx()];
            t.packets_received += c.received;
            t.packets_lost_offline += c.lost_offline;
        }
        self.packets = packets;
        for b in &self.series {
            for k in 0..KINDS {
                self.by_kind[k].sent += b.items[k];
                self.by_kind[k].bytes += b.item_bytes[k];
            }
        }
    }

    /// The series bucket of tick `t`.
    #[inline]
    pub fn bucket(&mut self, t: Tick) -> &mut Bucket {
        let (last, start) = self.last_bucket;
        if last != usize::MAX && t.wrapping_sub(start) < self.bucket_ticks {
            return &mut self.series[last];
        }
        self.new_bucket(t)
    }

    /// [`Collector::bucket`] when `t` is past the remembered bucket.
    #[cold]
    fn new_bucket(&mut self, t: Tick) -> &mut Bucket {
        let i = (t / self.bucket_ticks) as usize;
        if i >= self.series.len() {
            self.series.resize(i + 1, Bucket::default());
        }
        self.last_bucket = (i, i as Tick * self.bucket_ticks);
        &mut self.series[i]
    }

    /// The counters of kind `kind` (an index of [`KIND_NAMES`]).
    #[inline]
    pub fn kind(&mut self, kind: usize) -> &mut Counters {
        &mut self.by_kind[kind]
    }
}
