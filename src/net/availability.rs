//! When a node is online.
//!
//! - `Always`: steps at every step tick, processes every packet.
//! - `Reliability { p }` (the seed PoC's model): steps at every step tick, but processes each
//!   incoming packet only with probability `p`; the other packets are lost as if it were offline.
//!   One draw per arriving packet from the node's stream `node/<name>/availability`.
//! - `Periodic { on, off, phase }`: online at tick `t` iff `(t + phase) mod (on + off) < on`; an
//!   offline node neither steps nor receives. No randomness.

use crate::engine::rng::{Probability, Stream};
use crate::engine::time::{Tick, align_up};

/// A node's availability model, in ticks.
#[derive(Clone, Debug, PartialEq)]
pub enum Availability {
    /// Always online.
    Always,
    /// Processes each incoming packet with probability `p`; always steps.
    Reliability { p: Probability },
    /// On for `on` ticks, off for `off` ticks, shifted by `phase`.
    Periodic { on: Tick, off: Tick, phase: Tick },
}

impl Availability {
    /// Whether the node is online (steps, can receive) at tick `t`.
    pub fn online_at(&self, t: Tick) -> bool {
        match *self {
            Availability::Always | Availability::Reliability { .. } => true,
            Availability::Periodic { on, off, phase } => {
                off == 0 || (t.wrapping_add(phase)) % (on + off) < on
            }
        }
    }

    /// Whether a packet arriving at tick `t` is processed. Draws from `rng` only for
    /// `Reliability` with `0 < p < 1`.
    pub fn receives(&self, t: Tick, rng: &mut Stream) -> bool {
        match self {
            Availability::Reliability { p } => p.sample(rng),
            other => other.online_at(t),
        }
    }

    /// The first tick `>= from` that is a multiple of `epoch` and at which the node is online,
    /// or `None` if there is none (a periodic schedule that never lines up with the epoch).
    pub fn next_step_tick(&self, from: Tick, epoch: Tick) -> Option<Tick> {
        let mut t = align_up(from, epoch);
        match *self {
            Availability::Always | Availability::Reliability { .. } => Some(t),
            Availability::Periodic { on, off, .. } => {
                // Within one period of steps every phase position has been seen: bounded search.
                let period = on + off;
                for _ in 0..=period {
                    if self.online_at(t) {
                        return Some(t);
                    }
                    t = t.checked_add(epoch)?;
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::stream;

    #[test]
    fn periodic_follows_on_off_and_phase() {
        let a = Availability::Periodic {
            on: 2,
            off: 3,
            phase: 0,
        };
        let online: Vec<bool> = (0..10).map(|t| a.online_at(t)).collect();
        assert_eq!(
            online,
            [
                true, true, false, false, false, true, true, false, false, false
            ]
        );
        let shifted = Availability::Periodic {
            on: 2,
            off: 3,
            phase: 4,
        };
        // (0 + 4) % 5 = 4 -> off; (1 + 4) % 5 = 0 -> on.
        assert!(!shifted.online_at(0));
        assert!(shifted.online_at(1));
        assert!(shifted.online_at(2));
        assert!(!shifted.online_at(3));
    }

    #[test]
    fn next_step_tick_skips_offline_and_aligns_to_epoch() {
        let a = Availability::Periodic {
            on: 2,
            off: 3,
            phase: 0,
        };
        assert_eq!(a.next_step_tick(2, 1), Some(5));
        assert_eq!(a.next_step_tick(1, 1), Some(1));
        // Epoch 5 and on-window [0, 2) of period 5: multiples of 5 are always online.
        assert_eq!(a.next_step_tick(3, 5), Some(5));
        // Epoch 5 never lines up with an on-window [3, 4) of period 5.
        let never = Availability::Periodic {
            on: 1,
            off: 4,
            phase: 2,
        };
        assert_eq!(never.next_step_tick(0, 5), None);
        assert_eq!(Availability::Always.next_step_tick(7, 3), Some(9));
    }

    #[test]
    fn reliability_draws_per_packet() {
        let a = Availability::Reliability {
            p: Probability::new(0.1),
        };
        let mut r = stream(5, "node/A/availability");
        let processed = (0..10_000).filter(|&t| a.receives(t, &mut r)).count();
        assert!((850..1150).contains(&processed), "{processed}");
        assert!(a.online_at(3));
    }
}
