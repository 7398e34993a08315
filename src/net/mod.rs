//! The network: links between nodes (latency, loss), the topologies that generate them, and the
//! availability of nodes.
//!
//! A link direction `A->B` has its own latency distribution, loss model and two random streams
//! (`link/A->B/latency`, `link/A->B/loss`). Every packet draws its latency first and its loss
//! second, always both, so changing the loss model never shifts the latency draws.
//!
//! A node's availability decides when it steps and whether an arriving packet is processed:
//! a packet that reaches an offline node is lost and counted as `lost_offline`.

mod availability;
mod link;
pub mod topology;

pub use availability::{Availability, AvailabilityState, online_spans};
pub use link::{Direction, Latency, Link, LinkStream, LinkStreams, Loss, Transit, fixed_delay};
