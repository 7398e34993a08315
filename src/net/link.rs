//! Link directions: latency distributions and loss models.

use crate::engine::rng::{self, Probability, Stream};
use crate::engine::time::Tick;
use crate::ids::NodeId;

/// How long a packet takes on a link direction, in ticks (always at least 1).
#[derive(Clone, Debug, PartialEq)]
pub enum Latency {
    /// Always `delay` ticks.
    Fixed { delay: Tick },
    /// Uniform over the integers `min..=max`.
    Uniform { min: Tick, max: Tick },
}

impl Latency {
    /// Draws one latency.
    #[inline]
    pub fn sample(&self, rng: &mut Stream) -> Tick {
        match *self {
            Latency::Fixed { delay } => delay,
            Latency::Uniform { min, max } => rng::uniform_inclusive(rng, min, max),
        }
    }
}

/// Whether a packet is lost on a link direction.
#[derive(Clone, Debug, PartialEq)]
pub enum Loss {
    /// No packet is lost.
    None,
    /// Each packet is lost independently with probability `p`.
    Bernoulli { p: Probability },
}

impl Loss {
    /// Draws once and says whether this packet is lost.
    #[inline]
    pub fn sample(&self, rng: &mut Stream) -> bool {
        match self {
            Loss::None => false,
            Loss::Bernoulli { p } => p.sample(rng),
        }
    }
}

/// One direction of a link, with its own random streams.
#[derive(Clone, Debug)]
pub struct Link {
    /// Sending node.
    pub from: NodeId,
    /// Receiving node.
    pub to: NodeId,
    /// Latency distribution.
    pub latency: Latency,
    /// Loss model.
    pub loss: Loss,
    latency_rng: Stream,
    loss_rng: Stream,
}

/// What happened to one packet put on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transit {
    /// Ticks until arrival (drawn even when the packet is lost).
    pub latency: Tick,
    /// Whether the link lost the packet.
    pub lost: bool,
}

impl Link {
    /// A link direction whose streams are derived from the run seed and the node names.
    pub fn new(
        seed: u64,
        (from, from_name): (NodeId, &str),
        (to, to_name): (NodeId, &str),
        latency: Latency,
        loss: Loss,
    ) -> Self {
        Self {
            from,
            to,
            latency,
            loss,
            latency_rng: rng::stream(seed, &format!("link/{from_name}->{to_name}/latency")),
            loss_rng: rng::stream(seed, &format!("link/{from_name}->{to_name}/loss")),
        }
    }

    /// Puts one packet on the link: latency first, then loss.
    #[inline]
    pub fn transmit(&mut self) -> Transit {
        let latency = self.latency.sample(&mut self.latency_rng);
        let lost = self.loss.sample(&mut self.loss_rng);
        Transit { latency, lost }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(loss: Loss) -> Link {
        Link::new(
            11,
            (NodeId(0), "A"),
            (NodeId(1), "B"),
            Latency::Uniform { min: 1, max: 3 },
            loss,
        )
    }

    #[test]
    fn turning_on_loss_does_not_shift_latency_draws() {
        let mut clean = link(Loss::None);
        let mut lossy = link(Loss::Bernoulli {
            p: Probability::new(0.5),
        });
        let a: Vec<Tick> = (0..200).map(|_| clean.transmit().latency).collect();
        let b: Vec<Transit> = (0..200).map(|_| lossy.transmit()).collect();
        assert_eq!(a, b.iter().map(|t| t.latency).collect::<Vec<_>>());
        let lost = b.iter().filter(|t| t.lost).count();
        assert!((60..140).contains(&lost), "{lost}");
        assert!(a.iter().all(|l| (1..=3).contains(l)));
    }

    #[test]
    fn directions_draw_from_different_streams() {
        let mut ab = link(Loss::None);
        let mut ba = Link::new(
            11,
            (NodeId(1), "B"),
            (NodeId(0), "A"),
            Latency::Uniform { min: 1, max: 1000 },
            Loss::None,
        );
        let mut ab_wide = Link::new(
            11,
            (NodeId(0), "A"),
            (NodeId(1), "B"),
            Latency::Uniform { min: 1, max: 1000 },
            Loss::None,
        );
        let x: Vec<Tick> = (0..20).map(|_| ba.transmit().latency).collect();
        let y: Vec<Tick> = (0..20).map(|_| ab_wide.transmit().latency).collect();
        assert_ne!(x, y);
        assert!(!ab.transmit().lost);
    }
}
