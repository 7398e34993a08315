//! When a node is online.
//!
//! | kind | online at tick t | randomness |
//! |---|---|---|
//! | `Always` | always | none |
//! | `Reliability { p }` | always steps; each arriving packet is processed with probability `p` (the seed PoC) | one draw per arriving packet |
//! | `Periodic { on, off, phase }` | `(t + phase) mod (on + off) < on` | none |
//! | `Bernoulli { p }` | independently each tick with probability `p` | one value per tick, read by position in the stream, so it does not depend on which ticks are asked about |
//! | `Markov { mean_on, mean_off }` | two states with geometric sojourns of those means; starts in its stationary distribution | one draw per sojourn |
//! | `Intervals { spans }` | inside one of the `[from, to)` spans | none |
//! | `Crash { at, back }` | outside `[at, back)`; the engine also wipes the node's memory at `at` and reloads its peer store at `back` | none |
//!
//! An offline node neither steps nor receives. Every query is at or after the engine's current
//! tick, which only grows; the Markov chain is generated forward lazily and its past forgotten.

use crate::engine::rng::{self, Probability, Stream};
use crate::engine::time::{Tick, align_up};
use rand::Rng;
use std::collections::VecDeque;

/// A node's availability model, in ticks.
#[derive(Clone, Debug, PartialEq)]
pub enum Availability {
    /// Always online.
    Always,
    /// Processes each incoming packet with probability `p`; always steps.
    Reliability { p: Probability },
    /// On for `on` ticks, off for `off` ticks, shifted by `phase`.
    Periodic { on: Tick, off: Tick, phase: Tick },
    /// Online each tick independently with probability `p`.
    Bernoulli { p: Probability },
    /// Two-state Markov chain with geometric sojourns (means in ticks, at least 1).
    Markov { mean_on: f64, mean_off: f64 },
    /// Online inside the sorted, disjoint `[from, to)` spans.
    Intervals { spans: Vec<(Tick, Tick)> },
    /// Online except during `[at, back)`: the node crashes at `at` and restarts at `back`.
    Crash { at: Tick, back: Tick },
}

impl Availability {
    /// The scenario's name of this kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Availability::Always => "always",
            Availability::Reliability { .. } => "reliability",
            Availability::Periodic { .. } => "periodic",
            Availability::Bernoulli { .. } => "bernoulli",
            Availability::Markov { .. } => "markov",
            Availability::Intervals { .. } => "intervals",
            Availability::Crash { .. } => "crash",
        }
    }
}

/// An availability model with its stream and state, for one node.
///
/// Laid out so that the question every packet asks (is its receiver online at its arrival?)
/// reads one cache line: the sojourn answered last and the model, first, at the start of a
/// line (`rustc` would put the model first and the sojourn 368 bytes on, beyond the stream).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct AvailabilityState {
    /// The Markov sojourn answered last, kept inline (most queries fall in it, and reading it
    /// here spares a trip to the deque's buffer); `(0, 0, _)` holds no tick.
    last: (Tick, Tick, bool),
    model: Availability,
    /// Markov sojourns generated so far: `(start, end, online)`, contiguous.
    sojourns: VecDeque<(Tick, Tick, bool)>,
    rng: Stream,
}

/// How many candidate ticks or sojourns a search for the next online tick examines at most.
const SEARCH_LIMIT: u64 = 10_000_000;

impl AvailabilityState {
    /// The model with its stream (`node/<name>/availability`).
    pub fn new(model: Availability, rng: Stream) -> Self {
        Self {
            model,
            rng,
            sojourns: VecDeque::new(),
            last: (0, 0, false),
        }
    }

    /// The model.
    pub fn model(&self) -> &Availability {
        &self.model
    }

    fn bernoulli_at(&mut self, p: Probability, t: Tick) -> bool {
        if p.is_certain() || p.is_impossible() {
            return p.is_certain();
        }
        self.rng.set_word_pos(u128::from(t) * 2);
        self.rng.next_u64() < p.threshold()
    }

    /// The Markov sojourn containing `t`, generating forward as needed.
    fn sojourn_at(&mut self, t: Tick) -> (Tick, Tick, bool) {
        let Availability::Markov { mean_on, mean_off } = self.model else {
            unreachable!("markov only")
        };
        if self.last.0 <= t && t < self.last.1 {
            return self.last;
        }
        if self.sojourns.is_empty() {
            let on = rng::unit_f64(&mut self.rng) < mean_on / (mean_on + mean_off);
            let len = rng::geometric(&mut self.rng, if on { mean_on } else { mean_off });
            self.sojourns.push_back((0, len, on));
        }
        loop {
            let &(_, end, on) = self.sojourns.back().expect("non-empty");
            if end > t {
                break;
            }
            let len = rng::geometric(&mut self.rng, if on { mean_off } else { mean_on });
            self.sojourns.push_back((end, end.saturating_add(len), !on));
        }
        let i = self.sojourns.partition_point(|&(_, end, _)| end <= t);
        self.last = self.sojourns[i];
        self.last
    }

    /// Forgets Markov sojourns that end at or before `now` (no query will ask about them).
    fn forget_before(&mut self, now: Tick) {
        while self.sojourns.len() > 1 && self.sojourns.front().is_some_and(|&(_, e, _)| e <= now) {
            self.sojourns.pop_front();
        }
    }

    /// Whether the node is online (steps, can receive) at tick `t`.
    #[inline]
    pub fn online_at(&mut self, t: Tick) -> bool {
        self.remembered(t)
            .unwrap_or_else(|| self.online_at_model(t))
    }

    /// Whether the node is online at `t`, if `t` falls in the Markov sojourn answered last (most
    /// queries do; for other models `last` holds no tick and this answers nothing).
    #[inline]
    fn remembered(&self, t: Tick) -> Option<bool> {
        (self.last.0 <= t && t < self.last.1).then_some(self.last.2)
    }

    /// [`AvailabilityState::online_at`] from the model.
    #[inline(never)]
    fn online_at_model(&mut self, t: Tick) -> bool {
        match self.model {
            Availability::Always | Availability::Reliability { .. } => true,
            Availability::Periodic { on, off, phase } => {
                off == 0 || (t.wrapping_add(phase)) % (on + off) < on
            }
            Availability::Bernoulli { p } => self.bernoulli_at(p, t),
            Availability::Markov { .. } => self.sojourn_at(t).2,
            Availability::Intervals { ref spans } => {
                let i = spans.partition_point(|&(from, _)| from <= t);
                i > 0 && t < spans[i - 1].1
            }
            Availability::Crash { at, back } => t < at || t >= back,
        }
    }

    /// Whether a packet sent at the current tick `now` and arriving at `t` (not before `now`)
    /// will find the node offline, as [`AvailabilityState::receives`] at `t` would answer: known
    /// already at `now` for every model but `Reliability` (which draws at arrival, and so
    /// answers false here).
    #[inline]
    pub fn offline_at(&mut self, now: Tick, t: Tick) -> bool {
        match self.model {
            Availability::Reliability { .. } | Availability::Always => false,
            Availability::Markov { .. } => {
                if let Some(online) = self.remembered(t) {
                    return !online;
                }
                // Nothing asks about ticks before `now` any more.
                self.forget_before(now);
                !self.online_at(t)
            }
            _ => !self.online_at(t),
        }
    }

    /// Whether a packet arriving at the current tick `now` is processed.
    #[inline]
    pub fn receives(&mut self, now: Tick) -> bool {
        if let Availability::Reliability { p } = self.model {
            return p.sample(&mut self.rng);
        }
        if let Some(online) = self.remembered(now) {
            return online;
        }
        if now >= self.last.1 {
            self.forget_before(now);
        }
        self.online_at(now)
    }

    /// The first tick in `from..until` that is a multiple of `epoch` and at which the node is
    /// online, or `None`.
    pub fn next_step_tick(&mut self, from: Tick, epoch: Tick, until: Tick) -> Option<Tick> {
        let mut t = align_up(from, epoch);
        if self.remembered(t) == Some(true) {
            return (t < until).then_some(t);
        }
        if let Availability::Intervals { spans } = &self.model {
            let i = spans.partition_point(|&(_, to)| to <= t);
            let found = spans[i..].iter().find_map(|&(s, e)| {
                let c = align_up(t.max(s), epoch);
                (c < e).then_some(c)
            });
            return found.filter(|&c| c < until);
        }
        // Every other model is a few numbers: copying it costs no allocation.
        match self.model.clone() {
            Availability::Always | Availability::Reliability { .. } => {}
            Availability::Periodic { on, off, .. } => {
                // Within one period of steps every phase position has been seen.
                for _ in 0..=(on + off).min(SEARCH_LIMIT) {
                    if t >= until || self.online_at(t) {
                        break;
                    }
                    t = t.checked_add(epoch)?;
                }
                if !self.online_at(t) {
                    return None;
                }
            }
            Availability::Bernoulli { p } => {
                if p.is_impossible() {
                    return None;
                }
                let mut tries = 0;
                while t < until && !self.bernoulli_at(p, t) {
                    t = t.checked_add(epoch)?;
                    tries += 1;
                    if tries > SEARCH_LIMIT {
                        return None;
                    }
                }
            }
            Availability::Markov { .. } => {
                let mut tries = 0;
                while t < until {
                    let (_, end, on) = self.sojourn_at(t);
                    if on {
                        break;
                    }
                    t = align_up(end, epoch);
                    tries += 1;
                    if tries > SEARCH_LIMIT {
                        return None;
                    }
                }
            }
            Availability::Intervals { .. } => unreachable!("answered above"),
            Availability::Crash { at, back } => {
                if t >= at && t < back {
                    t = align_up(back, epoch);
                }
            }
        }
        (t < until).then_some(t)
    }
}

/// Online spans `[from, to)` of a node over `0..until`, for pictures: exact when `until` is at
/// most `resolution` ticks, else from the state sampled every `until / resolution` ticks.
pub fn online_spans(
    mut state: AvailabilityState,
    until: Tick,
    resolution: Tick,
) -> Vec<(Tick, Tick)> {
    let step = until.div_ceil(resolution.max(1)).max(1);
    let mut spans: Vec<(Tick, Tick)> = Vec::new();
    let mut t = 0;
    while t < until {
        let on = state.online_at(t);
        state.forget_before(t);
        let end = (t + step).min(until);
        if on {
            match spans.last_mut() {
                Some(last) if last.1 == t => last.1 = end,
                _ => spans.push((t, end)),
            }
        }
        t = end;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::stream;

    fn state(model: Availability) -> AvailabilityState {
        AvailabilityState::new(model, stream(5, "node/A/availability"))
    }

    fn duty(model: Availability, ticks: Tick) -> f64 {
        let mut s = state(model);
        (0..ticks).filter(|&t| s.online_at(t)).count() as f64 / ticks as f64
    }

    /// What a packet's offline check reads (the sojourn answered last, then the model) lies in
    /// the first 56 bytes, ahead of the stream: at most two cache lines, one when the state
    /// starts at most 8 bytes into a line.
    #[test]
    fn the_offline_check_reads_the_first_bytes() {
        use std::mem::{offset_of, size_of};
        assert_eq!(offset_of!(AvailabilityState, last), 0);
        let model = offset_of!(AvailabilityState, model);
        assert!(model + size_of::<Availability>() <= 56, "model at {model}");
        assert!(offset_of!(AvailabilityState, rng) >= 56);
    }

    #[test]
    fn periodic_follows_on_off_and_phase() {
        let mut a = state(Availability::Periodic {
            on: 2,
            off: 3,
            phase: 0,
        });
        let online: Vec<bool> = (0..10).map(|t| a.online_at(t)).collect();
        assert_eq!(
            online,
            [
                true, true, false, false, false, true, true, false, false, false
            ]
        );
        let mut shifted = state(Availability::Periodic {
            on: 2,
            off: 3,
            phase: 4,
        });
        assert!(!shifted.online_at(0));
        assert!(shifted.online_at(1));
        assert!(shifted.online_at(2));
        assert!(!shifted.online_at(3));
        assert!(
            (duty(
                Availability::Periodic {
                    on: 2,
                    off: 3,
                    phase: 1
                },
                10_000
            ) - 0.4)
                .abs()
                < 1e-9
        );
    }

    #[test]
    fn next_step_tick_skips_offline_and_aligns_to_epoch() {
        let mut a = state(Availability::Periodic {
            on: 2,
            off: 3,
            phase: 0,
        });
        assert_eq!(a.next_step_tick(2, 1, 100), Some(5));
        assert_eq!(a.next_step_tick(1, 1, 100), Some(1));
        assert_eq!(a.next_step_tick(3, 5, 100), Some(5));
        assert_eq!(a.next_step_tick(2, 1, 5), None, "past the end of the run");
        let mut never = state(Availability::Periodic {
            on: 1,
            off: 4,
            phase: 2,
        });
        assert_eq!(never.next_step_tick(0, 5, 1000), None);
        assert_eq!(
            state(Availability::Always).next_step_tick(7, 3, 100),
            Some(9)
        );
    }

    #[test]
    fn reliability_draws_per_packet() {
        let mut a = state(Availability::Reliability {
            p: Probability::new(0.1),
        });
        let processed = (0..10_000).filter(|&t| a.receives(t)).count();
        assert!((850..1150).contains(&processed), "{processed}");
        assert!(a.online_at(3));
    }

    #[test]
    fn bernoulli_duty_cycle_and_answers_independent_of_query_order() {
        let model = Availability::Bernoulli {
            p: Probability::new(0.3),
        };
        assert!((duty(model.clone(), 100_000) - 0.3).abs() < 0.01);
        let mut a = state(model.clone());
        let forward: Vec<bool> = (0..50).map(|t| a.online_at(t)).collect();
        let mut b = state(model);
        let sparse: Vec<bool> = (0..50)
            .rev()
            .map(|t| b.online_at(t))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        assert_eq!(forward, sparse);
        let mut c = state(Availability::Bernoulli {
            p: Probability::new(0.3),
        });
        let t = c.next_step_tick(10, 1, 1000).unwrap();
        assert!(c.online_at(t));
        assert!((10..t).all(|u| !c.online_at(u)));
    }

    #[test]
    fn markov_duty_cycle_and_sojourn_means() {
        let model = Availability::Markov {
            mean_on: 20.0,
            mean_off: 80.0,
        };
        assert!((duty(model.clone(), 400_000) - 0.2).abs() < 0.015);
        let mut s = state(model);
        let states: Vec<bool> = (0..400_000).map(|t| s.online_at(t)).collect();
        let (mut on_runs, mut off_runs) = (vec![], vec![]);
        let mut run = 1;
        for w in states.windows(2) {
            if w[0] == w[1] {
                run += 1;
            } else {
                if w[0] {
                    on_runs.push(run)
                } else {
                    off_runs.push(run)
                }
                run = 1;
            }
        }
        let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len() as f64;
        assert!((mean(&on_runs) - 20.0).abs() < 1.0, "{}", mean(&on_runs));
        assert!((mean(&off_runs) - 80.0).abs() < 4.0, "{}", mean(&off_runs));
    }

    #[test]
    fn offline_at_a_later_tick_is_what_receives_answers_there() {
        let models = [
            Availability::Always,
            Availability::Periodic {
                on: 7,
                off: 5,
                phase: 3,
            },
            Availability::Bernoulli {
                p: Probability::new(0.4),
            },
            Availability::Markov {
                mean_on: 6.0,
                mean_off: 4.0,
            },
            Availability::Intervals {
                spans: vec![(3, 9), (20, 21), (40, 90)],
            },
            Availability::Crash { at: 30, back: 45 },
        ];
        for model in models {
            // One state asks ahead at each send (now, now + d) as the engine does; another only
            // receives at each tick: they must agree, and asking ahead changes nothing after.
            let (mut ahead, mut plain) = (state(model.clone()), state(model.clone()));
            let mut said = std::collections::BTreeMap::new();
            for now in 0..400u64 {
                for d in [1, 3, 17] {
                    let off = ahead.offline_at(now, now + d);
                    assert_eq!(
                        *said.entry(now + d).or_insert(off),
                        off,
                        "{model:?} at {}",
                        now + d
                    );
                }
                let received = plain.receives(now);
                if let Some(&off) = said.get(&now) {
                    assert_eq!(off, !received, "{model:?} at {now}");
                }
                assert_eq!(ahead.receives(now), received, "{model:?} at {now}");
            }
            // Markov: asking ahead still forgets what is past.
            assert!(
                ahead.sojourns.len() < 20,
                "{model:?}: {}",
                ahead.sojourns.len()
            );
        }
        // Reliability decides at arrival: never known offline ahead.
        let mut r = state(Availability::Reliability {
            p: Probability::new(0.0),
        });
        assert!((0..50).all(|t| !r.offline_at(t, t + 2)));
    }

    #[test]
    fn markov_answers_do_not_depend_on_which_ticks_were_asked_before() {
        // The remembered sojourn answers most queries; it must give what the chain gives to a
        // state asked about that tick alone, whether the question is `online_at`, `receives`
        // or the next tick to step at.
        let model = Availability::Markov {
            mean_on: 7.0,
            mean_off: 5.0,
        };
        let (mut every, mut receiving) = (state(model.clone()), state(model.clone()));
        let (mut stepping, mut stepping_3) = (state(model.clone()), state(model.clone()));
        let mut flips = 0;
        let mut before = None;
        for t in 0..3_000 {
            let alone = state(model.clone()).online_at(t);
            assert_eq!(every.online_at(t), alone, "online_at, tick {t}");
            assert_eq!(receiving.receives(t), alone, "receives, tick {t}");
            for (s, epoch) in [(&mut stepping, 1), (&mut stepping_3, 3)] {
                assert_eq!(
                    s.next_step_tick(t, epoch, 2_990),
                    state(model.clone()).next_step_tick(t, epoch, 2_990),
                    "next_step_tick from tick {t}, epoch {epoch}"
                );
            }
            flips += usize::from(before.is_some_and(|b| b != alone));
            before = Some(alone);
        }
        assert!(flips > 200, "the chain changes state often: {flips}");
    }

    #[test]
    fn markov_next_step_tick_lands_on_an_online_tick() {
        let mut s = state(Availability::Markov {
            mean_on: 3.0,
            mean_off: 10.0,
        });
        let mut from = 0;
        for _ in 0..100 {
            let t = s.next_step_tick(from, 2, u64::MAX).unwrap();
            assert_eq!(t % 2, 0);
            assert!(s.online_at(t));
            s.receives(t);
            from = t + 1;
        }
    }

    #[test]
    fn online_spans_are_exact_at_full_resolution() {
        let s = state(Availability::Periodic {
            on: 2,
            off: 3,
            phase: 0,
        });
        assert_eq!(online_spans(s, 12, 100), [(0, 2), (5, 7), (10, 12)]);
        let s = state(Availability::Intervals {
            spans: vec![(2, 4), (10, 11)],
        });
        assert_eq!(online_spans(s, 20, 100), [(2, 4), (10, 11)]);
        assert_eq!(
            online_spans(state(Availability::Always), 1000, 10),
            [(0, 1000)]
        );
        // Sampled every 10 ticks: the span [2, 4) is not seen at tick 0 or 10.
        let s = state(Availability::Intervals {
            spans: vec![(2, 4), (10, 11)],
        });
        assert_eq!(online_spans(s, 100, 10), [(10, 20)]);
    }

    #[test]
    fn intervals_are_half_open() {
        let model = Availability::Intervals {
            spans: vec![(2, 4), (10, 11)],
        };
        let mut s = state(model);
        let online: Vec<Tick> = (0..15).filter(|&t| s.online_at(t)).collect();
        assert_eq!(online, [2, 3, 10]);
        assert_eq!(s.next_step_tick(4, 1, 100), Some(10));
        assert_eq!(s.next_step_tick(3, 2, 100), Some(10));
        assert_eq!(s.next_step_tick(11, 1, 100), None);
    }

    #[test]
    fn a_crash_is_offline_from_at_until_back() {
        let mut s = state(Availability::Crash { at: 5, back: 8 });
        let online: Vec<Tick> = (0..10).filter(|&t| s.online_at(t)).collect();
        assert_eq!(online, [0, 1, 2, 3, 4, 8, 9]);
        assert_eq!(s.next_step_tick(3, 1, 100), Some(3));
        assert_eq!(s.next_step_tick(5, 1, 100), Some(8));
        assert_eq!(s.next_step_tick(6, 3, 100), Some(9));
        assert_eq!(s.next_step_tick(5, 1, 8), None);
        assert_eq!(Availability::Crash { at: 5, back: 8 }.kind(), "crash");
    }
}
