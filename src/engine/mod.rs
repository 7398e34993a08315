//! The engine: simulated time, the event queue, random streams, and the run loop.
//!
//! # The run loop
//! The loop pops events in `(tick, phase, seq)` order and jumps straight to the next tick that has
//! an event: idle ticks cost nothing. Within a tick the phases are, in order: appends (the
//! workload), packet arrivals, node steps, table snapshots. A node is stepped only when its sync
//! state machine reports work due (`poll_timeout`), at the first tick that is at or after the due
//! tick, a multiple of the sync `epoch`, and a tick at which the node is online; at most once per
//! tick. The engine never scans all nodes or all records.
//!
//! # Packets
//! sender → link (latency drawn, then loss decided) → arrival event at the receiver. A packet
//! that arrives while the receiver is offline is lost and counted as such. Packets still in
//! flight when the run ends are counted as `in_flight`.
//!
//! # Determinism
//! The run is a pure function of the [`Plan`]: all randomness comes from streams derived from
//! `(seed, label)` (see [`rng`]), all containers that reach outputs are ordered, and the
//! fingerprint (see [`fingerprint`]) hashes every processed event in order.

pub mod fingerprint;
pub mod queue;
pub mod rng;
pub mod time;

use crate::ids::{GroupId, MsgRef, NodeId};
use crate::metrics::{Collector, Delivery};
use crate::net::{Availability, Link};
use crate::protocol::sync::{Output, Packet, Record, SyncNode, SyncStats};
use crate::scenario::Plan;
use crate::wire;
use fingerprint::Fingerprint;
use queue::{EventQueue, Phase};
use rng::Stream;
use time::Tick;

/// A message of the run, as appended.
#[derive(Clone, Debug)]
pub struct MessageInfo {
    /// Its 32-byte id.
    pub id: [u8; 32],
    /// Its group.
    pub group: GroupId,
    /// The appending node.
    pub author: NodeId,
    /// The tick it was appended at.
    pub authored: Tick,
    /// Encoded size of its wire `Message`.
    pub encoded_len: u32,
}

/// One row of a sync-state table: a held message and its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRow {
    /// The message.
    pub msg: MsgRef,
    /// Its group.
    pub group: GroupId,
    /// Its records, sorted by peer.
    pub records: Vec<Record>,
}

/// A node's sync-state table at some tick.
pub type NodeTable = Vec<TableRow>;

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// Hash of the ordered event stream.
    pub fingerprint: String,
    /// Events processed (appends, arrivals, steps).
    pub events: u64,
    /// The last tick at which an event was processed.
    pub last_event_tick: Option<Tick>,
    /// The messages, indexed by [`MsgRef`].
    pub messages: Vec<MessageInfo>,
    /// Counters.
    pub metrics: Collector,
    /// Per node, the sync state machine's own counters.
    pub sync_stats: Vec<SyncStats>,
    /// Per node, the sync-state table at the end of the run.
    pub tables_end: Vec<NodeTable>,
    /// Tables at the ticks of `outputs.tables_at`.
    pub tables_at: Vec<(Tick, Vec<NodeTable>)>,
}

const TAG_APPEND: u64 = 1;
const TAG_SEND: u64 = 2;
const TAG_ARRIVE: u64 = 3;
const TAG_DELIVER: u64 = 4;
const TAG_STEP: u64 = 5;

enum Event {
    Append(u32),
    Arrival {
        from: NodeId,
        to: NodeId,
        packet: Packet,
    },
    Step(NodeId),
    Snapshot,
}

struct NodeRt {
    sync: SyncNode,
    availability: Availability,
    availability_rng: Stream,
    /// Links out of this node: `(peer, index into links)`, sorted by peer.
    links: Vec<(NodeId, u32)>,
    /// The tick of the pending step event, if any (older step events are stale).
    next_step: Option<Tick>,
    last_step: Option<Tick>,
}

struct Sim<'p> {
    plan: &'p Plan,
    queue: EventQueue<Event>,
    nodes: Vec<NodeRt>,
    links: Vec<Link>,
    messages: Vec<MessageInfo>,
    metrics: Collector,
    fp: Fingerprint,
    out: Vec<Output>,
    events: u64,
    last_event_tick: Option<Tick>,
    tables_at: Vec<(Tick, Vec<NodeTable>)>,
}

/// Runs `plan` to its end.
pub fn run(plan: &Plan) -> RunOutput {
    let mut sim = Sim::new(plan);
    sim.run();
    sim.finish()
}

impl<'p> Sim<'p> {
    fn new(plan: &'p Plan) -> Self {
        let mut nodes: Vec<NodeRt> = plan
            .nodes
            .iter()
            .map(|n| NodeRt {
                sync: SyncNode::new(plan.sync.clone()),
                availability: n.availability.clone(),
                availability_rng: rng::stream(plan.seed, &format!("node/{}/availability", n.name)),
                links: Vec::new(),
                next_step: None,
                last_step: None,
            })
            .collect();
        let mut links = Vec::with_capacity(plan.links.len() * 2);
        for l in &plan.links {
            for (from, to) in [(l.a, l.b), (l.b, l.a)] {
                nodes[from.idx()].links.push((to, links.len() as u32));
                links.push(Link::new(
                    plan.seed,
                    (from, &plan.nodes[from.idx()].name),
                    (to, &plan.nodes[to.idx()].name),
                    l.latency.clone(),
                    l.loss.clone(),
                ));
            }
        }
        for n in &mut nodes {
            n.links.sort_unstable();
        }
        for (gi, g) in plan.groups.iter().enumerate() {
            for (member, sharing) in g.members.iter().zip(&g.sharing) {
                let rt = &mut nodes[member.idx()];
                let reachable: Vec<NodeId> = sharing
                    .iter()
                    .copied()
                    .filter(|p| rt.links.binary_search_by_key(p, |(q, _)| *q).is_ok())
                    .collect();
                rt.sync.set_sharing(GroupId(gi as u32), reachable);
            }
        }
        let mut queue = EventQueue::default();
        for (i, a) in plan.appends.iter().enumerate() {
            queue.push(a.tick, Phase::Append, Event::Append(i as u32));
        }
        for &t in &plan.tables_at {
            queue.push(t, Phase::Snapshot, Event::Snapshot);
        }
        Self {
            plan,
            queue,
            nodes,
            links,
            messages: Vec::with_capacity(plan.appends.len()),
            metrics: Collector::new(plan.nodes.len()),
            fp: Fingerprint::default(),
            out: Vec::new(),
            events: 0,
            last_event_tick: None,
            tables_at: Vec::new(),
        }
    }

    fn run(&mut self) {
        while let Some(tick) = self.queue.peek_tick() {
            if tick >= self.plan.duration {
                break;
            }
            let (now, _phase, event) = self.queue.pop().expect("peeked");
            match event {
                Event::Append(i) => self.on_append(now, i as usize),
                Event::Arrival { from, to, packet } => self.on_arrival(now, from, to, packet),
                Event::Step(node) => self.on_step(now, node),
                Event::Snapshot => {
                    let tables = self.tables();
                    self.tables_at.push((now, tables));
                }
            }
        }
    }

    fn counted(&mut self, now: Tick) {
        self.events += 1;
        self.last_event_tick = Some(now);
    }

    fn on_append(&mut self, now: Tick, i: usize) {
        let a = &self.plan.appends[i];
        let group = &self.plan.groups[a.group.idx()];
        let timestamp = now * self.plan.tick_ms;
        let wire_msg = wire::message(&group.id, timestamp, &a.body);
        let msg = MsgRef(self.messages.len() as u32);
        self.messages.push(MessageInfo {
            id: wire::message_id(&group.id, timestamp, &a.body),
            group: a.group,
            author: a.node,
            authored: now,
            encoded_len: wire::message_len(&wire_msg),
        });
        self.counted(now);
        self.fp
            .event(TAG_APPEND, &[now, a.node.0 as u64, msg.0 as u64]);
        self.nodes[a.node.idx()].sync.append(now, msg, a.group);
        self.reschedule(a.node, now);
    }

    fn on_arrival(&mut self, now: Tick, from: NodeId, to: NodeId, packet: Packet) {
        self.counted(now);
        let rt = &mut self.nodes[to.idx()];
        let processed = rt.availability.receives(now, &mut rt.availability_rng);
        let first = packet.items()[0];
        self.fp.event(
            TAG_ARRIVE,
            &[
                now,
                from.0 as u64,
                to.0 as u64,
                first.kind() as u64,
                first.msg().0 as u64,
                processed as u64,
            ],
        );
        if !processed {
            for item in packet.items() {
                self.metrics.kind(item.kind()).lost_offline += 1;
            }
            self.metrics.nodes[to.idx()].packets_lost_offline += 1;
            return;
        }
        self.metrics.nodes[to.idx()].packets_received += 1;
        let before = self.nodes[to.idx()].sync.stats().duplicates;
        for item in packet.items() {
            self.metrics.kind(item.kind()).received += 1;
        }
        let mut out = std::mem::take(&mut self.out);
        self.nodes[to.idx()]
            .sync
            .handle_packet(now, from, &packet, &mut out);
        let dups = self.nodes[to.idx()].sync.stats().duplicates - before;
        self.metrics
            .kind(crate::protocol::sync::Kind::Message)
            .duplicates += dups;
        self.apply(now, to, &mut out);
        self.out = out;
        self.reschedule(to, now);
    }

    fn on_step(&mut self, now: Tick, node: NodeId) {
        let rt = &mut self.nodes[node.idx()];
        if rt.next_step != Some(now) {
            return; // superseded by an earlier step
        }
        rt.next_step = None;
        if rt.sync.poll_timeout().is_none_or(|due| due > now) {
            // The work it was woken for went away (an ACK arrived first): no step.
            self.reschedule(node, now);
            return;
        }
        let rt = &mut self.nodes[node.idx()];
        rt.last_step = Some(now);
        self.counted(now);
        self.fp.event(TAG_STEP, &[now, node.0 as u64]);
        let mut out = std::mem::take(&mut self.out);
        self.nodes[node.idx()].sync.step(now, &mut out);
        self.apply(now, node, &mut out);
        self.out = out;
        self.reschedule(node, now);
    }

    /// Carries out a node's commands.
    fn apply(&mut self, now: Tick, node: NodeId, out: &mut Vec<Output>) {
        for o in out.drain(..) {
            match o {
                Output::Send { to, packet } => self.send(now, node, to, packet),
                Output::Deliver { msg, from: _ } => {
                    self.fp
                        .event(TAG_DELIVER, &[now, node.0 as u64, msg.0 as u64]);
                    self.metrics.deliveries.push(Delivery {
                        node,
                        msg,
                        tick: now,
                    });
                }
            }
        }
    }

    fn send(&mut self, now: Tick, from: NodeId, to: NodeId, packet: Packet) {
        let rt = &self.nodes[from.idx()];
        let link = match rt.links.binary_search_by_key(&to, |(p, _)| *p) {
            Ok(i) => rt.links[i].1 as usize,
            Err(_) => unreachable!("the sync protocol only sends to linked peers"),
        };
        let items = packet.items();
        let (mut acks, mut msg_lens) = (0usize, Vec::new());
        for item in items {
            match *item {
                crate::protocol::sync::Item::Ack(_) => acks += 1,
                crate::protocol::sync::Item::Message { msg, .. } => {
                    msg_lens.push(self.messages[msg.idx()].encoded_len)
                }
            }
        }
        let bytes = wire::payload_len(acks, 0, 0, msg_lens) as u64 + self.plan.overhead_bytes;
        let transit = self.links[link].transmit();
        let first = items[0];
        self.fp.event(
            TAG_SEND,
            &[
                now,
                from.0 as u64,
                to.0 as u64,
                first.kind() as u64,
                first.msg().0 as u64,
                transit.latency,
                transit.lost as u64,
            ],
        );
        let kind = self.metrics.kind(first.kind());
        kind.sent += 1;
        kind.bytes += bytes;
        if transit.lost {
            kind.lost_link += 1;
        }
        let n = &mut self.metrics.nodes[from.idx()];
        n.packets_sent += 1;
        n.bytes_sent += bytes;
        if !transit.lost {
            self.queue.push(
                now + transit.latency,
                Phase::Arrival,
                Event::Arrival { from, to, packet },
            );
        }
    }

    /// Makes sure the node has a step event at the first tick it has work due.
    fn reschedule(&mut self, node: NodeId, now: Tick) {
        let epoch = self.plan.sync.epoch;
        let duration = self.plan.duration;
        let rt = &mut self.nodes[node.idx()];
        let Some(due) = rt.sync.poll_timeout() else {
            return;
        };
        let not_before = if rt.last_step == Some(now) {
            now + 1
        } else {
            now
        };
        let Some(t) = rt.availability.next_step_tick(due.max(not_before), epoch) else {
            return;
        };
        if t >= duration {
            return;
        }
        if rt.next_step.is_none_or(|s| t < s) {
            rt.next_step = Some(t);
            self.queue.push(t, Phase::Step, Event::Step(node));
        }
    }

    fn tables(&self) -> Vec<NodeTable> {
        self.nodes
            .iter()
            .map(|n| {
                n.sync
                    .table()
                    .map(|(msg, group, records)| TableRow {
                        msg,
                        group,
                        records: records.to_vec(),
                    })
                    .collect()
            })
            .collect()
    }

    fn finish(mut self) -> RunOutput {
        self.metrics.in_flight = self
            .queue
            .iter()
            .filter(|e| matches!(e, Event::Arrival { .. }))
            .count() as u64;
        RunOutput {
            fingerprint: self.fp.hex(),
            events: self.events,
            last_event_tick: self.last_event_tick,
            tables_end: self.tables(),
            tables_at: std::mem::take(&mut self.tables_at),
            sync_stats: self.nodes.iter().map(|n| n.sync.stats().clone()).collect(),
            messages: self.messages,
            metrics: self.metrics,
        }
    }
}
