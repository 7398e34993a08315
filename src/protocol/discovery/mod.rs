//! IPv8-style peer discovery, sans-IO: the walk loop over registered strategies, the
//! introduction request/response/puncture flow, `max_peers`, verified and walkable peers,
//! bootstrap (tracker) nodes.
//!
//! # The loop
//! Every `walk_interval` the node calls its strategies **one after another in registration
//! order**; a strategy is called only if its `target_peers` is -1 or the node has fewer verified
//! peers than `target_peers` (so it is called again when the count drops below it).
//!
//! # Introduction flow
//! A sends an introduction request to B. B — unless it has `max_peers` verified peers already and
//! A is not one of them, then it stays silent — marks A verified, picks a random verified peer
//! C ≠ A, answers A with C's address, and sends C a puncture request; C sends A a puncture. A
//! marks B verified and adds C as walkable (known, not verified). Bootstrap (tracker) nodes answer
//! anyone and keep at most [`TRACKER_MAX_PEERS`] peers: when full, the peer heard from longest ago
//! makes room.
//!
//! # Strategies
//! See [`strategy`]: `RandomWalk`, `EdgeWalk`, `RandomChurn`; a new strategy needs one line in
//! [`strategy::available_strategies`], as IPv8's `get_available_strategies`.

pub mod sorted;
pub mod strategy;

use crate::engine::rng::{self, Stream};
use crate::engine::time::Tick;
use crate::ids::NodeId;
use sorted::{SortedMap, SortedSet};
use strategy::Strategy;

/// Peers a tracker keeps at most.
pub const TRACKER_MAX_PEERS: usize = 100;

/// A discovery message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DiscoveryMessage {
    /// "Introduce me to someone."
    IntroductionRequest,
    /// The answer: the introduced peer, if the responder knew one.
    IntroductionResponse { introduced: Option<NodeId> },
    /// "Send a puncture to `target`."
    PunctureRequest { target: NodeId },
    /// A puncture (opens the path to the sender).
    Puncture,
    /// A liveness check, numbered by the sender's request cache.
    Ping { identifier: u32 },
    /// Its answer.
    Pong { identifier: u32 },
}

/// A command for the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiscoveryOutput {
    /// Send `msg` to `to`.
    Send { to: NodeId, msg: DiscoveryMessage },
}

/// A walker as configured: a strategy, its `target_peers` (-1: always called) and parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct WalkerConfig {
    /// The strategy with its parameters.
    pub strategy: strategy::StrategyConfig,
    /// Called only while the node has fewer verified peers than this; -1: always.
    pub target_peers: i64,
}

/// A node's discovery settings.
#[derive(Clone, Debug, PartialEq)]
pub struct DiscoveryConfig {
    /// Ticks between two rounds of the loop.
    pub walk_interval: Tick,
    /// Most verified peers before the node stops answering strangers.
    pub max_peers: usize,
    /// Strategies in registration order.
    pub walkers: Vec<WalkerConfig>,
    /// Bootstrap (tracker) nodes.
    pub bootstrappers: Vec<NodeId>,
    /// Whether this node is a tracker.
    pub tracker: bool,
}

/// Counters of a node's discovery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveryStats {
    /// Introduction requests sent.
    pub requests_sent: u64,
    /// Introduction requests answered.
    pub requests_answered: u64,
    /// Introduction requests left unanswered because of `max_peers`.
    pub requests_ignored: u64,
    /// Peers dropped by strategies (timeouts, churn).
    pub peers_dropped: u64,
    /// Pings sent.
    pub pings_sent: u64,
    /// When the node first had `target` verified peers (see [`DiscoveryNode::target`]).
    pub reached_target: Option<Tick>,
}

/// What a strategy sees and acts on: the node's peer view and its outbox.
pub struct Overlay<'a> {
    /// This node.
    pub me: NodeId,
    /// Verified peers and when each was last heard from. Read it through
    /// [`Overlay::verified`] and drop peers with [`Overlay::remove_peer`], which keeps
    /// [`DiscoveryNode::verified_version`] right.
    verified: &'a mut SortedMap<NodeId, Tick>,
    /// The node's [`DiscoveryNode::verified_version`].
    verified_version: &'a mut u64,
    /// Known, not verified peers.
    pub walkable: &'a mut SortedSet<NodeId>,
    /// Bootstrap nodes.
    pub bootstrappers: &'a [NodeId],
    /// The node's stream.
    pub rng: &'a mut Stream,
    /// Outgoing messages.
    pub out: &'a mut Vec<DiscoveryOutput>,
    /// Counters.
    pub stats: &'a mut DiscoveryStats,
}

impl Overlay<'_> {
    /// Sends an introduction request to `peer`.
    pub fn send_introduction_request(&mut self, peer: NodeId) {
        self.stats.requests_sent += 1;
        self.out.push(DiscoveryOutput::Send {
            to: peer,
            msg: DiscoveryMessage::IntroductionRequest,
        });
    }

    /// A uniformly random element of `items`.
    pub fn choose<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty())
            .then(|| items[rng::uniform_inclusive(self.rng, 0, items.len() as u64 - 1) as usize])
    }

    /// The verified peers and when each was last heard from.
    pub fn verified(&self) -> &SortedMap<NodeId, Tick> {
        self.verified
    }

    /// A uniformly random verified peer: the same draw and peer as [`Overlay::choose`] over
    /// the verified peers in order, without copying them.
    pub fn choose_verified(&mut self) -> Option<NodeId> {
        let n = self.verified.len();
        (n > 0).then(|| {
            let i = rng::uniform_inclusive(self.rng, 0, n as u64 - 1) as usize;
            self.verified.as_slice()[i].0
        })
    }

    /// A uniformly random walkable peer: the same draw and peer as [`Overlay::choose`] over
    /// the walkable peers in order, without copying them.
    pub fn choose_walkable(&mut self) -> Option<NodeId> {
        let n = self.walkable.len();
        (n > 0).then(|| {
            let i = rng::uniform_inclusive(self.rng, 0, n as u64 - 1) as usize;
            self.walkable.as_slice()[i]
        })
    }

    /// Forgets `peer` (verified or walkable).
    pub fn remove_peer(&mut self, peer: NodeId) {
        if self.verified.remove(&peer).is_some() {
            *self.verified_version += 1;
            self.stats.peers_dropped += 1;
        } else if self.walkable.remove(&peer) {
            self.stats.peers_dropped += 1;
        }
    }
}

/// The strategies with their `target_peers`.
type Strategies = Vec<(Box<dyn Strategy>, i64)>;

/// The discovery state machine of one node.
pub struct DiscoveryNode {
    me: NodeId,
    config: DiscoveryConfig,
    rng: Stream,
    verified: SortedMap<NodeId, Tick>,
    /// Counts the changes of the set of verified peers (not of their times).
    verified_version: u64,
    walkable: SortedSet<NodeId>,
    strategies: Strategies,
    next_walk: Tick,
    stats: DiscoveryStats,
}

impl DiscoveryNode {
    /// A node knowing nobody; its first round is at tick 0.
    pub fn new(me: NodeId, config: DiscoveryConfig, rng: Stream) -> Self {
        let strategies = config
            .walkers
            .iter()
            .map(|w| (strategy::build(&w.strategy), w.target_peers))
            .collect();
        Self {
            me,
            config,
            rng,
            verified: SortedMap::new(),
            verified_version: 0,
            walkable: SortedSet::new(),
            strategies,
            next_walk: 0,
            stats: DiscoveryStats::default(),
        }
    }

    /// Forgets every peer and every strategy's state, as a restarted process would (the
    /// counters and the random stream go on); the next round is at `now`.
    pub fn forget(&mut self, now: Tick) {
        if !self.verified.is_empty() {
            self.verified.clear();
            self.verified_version += 1;
        }
        self.walkable.clear();
        self.strategies = self
            .config
            .walkers
            .iter()
            .map(|w| (strategy::build(&w.strategy), w.target_peers))
            .collect();
        self.next_walk = now;
    }

    /// Adds addresses to walk to (peers remembered from a peer store), not the node itself.
    pub fn add_walkable(&mut self, peers: impl IntoIterator<Item = NodeId>) {
        let me = self.me;
        self.walkable.extend(peers.into_iter().filter(|&p| p != me));
    }

    /// The verified peers, sorted.
    pub fn verified(&self) -> Vec<NodeId> {
        self.verified.keys().copied().collect()
    }

    /// How many peers are verified.
    pub fn verified_count(&self) -> usize {
        self.verified.len()
    }

    /// A number that changes whenever the set of verified peers changes (a peer verified or
    /// dropped; not when a verified peer is heard from again), so a caller can tell whether the
    /// set changed without copying it.
    pub fn verified_version(&self) -> u64 {
        self.verified_version
    }

    /// The walkable peers, sorted.
    pub fn walkable(&self) -> Vec<NodeId> {
        self.walkable.iter().copied().collect()
    }

    /// The counters.
    pub fn stats(&self) -> &DiscoveryStats {
        &self.stats
    }

    /// The largest `target_peers` of the node's walkers (-1 if all are -1).
    pub fn target(&self) -> i64 {
        self.config
            .walkers
            .iter()
            .map(|w| w.target_peers)
            .max()
            .unwrap_or(-1)
    }

    fn limit(&self) -> usize {
        if self.config.tracker {
            TRACKER_MAX_PEERS
        } else {
            self.config.max_peers
        }
    }

    fn verify(&mut self, now: Tick, peer: NodeId) {
        if peer == self.me {
            return;
        }
        if !self.verified.contains_key(&peer) && self.verified.len() >= self.limit() {
            if !self.config.tracker {
                return;
            }
            // A tracker keeps its most recently heard peers: the stalest makes room.
            let stalest = self
                .verified
                .iter()
                .min_by_key(|&(p, &t)| (t, *p))
                .map(|(&p, _)| p)
                .expect("full");
            self.verified.remove(&stalest);
        }
        self.walkable.remove(&peer);
        if self.verified.insert(peer, now).is_none() {
            self.verified_version += 1;
        }
        let target = self.target();
        if self.stats.reached_target.is_none() && target > 0 && self.verified.len() as i64 >= target
        {
            self.stats.reached_target = Some(now);
        }
    }

    fn overlay<'a>(
        &'a mut self,
        out: &'a mut Vec<DiscoveryOutput>,
    ) -> (Overlay<'a>, &'a mut Strategies) {
        (
            Overlay {
                me: self.me,
                verified: &mut self.verified,
                verified_version: &mut self.verified_version,
                walkable: &mut self.walkable,
                bootstrappers: &self.config.bootstrappers,
                rng: &mut self.rng,
                out,
                stats: &mut self.stats,
            },
            &mut self.strategies,
        )
    }

    /// The tick of the next round of the loop (trackers do not walk).
    pub fn poll_timeout(&self) -> Option<Tick> {
        (!self.config.tracker && !self.strategies.is_empty()).then_some(self.next_walk)
    }

    /// One round of the loop at `now`: each strategy in registration order, if its
    /// `target_peers` allows.
    pub fn walk(&mut self, now: Tick, out: &mut Vec<DiscoveryOutput>) {
        if now < self.next_walk {
            return;
        }
        self.next_walk = now + self.config.walk_interval;
        let (mut overlay, strategies) = self.overlay(out);
        for (s, target) in strategies.iter_mut() {
            if *target == -1 || (overlay.verified.len() as i64) < *target {
                s.take_step(now, &mut overlay);
            }
        }
    }

    /// Processes a message from `from` at `now`.
    pub fn handle_message(
        &mut self,
        now: Tick,
        from: NodeId,
        msg: DiscoveryMessage,
        out: &mut Vec<DiscoveryOutput>,
    ) {
        if let Some(t) = self.verified.get_mut(&from) {
            *t = now;
        }
        match msg {
            DiscoveryMessage::IntroductionRequest => {
                if !self.config.tracker
                    && !self.verified.contains_key(&from)
                    && self.verified.len() >= self.limit()
                {
                    self.stats.requests_ignored += 1;
                    return;
                }
                self.verify(now, from);
                // A random verified peer other than the asker, drawn as from the list of them
                // (picked by position, no list made).
                let others = self.verified.len() - usize::from(self.verified.contains_key(&from));
                let introduced = (others > 0).then(|| {
                    let i = rng::uniform_inclusive(&mut self.rng, 0, others as u64 - 1) as usize;
                    let mut keys = self.verified.keys().copied().filter(|&p| p != from);
                    keys.nth(i).expect("i < others")
                });
                self.stats.requests_answered += 1;
                out.push(DiscoveryOutput::Send {
                    to: from,
                    msg: DiscoveryMessage::IntroductionResponse { introduced },
                });
                if let Some(c) = introduced {
                    out.push(DiscoveryOutput::Send {
                        to: c,
                        msg: DiscoveryMessage::PunctureRequest { target: from },
                    });
                }
            }
            DiscoveryMessage::IntroductionResponse { introduced } => {
                self.verify(now, from);
                if let Some(c) = introduced
                    && c != self.me
                    && !self.verified.contains_key(&c)
                {
                    self.walkable.insert(c);
                }
                let (mut overlay, strategies) = self.overlay(out);
                for (s, _) in strategies.iter_mut() {
                    s.on_introduction(now, from, introduced, &mut overlay);
                }
            }
            DiscoveryMessage::PunctureRequest { target } => {
                if target != self.me {
                    out.push(DiscoveryOutput::Send {
                        to: target,
                        msg: DiscoveryMessage::Puncture,
                    });
                }
            }
            DiscoveryMessage::Puncture => {
                if !self.verified.contains_key(&from) {
                    self.walkable.insert(from);
                }
            }
            DiscoveryMessage::Ping { identifier } => {
                out.push(DiscoveryOutput::Send {
                    to: from,
                    msg: DiscoveryMessage::Pong { identifier },
                });
            }
            DiscoveryMessage::Pong { identifier } => {
                let (mut overlay, strategies) = self.overlay(out);
                for (s, _) in strategies.iter_mut() {
                    s.on_pong(now, from, identifier, &mut overlay);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
