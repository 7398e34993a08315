//! The data-sync protocol of the seed PoC, which became MVDS (Vac RFC 2/MVDS), itself derived
//! from Briar's BSP. Batch mode with `record` packing.
//!
//! # State
//! A node holds messages, and for every (message, peer) pair it shares the message's group with,
//! a [`Record`]: `hold` (the peer is known to hold it), `ack` (we owe the peer an ACK),
//! `request` (the peer asked for it since we last sent it), `send_count`, `send_time` (the
//! next tick at which it may be sent). The peers a node shares a group with are given by
//! [`SyncNode::set_sharing`]; they are the group's sharing list of this node, restricted to the
//! peers it has a link to (a node cannot send to a peer it has no link to, exactly as in the seed,
//! where B shares with C but is never connected to it).
//!
//! # Run loop (the one rule of use)
//! Feed inputs with [`SyncNode::append`] and [`SyncNode::handle_packet`], call
//! [`SyncNode::step`] at the node's step ticks, and after every call drain the output buffer and
//! ask [`SyncNode::poll_timeout`] for the earliest tick at which a step has work. Stepping at
//! other ticks is harmless: a step with nothing due sends nothing.
//!
//! # The step (batch mode), in this order
//! 1. ACK every message a peer sent us that we have not acked yet (only with
//!    [`AckTiming::Step`]; with [`AckTiming::Immediate`], as in the seed, the ACK leaves on
//!    receipt).
//! 2. SEND every message a peer requested whose send time has come, and every message whose
//!    `hold` is unset and whose send time has come, in order of `(send_time, message, peer)`.
//!
//! Each SEND: `send_count += 1`, `send_time = backoff(send_count, now)`, `request` cleared.
//!
//! # Receiving
//! - ACK for m from p: set hold on (m, p); the record stops being sent.
//! - MESSAGE m from p, if we share m's group with p: store m if new (a delivery), set hold on
//!   (m, p) and owe p an ACK. With store-and-forward on (the default), a new message gets records
//!   with hold unset for every other peer we share its group with, so it travels on through us;
//!   with it off (the seed) only the sender's record is created. A duplicate is acked again
//!   (ACKs are not retransmitted). A MESSAGE from a peer we do not share its group with is
//!   refused: not stored, not acked, counted in [`SyncStats::refused`].
//!
//! Records for a message and the sender are created with `send_time` 0 and `send_count` 0, as in
//! the seed's table.

mod backoff;

pub use backoff::Backoff;

use crate::engine::time::Tick;
use crate::ids::{GroupId, MsgRef, NodeId};
use indexmap::IndexMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Sync mode. Batch mode sends messages; interactive mode (offers) is not part of this build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Send messages outright (the seed PoC's mode).
    Batch,
}

/// How items are packed into packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packing {
    /// Every item (ack, message) travels in its own packet, as in the seed PoC.
    Record,
}

/// When an owed ACK leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckTiming {
    /// At the node's next step (step 1 of the spec's batch mode).
    Step,
    /// At once, on receipt of the message (the seed PoC).
    Immediate,
}

/// A node's sync configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncConfig {
    /// Batch (the only mode in this build).
    pub mode: Mode,
    /// Record packing (the only packing in this build).
    pub packing: Packing,
    /// Ticks between the node's steps (the engine steps it at multiples of `epoch`).
    pub epoch: Tick,
    /// When ACKs leave.
    pub ack: AckTiming,
    /// Retransmission backoff.
    pub backoff: Backoff,
    /// Store-and-forward: whether a received message is passed on to the other sharing peers.
    pub forwarding: bool,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Batch,
            packing: Packing::Record,
            epoch: 1,
            ack: AckTiming::Step,
            backoff: Backoff::Fixed { interval: 2 },
            forwarding: true,
        }
    }
}

/// The kind of an item on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A message (the payload being synced).
    Message,
    /// An acknowledgement of a message id.
    Ack,
    /// An offer of a message id (interactive mode).
    Offer,
    /// A request for a message id (interactive mode).
    Request,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 4] = [Kind::Message, Kind::Ack, Kind::Offer, Kind::Request];

    /// The kind's name in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Ack => "ack",
            Kind::Offer => "offer",
            Kind::Request => "request",
        }
    }
}

/// One item of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// ACK of a message id.
    Ack(MsgRef),
    /// A message, with its group (which travels inside the real message).
    Message { msg: MsgRef, group: GroupId },
}

impl Item {
    /// The item's wire kind.
    pub fn kind(self) -> Kind {
        match self {
            Item::Ack(_) => Kind::Ack,
            Item::Message { .. } => Kind::Message,
        }
    }

    /// The message the item is about.
    pub fn msg(self) -> MsgRef {
        match self {
            Item::Ack(m) | Item::Message { msg: m, .. } => m,
        }
    }
}

/// What one node sends to one peer in one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// `record` packing: exactly one item.
    Record(Item),
}

impl Packet {
    /// The packet's items.
    pub fn items(&self) -> &[Item] {
        match self {
            Packet::Record(item) => std::slice::from_ref(item),
        }
    }
}

/// A command for the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Put `packet` on the link to `to`.
    Send { to: NodeId, packet: Packet },
    /// A message was stored for the first time: a delivery to the application.
    Deliver { msg: MsgRef, from: NodeId },
}

/// The sync state of one (message, peer) pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The peer.
    pub peer: NodeId,
    /// The peer is known to hold the message.
    pub hold: bool,
    /// We owe the peer an ACK.
    pub ack: bool,
    /// The peer requested the message since we last sent it.
    pub request: bool,
    /// How many times we sent the message to the peer.
    pub send_count: u32,
    /// Next tick at which the message may be sent to the peer.
    pub send_time: Tick,
}

impl Record {
    fn new(peer: NodeId, send_time: Tick) -> Self {
        Self {
            peer,
            hold: false,
            ack: false,
            request: false,
            send_count: 0,
            send_time,
        }
    }

    fn is_due_candidate(&self) -> bool {
        !self.hold || self.request
    }
}

/// A message this node holds, with its records (sorted by peer).
#[derive(Clone, Debug)]
struct Held {
    group: GroupId,
    records: Vec<Record>,
}

/// Counters kept by the state machine itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// MESSAGE items received for a message already held.
    pub duplicates: u64,
    /// MESSAGE items refused because the sender does not share the group with us.
    pub refused: u64,
    /// ACK items received for which we have no record (never sent to that peer).
    pub unexpected_acks: u64,
}

/// The sync state machine of one node.
#[derive(Clone, Debug)]
pub struct SyncNode {
    config: SyncConfig,
    /// Per group, the peers we share it with (sorted); sorted by group.
    sharing: Vec<(GroupId, Vec<NodeId>)>,
    /// Held messages in the order this node got them.
    messages: IndexMap<MsgRef, Held>,
    /// Candidate sends `(send_time, message, peer)`; entries whose record has changed since are
    /// skipped when they surface (lazy deletion).
    due: BinaryHeap<Reverse<(Tick, MsgRef, NodeId)>>,
    /// ACKs owed, in the order they became owed (only with [`AckTiming::Step`]).
    acks_due: Vec<(MsgRef, NodeId)>,
    /// The tick the oldest owed ACK became owed.
    acks_since: Tick,
    stats: SyncStats,
}

impl SyncNode {
    /// A node with no messages and no sharing.
    pub fn new(config: SyncConfig) -> Self {
        Self {
            config,
            sharing: Vec::new(),
            messages: IndexMap::new(),
            due: BinaryHeap::new(),
            acks_due: Vec::new(),
            acks_since: 0,
            stats: SyncStats::default(),
        }
    }

    /// The node's configuration.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// Sets the peers this node shares `group` with (must be set before messages of the group
    /// arrive; peers are deduplicated and sorted).
    pub fn set_sharing(&mut self, group: GroupId, mut peers: Vec<NodeId>) {
        peers.sort_unstable();
        peers.dedup();
        match self.sharing.binary_search_by_key(&group, |(g, _)| *g) {
            Ok(i) => self.sharing[i].1 = peers,
            Err(i) => self.sharing.insert(i, (group, peers)),
        }
    }

    /// The peers this node shares `group` with.
    pub fn sharing(&self, group: GroupId) -> &[NodeId] {
        match self.sharing.binary_search_by_key(&group, |(g, _)| *g) {
            Ok(i) => &self.sharing[i].1,
            Err(_) => &[],
        }
    }

    fn shares(&self, group: GroupId, peer: NodeId) -> bool {
        self.sharing(group).binary_search(&peer).is_ok()
    }

    /// Whether the node holds `msg`.
    pub fn holds(&self, msg: MsgRef) -> bool {
        self.messages.contains_key(&msg)
    }

    /// The record of (`msg`, `peer`), if any.
    pub fn record(&self, msg: MsgRef, peer: NodeId) -> Option<&Record> {
        let held = self.messages.get(&msg)?;
        let i = held.records.binary_search_by_key(&peer, |r| r.peer).ok()?;
        Some(&held.records[i])
    }

    fn record_mut(&mut self, msg: MsgRef, peer: NodeId) -> Option<&mut Record> {
        let held = self.messages.get_mut(&msg)?;
        let i = held.records.binary_search_by_key(&peer, |r| r.peer).ok()?;
        Some(&mut held.records[i])
    }

    /// The node's counters.
    pub fn stats(&self) -> &SyncStats {
        &self.stats
    }

    /// The sync-state table: every held message (in the order the node got it), its group and
    /// its records (sorted by peer).
    pub fn table(&self) -> impl Iterator<Item = (MsgRef, GroupId, &[Record])> {
        self.messages
            .iter()
            .map(|(&m, held)| (m, held.group, held.records.as_slice()))
    }

    /// The application appends `msg` to `group` at `now`: the node holds it and creates a record,
    /// due at once, for every peer it shares the group with.
    pub fn append(&mut self, now: Tick, msg: MsgRef, group: GroupId) {
        if self.holds(msg) {
            return;
        }
        let records: Vec<Record> = self
            .sharing(group)
            .iter()
            .map(|&p| Record::new(p, now))
            .collect();
        for r in &records {
            self.due.push(Reverse((r.send_time, msg, r.peer)));
        }
        self.messages.insert(msg, Held { group, records });
    }

    /// Processes a packet from `from` arriving at `now`.
    pub fn handle_packet(
        &mut self,
        now: Tick,
        from: NodeId,
        packet: &Packet,
        out: &mut Vec<Output>,
    ) {
        for &item in packet.items() {
            match item {
                Item::Ack(msg) => self.on_ack(msg, from),
                Item::Message { msg, group } => self.on_message(now, from, msg, group, out),
            }
        }
    }

    fn on_ack(&mut self, msg: MsgRef, from: NodeId) {
        match self.record_mut(msg, from) {
            Some(r) => r.hold = true,
            None => self.stats.unexpected_acks += 1,
        }
    }

    fn on_message(
        &mut self,
        now: Tick,
        from: NodeId,
        msg: MsgRef,
        group: GroupId,
        out: &mut Vec<Output>,
    ) {
        if !self.shares(group, from) {
            self.stats.refused += 1;
            return;
        }
        if self.holds(msg) {
            self.stats.duplicates += 1;
            if let Some(r) = self.record_mut(msg, from) {
                r.hold = true;
            }
        } else {
            let forwarding = self.config.forwarding;
            let records: Vec<Record> = self
                .sharing(group)
                .iter()
                .filter(|&&p| forwarding || p == from)
                .map(|&p| {
                    let mut r = Record::new(p, now);
                    if p == from {
                        r.hold = true;
                        r.send_time = 0;
                    }
                    r
                })
                .collect();
            for r in records.iter().filter(|r| !r.hold) {
                self.due.push(Reverse((r.send_time, msg, r.peer)));
            }
            self.messages.insert(msg, Held { group, records });
            out.push(Output::Deliver { msg, from });
        }
        match self.config.ack {
            AckTiming::Immediate => out.push(Output::Send {
                to: from,
                packet: Packet::Record(Item::Ack(msg)),
            }),
            AckTiming::Step => {
                let r = self
                    .record_mut(msg, from)
                    .expect("a record exists for a sharing sender of a held message");
                if !r.ack {
                    r.ack = true;
                    if self.acks_due.is_empty() {
                        self.acks_since = now;
                    }
                    self.acks_due.push((msg, from));
                }
            }
        }
    }

    fn entry_is_live(&self, t: Tick, msg: MsgRef, peer: NodeId) -> bool {
        self.record(msg, peer)
            .is_some_and(|r| r.send_time == t && r.is_due_candidate())
    }

    /// The earliest tick at which a step would send something, or `None` if nothing is pending.
    pub fn poll_timeout(&mut self) -> Option<Tick> {
        while let Some(&Reverse((t, m, p))) = self.due.peek() {
            if self.entry_is_live(t, m, p) {
                break;
            }
            self.due.pop();
        }
        let due = self.due.peek().map(|Reverse((t, _, _))| *t);
        let acks = (!self.acks_due.is_empty()).then_some(self.acks_since);
        match (due, acks) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// One step of batch mode at `now` (see the module docs for the order).
    pub fn step(&mut self, now: Tick, out: &mut Vec<Output>) {
        // 1. ACK every message a peer sent us that we have not acked yet.
        for (msg, peer) in std::mem::take(&mut self.acks_due) {
            if let Some(r) = self.record_mut(msg, peer)
                && r.ack
            {
                r.ack = false;
                out.push(Output::Send {
                    to: peer,
                    packet: Packet::Record(Item::Ack(msg)),
                });
            }
        }
        // 2. SEND requested messages and messages not known to be held, whose time has come.
        while let Some(&Reverse((t, msg, peer))) = self.due.peek() {
            if t > now {
                break;
            }
            self.due.pop();
            if !self.entry_is_live(t, msg, peer) {
                continue;
            }
            let backoff = &self.config.backoff;
            let held = self.messages.get_mut(&msg).expect("live entry");
            let group = held.group;
            let i = held
                .records
                .binary_search_by_key(&peer, |r| r.peer)
                .expect("live entry");
            let r = &mut held.records[i];
            r.send_count += 1;
            r.send_time = backoff.next_send_time(r.send_count, now);
            r.request = false;
            if !r.hold {
                self.due.push(Reverse((r.send_time, msg, peer)));
            }
            out.push(Output::Send {
                to: peer,
                packet: Packet::Record(Item::Message { msg, group }),
            });
        }
    }
}

#[cfg(test)]
mod tests;
