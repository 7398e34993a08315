//! Sans-IO protocol state machines.
//!
//! Protocol code never reads a clock, touches a socket or a file, or uses a global RNG. Each
//! state machine takes `(now, input)` and writes commands into an output buffer (send this packet
//! to that peer, deliver this message); it reports when it next has work through a
//! `poll_timeout`-style method. The engine is the only thing that moves time and packets.
//!
//! - [`sync`]: the data-sync protocol of the seed PoC, MVDS and BSP.
//! - [`discovery`]: IPv8's DiscoveryStrategy loop, introductions, RandomWalk and friends.
//! - [`peer_store`]: p2p0mq's PeerStore: states, hellos, heartbeats, SQLite persistence.
//! - [`request_cache`]: IPv8's RequestCache, and the request/response flows held in it.

pub mod discovery;
pub mod peer_store;
pub mod request_cache;
pub mod rpc;
pub mod sync;
