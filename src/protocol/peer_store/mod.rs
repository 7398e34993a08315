//! A p2p0mq-style PeerStore, sans-IO: the local uuid, known peers with uuid, host, port and
//! connection state, hellos and heartbeats.
//!
//! # States and transitions (times in ticks, converted from the seed's seconds by the caller)
//! - `Initial`: a hello is sent at the next timeout check → `Connecting`.
//! - `Connecting`: a hello reply → `Connected` (direct) or `Routed` (the peer was learned through
//!   another peer); no reply within `hello_deadline` (40 s) → `NoConnection`.
//! - `Connected` / `Routed`: a heartbeat is sent every `heartbeat` (4 s), the interval growing by
//!   `heartbeat_step` (2 s) per beat up to `heartbeat_max_extra` (+10 s); any message from the
//!   peer resets its silence; silent for `unreachable_after` (40 s) → `Unreachable`.
//! - `Unreachable`: heartbeats go on; heard from again → back to `Connected`/`Routed`; silent
//!   for `no_connection_after` (240 s) → `NoConnection`.
//! - A heartbeat is answered with a heartbeat reply (p2p0mq's heart-beat request and reply);
//!   a hello, heartbeat or either reply from a known peer makes it live again. A hello from an
//!   unknown peer is answered; a heartbeat from one is dropped unanswered.
//! - `NoConnection`: after `retry_after` (120 s) → `Initial` (a new hello).
//!
//! `add_peer` inserts a peer as `Initial`; `take_peer` removes it. The state lists are
//! [`PeerStore::peers_in`].
//!
//! # Cost
//! A store keeps every peer's next due tick in a calendar, its peers per state and a version of
//! its live peers up to date through every change: a timeout visits only the peers whose time
//! has come (in node order, one step each, as p2p0mq's loop over every peer would act), and
//! `poll_timeout`, `state_counts` and `live_version` answer without visiting any peer.

pub mod persist;

use crate::engine::rng::Stream;
use crate::engine::time::Tick;
use crate::ids::NodeId;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};

/// A peer's connection state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PeerState {
    /// Known, not contacted yet.
    Initial,
    /// Hello sent, waiting for the reply.
    Connecting,
    /// Talks to us directly.
    Connected,
    /// Reached through another peer.
    Routed,
    /// Silent for too long.
    Unreachable,
    /// Given up on (for `retry_after`).
    NoConnection,
}

/// Timings of the store, in ticks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStoreConfig {
    /// Hello without reply → no_connection (40 s).
    pub hello_deadline: Tick,
    /// no_connection → initial again (120 s).
    pub retry_after: Tick,
    /// First heartbeat interval (4 s).
    pub heartbeat: Tick,
    /// Growth of the interval per beat (2 s).
    pub heartbeat_step: Tick,
    /// Largest growth (10 s).
    pub heartbeat_max_extra: Tick,
    /// Silence → unreachable (40 s).
    pub unreachable_after: Tick,
    /// Silence → no_connection (240 s).
    pub no_connection_after: Tick,
}

/// A message between peer stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerMessage {
    /// "Hello, I am here."
    Hello,
    /// The answer to a hello.
    HelloReply,
    /// "Still here?" (p2p0mq's heart-beat request).
    Heartbeat,
    /// The answer to a heartbeat.
    HeartbeatReply,
}

/// A command for the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerOutput {
    /// Send `msg` to `to`.
    Send { to: NodeId, msg: PeerMessage },
}

/// A known peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its uuid.
    pub uuid: String,
    /// The host part of its address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Its state.
    pub state: PeerState,
    /// Whether it was learned through another peer (then it becomes `Routed`, not `Connected`).
    pub routed: bool,
    /// Last time it was heard from.
    pub last_heard: Option<Tick>,
    /// When the current state was entered.
    pub since: Tick,
    /// Heartbeats sent since it was last (re)connected.
    pub beats: u32,
    /// When the next heartbeat is due (connected/routed).
    pub next_beat: Tick,
}

/// One node's peer store.
pub struct PeerStore {
    uuid: String,
    config: PeerStoreConfig,
    peers: BTreeMap<NodeId, Peer>,
    /// Peers taken out since the last [`PeerStore::take_removed`] (the next sync deletes them).
    removed: BTreeSet<NodeId>,
    /// Every peer's [`due`] tick, kept exact by every change: [`PeerStore::poll_timeout`],
    /// asked after every event, reads its first entry, and [`PeerStore::handle_timeout`] visits
    /// only the peers due, so a store's work follows its events, not its size.
    calendar: BTreeSet<(Tick, NodeId)>,
    /// The peers a timeout found due (kept between calls for its memory).
    due_now: Vec<NodeId>,
    /// How many peers are in each state (indexed by `PeerState as usize`), kept by every
    /// change, so that counting the states of every store does not visit every peer.
    counts: [u64; 6],
    /// Bumped whenever the set of live peers ([`PeerStore::live_peers`]) changes.
    live_version: u64,
}

/// Whether a peer in `state` is live (`connected` or `routed`).
fn is_live(state: PeerState) -> bool {
    matches!(state, PeerState::Connected | PeerState::Routed)
}

/// The tick at which `p`'s state may change or a message to it is due.
fn due(c: &PeerStoreConfig, p: &Peer) -> Tick {
    match p.state {
        PeerState::Initial => p.since,
        PeerState::Connecting => p.since + c.hello_deadline,
        PeerState::Connected | PeerState::Routed => p
            .next_beat
            .min(p.last_heard.unwrap_or(p.since) + c.unreachable_after),
        PeerState::Unreachable => p
            .next_beat
            .min(p.last_heard.unwrap_or(p.since) + c.no_connection_after),
        PeerState::NoConnection => p.since + c.retry_after,
    }
}

/// The interval before heartbeat number `beats`: p2p0mq's, growing by a step per beat up to a
/// cap.
fn heartbeat_interval(c: &PeerStoreConfig, beats: u32) -> Tick {
    c.heartbeat + (c.heartbeat_step * beats as Tick).min(c.heartbeat_max_extra)
}

/// A uuid4 in hex (32 digits) drawn from `rng`.
pub fn uuid4(rng: &mut Stream) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl PeerStore {
    /// A store with the local `uuid` (at least 4 characters; checked by the scenario).
    pub fn new(uuid: String, config: PeerStoreConfig) -> Self {
        Self {
            uuid,
            config,
            peers: BTreeMap::new(),
            removed: BTreeSet::new(),
            calendar: BTreeSet::new(),
            due_now: Vec::new(),
            counts: [0; 6],
            live_version: 0,
        }
    }

    /// The local uuid.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The timings.
    pub fn config(&self) -> &PeerStoreConfig {
        &self.config
    }

    /// Adds a peer as `Initial` (or leaves a known one as it is); `routed` if it was learned
    /// through another peer.
    pub fn add_peer(
        &mut self,
        now: Tick,
        node: NodeId,
        peer_uuid: String,
        host: String,
        port: u16,
        routed: bool,
    ) {
        self.removed.remove(&node);
        let std::collections::btree_map::Entry::Vacant(new) = self.peers.entry(node) else {
            return;
        };
        // A new peer is due at once (Initial since now).
        self.calendar.insert((now, node));
        self.counts[PeerState::Initial as usize] += 1;
        new.insert(Peer {
            uuid: peer_uuid,
            host,
            port,
            state: PeerState::Initial,
            routed,
            last_heard: None,
            since: now,
            beats: 0,
            next_beat: now,
        });
    }

    /// Removes a peer, returning it.
    pub fn take_peer(&mut self, node: NodeId) -> Option<Peer> {
        let p = self.peers.remove(&node);
        if let Some(gone) = &p {
            self.counts[gone.state as usize] -= 1;
            if is_live(gone.state) {
                self.live_version += 1;
            }
            self.removed.insert(node);
            self.calendar.remove(&(due(&self.config, gone), node));
        }
        p
    }

    /// The peers taken out since the last call (for the database sync), in node order.
    pub fn take_removed(&mut self) -> BTreeSet<NodeId> {
        std::mem::take(&mut self.removed)
    }

    /// A peer.
    pub fn peer(&self, node: NodeId) -> Option<&Peer> {
        self.peers.get(&node)
    }

    /// All peers, by node.
    pub fn peers(&self) -> &BTreeMap<NodeId, Peer> {
        &self.peers
    }

    /// The peers in `state` (p2p0mq's `peers_in_initial_state`, `peers_connected`, ...).
    pub fn peers_in(&self, state: PeerState) -> Vec<NodeId> {
        self.peers
            .iter()
            .filter(|(_, p)| p.state == state)
            .map(|(&n, _)| n)
            .collect()
    }

    /// The peers `connected` or `routed` right now, sorted.
    pub fn live_peers(&self) -> Vec<NodeId> {
        self.peers
            .iter()
            .filter(|(_, p)| is_live(p.state))
            .map(|(&n, _)| n)
            .collect()
    }

    /// A number that changes exactly when [`PeerStore::live_peers`] does (a caller that
    /// follows the live peers compares it instead of the lists).
    pub fn live_version(&self) -> u64 {
        self.live_version
    }

    /// How many peers are in each state, indexed by `PeerState as usize`.
    pub fn state_counts(&self) -> [u64; 6] {
        debug_assert_eq!(self.counts, {
            let mut scan = [0u64; 6];
            for p in self.peers.values() {
                scan[p.state as usize] += 1;
            }
            scan
        });
        self.counts
    }

    /// Puts `node` in `state` as of `now` (tests that start from a given state).
    #[cfg(test)]
    fn force_state(&mut self, node: NodeId, now: Tick, state: PeerState) {
        let p = self.peers.get_mut(&node).expect("known peer");
        self.calendar.remove(&(due(&self.config, p), node));
        if is_live(p.state) != is_live(state) {
            self.live_version += 1;
        }
        Self::enter(&mut self.counts, p, now, state);
        self.calendar.insert((due(&self.config, p), node));
    }

    fn enter(counts: &mut [u64; 6], p: &mut Peer, now: Tick, state: PeerState) {
        counts[p.state as usize] -= 1;
        counts[state as usize] += 1;
        p.state = state;
        p.since = now;
    }

    /// A message from `from` at `now`.
    pub fn handle_message(
        &mut self,
        now: Tick,
        from: NodeId,
        msg: PeerMessage,
        out: &mut Vec<PeerOutput>,
    ) {
        let Self {
            config: c,
            peers,
            calendar,
            counts,
            live_version,
            ..
        } = self;
        let Some(p) = peers.get_mut(&from) else {
            // An unknown peer says hello: answer, but learn it only through add_peer. A heartbeat
            // (or reply) from a peer never seen is dropped unanswered, as p2p0mq does.
            if msg == PeerMessage::Hello {
                out.push(PeerOutput::Send {
                    to: from,
                    msg: PeerMessage::HelloReply,
                });
            }
            return;
        };
        let was_due = due(c, p);
        p.last_heard = Some(now);
        let reply = match msg {
            PeerMessage::Hello => Some(PeerMessage::HelloReply),
            PeerMessage::Heartbeat => Some(PeerMessage::HeartbeatReply),
            PeerMessage::HelloReply | PeerMessage::HeartbeatReply => None,
        };
        if let Some(msg) = reply {
            out.push(PeerOutput::Send { to: from, msg });
        }
        let live = if p.routed {
            PeerState::Routed
        } else {
            PeerState::Connected
        };
        match (p.state, msg) {
            (PeerState::Connecting, PeerMessage::HelloReply)
            | (
                PeerState::Initial
                | PeerState::Connecting
                | PeerState::Unreachable
                | PeerState::NoConnection,
                PeerMessage::Heartbeat | PeerMessage::HeartbeatReply | PeerMessage::Hello,
            ) => {
                // Never live before (the states above are not): the live set gains it.
                *live_version += 1;
                Self::enter(counts, p, now, live);
                p.beats = 0;
                p.next_beat = now + c.heartbeat;
            }
            _ => {}
        }
        // Only this peer changed: its calendar entry moves with it.
        let is_due = due(c, p);
        if is_due != was_due {
            calendar.remove(&(was_due, from));
            calendar.insert((is_due, from));
        }
    }

    /// The earliest tick at which a state may change or a message is due.
    pub fn poll_timeout(&self) -> Option<Tick> {
        debug_assert_eq!(
            self.calendar.first().map(|&(t, _)| t),
            self.peers.values().map(|p| due(&self.config, p)).min(),
            "the earliest due is kept exact"
        );
        self.calendar.first().map(|&(t, _)| t)
    }

    /// Applies every transition due at `now` and sends hellos and heartbeats: each peer whose
    /// due tick has come takes one step, in node order (a peer's new state waits for the next
    /// call even if it is due at once). Only the due peers are visited.
    pub fn handle_timeout(&mut self, now: Tick, out: &mut Vec<PeerOutput>) {
        let Self {
            config: c,
            peers,
            counts,
            calendar,
            due_now,
            live_version,
            ..
        } = self;
        due_now.clear();
        while let Some(&(t, node)) = calendar.first()
            && t <= now
        {
            calendar.pop_first();
            due_now.push(node);
        }
        due_now.sort_unstable();
        for &node in due_now.iter() {
            let p = peers
                .get_mut(&node)
                .expect("a calendar entry is a known peer");
            let was_live = is_live(p.state);
            let next_interval = heartbeat_interval(c, p.beats + 1);
            let heard = p.last_heard.unwrap_or(p.since);
            match p.state {
                PeerState::Initial if now >= p.since => {
                    out.push(PeerOutput::Send {
                        to: node,
                        msg: PeerMessage::Hello,
                    });
                    Self::enter(counts, p, now, PeerState::Connecting);
                }
                PeerState::Connecting if now >= p.since + c.hello_deadline => {
                    Self::enter(counts, p, now, PeerState::NoConnection)
                }
                PeerState::Connected | PeerState::Routed if now >= heard + c.unreachable_after => {
                    Self::enter(counts, p, now, PeerState::Unreachable)
                }
                PeerState::Unreachable if now >= heard + c.no_connection_after => {
                    Self::enter(counts, p, now, PeerState::NoConnection)
                }
                // Unreachable peers keep getting heartbeats until they answer or give up.
                PeerState::Connected | PeerState::Routed | PeerState::Unreachable
                    if now >= p.next_beat =>
                {
                    out.push(PeerOutput::Send {
                        to: node,
                        msg: PeerMessage::Heartbeat,
                    });
                    p.beats += 1;
                    p.next_beat = now + next_interval;
                }
                PeerState::NoConnection if now >= p.since + c.retry_after => {
                    Self::enter(counts, p, now, PeerState::Initial)
                }
                _ => debug_assert!(false, "a peer is due exactly when one of its steps is"),
            }
            if is_live(p.state) != was_live {
                *live_version += 1;
            }
            calendar.insert((due(c, p), node));
        }
    }
}

/// The seed's timings with one tick per second (for tests).
#[cfg(test)]
pub(crate) fn seed_timings() -> PeerStoreConfig {
    PeerStoreConfig {
        hello_deadline: 40,
        retry_after: 120,
        heartbeat: 4,
        heartbeat_step: 2,
        heartbeat_max_extra: 10,
        unreachable_after: 40,
        no_connection_after: 240,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::stream;

    const B: NodeId = NodeId(1);

    fn store() -> PeerStore {
        let mut s = PeerStore::new("local-peer".into(), seed_timings());
        s.add_peer(0, B, "b-uuid".into(), "10.0.0.2".into(), 4000, false);
        s
    }

    fn tick(s: &mut PeerStore, now: Tick) -> Vec<PeerOutput> {
        let mut out = vec![];
        s.handle_timeout(now, &mut out);
        out
    }

    /// The timeout as a scan of every peer (the store's first form, p2p0mq's loop): each peer
    /// takes the first of its steps whose time has come.
    fn timeout_by_scan(
        c: &PeerStoreConfig,
        peers: &mut BTreeMap<NodeId, Peer>,
        now: Tick,
    ) -> Vec<PeerOutput> {
        let mut out = vec![];
        let mut counts = [u64::MAX / 2; 6];
        for (&node, p) in peers.iter_mut() {
            let heard = p.last_heard.unwrap_or(p.since);
            let send = |msg| PeerOutput::Send { to: node, msg };
            match p.state {
                PeerState::Initial if now >= p.since => {
                    out.push(send(PeerMessage::Hello));
                    PeerStore::enter(&mut counts, p, now, PeerState::Connecting);
                }
                PeerState::Connecting if now >= p.since + c.hello_deadline => {
                    PeerStore::enter(&mut counts, p, now, PeerState::NoConnection)
                }
                PeerState::Connected | PeerState::Routed if now >= heard + c.unreachable_after => {
                    PeerStore::enter(&mut counts, p, now, PeerState::Unreachable)
                }
                PeerState::Unreachable if now >= heard + c.no_connection_after => {
                    PeerStore::enter(&mut counts, p, now, PeerState::NoConnection)
                }
                PeerState::Connected | PeerState::Routed | PeerState::Unreachable
                    if now >= p.next_beat =>
                {
                    out.push(send(PeerMessage::Heartbeat));
                    p.beats += 1;
                    p.next_beat = now + heartbeat_interval(c, p.beats);
                }
                PeerState::NoConnection if now >= p.since + c.retry_after => {
                    PeerStore::enter(&mut counts, p, now, PeerState::Initial)
                }
                _ => {}
            }
        }
        out
    }

    /// The calendar and the state counts are kept by each change instead of found by a scan,
    /// and a timeout visits only the peers the calendar says are due: after any sequence of
    /// adds, removals, messages and timeouts the calendar holds exactly every peer's due tick,
    /// the counts are a scan's, each timeout sends and changes exactly what a scan of every
    /// peer would, and the live version changes exactly when the live peers do.
    #[test]
    fn the_calendar_and_the_state_counts_follow_every_change() {
        use proptest::prelude::*;
        let op = (0u8..4, 1u32..6, 0u8..4, 0u64..30);
        proptest!(|(ops in prop::collection::vec(op, 1..120))| {
            let mut s = PeerStore::new("local-peer".into(), seed_timings());
            let mut now = 0;
            let mut out = vec![];
            for (kind, node, msg, dt) in ops {
                now += dt;
                let node = NodeId(node);
                let (live_before, version_before) = (s.live_peers(), s.live_version());
                match kind {
                    0 => s.add_peer(now, node, "u".into(), "h".into(), 1, node.0.is_multiple_of(2)),
                    1 => {
                        let _ = s.take_peer(node);
                    }
                    2 => {
                        let msg = [
                            PeerMessage::Hello,
                            PeerMessage::HelloReply,
                            PeerMessage::Heartbeat,
                            PeerMessage::HeartbeatReply,
                        ][msg as usize];
                        s.handle_message(now, node, msg, &mut out);
                    }
                    _ => {
                        let mut scanned = s.peers.clone();
                        let expected = timeout_by_scan(&s.config, &mut scanned, now);
                        let mut got = vec![];
                        s.handle_timeout(now, &mut got);
                        prop_assert_eq!(got, expected);
                        prop_assert_eq!(&s.peers, &scanned);
                    }
                }
                let calendar: BTreeSet<(Tick, NodeId)> =
                    s.peers().iter().map(|(&n, p)| (due(s.config(), p), n)).collect();
                prop_assert_eq!(&s.calendar, &calendar);
                prop_assert_eq!(s.poll_timeout(), calendar.first().map(|&(t, _)| t));
                let mut counts = [0u64; 6];
                for p in s.peers().values() {
                    counts[p.state as usize] += 1;
                }
                prop_assert_eq!(s.counts, counts);
                prop_assert_eq!(
                    s.live_version() != version_before,
                    s.live_peers() != live_before,
                    "the live version moves exactly with the live peers"
                );
            }
        });
    }

    #[test]
    fn a_hello_goes_out_from_initial_and_a_reply_connects() {
        let mut s = store();
        assert_eq!(s.peers_in(PeerState::Initial), [B]);
        assert_eq!(
            tick(&mut s, 0),
            [PeerOutput::Send {
                to: B,
                msg: PeerMessage::Hello
            }]
        );
        assert_eq!(s.peer(B).unwrap().state, PeerState::Connecting);
        s.handle_message(3, B, PeerMessage::HelloReply, &mut vec![]);
        assert_eq!(s.peers_in(PeerState::Connected), [B]);
    }

    #[test]
    fn no_reply_within_40_ticks_gives_no_connection_then_a_retry_after_120() {
        let mut s = store();
        tick(&mut s, 0);
        assert_eq!(s.poll_timeout(), Some(40));
        tick(&mut s, 39);
        assert_eq!(s.peer(B).unwrap().state, PeerState::Connecting);
        tick(&mut s, 40);
        assert_eq!(s.peer(B).unwrap().state, PeerState::NoConnection);
        assert_eq!(s.poll_timeout(), Some(160));
        tick(&mut s, 159);
        assert_eq!(s.peer(B).unwrap().state, PeerState::NoConnection);
        tick(&mut s, 160);
        assert_eq!(s.peer(B).unwrap().state, PeerState::Initial);
        assert_eq!(
            tick(&mut s, 160),
            [PeerOutput::Send {
                to: B,
                msg: PeerMessage::Hello
            }]
        );
    }

    #[test]
    fn heartbeats_slow_by_two_per_beat_up_to_ten_more() {
        let mut s = store();
        tick(&mut s, 0);
        s.handle_message(0, B, PeerMessage::HelloReply, &mut vec![]);
        let mut beats = vec![];
        for t in 0..=60 {
            if !tick(&mut s, t).is_empty() {
                beats.push(t);
            }
            // B keeps talking, so it never goes unreachable.
            s.handle_message(t, B, PeerMessage::Heartbeat, &mut vec![]);
            s.force_state(B, t, PeerState::Connected);
        }
        // The first beat at 4, then intervals 6, 8, 10, 12, 14, 14, ...
        assert_eq!(&beats[..6], [4, 10, 18, 28, 40, 54]);
    }

    #[test]
    fn silence_makes_a_peer_unreachable_at_40_and_gone_at_240() {
        let mut s = store();
        tick(&mut s, 0);
        s.handle_message(5, B, PeerMessage::HelloReply, &mut vec![]);
        for t in 6..45 {
            tick(&mut s, t);
        }
        assert_eq!(
            s.peer(B).unwrap().state,
            PeerState::Connected,
            "heard at 5: still connected at 44"
        );
        tick(&mut s, 45);
        assert_eq!(s.peer(B).unwrap().state, PeerState::Unreachable);
        tick(&mut s, 244);
        assert_eq!(s.peer(B).unwrap().state, PeerState::Unreachable);
        tick(&mut s, 245);
        assert_eq!(s.peer(B).unwrap().state, PeerState::NoConnection);
    }

    #[test]
    fn a_peer_learned_through_another_becomes_routed_and_comes_back_from_unreachable() {
        let mut s = store();
        s.add_peer(0, NodeId(2), "c-uuid".into(), "10.0.0.3".into(), 4000, true);
        s.handle_message(1, NodeId(2), PeerMessage::Heartbeat, &mut vec![]);
        assert_eq!(s.peers_in(PeerState::Routed), [NodeId(2)]);
        s.force_state(NodeId(2), 49, PeerState::Unreachable);
        assert_eq!(s.state_counts()[PeerState::Unreachable as usize], 1);
        s.handle_message(50, NodeId(2), PeerMessage::Heartbeat, &mut vec![]);
        assert_eq!(s.peer(NodeId(2)).unwrap().state, PeerState::Routed);
    }

    #[test]
    fn a_heartbeat_is_answered_and_unreachable_peers_keep_getting_heartbeats() {
        let mut s = store();
        tick(&mut s, 0);
        s.handle_message(0, B, PeerMessage::HelloReply, &mut vec![]);
        let mut out = vec![];
        s.handle_message(2, B, PeerMessage::Heartbeat, &mut out);
        assert_eq!(
            out,
            [PeerOutput::Send {
                to: B,
                msg: PeerMessage::HeartbeatReply
            }]
        );
        // Silent from 2: unreachable at 42, yet heartbeats go on while it is.
        for t in 3..42 {
            tick(&mut s, t);
        }
        assert_eq!(s.peer(B).unwrap().state, PeerState::Connected);
        tick(&mut s, 42);
        assert_eq!(s.peer(B).unwrap().state, PeerState::Unreachable);
        let due = s.poll_timeout().unwrap();
        assert!(
            due < 2 + 240,
            "a heartbeat is due before giving up, got {due}"
        );
        assert_eq!(
            tick(&mut s, due),
            [PeerOutput::Send {
                to: B,
                msg: PeerMessage::Heartbeat
            }]
        );
        // Its reply brings it back.
        s.handle_message(due + 1, B, PeerMessage::HeartbeatReply, &mut vec![]);
        assert_eq!(s.peer(B).unwrap().state, PeerState::Connected);
        // A heartbeat from a stranger is dropped unanswered.
        let mut out = vec![];
        s.handle_message(50, NodeId(7), PeerMessage::Heartbeat, &mut out);
        assert!(out.is_empty() && s.peer(NodeId(7)).is_none());
    }

    #[test]
    fn take_peer_removes_and_hello_from_a_stranger_is_answered() {
        let mut s = store();
        assert_eq!(s.take_peer(B).unwrap().uuid, "b-uuid");
        assert!(s.peer(B).is_none());
        let mut out = vec![];
        s.handle_message(1, NodeId(9), PeerMessage::Hello, &mut out);
        assert_eq!(
            out,
            [PeerOutput::Send {
                to: NodeId(9),
                msg: PeerMessage::HelloReply
            }]
        );
        assert!(s.peer(NodeId(9)).is_none());
    }

    #[test]
    fn uuid4_is_32_hex_digits_with_version_4() {
        let u = uuid4(&mut stream(1, "node/A/peer_store"));
        assert_eq!(u.len(), 32);
        assert!(u.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(&u[12..13], "4");
        assert_eq!(u, uuid4(&mut stream(1, "node/A/peer_store")));
    }
}
