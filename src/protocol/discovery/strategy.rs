//! Discovery strategies (IPv8's `DiscoveryStrategy`): each `take_step` is one call of the loop.
//!
//! | strategy | parameters (defaults) | what a step does |
//! |---|---|---|
//! | `RandomWalk` | `timeout` 3 s, `window_size` 5, `reset_chance` 50 | drops in-flight walks older than `timeout` (forgetting walkable addresses that never answered); if `window_size` walks are in flight, nothing; otherwise with probability (256 − reset_chance)/256 walks to a random walkable peer not in flight, else asks a random verified peer (or a bootstrap node when it knows none) for an introduction |
//! | `EdgeWalk` | `edge_length` 4, `neighborhood_size` 6, `edge_timeout` 3 s | first gathers `neighborhood_size` verified peers (walking to introduced peers, else asking verified peers or bootstrap nodes); then walks edges: from a neighbour, asks the edge's last peer for an introduction and appends the introduced peer, until the edge has `edge_length` peers or `edge_timeout` passes |
//! | `RandomChurn` | `sample_size` 8, `ping_interval` 10 s, `inactive_time` 27.5 s, `drop_time` 57.5 s | samples verified peers: drops those silent past `drop_time` that were pinged, pings those silent past `inactive_time` not pinged within `ping_interval` (pings are held in a RequestCache with a 5 s timeout) |
//!
//! A new strategy is one `impl Strategy` and one line in [`available_strategies`].

use super::sorted::SortedMap;
use super::{DiscoveryMessage, DiscoveryOutput, Overlay};
use crate::engine::time::Tick;
use crate::ids::NodeId;
use crate::protocol::request_cache::RequestCache;

/// A discovery strategy.
pub trait Strategy {
    /// One call of the loop at `now`.
    fn take_step(&mut self, now: Tick, overlay: &mut Overlay);
    /// An introduction response from `from` arrived.
    fn on_introduction(
        &mut self,
        _now: Tick,
        _from: NodeId,
        _introduced: Option<NodeId>,
        _overlay: &mut Overlay,
    ) {
    }
    /// A pong from `from` arrived.
    fn on_pong(&mut self, _now: Tick, _from: NodeId, _identifier: u32, _overlay: &mut Overlay) {}
}

/// A strategy with its parameters, in ticks.
#[derive(Clone, Debug, PartialEq)]
pub enum StrategyConfig {
    /// See the module docs.
    RandomWalk {
        timeout: Tick,
        window_size: usize,
        reset_chance: u8,
    },
    /// See the module docs.
    EdgeWalk {
        edge_length: usize,
        neighborhood_size: usize,
        edge_timeout: Tick,
    },
    /// See the module docs.
    RandomChurn {
        sample_size: usize,
        ping_interval: Tick,
        inactive_time: Tick,
        drop_time: Tick,
        ping_timeout: Tick,
    },
}

/// The strategies a scenario can name (IPv8's `get_available_strategies`).
pub fn available_strategies() -> &'static [&'static str] {
    &["RandomWalk", "EdgeWalk", "RandomChurn"]
}

/// Builds a strategy.
pub fn build(c: &StrategyConfig) -> Box<dyn Strategy> {
    match *c {
        StrategyConfig::RandomWalk {
            timeout,
            window_size,
            reset_chance,
        } => Box::new(RandomWalk {
            timeout,
            window_size,
            reset_chance,
            in_flight: SortedMap::new(),
        }),
        StrategyConfig::EdgeWalk {
            edge_length,
            neighborhood_size,
            edge_timeout,
        } => Box::new(EdgeWalk {
            edge_length,
            neighborhood_size,
            edge_timeout,
            neighborhood: Vec::new(),
            edge: Vec::new(),
            edge_start: 0,
            complete_edges: 0,
        }),
        StrategyConfig::RandomChurn {
            sample_size,
            ping_interval,
            inactive_time,
            drop_time,
            ping_timeout,
        } => Box::new(RandomChurn {
            sample_size,
            ping_interval,
            inactive_time,
            drop_time,
            ping_timeout,
            pinged: SortedMap::new(),
            cache: RequestCache::new(),
            peers: Vec::new(),
            sample: Vec::new(),
        }),
    }
}

/// IPv8's RandomWalk.
pub struct RandomWalk {
    timeout: Tick,
    window_size: usize,
    reset_chance: u8,
    /// Walks in flight: peer → when the request left.
    pub in_flight: SortedMap<NodeId, Tick>,
}

impl Strategy for RandomWalk {
    fn take_step(&mut self, now: Tick, o: &mut Overlay) {
        let expired: Vec<NodeId> = self
            .in_flight
            .iter()
            .filter(|&(_, &t)| now.saturating_sub(t) >= self.timeout)
            .map(|(&p, _)| p)
            .collect();
        for p in expired {
            self.in_flight.remove(&p);
            if o.walkable.contains(&p) {
                o.remove_peer(p);
            }
        }
        if self.in_flight.len() >= self.window_size {
            return;
        }
        let walk =
            crate::engine::rng::uniform_inclusive(o.rng, 0, 255) < 256 - self.reset_chance as u64;
        // A random walkable peer not in flight, drawn as from the list of them (no list made).
        let in_flight = &self.in_flight;
        let candidates = || {
            o.walkable
                .iter()
                .copied()
                .filter(|p| !in_flight.contains_key(p))
        };
        let count = candidates().count();
        let target = if walk && count > 0 {
            let i = crate::engine::rng::uniform_inclusive(o.rng, 0, count as u64 - 1) as usize;
            candidates().nth(i)
        } else if o.verified().is_empty() {
            let bs = o.bootstrappers;
            o.choose(bs)
        } else {
            o.choose_verified()
        };
        if let Some(p) = target {
            self.in_flight.insert(p, now);
            o.send_introduction_request(p);
        }
    }

    fn on_introduction(
        &mut self,
        _now: Tick,
        from: NodeId,
        _introduced: Option<NodeId>,
        _o: &mut Overlay,
    ) {
        self.in_flight.remove(&from);
    }
}

/// IPv8's EdgeWalk.
pub struct EdgeWalk {
    edge_length: usize,
    neighborhood_size: usize,
    edge_timeout: Tick,
    neighborhood: Vec<NodeId>,
    edge: Vec<NodeId>,
    edge_start: Tick,
    /// Edges walked to their full length.
    pub complete_edges: u64,
}

impl Strategy for EdgeWalk {
    fn take_step(&mut self, now: Tick, o: &mut Overlay) {
        if self.neighborhood.len() < self.neighborhood_size {
            for &p in o.verified().keys() {
                if self.neighborhood.len() < self.neighborhood_size
                    && !self.neighborhood.contains(&p)
                {
                    self.neighborhood.push(p);
                }
            }
            if self.neighborhood.len() < self.neighborhood_size {
                // Walk to an introduced peer (it becomes verified when it answers), else ask a
                // verified peer or a bootstrap node for one.
                let ask = if !o.walkable.is_empty() {
                    o.choose_walkable()
                } else if o.verified().is_empty() {
                    let bs = o.bootstrappers;
                    o.choose(bs)
                } else {
                    o.choose_verified()
                };
                if let Some(p) = ask {
                    o.send_introduction_request(p);
                }
                return;
            }
        }
        if !self.edge.is_empty() && now.saturating_sub(self.edge_start) >= self.edge_timeout {
            self.edge.clear();
        }
        if self.edge.is_empty() {
            let Some(start) = o.choose(&self.neighborhood) else {
                return;
            };
            self.edge.push(start);
            self.edge_start = now;
        }
        let tail = *self.edge.last().expect("non-empty");
        o.send_introduction_request(tail);
    }

    fn on_introduction(
        &mut self,
        now: Tick,
        from: NodeId,
        introduced: Option<NodeId>,
        _o: &mut Overlay,
    ) {
        if self.edge.last() == Some(&from)
            && let Some(c) = introduced
            && !self.edge.contains(&c)
        {
            self.edge.push(c);
            if self.edge.len() >= self.edge_length {
                self.complete_edges += 1;
                self.edge.clear();
            } else {
                self.edge_start = now;
            }
        }
    }
}

/// IPv8's RandomChurn.
pub struct RandomChurn {
    sample_size: usize,
    ping_interval: Tick,
    inactive_time: Tick,
    drop_time: Tick,
    ping_timeout: Tick,
    /// When each peer was last pinged.
    pinged: SortedMap<NodeId, Tick>,
    cache: RequestCache<NodeId>,
    /// Working lists of a step (verified peers with their times, the sample), kept between
    /// steps so that a step allocates nothing.
    peers: Vec<(NodeId, Tick)>,
    sample: Vec<(NodeId, Tick)>,
}

impl Strategy for RandomChurn {
    fn take_step(&mut self, now: Tick, o: &mut Overlay) {
        self.cache.handle_timeout(now);
        // The sample, with each peer's last-heard time (dropping one peer changes no other's).
        let (mut peers, mut sample) = (
            std::mem::take(&mut self.peers),
            std::mem::take(&mut self.sample),
        );
        peers.clear();
        peers.extend(o.verified().iter().map(|(&p, &t)| (p, t)));
        sample.clear();
        while sample.len() < self.sample_size && !peers.is_empty() {
            let i =
                crate::engine::rng::uniform_inclusive(o.rng, 0, peers.len() as u64 - 1) as usize;
            sample.push(peers.swap_remove(i));
        }
        for &(p, heard) in &sample {
            let silent = now.saturating_sub(heard);
            let pinged = self.pinged.get(&p).copied();
            if silent >= self.drop_time && pinged.is_some() {
                o.remove_peer(p);
                self.pinged.remove(&p);
            } else if silent >= self.inactive_time
                && pinged.is_none_or(|t| now.saturating_sub(t) >= self.ping_interval)
                && let Ok(number) = self
                    .cache
                    .add_random(now, "ping", self.ping_timeout, p, o.rng)
            {
                self.pinged.insert(p, now);
                o.stats.pings_sent += 1;
                o.out.push(DiscoveryOutput::Send {
                    to: p,
                    msg: DiscoveryMessage::Ping { identifier: number },
                });
            }
        }
        (self.peers, self.sample) = (peers, sample);
    }

    fn on_pong(&mut self, _now: Tick, from: NodeId, identifier: u32, _o: &mut Overlay) {
        if self.cache.get("ping", identifier) == Some(&from) {
            let _ = self.cache.pop("ping", identifier);
            self.pinged.remove(&from);
        }
    }
}
