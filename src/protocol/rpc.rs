//! Request/response flows held in a [`RequestCache`], sans-IO: the seed's count-to-ten example
//! and a general request load.
//!
//! - **count_to** (IPv8's tutorial): a node adds a `RandomNumberCache` (prefix `my-cache`) with
//!   its value and sends `Request(value, number)` to its peer; the peer answers
//!   `Response(value + 1, number)`; the node pops the cache named by the response and, unless
//!   the value reached the target, adds a new cache and sends the next request — twice when
//!   `replay` is on (the tutorial's replay attack). The duplicate response finds no cache and is
//!   dropped: that is the replay protection. With `replay_protection` off the node processes a
//!   response whether or not its cache exists (as if the tutorial had no cache), and each
//!   replayed response starts a flow of its own.
//! - **load**: a node sends `Request(0, number)` (prefix `rpc`) to a target; the target answers
//!   after `service_time`. A response whose cache timed out is counted late, one whose cache never
//!   existed or was already popped as a dropped replay; the round trip of the others is recorded.
//!
//! A request arriving at a node is answered after its service time (count_to: at once),
//! whatever flow the node runs. On timeout nothing is retried (as in the tutorial).

use super::request_cache::RequestCache;
use crate::engine::rng::Stream;
use crate::engine::time::Tick;
use crate::ids::NodeId;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

/// The prefix of count_to caches (the tutorial's `MyCache.name`).
pub const COUNT_PREFIX: &str = "my-cache";
/// The prefix of load caches.
pub const LOAD_PREFIX: &str = "rpc";

/// A message of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RpcMessage {
    /// A request.
    Request { value: u32, identifier: u32 },
    /// A response.
    Response { value: u32, identifier: u32 },
}

/// A command for the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RpcOutput {
    /// Send `msg` to `to`.
    Send { to: NodeId, msg: RpcMessage },
}

/// What a node's flows are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Only answers requests.
    Serve,
    /// Counts to `target` with `peer`, sending each request twice when `replay`.
    CountTo {
        peer: NodeId,
        target: u32,
        replay: bool,
    },
    /// Sends requests (issued by the engine's load generator).
    Load,
}

/// Settings of a node's flows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcConfig {
    /// The node's flow.
    pub flow: Flow,
    /// Cache timeout in ticks.
    pub timeout: Tick,
    /// Whether a response without a cache is dropped (true) or processed (false).
    pub replay_protection: bool,
    /// Ticks between receiving a request and sending the response.
    pub service_time: Tick,
}

/// The outcome of one request this node sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// Who was asked.
    pub to: NodeId,
    /// The cache number.
    pub number: u32,
    /// When it was sent.
    pub sent: Tick,
    /// When it ended (response or timeout), if it did.
    pub ended: Option<Tick>,
    /// Whether it completed (a response arrived in time).
    pub completed: bool,
}

/// Counters of a node's flows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RpcStats {
    /// Requests sent under a new cache (replays not counted).
    pub started: u64,
    /// Responses that found their cache.
    pub completed: u64,
    /// Caches that timed out.
    pub timed_out: u64,
    /// Responses whose cache had timed out.
    pub late: u64,
    /// Responses without a cache, dropped (replays, duplicates).
    pub replays_dropped: u64,
    /// Responses without a cache processed anyway (replay protection off).
    pub replays_processed: u64,
    /// Adds refused by the cache (no free number, or shut down).
    pub duplicates_refused: u64,
    /// Requests answered.
    pub served: u64,
    /// count_to: the highest value reached, and when.
    pub reached: Option<(u32, Tick)>,
}

/// The state a cache holds: which call it belongs to.
#[derive(Clone, Copy, Debug)]
struct Pending {
    call: usize,
}

/// The request/response state machine of one node.
pub struct RpcNode {
    config: RpcConfig,
    rng: Stream,
    cache: RequestCache<Pending>,
    /// Responses waiting for their service time: `(due, seq, to, message)`.
    serving: BinaryHeap<Reverse<(Tick, u64, NodeId, RpcMessage)>>,
    seq: u64,
    /// Numbers of caches that timed out (to tell late responses from replays).
    timed_out: BTreeSet<(&'static str, u32)>,
    calls: Vec<Call>,
    stats: RpcStats,
}

impl RpcNode {
    /// A node with its settings and its stream (`node/<name>/request_cache`).
    pub fn new(config: RpcConfig, rng: Stream) -> Self {
        Self {
            config,
            rng,
            cache: RequestCache::new(),
            serving: BinaryHeap::new(),
            seq: 0,
            timed_out: BTreeSet::new(),
            calls: Vec::new(),
            stats: RpcStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &RpcStats {
        &self.stats
    }

    /// Every request this node sent, in order.
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// The node's cache (read only).
    pub fn cache(&self) -> &RequestCache<impl Sized> {
        &self.cache
    }

    fn prefix(&self) -> &'static str {
        match self.config.flow {
            Flow::Load => LOAD_PREFIX,
            _ => COUNT_PREFIX,
        }
    }

    /// Adds a cache for `value` and sends the request to `to` (`copies` times).
    fn request(
        &mut self,
        now: Tick,
        to: NodeId,
        value: u32,
        copies: usize,
        out: &mut Vec<RpcOutput>,
    ) {
        let prefix = self.prefix();
        let call = self.calls.len();
        match self.cache.add_random(
            now,
            prefix,
            self.config.timeout,
            Pending { call },
            &mut self.rng,
        ) {
            Ok(number) => {
                self.timed_out.remove(&(prefix, number));
                self.calls.push(Call {
                    to,
                    number,
                    sent: now,
                    ended: None,
                    completed: false,
                });
                self.stats.started += 1;
                for _ in 0..copies {
                    out.push(RpcOutput::Send {
                        to,
                        msg: RpcMessage::Request {
                            value,
                            identifier: number,
                        },
                    });
                }
            }
            Err(_) => self.stats.duplicates_refused += 1,
        }
    }

    /// Starts the count_to flow (nothing for other flows).
    pub fn start(&mut self, now: Tick, out: &mut Vec<RpcOutput>) {
        if let Flow::CountTo { peer, .. } = self.config.flow {
            self.request(now, peer, 0, 1, out);
        }
    }

    /// Issues one load request to `to`.
    pub fn issue(&mut self, now: Tick, to: NodeId, out: &mut Vec<RpcOutput>) {
        self.request(now, to, 0, 1, out);
    }

    /// Processes a message from `from` arriving at `now`.
    pub fn handle_message(
        &mut self,
        now: Tick,
        from: NodeId,
        msg: RpcMessage,
        out: &mut Vec<RpcOutput>,
    ) {
        match msg {
            RpcMessage::Request { value, identifier } => {
                let response = RpcMessage::Response {
                    value: value.saturating_add(1),
                    identifier,
                };
                self.stats.served += 1;
                if self.config.service_time == 0 {
                    out.push(RpcOutput::Send {
                        to: from,
                        msg: response,
                    });
                } else {
                    self.seq += 1;
                    self.serving.push(Reverse((
                        now + self.config.service_time,
                        self.seq,
                        from,
                        response,
                    )));
                }
            }
            RpcMessage::Response { value, identifier } => {
                self.on_response(now, from, value, identifier, out)
            }
        }
    }

    fn on_response(
        &mut self,
        now: Tick,
        from: NodeId,
        value: u32,
        identifier: u32,
        out: &mut Vec<RpcOutput>,
    ) {
        let prefix = self.prefix();
        match self.cache.pop(prefix, identifier) {
            Ok(p) => {
                self.stats.completed += 1;
                let call = &mut self.calls[p.call];
                call.ended = Some(now);
                call.completed = true;
            }
            Err(_) if self.timed_out.remove(&(prefix, identifier)) => {
                self.stats.late += 1;
                return;
            }
            Err(_) if self.config.replay_protection => {
                self.stats.replays_dropped += 1;
                return;
            }
            Err(_) => self.stats.replays_processed += 1,
        }
        if let Flow::CountTo { target, replay, .. } = self.config.flow {
            if self.stats.reached.is_none_or(|(v, _)| value > v) {
                self.stats.reached = Some((value, now));
            }
            if value < target {
                self.request(now, from, value, if replay { 2 } else { 1 }, out);
            }
        }
    }

    /// The earliest tick at which a timeout or a delayed response is due.
    pub fn poll_timeout(&mut self) -> Option<Tick> {
        let cache = self.cache.poll_timeout();
        let serve = self.serving.peek().map(|Reverse((t, ..))| *t);
        match (cache, serve) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires what is due at `now`: timeouts (the key removed first; nothing retried) and
    /// delayed responses.
    pub fn handle_timeout(&mut self, now: Tick, out: &mut Vec<RpcOutput>) {
        for e in self.cache.handle_timeout(now) {
            self.stats.timed_out += 1;
            self.timed_out.insert((e.prefix, e.number));
            self.calls[e.state.call].ended = Some(now);
        }
        while let Some(&Reverse((t, _, to, msg))) = self.serving.peek() {
            if t > now {
                break;
            }
            self.serving.pop();
            out.push(RpcOutput::Send { to, msg });
        }
    }

    /// Shuts the cache down (no timeouts fire any more).
    pub fn shutdown(&mut self) {
        self.cache.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::stream;

    const A: NodeId = NodeId(0);
    const B: NodeId = NodeId(1);

    fn node(flow: Flow, protection: bool) -> RpcNode {
        RpcNode::new(
            RpcConfig {
                flow,
                timeout: 10,
                replay_protection: protection,
                service_time: 0,
            },
            stream(1, "t"),
        )
    }

    /// Delivers every message between two nodes, one tick per hop, until quiet (or until more
    /// than `limit` messages are in flight).
    fn exchange(a: &mut RpcNode, b: &mut RpcNode, limit: usize) {
        let mut inflight: Vec<(NodeId, NodeId, RpcMessage)> = Vec::new();
        let collect = |from: NodeId,
                       out: Vec<RpcOutput>,
                       inflight: &mut Vec<(NodeId, NodeId, RpcMessage)>| {
            for RpcOutput::Send { to, msg } in out {
                inflight.push((from, to, msg));
            }
        };
        let (mut a_out, mut b_out) = (Vec::new(), Vec::new());
        a.start(0, &mut a_out);
        b.start(0, &mut b_out);
        collect(A, a_out, &mut inflight);
        collect(B, b_out, &mut inflight);
        let mut t = 0;
        while !inflight.is_empty() && inflight.len() < limit {
            t += 1;
            for (from, to, msg) in std::mem::take(&mut inflight) {
                let mut o = Vec::new();
                let n = if to == A { &mut *a } else { &mut *b };
                n.handle_message(t, from, msg, &mut o);
                collect(to, o, &mut inflight);
            }
        }
    }

    #[test]
    fn both_peers_count_to_ten_and_every_replay_is_dropped() {
        let mut a = node(
            Flow::CountTo {
                peer: B,
                target: 10,
                replay: true,
            },
            true,
        );
        let mut b = node(
            Flow::CountTo {
                peer: A,
                target: 10,
                replay: true,
            },
            true,
        );
        exchange(&mut a, &mut b, 10_000);
        for n in [&a, &b] {
            let s = n.stats();
            assert_eq!(s.reached.map(|r| r.0), Some(10));
            // Ten requests under a cache: 0 (sent once), then 1..=9 (each sent twice).
            assert_eq!(s.started, 10);
            assert_eq!(s.completed, 10);
            // Each of the 9 replayed requests is answered twice: 9 duplicates dropped.
            assert_eq!(s.replays_dropped, 9);
            assert_eq!(s.replays_processed, 0);
            assert!(n.cache.is_empty());
        }
    }

    #[test]
    fn without_replay_protection_the_replays_are_processed() {
        let mut a = node(
            Flow::CountTo {
                peer: B,
                target: 10,
                replay: true,
            },
            false,
        );
        let mut b = node(
            Flow::CountTo {
                peer: A,
                target: 10,
                replay: true,
            },
            false,
        );
        exchange(&mut a, &mut b, 1_000_000);
        let s = a.stats();
        assert_eq!(s.reached.map(|r| r.0), Some(10));
        assert_eq!(s.replays_dropped, 0);
        // Every duplicate response starts a flow of its own: the flows double at each step.
        assert!(s.replays_processed > 100, "{s:?}");
        assert!(s.started > 500, "{s:?}");
    }

    #[test]
    fn a_request_times_out_at_its_tick_and_a_late_response_is_counted() {
        let mut a = node(Flow::Load, true);
        let mut out = Vec::new();
        a.issue(3, B, &mut out);
        let RpcOutput::Send {
            msg: RpcMessage::Request { identifier, .. },
            ..
        } = out[0]
        else {
            panic!()
        };
        assert_eq!(a.poll_timeout(), Some(13));
        a.handle_timeout(12, &mut out);
        assert_eq!(a.stats().timed_out, 0);
        a.handle_timeout(13, &mut out);
        assert_eq!(a.stats().timed_out, 1);
        assert_eq!(a.calls()[0].ended, Some(13));
        a.handle_message(
            20,
            B,
            RpcMessage::Response {
                value: 1,
                identifier,
            },
            &mut out,
        );
        assert_eq!(
            (
                a.stats().late,
                a.stats().replays_dropped,
                a.stats().completed
            ),
            (1, 0, 0)
        );
        // The same response again is a replay.
        a.handle_message(
            21,
            B,
            RpcMessage::Response {
                value: 1,
                identifier,
            },
            &mut out,
        );
        assert_eq!(a.stats().replays_dropped, 1);
    }

    #[test]
    fn a_server_answers_after_its_service_time() {
        let mut s = RpcNode::new(
            RpcConfig {
                flow: Flow::Serve,
                timeout: 10,
                replay_protection: true,
                service_time: 4,
            },
            stream(1, "t"),
        );
        let mut out = Vec::new();
        s.handle_message(
            2,
            A,
            RpcMessage::Request {
                value: 7,
                identifier: 99,
            },
            &mut out,
        );
        assert!(out.is_empty());
        assert_eq!(s.poll_timeout(), Some(6));
        s.handle_timeout(6, &mut out);
        assert_eq!(
            out,
            [RpcOutput::Send {
                to: A,
                msg: RpcMessage::Response {
                    value: 8,
                    identifier: 99
                }
            }]
        );
    }

    #[test]
    fn shutdown_fires_no_timeouts() {
        let mut a = node(Flow::Load, true);
        let mut out = Vec::new();
        a.issue(0, B, &mut out);
        a.shutdown();
        assert_eq!(a.poll_timeout(), None);
        a.handle_timeout(100, &mut out);
        assert_eq!(a.stats().timed_out, 0);
        a.issue(1, B, &mut out);
        assert_eq!(a.stats().duplicates_refused, 1);
    }
}
