//! The data-sync protocol of the seed PoC, which became MVDS (Vac RFC 2/MVDS), itself derived
//! from Briar's BSP: batch and interactive modes, `record` and `payload` packing, requests,
//! offers, store-and-forward, ephemeral messages, parents, and every backoff policy.
//!
//! # State
//! A node holds messages, and for every (message, peer) pair it shares the message's group with,
//! a [`Record`]: `hold` (the peer is known to hold it), `ack` (we owe the peer an ACK),
//! `request` (the peer asked for it since we last sent it), `send_count`, `send_time` (the
//! next tick at which it may be sent or offered). The peers a node shares a group with are given by
//! [`SyncNode::set_sharing`]: the group's sharing list of this node, restricted to the peers it
//! has a link to (a node cannot send to a peer it has no link to, as in the seed, where B shares
//! with C but is never connected to it). Per peer it also keeps a bounded list of ids the peer
//! **offered** that it has not yet acked or requested (`offered_cap`; when full, the oldest entry
//! is dropped), and for messages it does not hold but wants (offered, or missing parents) a
//! request record per peer asked (`send_count`, `send_time`).
//!
//! # Run loop (the one rule of use)
//! Feed inputs with [`SyncNode::append`], [`SyncNode::handle_packet`] and
//! [`SyncNode::set_sharing`], call [`SyncNode::step`] at the node's step ticks, and after every
//! call drain the output buffer and ask [`SyncNode::poll_timeout`] for the earliest tick at
//! which a step has work. A step with nothing due sends nothing.
//!
//! # The step, in this order
//! 1. ACK every message a peer sent us that we have not acked yet (with [`AckTiming::Step`];
//!    with [`AckTiming::Immediate`], as in the seed, the ACK leaves on receipt).
//! 2. ACK every message a peer offered that we already hold.
//! 3. REQUEST every message a peer offered that we do not hold and have not requested. With
//!    `request_retransmit` (the Go implementation, the default) a request then goes out again on
//!    its own backoff until the message arrives; without it (BSP's reading) a node requests once
//!    per offer it receives.
//! 4. SEND every message a peer requested (a request makes the message due at once).
//! 5. SEND (batch mode) or OFFER (interactive mode) every message we share with the peer, whose
//!    `hold` is unset and whose send time has come; ephemeral messages are sent once, outright.
//!
//! Each SEND/OFFER/REQUEST of a record: `send_count += 1`, `send_time = backoff(send_count, now)`.
//! With `record` packing every item travels in its own packet; with `payload` packing a step
//! sends at most one packet per peer, carrying all its items (acks, offers, requests, messages).
//!
//! # Receiving (a payload is processed acks → requests → offers → messages)
//! - ACK for m from p: set hold on (m, p); the record stops being sent.
//! - REQUEST for m from p: if we hold m and share its group with p, set `request` on (m, p).
//! - OFFER of m from p: if we hold m, set hold on (m, p) and owe p an ACK (step 2); if not,
//!   remember the offer (step 3) and that p holds m.
//! - MESSAGE m from p, if we share m's group with p: store m if new, set hold on (m, p) and owe
//!   p an ACK. With store-and-forward (the default) a new message gets records with hold unset
//!   for every other peer we share its group with; without it, only the sender's record. A
//!   duplicate is acked again (ACKs are not retransmitted). Ephemeral messages are delivered but
//!   never acked, stored or forwarded. With `consistent` delivery a stored message is delivered
//!   only once all its parents are delivered, and missing parents are requested from the sender;
//!   with `eventual` delivery it is delivered at once. A MESSAGE from a peer we do not share its
//!   group with is refused (not stored, not acked) and counted.
//! - With `reset_on_contact`, a packet from a peer silent for longer than the threshold pulls
//!   every due time for that peer back to now.
//!
//! Records for a message and its sender are created with `send_time` 0 and `send_count` 0, as in
//! the seed's table.

mod backoff;
mod due;
mod held;
mod sharing;

pub use backoff::Backoff;
use backoff::Schedule;
use due::{Due, DueKind, DueQueue};
use held::Messages;
use sharing::Sharing;

use crate::engine::rng::Stream;
use crate::engine::time::Tick;
use crate::ids::{GroupId, MsgRef, NodeId};
use std::collections::{BTreeMap, VecDeque};

/// Sync mode of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Step 5 sends messages outright (the seed PoC's mode).
    Batch,
    /// Step 5 offers ids; messages go out when requested.
    Interactive,
}

/// How items are packed into packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packing {
    /// Every item travels in its own packet (the seed PoC).
    Record,
    /// One 2/MVDS `Payload` per peer per step, carrying all its items (the spec).
    Payload,
}

/// When an owed ACK leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckTiming {
    /// At the node's next step (step 1).
    Step,
    /// At once, on receipt of the message (the seed PoC).
    Immediate,
}

/// When a stored message is delivered to the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// At once.
    Eventual,
    /// Once all its parents are delivered.
    Consistent,
}

/// A node's sync configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncConfig {
    /// Batch or interactive.
    pub mode: Mode,
    /// Record or payload packing.
    pub packing: Packing,
    /// Ticks between the node's steps (the engine steps it at multiples of `epoch`).
    pub epoch: Tick,
    /// When ACKs leave.
    pub ack: AckTiming,
    /// Retransmission backoff of messages, offers and requests.
    pub backoff: Backoff,
    /// Store-and-forward.
    pub forwarding: bool,
    /// Capacity of each peer's offered list.
    pub offered_cap: usize,
    /// Whether a request is retransmitted on its backoff until the message arrives.
    pub request_retransmit: bool,
    /// Eventual or consistent delivery.
    pub delivery: Delivery,
    /// With `Some(silence)`: a packet from a peer not heard from for more than `silence` ticks
    /// (or never) pulls all due times for that peer back to now.
    pub reset_on_contact: Option<Tick>,
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
            offered_cap: 1024,
            request_retransmit: true,
            delivery: Delivery::Eventual,
            reset_on_contact: None,
        }
    }
}

/// What travels inside a message besides its id, as the receiver reads it off the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageMeta {
    /// The message's group.
    pub group: GroupId,
    /// Ephemeral: delivered, never acked, stored or forwarded.
    pub ephemeral: bool,
    /// Parent messages (for consistent delivery).
    pub parents: Box<[MsgRef]>,
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
    /// A request for a message id.
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

    /// Position in a payload and in receive processing: acks, requests, offers, messages.
    fn receive_rank(self) -> u8 {
        match self {
            Kind::Ack => 0,
            Kind::Request => 1,
            Kind::Offer => 2,
            Kind::Message => 3,
        }
    }
}

/// One item of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// ACK of a message id.
    Ack(MsgRef),
    /// OFFER of a message id.
    Offer(MsgRef),
    /// REQUEST of a message id.
    Request(MsgRef),
    /// A message.
    Message(MsgRef),
}

impl Item {
    /// The item's wire kind.
    pub fn kind(self) -> Kind {
        match self {
            Item::Ack(_) => Kind::Ack,
            Item::Offer(_) => Kind::Offer,
            Item::Request(_) => Kind::Request,
            Item::Message(_) => Kind::Message,
        }
    }

    /// The message the item is about.
    pub fn msg(self) -> MsgRef {
        match self {
            Item::Ack(m) | Item::Offer(m) | Item::Request(m) | Item::Message(m) => m,
        }
    }
}

/// What one node sends to one peer in one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// `record` packing: exactly one item.
    Record(Item),
    /// `payload` packing: the items of one step for one peer, in receive order (acks, requests,
    /// offers, messages).
    Payload(Vec<Item>),
}

impl Packet {
    /// The packet's items.
    pub fn items(&self) -> &[Item] {
        match self {
            Packet::Record(item) => std::slice::from_ref(item),
            Packet::Payload(items) => items,
        }
    }
}

/// A command for the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Put `packet` on the link to `to`.
    Send { to: NodeId, packet: Packet },
    /// A message is delivered to the application (first time only).
    Deliver { msg: MsgRef, from: NodeId },
}

/// Node ids a record can name: below 2^29 (the validator refuses more nodes), so a record
/// keeps its three flags in the top bits of its peer's id.
pub const MAX_NODES: u32 = 1 << 29;

/// The flag bits of [`Record`]'s `peer_flags` (its low 29 bits are the peer).
const PEER_BITS: u32 = MAX_NODES - 1;
const HOLD: u32 = 1 << 29;
const ACK: u32 = 1 << 30;
const REQUEST: u32 = 1 << 31;

/// The sync state of one (message, peer) pair: 16 bytes (the peer and the hold, ack and
/// request flags share one word).
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    /// The peer (low 29 bits) and the flags [`HOLD`], [`ACK`], [`REQUEST`].
    peer_flags: u32,
    /// How many times we sent or offered the message to the peer.
    pub send_count: u32,
    /// Next tick at which the message may be sent or offered to the peer.
    pub send_time: Tick,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("peer", &self.peer())
            .field("hold", &self.hold())
            .field("ack", &self.ack())
            .field("request", &self.request())
            .field("send_count", &self.send_count)
            .field("send_time", &self.send_time)
            .finish()
    }
}

impl Record {
    /// A record of `peer` due at `send_time`, never sent, no flag set.
    pub fn new(peer: NodeId, send_time: Tick) -> Self {
        assert!(peer.0 < MAX_NODES, "node ids are below 2^29 (validated)");
        Self {
            peer_flags: peer.0,
            send_count: 0,
            send_time,
        }
    }

    /// The peer.
    #[inline]
    pub fn peer(&self) -> NodeId {
        NodeId(self.peer_flags & PEER_BITS)
    }

    /// The peer is known to hold the message.
    #[inline]
    pub fn hold(&self) -> bool {
        self.peer_flags & HOLD != 0
    }

    /// We owe the peer an ACK.
    #[inline]
    pub fn ack(&self) -> bool {
        self.peer_flags & ACK != 0
    }

    /// The peer requested the message since we last sent it.
    #[inline]
    pub fn request(&self) -> bool {
        self.peer_flags & REQUEST != 0
    }

    /// Names another peer (a split run's records go back to global ids), flags kept.
    pub fn set_peer(&mut self, peer: NodeId) {
        assert!(peer.0 < MAX_NODES, "node ids are below 2^29 (validated)");
        self.peer_flags = (self.peer_flags & !PEER_BITS) | peer.0;
    }

    #[inline]
    fn set(&mut self, bit: u32, on: bool) {
        if on {
            self.peer_flags |= bit;
        } else {
            self.peer_flags &= !bit;
        }
    }

    /// Sets or clears the hold flag.
    #[inline]
    pub fn set_hold(&mut self, on: bool) {
        self.set(HOLD, on);
    }

    /// Sets or clears the ack flag.
    #[inline]
    pub fn set_ack(&mut self, on: bool) {
        self.set(ACK, on);
    }

    /// Sets or clears the request flag.
    #[inline]
    pub fn set_request(&mut self, on: bool) {
        self.set(REQUEST, on);
    }

    fn is_due_candidate(&self) -> bool {
        // (`|`, not `||`: no branch.)
        !self.hold() | self.request()
    }

    /// Whether a calendar entry of tick `t` finds this record due: it still needs sending and
    /// its send time is `t` (no branch).
    #[inline(always)]
    fn due_at(&self, t: Tick) -> bool {
        (self.send_time == t) & self.is_due_candidate()
    }

    /// The rank of a due record in a step ([`due_keys`]): 1 if the peer asked for it (step 4),
    /// else 2 (step 5).
    #[inline(always)]
    fn rank(&self) -> u64 {
        2 - u64::from(self.request())
    }
}

/// A request for a message we do not hold, to one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// The peer asked.
    pub peer: NodeId,
    /// How many times we asked.
    pub send_count: u32,
    /// When we may ask again.
    pub send_time: Tick,
}

/// Group ids a node can hold messages of: below 2^31 (the validator refuses more groups), so
/// a held message keeps its delivered flag in the top bit of its group's id.
pub const MAX_GROUPS: u32 = 1 << 31;

/// The delivered bit of [`Held`]'s `group_delivered`.
const DELIVERED: u32 = MAX_GROUPS;

/// A message this node holds, with its id, its group and its records (sorted by peer), in 32
/// bytes.
#[derive(Clone, Debug)]
struct Held {
    records: Records,
    msg: MsgRef,
    /// The group (low 31 bits) and [`DELIVERED`]: delivered to the application (not set while
    /// it waits for parents).
    group_delivered: u32,
}

impl Held {
    fn new(msg: MsgRef, group: GroupId, delivered: bool, records: Records) -> Self {
        assert!(group.0 < MAX_GROUPS, "group ids are below 2^31 (validated)");
        Self {
            records,
            msg,
            group_delivered: group.0 | if delivered { DELIVERED } else { 0 },
        }
    }

    #[inline]
    fn group(&self) -> GroupId {
        GroupId(self.group_delivered & !DELIVERED)
    }

    #[inline]
    fn delivered(&self) -> bool {
        self.group_delivered & DELIVERED != 0
    }

    fn set_delivered(&mut self) {
        self.group_delivered |= DELIVERED;
    }
}

/// The records of one held message, sorted by peer; used as a slice. A message received without
/// forwarding has one record (its sender's), kept inline: no allocation per received message.
#[derive(Clone, Debug)]
pub enum Records {
    /// A single record, inline.
    One(Record),
    /// None or several records.
    Many(Vec<Record>),
}

impl PartialEq for Records {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Records {}

impl From<Vec<Record>> for Records {
    fn from(v: Vec<Record>) -> Self {
        Records::from_vec(v)
    }
}

impl<'a> IntoIterator for &'a Records {
    type Item = &'a Record;
    type IntoIter = std::slice::Iter<'a, Record>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Records {
    type Item = &'a mut Record;
    type IntoIter = std::slice::IterMut<'a, Record>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl Records {
    /// Records in a vector (none or several; one is kept inline).
    pub fn from_vec(mut v: Vec<Record>) -> Self {
        if v.len() == 1 {
            Records::One(v.pop().expect("one"))
        } else {
            Records::Many(v)
        }
    }

    /// Inserts `r` at position `i` (as [`Vec::insert`]).
    fn insert(&mut self, i: usize, r: Record) {
        match self {
            Records::Many(v) if !v.is_empty() => v.insert(i, r),
            Records::Many(_) => *self = Records::One(r),
            Records::One(first) => {
                let first = first.clone();
                let mut v = Vec::with_capacity(2);
                v.push(first);
                v.insert(i, r);
                *self = Records::Many(v);
            }
        }
    }

    /// Keeps the records for which `keep` is true.
    fn retain(&mut self, keep: impl FnMut(&Record) -> bool) {
        let mut v = std::mem::replace(self, Records::Many(Vec::new())).into_vec();
        v.retain(keep);
        *self = Records::from_vec(v);
    }

    /// Heap bytes held (none for a record kept inline).
    fn heap_bytes(&self) -> usize {
        match self {
            Records::One(_) => 0,
            Records::Many(v) => v.capacity() * std::mem::size_of::<Record>(),
        }
    }

    /// The records in a vector.
    pub fn into_vec(self) -> Vec<Record> {
        match self {
            Records::One(r) => vec![r],
            Records::Many(v) => v,
        }
    }
}

impl std::ops::Deref for Records {
    type Target = [Record];

    #[inline]
    fn deref(&self) -> &[Record] {
        match self {
            Records::One(r) => std::slice::from_ref(r),
            Records::Many(v) => v,
        }
    }
}

impl std::ops::DerefMut for Records {
    #[inline]
    fn deref_mut(&mut self) -> &mut [Record] {
        match self {
            Records::One(r) => std::slice::from_mut(r),
            Records::Many(v) => v,
        }
    }
}

/// A message this node wants but does not hold.
#[derive(Clone, Debug, Default)]
struct Wanted {
    /// Peers known to hold it (they offered it), sorted.
    holders: Vec<NodeId>,
    /// Requests, sorted by peer.
    requests: Vec<RequestRecord>,
}

/// Counters kept by the state machine itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// MESSAGE items received for a message already held.
    pub duplicates: u64,
    /// MESSAGE items refused because the sender does not share the group with us.
    pub refused: u64,
    /// OFFER items ignored because the sender does not share the group with us (no request
    /// goes to a peer outside the group).
    pub offers_refused: u64,
    /// ACK items received for which we have no record.
    pub unexpected_acks: u64,
    /// REQUEST items for messages we do not hold or do not share with the requester.
    pub unserved_requests: u64,
    /// Offers dropped from a full offered list.
    pub offers_dropped: u64,
    /// Times `reset_on_contact` pulled a peer's due times back.
    pub contact_resets: u64,
}

/// The sync state machine of one node.
#[derive(Clone, Debug)]
pub struct SyncNode {
    config: SyncConfig,
    /// `config.backoff`, made ready for sends.
    schedule: Schedule,
    /// Whether the records of one message that fall due together share one calendar entry: so
    /// whenever the backoff draws nothing (records created together and sent together stay in
    /// step). With jitter every send draws its own time, and each record keeps its own entry.
    together: bool,
    rng: Stream,
    /// Per group, the peers we share it with (sorted); sorted by group.
    sharing: Vec<Sharing>,
    /// Held messages in the order this node got them.
    messages: Messages,
    /// Messages wanted but not held.
    wanted: BTreeMap<MsgRef, Wanted>,
    /// Per peer, ids offered and not yet acked or requested (oldest first).
    offered: BTreeMap<NodeId, VecDeque<MsgRef>>,
    /// Candidate sends by the send time they were queued with; entries whose record changed
    /// since are skipped when they surface (lazy deletion).
    due: DueQueue,
    /// ACKs owed, in the order they became owed (only with [`AckTiming::Step`]).
    acks_due: Vec<AckDue>,
    /// Ephemeral messages appended and not yet sent.
    ephemeral_out: Vec<MsgRef>,
    /// The tick since which work other than the `due` calendar is pending (acks, offers, ephemerals).
    work_since: Option<Tick>,
    /// Messages stored but waiting for these parents (consistent delivery): parent → children.
    waiting: BTreeMap<MsgRef, Vec<MsgRef>>,
    /// Last tick each peer was heard from (only with `reset_on_contact`).
    last_heard: BTreeMap<NodeId, Tick>,
    /// At least the number of records with the request flag set: raised when a request sets
    /// one, lowered when a send clears one (a record removed with its flag set stays counted).
    /// While it is 0 a step need not look at the flag of what it sends.
    requested: u32,
    stats: SyncStats,
    /// Tests only: steps take the keys' way ([`SyncNode::send_ready`]) even with `together`,
    /// to compare the two ways.
    #[cfg(test)]
    pub(crate) keys_only: bool,
    /// Tests only: [`SyncNode::send_due_together`]'s steps that sent requested records in a
    /// pass of their own, and those that met a message of more than 64 records.
    #[cfg(test)]
    pub(crate) walks: (u64, u64),
}

/// The position of `peer`'s record in `held.records` (sorted by peer). A record list made while
/// the group's sharing list was what it is now has the same peers at the same positions, so that
/// position, found in the node's small and often-read sharing list, is tried first: one record
/// read instead of a binary search over cold records. Any other case falls back to the search.
#[inline(always)]
fn record_index(sharing: &[Sharing], held: &Held, peer: NodeId) -> Option<usize> {
    let records = &held.records;
    if let Some(s) = group_sharing(sharing, held.group())
        && let Some(h) = s.position(peer)
        && records.get(h).is_some_and(|r| r.peer() == peer)
    {
        return Some(h);
    }
    records.binary_search_by_key(&peer, |r| r.peer()).ok()
}

/// The node's sharing of `group`, if it shares it with anyone.
#[inline]
fn group_sharing(sharing: &[Sharing], group: GroupId) -> Option<&Sharing> {
    match sharing {
        // Most nodes share one group: no search.
        [only] => (only.group() == group).then_some(only),
        _ => sharing
            .binary_search_by_key(&group, Sharing::group)
            .ok()
            .map(|i| &sharing[i]),
    }
}

/// Calls `emit` with the sort key of every record or request a live due entry stands for
/// (nothing if the entry is dead: its record is gone, was sent since, or no longer needs
/// sending; a message entry stands for each of its records due at `t`): `rank << 62 |
/// message << 30 | where`, rank first (0 a request, step 3; 1 a requested message, step 4; 2
/// any other record, step 5), then message, then peer, as the step's order wants. `where` is,
/// for a request, the peer's id; for a record, its position in the message's records, which
/// are sorted by peer, so that positions order a message's records as their peers do (node ids
/// and positions fit in 30 bits). Sorting and deduplicating compare one integer, and the record
/// is found again without a search.
#[inline(always)]
fn due_keys(
    node: (&Messages, &[Sharing], &BTreeMap<MsgRef, Wanted>),
    t: Tick,
    d: Due,
    ready: &mut Vec<u64>,
) {
    if d.kind() != DueKind::Message {
        if let Some(key) = one_due_key(node, t, d) {
            ready.push(key);
        }
        return;
    }
    let (messages, _, _) = node;
    let Some((&msg, held)) = messages.get_index(d.key as usize) else {
        return;
    };
    // Without a branch per record: which of a message's records are still due (others were
    // acked, or sent since) follows no pattern a branch predictor could learn. Every record's
    // key is written and the count moves on only past the live ones.
    let records: &[Record] = &held.records;
    let base = ready.len();
    ready.resize(base + records.len(), 0);
    let slots = &mut ready[base..];
    let mut live = 0;
    for (i, r) in records.iter().enumerate() {
        slots[live] = due_key(r.rank(), msg, i);
        live += usize::from(r.due_at(t));
    }
    ready.truncate(base + live);
}

/// The key of [`due_keys`] of rank `rank`, message `msg` and position or peer `at`.
#[inline(always)]
fn due_key(rank: u64, msg: MsgRef, at: usize) -> u64 {
    debug_assert!(at < 1 << 30, "node ids and record positions fit in 30 bits");
    (rank << 62) | (u64::from(msg.0) << 30) | at as u64
}

/// The key of a live record or request entry ([`due_keys`]), `None` if it is dead.
#[inline(always)]
fn one_due_key(
    node: (&Messages, &[Sharing], &BTreeMap<MsgRef, Wanted>),
    t: Tick,
    d: Due,
) -> Option<u64> {
    let (messages, sharing, wanted) = node;
    match d.kind() {
        DueKind::Record => {
            let (&msg, held) = messages.get_index(d.key as usize)?;
            let i = entry_record(sharing, held, d)?;
            let r = &held.records[i];
            r.due_at(t).then(|| due_key(r.rank(), msg, i))
        }
        DueKind::Request => {
            let msg = MsgRef(d.key);
            let w = wanted.get(&msg)?;
            let i = w.requests.binary_search_by_key(&d.peer, |r| r.peer).ok()?;
            (w.requests[i].send_time == t).then(|| due_key(0, msg, d.peer.idx()))
        }
        DueKind::Message => unreachable!("message entries stand for several keys"),
    }
}

/// The position in `held` of the record a record entry names: the entry's position hint if the
/// record there is its peer's (records inserted since move the others), else the peer's record
/// found again.
#[inline(always)]
fn entry_record(sharing: &[Sharing], held: &Held, d: Due) -> Option<usize> {
    match held.records.get(d.pos()) {
        Some(r) if r.peer() == d.peer => Some(d.pos()),
        _ => record_index(sharing, held, d.peer),
    }
}

/// Whether a due entry is live: stands for at least one record or request due at `t` (see
/// [`due_keys`]).
#[inline(always)]
fn due_live(node: (&Messages, &[Sharing], &BTreeMap<MsgRef, Wanted>), t: Tick, d: Due) -> bool {
    if d.kind() == DueKind::Message {
        let (messages, _, _) = node;
        return messages
            .get_index(d.key as usize)
            .is_some_and(|(_, held)| held.records.iter().any(|r| r.due_at(t)));
    }
    one_due_key(node, t, d).is_some()
}

/// Queues the next sends of the records of one message that a step just sent (the held
/// message at position `m`; `sent` are the `(send time, peer, position)` of those still
/// unheld): one message entry if there are several and they share their send time (records in
/// step: without jitter, records created together and sent together), else one entry each
/// (with jitter every send draws its own time; sorting them to find the few that agree costs
/// more than their entries). `sent` is left empty.
#[inline(always)]
fn queue_sent(due: &mut DueQueue, m: usize, sent: &mut Vec<(Tick, NodeId, u32)>) {
    if let [(t, _, _), rest @ ..] = sent.as_slice()
        && !rest.is_empty()
        && rest.iter().all(|&(u, _, _)| u == *t)
    {
        due.push(*t, Due::message(m));
    } else {
        for &(t, peer, ri) in sent.iter() {
            due.push(t, Due::record(m, peer, ri as usize));
        }
    }
    sent.clear();
}

/// Sends record `r` of message `msg` at `now` (steps 4 and 5): counts the send and sets its
/// next send time, clears its request flag, and gives whether it had been requested and the
/// item that goes out (the message if requested or in batch mode, else an offer).
#[inline(always)]
fn send_record(
    schedule: &Schedule,
    rng: &mut Stream,
    now: Tick,
    r: &mut Record,
    msg: MsgRef,
    batch: bool,
) -> (bool, Item) {
    let requested = r.request();
    schedule.count_send(&mut r.send_count, &mut r.send_time, now, rng);
    r.set_request(false);
    let item = if requested || batch {
        Item::Message(msg)
    } else {
        Item::Offer(msg)
    };
    (requested, item)
}

/// The `(rank, message, where)` of a key of [`due_keys`].
#[inline]
fn from_due_key(key: u64) -> (u8, MsgRef, u32) {
    (
        (key >> 62) as u8,
        MsgRef((key >> 30) as u32),
        (key & ((1 << 30) - 1)) as u32,
    )
}

/// An ACK owed to `peer` for `msg`, with where its record was when it became owed: position
/// `m` in the held messages, `r` in their records. The positions are a hint, checked before
/// use (a record inserted since moves those after it); the record is found again if they miss.
#[derive(Clone, Copy, Debug)]
struct AckDue {
    msg: MsgRef,
    peer: NodeId,
    m: u32,
    r: u32,
}

/// The earlier of two optional ticks (`None` is never).
fn earliest(a: Option<Tick>, b: Option<Tick>) -> Option<Tick> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Working buffers of [`SyncNode::step_with`]; their contents do not outlive a step.
#[derive(Debug, Default)]
pub struct StepBuffers {
    /// `(peer, item)` to send, in step order (`record` packing).
    items: Vec<(NodeId, Item)>,
    /// The once-per-offer requests of step 3.
    requests: Vec<(NodeId, Item)>,
    /// What the step takes off the due calendar.
    due: DueBuffers,
    /// The payloads being filled (`payload` packing), and the spare vectors they are made of.
    open: OpenPayloads,
}

/// The working lists of a step's due entries.
#[derive(Debug, Default)]
struct DueBuffers {
    /// Due entries taken out, as keys of [`due_keys`] (with `together`: request entries only).
    ready: Vec<u64>,
    /// The records of one message just sent, waiting to be queued again ([`queue_sent`]).
    sent: Vec<(Tick, NodeId, u32)>,
    /// With `together`: the record and message entries taken out, by message.
    entries: Vec<TakenEntry>,
    /// With `together`: per message with records due, which ([`DueRecords`]), in message order.
    messages: Vec<DueRecords>,
}

/// A record or message entry taken off the due calendar, with its message and tick.
#[derive(Clone, Copy, Debug)]
struct TakenEntry {
    msg: MsgRef,
    t: Tick,
    due: Due,
}

/// The records of one held message due in a step, as bits of their positions (a message has
/// at most 64 records here: see [`SyncNode::send_due_together`]).
#[derive(Clone, Copy, Debug)]
struct DueRecords {
    /// The message's position among the held messages.
    m: u32,
    msg: MsgRef,
    /// Bit `i`: record `i` is due.
    due: u64,
    /// Bit `i`: record `i` is due and requested (step 4 sends it before step 5's).
    requested: u64,
}

/// The payloads of one step being filled, one per peer, items appended in step order.
#[derive(Debug, Default)]
struct OpenPayloads {
    /// Per node id, the payload being filled for that peer (empty: none open); grows to the
    /// highest peer id seen. A payload handed out is replaced by a spare vector, so each slot
    /// keeps memory for the next step and a push is one indexed append.
    by_peer: Vec<Vec<Item>>,
    /// Bit `p` is set iff peer `p` (below 64) has a payload open: those peers in id order
    /// without a sort, one bit scan each (a split run's components have dense ids of their own,
    /// so a group of up to 64 nodes needs nothing else).
    low: u64,
    /// Peers of id 64 or more with a payload open, in the order they got their first item.
    high: Vec<NodeId>,
    /// Empty payload vectors handed back by [`StepBuffers::recycle`], reused for new payloads.
    spare: Vec<Vec<Item>>,
}

impl OpenPayloads {
    /// Appends `item` to `peer`'s payload, opening one if it has none.
    #[inline(always)]
    fn push(&mut self, peer: NodeId, item: Item) {
        let p = peer.idx();
        if p >= self.by_peer.len() {
            self.by_peer.resize_with(p + 1, Vec::new);
        }
        let payload = &mut self.by_peer[p];
        if p < 64 {
            self.low |= 1 << p;
        } else if payload.is_empty() {
            self.high.push(peer);
        }
        payload.push(item);
    }

    /// Sends every open payload, peers in id order, each payload's items in receive order
    /// (acks, requests, offers, messages) and, within a kind, in step order: a stable sort by
    /// kind of what the step appended, skipped when `in_order` (batch mode appends acks,
    /// requests and messages in that order). Nothing is left open.
    fn send_all(&mut self, out: &mut Vec<Output>, in_order: bool) {
        let mut low = std::mem::take(&mut self.low);
        if self.high.is_empty() {
            while low != 0 {
                let p = low.trailing_zeros() as usize;
                low &= low - 1;
                self.hand_over(out, p, in_order);
            }
            return;
        }
        // Some peer is 64 or more: all of them in one list, sorted (peers are distinct).
        let mut peers = std::mem::take(&mut self.high);
        while low != 0 {
            peers.push(NodeId(low.trailing_zeros()));
            low &= low - 1;
        }
        peers.sort_unstable();
        out.reserve(peers.len());
        for &peer in &peers {
            self.hand_over(out, peer.idx(), in_order);
        }
        peers.clear();
        self.high = peers;
    }

    /// Puts peer `p`'s payload in `out`, its items in receive order, and gives the peer's slot
    /// a spare vector.
    #[inline(always)]
    fn hand_over(&mut self, out: &mut Vec<Output>, p: usize, in_order: bool) {
        let spare = self.spare.pop().unwrap_or_default();
        let mut payload = std::mem::replace(&mut self.by_peer[p], spare);
        if !in_order {
            payload.sort_by_key(|i| i.kind().receive_rank());
        }
        debug_assert!(
            payload
                .windows(2)
                .all(|w| w[0].kind().receive_rank() <= w[1].kind().receive_rank())
        );
        out.push(Output::Send {
            to: NodeId(p as u32),
            packet: Packet::Payload(payload),
        });
    }
}

/// Where a step's items go: to `items` in step order (`record` packing), or into one payload
/// per peer (`payload` packing).
struct Outbox<'a> {
    payload: bool,
    /// Items reach each payload in receive order (batch mode).
    in_order: bool,
    items: &'a mut Vec<(NodeId, Item)>,
    open: &'a mut OpenPayloads,
}

impl Outbox<'_> {
    #[inline(always)]
    fn push(&mut self, peer: NodeId, item: Item) {
        if self.payload {
            self.open.push(peer, item);
        } else {
            self.items.push((peer, item));
        }
    }

    /// Hands what the step gave to `out`: packets of one item in step order, or the payloads.
    fn send(self, out: &mut Vec<Output>) {
        if self.payload {
            self.open.send_all(out, self.in_order);
        } else {
            out.extend(self.items.drain(..).map(|(to, item)| Output::Send {
                to,
                packet: Packet::Record(item),
            }));
        }
    }
}

/// Payload vectors kept for reuse, at most (each holds its capacity).
const SPARE_PAYLOADS: usize = 4096;

impl StepBuffers {
    /// Hands back a packet that has been delivered or dropped, so that its payload's memory
    /// carries the next payload (no allocation per packet in a steady run).
    pub fn recycle(&mut self, packet: Packet) {
        if let Packet::Payload(mut items) = packet
            && self.open.spare.len() < SPARE_PAYLOADS
        {
            items.clear();
            self.open.spare.push(items);
        }
    }
}

impl SyncNode {
    /// A node with no messages and no sharing; `rng` is its protocol stream (backoff jitter).
    pub fn new(config: SyncConfig, rng: Stream) -> Self {
        let schedule = Schedule::new(&config.backoff);
        Self {
            together: !schedule.draws(),
            schedule,
            config,
            rng,
            sharing: Vec::new(),
            messages: Messages::default(),
            wanted: BTreeMap::new(),
            offered: BTreeMap::new(),
            due: DueQueue::default(),
            acks_due: Vec::new(),
            ephemeral_out: Vec::new(),
            work_since: None,
            waiting: BTreeMap::new(),
            last_heard: BTreeMap::new(),
            requested: 0,
            stats: SyncStats::default(),
            #[cfg(test)]
            keys_only: false,
            #[cfg(test)]
            walks: (0, 0),
        }
    }

    /// Whether steps take the keys' way whatever `together` says (tests only).
    #[inline(always)]
    fn keys_only(&self) -> bool {
        #[cfg(test)]
        return self.keys_only;
        #[cfg(not(test))]
        false
    }

    /// Makes room for `additional` more held messages (a caller that knows how many the node
    /// will hold spares the map its growth).
    pub fn reserve(&mut self, additional: usize) {
        self.messages.reserve(additional);
    }

    /// The node's configuration.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// Sets the peers this node shares `group` with, from `now` on. A peer added gets a record,
    /// due at once, for every message of the group the node holds (so it catches up); a peer
    /// removed loses its records of the group.
    pub fn set_sharing(&mut self, now: Tick, group: GroupId, mut peers: Vec<NodeId>) {
        peers.sort_unstable();
        peers.dedup();
        let old = match self.sharing.binary_search_by_key(&group, Sharing::group) {
            Ok(i) => self.sharing[i].replace(peers.clone()),
            Err(i) => {
                self.sharing.insert(i, Sharing::new(group, peers.clone()));
                Vec::new()
            }
        };
        let added: Vec<NodeId> = peers
            .iter()
            .copied()
            .filter(|p| old.binary_search(p).is_err())
            .collect();
        let removed: Vec<NodeId> = old
            .iter()
            .copied()
            .filter(|p| peers.binary_search(p).is_err())
            .collect();
        if added.is_empty() && removed.is_empty() {
            return;
        }
        for (m, held) in self.messages.values_mut().enumerate() {
            if held.group() != group {
                continue;
            }
            held.records
                .retain(|r| removed.binary_search(&r.peer()).is_err());
            for &p in &added {
                if let Err(i) = held.records.binary_search_by_key(&p, |r| r.peer()) {
                    held.records.insert(i, Record::new(p, now));
                    self.due.push(now, Due::record(m, p, i));
                }
            }
        }
    }

    /// The peers this node shares `group` with.
    pub fn sharing(&self, group: GroupId) -> &[NodeId] {
        group_sharing(&self.sharing, group).map_or(&[], Sharing::peers)
    }

    fn shares(&self, group: GroupId, peer: NodeId) -> bool {
        group_sharing(&self.sharing, group).is_some_and(|s| s.contains(peer))
    }

    /// Whether the node holds (has stored) `msg`.
    pub fn holds(&self, msg: MsgRef) -> bool {
        self.messages.contains_key(&msg)
    }

    /// Whether `msg` has been delivered to the application (held messages only).
    pub fn delivered(&self, msg: MsgRef) -> bool {
        self.messages.get(&msg).is_some_and(|h| h.delivered())
    }

    /// The record of (`msg`, `peer`), if any.
    pub fn record(&self, msg: MsgRef, peer: NodeId) -> Option<&Record> {
        let held = self.messages.get(&msg)?;
        let i = record_index(&self.sharing, held, peer)?;
        Some(&held.records[i])
    }

    #[inline(always)]
    fn record_mut(&mut self, msg: MsgRef, peer: NodeId) -> Option<&mut Record> {
        let held = self.messages.get_mut(&msg)?;
        let i = record_index(&self.sharing, held, peer)?;
        Some(&mut held.records[i])
    }

    /// The record of (`msg`, `peer`) and an ACK owed on it (its positions recorded).
    fn record_for_ack(&mut self, msg: MsgRef, peer: NodeId) -> Option<(&mut Record, AckDue)> {
        let (m, held) = self.messages.get_full_mut(&msg)?;
        let r = record_index(&self.sharing, held, peer)?;
        let ack = AckDue {
            msg,
            peer,
            m: m as u32,
            r: r as u32,
        };
        Some((&mut held.records[r], ack))
    }

    /// The record an owed ACK is for: at the positions it recorded if it is still there, else
    /// found by message and peer.
    fn acked_record_mut(&mut self, a: AckDue) -> Option<&mut Record> {
        let (m, r) = (a.m as usize, a.r as usize);
        let still = self.messages.get_index(m).is_some_and(|(&id, held)| {
            id == a.msg && held.records.get(r).is_some_and(|x| x.peer() == a.peer)
        });
        if still {
            return self.messages.get_index_mut(m).map(|h| &mut h.records[r]);
        }
        self.record_mut(a.msg, a.peer)
    }

    /// The request record of a wanted `msg` to `peer`, if any.
    pub fn request_record(&self, msg: MsgRef, peer: NodeId) -> Option<&RequestRecord> {
        let w = self.wanted.get(&msg)?;
        let i = w.requests.binary_search_by_key(&peer, |r| r.peer).ok()?;
        Some(&w.requests[i])
    }

    /// The ids `peer` offered that are not yet acked or requested, oldest first.
    pub fn offered(&self, peer: NodeId) -> Vec<MsgRef> {
        self.offered
            .get(&peer)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The node's counters.
    pub fn stats(&self) -> &SyncStats {
        &self.stats
    }

    /// Records of held messages plus request records, for memory accounting.
    pub fn record_count(&self) -> u64 {
        let held: usize = self.messages.values().map(|h| h.records.len()).sum();
        let asked: usize = self.wanted.values().map(|w| w.requests.len()).sum();
        (held + asked) as u64
    }

    /// Heap bytes held by this state machine, counted from the capacities of its containers
    /// (B-tree nodes counted at their entries' size; allocator overhead not included).
    pub fn heap_bytes(&self) -> u64 {
        use std::mem::size_of;
        let mut b = self.messages.heap_bytes();
        b += self
            .messages
            .values()
            .map(|h| h.records.heap_bytes())
            .sum::<usize>();
        b += self.wanted.len() * size_of::<(MsgRef, Wanted)>();
        b += self
            .wanted
            .values()
            .map(|w| {
                w.holders.capacity() * size_of::<NodeId>()
                    + w.requests.capacity() * size_of::<RequestRecord>()
            })
            .sum::<usize>();
        b += self
            .offered
            .values()
            .map(|q| size_of::<(NodeId, VecDeque<MsgRef>)>() + q.capacity() * size_of::<MsgRef>())
            .sum::<usize>();
        b += self.due.heap_bytes();
        b += self.acks_due.capacity() * size_of::<AckDue>();
        b += self.ephemeral_out.capacity() * size_of::<MsgRef>();
        b += self
            .waiting
            .values()
            .map(|v| size_of::<(MsgRef, Vec<MsgRef>)>() + v.capacity() * size_of::<MsgRef>())
            .sum::<usize>();
        b += self.last_heard.len() * size_of::<(NodeId, Tick)>();
        b += self
            .sharing
            .iter()
            .map(|s| size_of::<Sharing>() + s.heap_bytes())
            .sum::<usize>();
        b as u64
    }

    /// The part of [`SyncNode::heap_bytes`] that finds held messages and peers by id (tables by
    /// id while ids are close together, else a hash map or nothing): it depends on how the run
    /// numbers messages and nodes.
    pub fn index_bytes(&self) -> u64 {
        let peers: usize = self.sharing.iter().map(Sharing::index_bytes).sum();
        (self.messages.index_bytes() + peers) as u64
    }

    /// The sync-state table: every held message (in the order the node got it), its group and
    /// its records (sorted by peer).
    pub fn table(&self) -> impl Iterator<Item = (MsgRef, GroupId, &[Record])> {
        self.messages
            .iter()
            .map(|(&m, held)| (m, held.group(), &*held.records))
    }

    /// The sync-state table of [`SyncNode::table`], taken out of the node (records moved, not
    /// copied); the node is left without messages.
    pub fn take_table(&mut self) -> impl Iterator<Item = (MsgRef, GroupId, Records)> {
        std::mem::take(&mut self.messages)
            .into_iter()
            .map(|(m, held)| (m, held.group(), held.records))
    }

    fn mark_work(&mut self, now: Tick) {
        if self.work_since.is_none() {
            self.work_since = Some(now);
        }
    }

    /// The application appends `msg` at `now`. A regular message is held and gets a record, due
    /// at once, for every peer sharing its group; an ephemeral one is sent once at the next step.
    pub fn append(&mut self, now: Tick, msg: MsgRef, catalog: &[MessageMeta]) {
        let meta = &catalog[msg.idx()];
        if meta.ephemeral {
            self.ephemeral_out.push(msg);
            self.mark_work(now);
            return;
        }
        if self.holds(msg) {
            return;
        }
        let group = meta.group;
        let records: Vec<Record> = self
            .sharing(group)
            .iter()
            .map(|&p| Record::new(p, now))
            .collect();
        self.due
            .push_unheld(self.messages.len(), &records, self.together);
        self.wanted.remove(&msg);
        self.messages
            .insert(Held::new(msg, group, true, Records::from_vec(records)));
    }

    /// Processes a packet from `from` arriving at `now`, in the order acks → requests → offers →
    /// messages.
    pub fn handle_packet(
        &mut self,
        now: Tick,
        from: NodeId,
        packet: &Packet,
        catalog: &[MessageMeta],
        out: &mut Vec<Output>,
    ) {
        self.on_contact(now, from);
        let items = packet.items();
        let in_order = items
            .windows(2)
            .all(|w| w[0].kind().receive_rank() <= w[1].kind().receive_rank());
        let reordered: Vec<Item>;
        let items = if in_order {
            items
        } else {
            reordered = {
                let mut v = items.to_vec();
                v.sort_by_key(|i| i.kind().receive_rank());
                v
            };
            &reordered
        };
        for &item in items {
            match item {
                Item::Ack(msg) => self.on_ack(msg, from),
                Item::Request(msg) => self.on_request(now, msg, from, catalog),
                Item::Offer(msg) => {
                    if self.shares(catalog[msg.idx()].group, from) {
                        self.on_offer(now, msg, from)
                    } else {
                        self.stats.offers_refused += 1;
                    }
                }
                Item::Message(msg) => self.on_message(now, from, msg, catalog, out),
            }
        }
    }

    fn on_contact(&mut self, now: Tick, from: NodeId) {
        let Some(silence) = self.config.reset_on_contact else {
            return;
        };
        let last = self.last_heard.insert(from, now);
        if last.is_some_and(|l| now - l <= silence) {
            return;
        }
        let mut pulled = false;
        for (m, held) in self.messages.values_mut().enumerate() {
            if let Some(i) = record_index(&self.sharing, held, from) {
                let r = &mut held.records[i];
                if r.is_due_candidate() && r.send_time > now {
                    r.send_time = now;
                    self.due.push(now, Due::record(m, from, i));
                    pulled = true;
                }
            }
        }
        for (&msg, w) in self.wanted.iter_mut() {
            if let Ok(i) = w.requests.binary_search_by_key(&from, |r| r.peer) {
                let r = &mut w.requests[i];
                if r.send_time > now {
                    r.send_time = now;
                    self.due.push(now, Due::request(msg, from));
                    pulled = true;
                }
            }
        }
        if pulled {
            self.stats.contact_resets += 1;
        }
    }

    fn on_ack(&mut self, msg: MsgRef, from: NodeId) {
        match self.record_mut(msg, from) {
            Some(r) => r.set_hold(true),
            None => self.stats.unexpected_acks += 1,
        }
    }

    fn on_request(&mut self, now: Tick, msg: MsgRef, from: NodeId, catalog: &[MessageMeta]) {
        let group = catalog[msg.idx()].group;
        if !self.holds(msg) || !self.shares(group, from) {
            self.stats.unserved_requests += 1;
            return;
        }
        let (m, held) = self.messages.get_full_mut(&msg).expect("held");
        let i = match held.records.binary_search_by_key(&from, |r| r.peer()) {
            Ok(i) => i,
            Err(i) => {
                // Without forwarding only the sender has a record; a request creates one.
                held.records.insert(i, Record::new(from, now));
                i
            }
        };
        let r = &mut held.records[i];
        self.requested += u32::from(!r.request());
        r.set_request(true);
        r.send_time = r.send_time.min(now);
        self.due.push(r.send_time, Due::record(m, from, i));
    }

    fn on_offer(&mut self, now: Tick, msg: MsgRef, from: NodeId) {
        if let Some(r) = self.record_mut(msg, from) {
            r.set_hold(true);
        } else if !self.holds(msg) {
            let w = self.wanted.entry(msg).or_default();
            if let Err(i) = w.holders.binary_search(&from) {
                w.holders.insert(i, from);
            }
        }
        let cap = self.config.offered_cap;
        if cap == 0 {
            // No list to keep: the offer is dropped at once (and no empty list is made, so
            // `offered` holds only lists with work in them).
            self.stats.offers_dropped += 1;
            return;
        }
        let queue = self.offered.entry(from).or_default();
        if queue.contains(&msg) {
            return;
        }
        if queue.len() >= cap {
            queue.pop_front();
            self.stats.offers_dropped += 1;
        }
        queue.push_back(msg);
        self.mark_work(now);
    }

    fn owe_ack(&mut self, now: Tick, msg: MsgRef, to: NodeId, out: &mut Vec<Output>) {
        match self.config.ack {
            AckTiming::Immediate => out.push(Output::Send {
                to,
                packet: Packet::Record(Item::Ack(msg)),
            }),
            AckTiming::Step => {
                if let Some((r, owed)) = self.record_for_ack(msg, to)
                    && !r.ack()
                {
                    r.set_ack(true);
                    self.acks_due.push(owed);
                    self.mark_work(now);
                }
            }
        }
    }

    fn on_message(
        &mut self,
        now: Tick,
        from: NodeId,
        msg: MsgRef,
        catalog: &[MessageMeta],
        out: &mut Vec<Output>,
    ) {
        let meta = &catalog[msg.idx()];
        if !self.shares(meta.group, from) {
            self.stats.refused += 1;
            return;
        }
        if meta.ephemeral {
            out.push(Output::Deliver { msg, from });
            return;
        }
        if let Some((m, held)) = self.messages.get_full_mut(&msg) {
            // A duplicate: the sender holds it; ACK it again (one lookup for both).
            self.stats.duplicates += 1;
            let record = record_index(&self.sharing, held, from).map(|i| (i, &mut held.records[i]));
            match self.config.ack {
                AckTiming::Immediate => {
                    if let Some((_, r)) = record {
                        r.set_hold(true);
                    }
                    out.push(Output::Send {
                        to: from,
                        packet: Packet::Record(Item::Ack(msg)),
                    });
                }
                AckTiming::Step => {
                    if let Some((i, r)) = record {
                        r.set_hold(true);
                        if !r.ack() {
                            r.set_ack(true);
                            self.acks_due.push(AckDue {
                                msg,
                                peer: from,
                                m: m as u32,
                                r: i as u32,
                            });
                            self.work_since.get_or_insert(now);
                        }
                    }
                }
            }
            return;
        }
        let group = meta.group;
        let forwarding = self.config.forwarding;
        let holders = self
            .wanted
            .remove(&msg)
            .map(|w| w.holders)
            .unwrap_or_default();
        let record = |p: NodeId| {
            let mut r = Record::new(p, now);
            if p == from {
                r.set_hold(true);
                r.send_time = 0;
            } else if holders.binary_search(&p).is_ok() {
                r.set_hold(true);
            }
            r
        };
        // The sender shares the group (checked above): without forwarding its record is the
        // only one.
        let records = if forwarding {
            Records::from_vec(self.sharing(group).iter().map(|&p| record(p)).collect())
        } else {
            Records::One(record(from))
        };
        self.due
            .push_unheld(self.messages.len(), &records, self.together);
        let missing: Vec<MsgRef> = match self.config.delivery {
            Delivery::Eventual => Vec::new(),
            Delivery::Consistent => meta
                .parents
                .iter()
                .copied()
                .filter(|&p| !self.delivered(p))
                .collect(),
        };
        self.messages
            .insert(Held::new(msg, group, missing.is_empty(), records));
        if missing.is_empty() {
            out.push(Output::Deliver { msg, from });
            self.release_children(msg, from, out);
        }
        self.owe_ack(now, msg, from, out);
        for parent in missing {
            let children = self.waiting.entry(parent).or_default();
            if !children.contains(&msg) {
                children.push(msg);
            }
            if !self.holds(parent) {
                // Ask the sender for the missing parent, on the request backoff.
                let w = self.wanted.entry(parent).or_default();
                if let Err(i) = w.requests.binary_search_by_key(&from, |r| r.peer) {
                    w.requests.insert(
                        i,
                        RequestRecord {
                            peer: from,
                            send_count: 0,
                            send_time: now,
                        },
                    );
                    self.due.push(now, Due::request(parent, from));
                }
            }
        }
    }

    /// Delivers, transitively, every stored child that was waiting only for `parent` (just
    /// delivered).
    fn release_children(&mut self, parent: MsgRef, from: NodeId, out: &mut Vec<Output>) {
        if self.waiting.is_empty() {
            return; // nothing waits (always so with eventual delivery)
        }
        let mut ready = vec![parent];
        while let Some(p) = ready.pop() {
            let Some(children) = self.waiting.remove(&p) else {
                continue;
            };
            for child in children {
                if self.delivered(child) || !self.holds(child) {
                    continue;
                }
                let still_waiting = self.waiting.values().any(|c| c.contains(&child));
                if !still_waiting {
                    self.messages.get_mut(&child).expect("held").set_delivered();
                    out.push(Output::Deliver { msg: child, from });
                    ready.push(child);
                }
            }
        }
    }

    /// The earliest tick at which a step would send something, or `None` if nothing is pending.
    pub fn poll_timeout(&mut self) -> Option<Tick> {
        let node = (&self.messages, self.sharing.as_slice(), &self.wanted);
        let due = self.due.first_live(
            #[inline(always)]
            |t, d| due_live(node, t, d),
        );
        earliest(due, self.work_since)
    }

    /// Whether work that needs no calendar (ACKs owed, offers, ephemerals) has been pending
    /// since `not_before` or earlier: then a step at `not_before` has work whatever the calendar
    /// holds.
    #[inline(always)]
    fn work_pending_by(&self, not_before: Tick) -> bool {
        self.work_since.is_some_and(|w| w <= not_before)
    }

    /// `poll_timeout`'s answer raised to `not_before`: the first tick at or after `not_before`
    /// at which a step would have work, if any. When work is pending since `not_before` or
    /// earlier (ACKs owed, offers), that is `not_before`, without searching the calendar.
    #[inline]
    pub fn poll_timeout_from(&mut self, not_before: Tick) -> Option<Tick> {
        if self.work_pending_by(not_before) {
            return Some(not_before);
        }
        self.poll_timeout().map(|t| t.max(not_before))
    }

    /// A tick at or after `not_before` before which no step has work, in about O(1), or `None`
    /// if nothing is pending: [`SyncNode::poll_timeout_from`] without looking at whether the
    /// first calendar entries are still live (an ACK may have made them dead). A step there may
    /// find nothing to do (and says so); it drops the dead entries, and the next call answers a
    /// later tick. A caller that wakes the node at this tick sees the same steps as one that
    /// wakes it at `poll_timeout_from`'s, provided the order of nodes' steps within a tick does
    /// not depend on when they were scheduled (the engine orders them by node id).
    #[inline]
    pub fn wake_from(&mut self, not_before: Tick) -> Option<Tick> {
        if self.work_pending_by(not_before) {
            return Some(not_before);
        }
        earliest(self.due.first_queued(), self.work_since).map(|t| t.max(not_before))
    }

    /// A tick before which no step has work, in O(1): at most [`SyncNode::poll_timeout`]'s
    /// answer (`None` means `poll_timeout` would say `None`). A caller that already has a step
    /// scheduled at or before it need not poll.
    pub fn timeout_floor(&self) -> Option<Tick> {
        earliest(self.due.floor(), self.work_since)
    }

    /// One step at `now` (see the module docs for the order). Returns whether it had work:
    /// exactly when [`SyncNode::poll_timeout`] would have answered `now` or earlier. A step
    /// without work changes nothing a caller can see (it only drops stale calendar entries).
    pub fn step(&mut self, now: Tick, catalog: &[MessageMeta], out: &mut Vec<Output>) -> bool {
        self.step_with(now, catalog, out, &mut StepBuffers::default())
    }

    /// [`SyncNode::step`] with working buffers the caller keeps between steps (of any nodes), so
    /// a step allocates nothing but the packets it sends.
    pub fn step_with(
        &mut self,
        now: Tick,
        catalog: &[MessageMeta],
        out: &mut Vec<Output>,
        buffers: &mut StepBuffers,
    ) -> bool {
        buffers.items.clear();
        let mut items = Outbox {
            payload: self.config.packing == Packing::Payload,
            in_order: self.config.mode == Mode::Batch,
            items: &mut buffers.items,
            open: &mut buffers.open,
        };
        // Acks owed, offers and ephemerals all mark work; without it, only the calendar can
        // have something due.
        let pending = self.work_since.take().is_some();

        // Offers first: an offered message we hold is owed an ACK (step 2, sent with step 1's
        // ACKs, once per peer and message); one we do not hold is requested (step 3).
        let retransmit = self.config.request_retransmit;
        let requests_now = &mut buffers.requests;
        requests_now.clear();
        // (Iterating an empty map would still build and drop an iterator every step.)
        if !self.offered.is_empty() {
            let offered = std::mem::take(&mut self.offered);
            for (peer, queue) in offered {
                for msg in queue {
                    if !self.shares(catalog[msg.idx()].group, peer) {
                        // The peer stopped sharing the group since it offered: forget it.
                        continue;
                    }
                    if self.holds(msg) {
                        if let Some((r, owed)) = self.record_for_ack(msg, peer) {
                            r.set_hold(true);
                            if !r.ack() {
                                r.set_ack(true);
                                self.acks_due.push(owed);
                            }
                        }
                        continue;
                    }
                    let w = self.wanted.entry(msg).or_default();
                    match w.requests.binary_search_by_key(&peer, |r| r.peer) {
                        // Already requested: it retransmits on its backoff.
                        Ok(_) if retransmit => {}
                        Ok(i) => {
                            // BSP: one request per offer received.
                            let r = &mut w.requests[i];
                            let (count, time) = (&mut r.send_count, &mut r.send_time);
                            self.schedule.count_send(count, time, now, &mut self.rng);
                            requests_now.push((peer, Item::Request(msg)));
                        }
                        Err(i) => {
                            w.requests.insert(
                                i,
                                RequestRecord {
                                    peer,
                                    send_count: 0,
                                    send_time: now,
                                },
                            );
                            self.due.push(now, Due::request(msg, peer));
                        }
                    }
                }
            }
        }

        // 1 and 2. ACK every message a peer sent or offered us that we have not acked yet.
        // The list is handed back emptied, so its memory carries the next step's ACKs (nothing
        // pushes to it in between).
        let mut acks = std::mem::take(&mut self.acks_due);
        for &owed in &acks {
            if let Some(r) = self.acked_record_mut(owed)
                && r.ack()
            {
                r.set_ack(false);
                items.push(owed.peer, Item::Ack(owed.msg));
            }
        }
        acks.clear();
        self.acks_due = acks;
        // 3. REQUEST (the once-per-offer requests; retransmitted ones come off the due calendar below).
        for (peer, item) in requests_now.drain(..) {
            items.push(peer, item);
        }

        // Everything due whose time has come, ranked: requests (step 3) first, then requested
        // messages (step 4), then the rest (step 5); by message and peer within a rank.
        let worked = if self.together && !self.keys_only() {
            self.send_due_together(now, catalog, pending, &mut buffers.due, &mut items)
        } else {
            let ready = &mut buffers.due.ready;
            ready.clear();
            let node = (&self.messages, self.sharing.as_slice(), &self.wanted);
            // (`take_until` calls it from three loops; left to itself the compiler makes it a
            // call.)
            self.due.take_until(
                now,
                #[inline(always)]
                |t, d| due_keys(node, t, d, ready),
            );
            // Nothing inserts into `messages` or any record list before the positions in the
            // keys are used below.
            if !pending && ready.is_empty() {
                false
            } else {
                ready.sort_unstable();
                ready.dedup();
                let sent = &mut buffers.due.sent;
                if self.together {
                    self.send_ready::<true>(now, catalog, ready, sent, &mut items);
                } else {
                    self.send_ready::<false>(now, catalog, ready, sent, &mut items);
                }
                true
            }
        };
        if !worked {
            return false;
        }

        // Ephemeral messages: once, outright, to every peer sharing the group.
        let mut ephemeral = std::mem::take(&mut self.ephemeral_out);
        for &msg in &ephemeral {
            for &peer in self.sharing(catalog[msg.idx()].group) {
                items.push(peer, Item::Message(msg));
            }
        }
        ephemeral.clear();
        self.ephemeral_out = ephemeral;

        items.send(out);
        true
    }

    /// Steps 3 to 5 of a step when the node's backoff draws nothing (`together`): takes every
    /// entry due by `now` off the calendar, sends what the live ones name and queues each
    /// record's next send; returns whether the step had work (`pending`, or anything due).
    ///
    /// It sends what [`SyncNode::send_ready`] sends for the sorted keys of [`due_keys`], and
    /// each peer's items in the same order, without a key per record: the due records of a
    /// message are found as bits of their positions (a message entry's records read once), and
    /// the step sorts its few messages instead of its many records. Items to different peers
    /// are made in another order than the keys', which nothing can see: the backoff draws
    /// nothing, and each peer's payload still gets its items by rank (requested messages, step
    /// 4, before the rest, step 5), then message. Requests (rank 0, step 3) and a message of
    /// more than 64 records take the keys' way.
    fn send_due_together(
        &mut self,
        now: Tick,
        catalog: &[MessageMeta],
        pending: bool,
        bufs: &mut DueBuffers,
        items: &mut Outbox<'_>,
    ) -> bool {
        let DueBuffers {
            ready,
            sent,
            entries,
            messages,
        } = bufs;
        ready.clear();
        entries.clear();
        messages.clear();
        let node = (&self.messages, self.sharing.as_slice(), &self.wanted);
        self.due.take_until(
            now,
            #[inline(always)]
            |t, d| {
                if d.kind() == DueKind::Request {
                    if let Some(key) = one_due_key(node, t, d) {
                        ready.push(key);
                    }
                } else if let Some((&msg, _)) = node.0.get_index(d.key as usize) {
                    entries.push(TakenEntry { msg, t, due: d });
                }
            },
        );
        if entries.len() > 1 {
            entries.sort_unstable_by_key(|e| e.msg);
        }
        let mut wide = false;
        let mut any_requested = 0;
        for group in entries.chunk_by(|a, b| a.msg == b.msg) {
            let m = group[0].due.key as usize;
            let (_, held) = node.0.get_index(m).expect("taken above");
            let records: &[Record] = &held.records;
            if records.len() > 64 {
                wide = true;
                break;
            }
            let (mut due, mut requested) = (0u64, 0u64);
            for e in group {
                if e.due.kind() == DueKind::Message {
                    // Without a branch per record (which are due follows no pattern).
                    // (Last record first, each a shift by one: bit `i` is record `i`.)
                    let mut bits = 0u64;
                    for r in records.iter().rev() {
                        bits = bits << 1 | u64::from(r.due_at(e.t));
                    }
                    due |= bits;
                    continue;
                }
                if let Some(i) = entry_record(node.1, held, e.due) {
                    let r = &records[i];
                    if r.due_at(e.t) {
                        due |= 1 << i;
                    }
                }
            }
            if due != 0 {
                // Which of them were requested (read for the due ones only, and only if a
                // record may have the flag: few of a message's records are due at once).
                let mut bits = if self.requested == 0 { 0 } else { due };
                while bits != 0 {
                    let i = bits.trailing_zeros();
                    bits &= bits - 1;
                    requested |= u64::from(records[i as usize].request()) << i;
                }
                messages.push(DueRecords {
                    m: m as u32,
                    msg: group[0].msg,
                    due,
                    requested,
                });
                any_requested |= requested;
            }
        }
        if wide {
            for e in entries.iter() {
                due_keys(node, e.t, e.due, ready);
            }
            messages.clear();
            #[cfg(test)]
            {
                self.walks.1 += 1;
            }
        }
        if !pending && ready.is_empty() && messages.is_empty() {
            return false;
        }
        if !ready.is_empty() {
            ready.sort_unstable();
            ready.dedup();
            self.send_ready::<true>(now, catalog, ready, sent, items);
        }
        if any_requested != 0 {
            #[cfg(test)]
            {
                self.walks.0 += 1;
            }
            self.send_due_records(now, messages, |d| d.requested, items);
            self.send_due_records(now, messages, |d| d.due & !d.requested, items);
        } else {
            self.send_due_records(now, messages, |d| d.due, items);
        }
        true
    }

    /// Sends, message by message, the records `which` picks of each [`DueRecords`], and queues
    /// their next sends as [`queue_sent`] does: one message entry if two or more are still
    /// unheld and share their send time, else one entry each; as [`SyncNode::send_ready`]
    /// sends a record.
    #[inline(always)]
    fn send_due_records(
        &mut self,
        now: Tick,
        due: &[DueRecords],
        which: impl Fn(&DueRecords) -> u64,
        items: &mut Outbox<'_>,
    ) {
        let batch = self.config.mode == Mode::Batch;
        // (Each field borrowed on its own: the schedule is read once, not after every store to
        // a record.)
        let Self {
            messages,
            schedule,
            rng,
            requested: flagged,
            due: calendar,
            ..
        } = self;
        for d in due {
            let mut bits = which(d);
            if bits == 0 {
                continue;
            }
            let m = d.m as usize;
            let records: &mut [Record] = &mut messages.get_index_mut(m).expect("live").records;
            // The sent records still unheld, as bits, and whether they share the first one's
            // send time (no list of them); how many had the request flag (cleared here).
            let (mut unheld, mut first, mut together, mut cleared) = (0u64, 0, true, 0);
            while bits != 0 {
                let i = bits.trailing_zeros();
                bits &= bits - 1;
                let r = &mut records[i as usize];
                let peer = r.peer();
                let (requested, item) = send_record(schedule, rng, now, r, d.msg, batch);
                cleared += u32::from(requested);
                if !r.hold() {
                    if unheld == 0 {
                        first = r.send_time;
                    }
                    together &= r.send_time == first;
                    unheld |= 1 << i;
                }
                items.push(peer, item);
            }
            *flagged = flagged.saturating_sub(cleared);
            // (Two bits or more: clearing the lowest leaves some.)
            if unheld & unheld.wrapping_sub(1) != 0 && together {
                calendar.push(first, Due::message(m));
                continue;
            }
            while unheld != 0 {
                let i = unheld.trailing_zeros() as usize;
                unheld &= unheld - 1;
                let r = &records[i];
                calendar.push(r.send_time, Due::record(m, r.peer(), i));
            }
        }
    }

    /// Steps 3 to 5 of a step: sends what `ready` (the step's sorted, deduplicated due keys)
    /// names and queues each record's next send. With `TOGETHER` (the node's backoff draws
    /// nothing) the records of one message that get the same next send time share one calendar
    /// entry; without, each record gets its own (the step's two layouts, each compiled for
    /// its case).
    #[inline(always)]
    fn send_ready<const TOGETHER: bool>(
        &mut self,
        now: Tick,
        catalog: &[MessageMeta],
        ready: &[u64],
        sent: &mut Vec<(Tick, NodeId, u32)>,
        items: &mut Outbox<'_>,
    ) {
        sent.clear();
        let retransmit = self.config.request_retransmit;
        let batch = self.config.mode == Mode::Batch;
        // The message (rank and id) whose records are being sent, and its position (only with
        // `TOGETHER`).
        let mut run: Option<(u64, usize)> = None;
        for &key in ready.iter() {
            let (rank, msg, at) = from_due_key(key);
            if let Some((k, m)) = run
                && k != key >> 30
            {
                queue_sent(&mut self.due, m, sent);
                run = None;
            }
            if rank == 0 {
                let peer = NodeId(at);
                let shared = self.shares(catalog[msg.idx()].group, peer);
                let w = self.wanted.get_mut(&msg).expect("live");
                if !shared {
                    // The peer stopped sharing the group: no more requests to it.
                    w.requests.retain(|r| r.peer != peer);
                    w.holders.retain(|&h| h != peer);
                    continue;
                }
                let i = w
                    .requests
                    .binary_search_by_key(&peer, |r| r.peer)
                    .expect("live");
                let r = &mut w.requests[i];
                let (count, time) = (&mut r.send_count, &mut r.send_time);
                self.schedule.count_send(count, time, now, &mut self.rng);
                if retransmit {
                    self.due.push(r.send_time, Due::request(msg, peer));
                }
                items.push(peer, Item::Request(msg));
            } else {
                let m = match run {
                    Some((_, m)) => m,
                    None => {
                        let m = self.messages.position(msg).expect("live");
                        if TOGETHER {
                            run = Some((key >> 30, m));
                        }
                        m
                    }
                };
                let held = self.messages.get_index_mut(m).expect("live");
                let ri = at as usize;
                let r = &mut held.records[ri];
                let peer = r.peer();
                let (requested, item) =
                    send_record(&self.schedule, &mut self.rng, now, r, msg, batch);
                self.requested = self.requested.saturating_sub(u32::from(requested));
                if !r.hold() {
                    if TOGETHER {
                        sent.push((r.send_time, peer, at));
                    } else {
                        self.due.push(r.send_time, Due::record(m, peer, ri));
                    }
                }
                items.push(peer, item);
            }
        }
        if let Some((_, m)) = run {
            queue_sent(&mut self.due, m, sent);
        }
    }
}

#[cfg(test)]
mod tests;
