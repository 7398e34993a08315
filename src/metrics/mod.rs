//! Counters collected during a run, and the summary computed from them.
//!
//! The engine only counts (packets, bytes, losses, deliveries); every derived figure (ratios,
//! percentiles, multipliers) is computed once at the end by [`summarize`]. Definitions are part
//! of the interface and are documented in the README; the summary's key order is fixed by the
//! struct order below.

mod summary;

pub use summary::{Summary, summarize};

use crate::engine::time::Tick;
use crate::ids::{MsgRef, NodeId};
use crate::protocol::sync::Kind;

/// Counters of one item kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindCounters {
    /// Packets of this kind put on a link.
    pub sent: u64,
    /// Their bytes (encoded size plus per-packet overhead).
    pub bytes: u64,
    /// Lost by the link's loss model.
    pub lost_link: u64,
    /// Arrived at a node that was offline (or, with `reliability`, did not process them).
    pub lost_offline: u64,
    /// Arrived and processed.
    pub received: u64,
    /// Processed, but carried a message the receiver already held.
    pub duplicates: u64,
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

/// A message stored by a node for the first time (the author's own append is not a delivery).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The receiving node.
    pub node: NodeId,
    /// The message.
    pub msg: MsgRef,
    /// When.
    pub tick: Tick,
}

/// Everything the engine counts during a run.
#[derive(Clone, Debug)]
pub struct Collector {
    /// Per item kind, indexed by `Kind as usize` (see [`Kind::ALL`]).
    pub by_kind: [KindCounters; 4],
    /// Per node, indexed by node id.
    pub nodes: Vec<NodeCounters>,
    /// Deliveries in the order they happened.
    pub deliveries: Vec<Delivery>,
    /// Packets still on a link when the run ended.
    pub in_flight: u64,
}

impl Collector {
    /// Zeroed counters for `nodes` nodes.
    pub fn new(nodes: usize) -> Self {
        Self {
            by_kind: Default::default(),
            nodes: vec![NodeCounters::default(); nodes],
            deliveries: Vec::new(),
            in_flight: 0,
        }
    }

    /// The counters of `kind`.
    #[inline]
    pub fn kind(&mut self, kind: Kind) -> &mut KindCounters {
        &mut self.by_kind[kind as usize]
    }
}
