//! Backoff: when a record (a message to send or offer, or a request) may next go out, after its
//! `n`-th send at tick `now`.
//!
//! | policy | next send time | origin |
//! |---|---|---|
//! | `Fixed { interval }` | `now + interval` | seed PoC (interval 2) |
//! | `Linear { step }` | `now + step * n` | Go mvds `Calc` |
//! | `Exponential { base, factor, max, jitter }` | `now + min(max, ceil(base * factor^(n-1))) + uniform[0, jitter)` | status-go, Briar |
//! | `Accumulating` | `send_time + now + 2n` | the PoC's final version and Go mvds before its fix: the send time runs away, so retransmission all but stops |
//!
//! `factor^(n-1)` is computed by exponentiation by squaring in `f64` (each operation IEEE-exact),
//! so the schedule is the same on every machine. Jitter draws from the node's protocol stream.
//! A node sends through a [`Schedule`]: the same times, with the usual doubling precomputed.

use crate::engine::rng::{self, Stream};
use crate::engine::time::Tick;

/// A backoff policy, in ticks.
#[derive(Clone, Debug, PartialEq)]
pub enum Backoff {
    /// `now + interval`.
    Fixed { interval: Tick },
    /// `now + step * n`.
    Linear { step: Tick },
    /// `now + min(max, ceil(base * factor^(n-1))) + uniform[0, jitter)`.
    Exponential {
        base: Tick,
        factor: f64,
        max: Tick,
        jitter: Tick,
    },
    /// `send_time + now + 2n` (a real bug, kept to show its effect).
    Accumulating,
}

fn pow(base: f64, exp: u64) -> f64 {
    if base == 2.0 && exp < 1023 {
        // The common doubling: 2^exp exactly, as the squaring below computes it (every product
        // of powers of two under 2^1024 is exact), without its loop.
        return f64::from_bits((1023 + exp) << 52);
    }
    pow_by_squaring(base, exp)
}

fn pow_by_squaring(mut base: f64, mut exp: u64) -> f64 {
    let mut acc = 1.0f64;
    while exp > 0 {
        if exp & 1 == 1 {
            acc *= base;
        }
        base *= base;
        exp >>= 1;
        if acc.is_infinite() {
            break;
        }
    }
    acc
}

/// Below this, integers and their `f64` values are the same numbers.
const EXACT: u64 = 1 << 53;

/// `min(max, ceil(base * factor^k))` as `f64` arithmetic defines it.
fn exponential_delay(base: Tick, factor: f64, max: Tick, k: u64) -> Tick {
    if factor == 2.0 && max < EXACT && k < 53 && base < EXACT >> k {
        // `base * 2^k` is an integer below 2^53, as are `max` and their `f64` values: the
        // integer minimum is the `f64` rule's answer, without its rounding calls.
        return (base << k).min(max);
    }
    exponential_delay_f64(base, factor, max, k)
}

/// [`exponential_delay`] computed in `f64` (the definition).
fn exponential_delay_f64(base: Tick, factor: f64, max: Tick, k: u64) -> Tick {
    let grown = base as f64 * pow(factor, k);
    if grown >= max as f64 {
        max
    } else {
        (grown.ceil() as Tick).min(max)
    }
}

impl Backoff {
    /// Counts one more send of a record at `now`: `send_count += 1` and `send_time` becomes the
    /// next send time after it.
    #[inline]
    pub fn count_send(
        &self,
        send_count: &mut u32,
        send_time: &mut Tick,
        now: Tick,
        rng: &mut Stream,
    ) {
        *send_count += 1;
        *send_time = self.next_send_time(*send_count, now, *send_time, rng);
    }

    /// Next send time after the `n`-th send (`n >= 1`) at tick `now`, for a record whose send time
    /// was `send_time`. Draws from `rng` only for exponential backoff with jitter.
    #[inline]
    pub fn next_send_time(&self, n: u32, now: Tick, send_time: Tick, rng: &mut Stream) -> Tick {
        debug_assert!(n >= 1);
        let n64 = n as u64;
        match *self {
            Backoff::Fixed { interval } => now.saturating_add(interval),
            Backoff::Linear { step } => now.saturating_add(step.saturating_mul(n64)),
            Backoff::Exponential { .. } => self.next_exponential(n64, now, rng),
            Backoff::Accumulating => send_time.saturating_add(now).saturating_add(2 * n64),
        }
    }

    /// [`Backoff::next_send_time`] of exponential backoff (kept out of line: the other
    /// policies are a few instructions, and [`Schedule`] answers the common doubling).
    #[inline(never)]
    fn next_exponential(&self, n: u64, now: Tick, rng: &mut Stream) -> Tick {
        let Backoff::Exponential {
            base,
            factor,
            max,
            jitter,
        } = *self
        else {
            unreachable!("exponential only")
        };
        let delay = exponential_delay(base, factor, max, n - 1);
        let jitter = if jitter > 1 {
            rng::uniform_inclusive(rng, 0, jitter - 1)
        } else {
            0
        };
        now.saturating_add(delay).saturating_add(jitter)
    }
}

/// A [`Backoff`] made ready for a node's sends: exponential backoff that doubles, with every
/// value an integer below 2^53 (the usual configuration), becomes integer arithmetic with its
/// cap precomputed, and its jitter drawn as the general rule draws it; any other policy is
/// asked as it is. Both give the same send times and the same draws (tested against the
/// general rule).
#[derive(Clone, Debug)]
pub enum Schedule {
    /// The delay after the `n`-th send is `base << (n - 1)` while `n - 1 < cap`, and `max` from
    /// there on (`cap` is the first exponent at which the doubled base reaches `max`), plus a
    /// uniform draw in `0..jitter` when `jitter > 1`.
    Doubling {
        base: Tick,
        max: Tick,
        cap: u64,
        jitter: Tick,
    },
    /// Any other policy, asked as it is.
    Other(Backoff),
}

impl Schedule {
    /// The schedule of `backoff`.
    pub fn new(backoff: &Backoff) -> Self {
        match *backoff {
            Backoff::Exponential {
                base,
                factor,
                max,
                jitter,
            } if factor == 2.0 && max < EXACT && base >= 1 => {
                // `base << k` for k below the cap is below `max`, so below 2^53: exact, and the
                // f64 rule's answer; from the cap on both rules answer `max`.
                let mut cap = 0;
                while cap < 63 && base <= u64::MAX >> cap && (base << cap) < max {
                    cap += 1;
                }
                Schedule::Doubling {
                    base,
                    max,
                    cap,
                    jitter,
                }
            }
            ref other => Schedule::Other(other.clone()),
        }
    }

    /// Whether a send draws from the node's stream (jitter): then records sent together get
    /// send times of their own.
    pub fn draws(&self) -> bool {
        match *self {
            Schedule::Doubling { jitter, .. } => jitter > 1,
            Schedule::Other(Backoff::Exponential { jitter, .. }) => jitter > 1,
            Schedule::Other(_) => false,
        }
    }

    /// Counts one more send at `now` and sets the next send time (see [`Backoff::count_send`]).
    /// Doubling without jitter (the sync workloads' backoff) and a fixed interval (the seed's)
    /// are a few instructions, inlined where records are sent; jitter and the other policies
    /// go out of line.
    #[inline(always)]
    pub fn count_send(
        &self,
        send_count: &mut u32,
        send_time: &mut Tick,
        now: Tick,
        rng: &mut Stream,
    ) {
        match *self {
            Schedule::Doubling {
                base,
                max,
                cap,
                jitter,
            } if jitter <= 1 => {
                *send_time = now.saturating_add(doubled(base, max, cap, send_count))
            }
            Schedule::Other(Backoff::Fixed { interval }) => {
                *send_count += 1;
                *send_time = now.saturating_add(interval);
            }
            _ => self.count_send_other(send_count, send_time, now, rng),
        }
    }

    /// [`Schedule::count_send`] of doubling with jitter (`jitter > 1`; without it the caller
    /// answers) and of every policy but a fixed interval.
    #[inline(never)]
    fn count_send_other(&self, count: &mut u32, time: &mut Tick, now: Tick, rng: &mut Stream) {
        match *self {
            Schedule::Doubling {
                base,
                max,
                cap,
                jitter,
            } => {
                debug_assert!(jitter > 1, "doubling without jitter is inlined");
                let delay = doubled(base, max, cap, count);
                let jitter = rng::uniform_inclusive(rng, 0, jitter - 1);
                *time = now.saturating_add(delay).saturating_add(jitter);
            }
            Schedule::Other(ref b) => b.count_send(count, time, now, rng),
        }
    }
}

/// [`Schedule::Doubling`]'s delay after one more send: counts it, then `base << (n - 1)` for the
/// `n`-th send while `n - 1 < cap`, `max` from there on.
#[inline(always)]
fn doubled(base: Tick, max: Tick, cap: u64, send_count: &mut u32) -> Tick {
    *send_count += 1;
    let k = u64::from(*send_count - 1);
    if k < cap { base << k } else { max }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::stream;

    #[test]
    fn only_jitter_makes_a_schedule_draw() {
        let exp = |jitter| Backoff::Exponential {
            base: 2,
            factor: 2.0,
            max: 600,
            jitter,
        };
        // Doubling (the precomputed schedule) and a factor that is not 2 (the general rule).
        let odd = |jitter| Backoff::Exponential {
            base: 2,
            factor: 1.5,
            max: 600,
            jitter,
        };
        for (backoff, draws) in [
            (exp(0), false),
            (exp(1), false),
            (exp(2), true),
            (odd(0), false),
            (odd(3), true),
            (Backoff::Fixed { interval: 2 }, false),
            (Backoff::Linear { step: 3 }, false),
            (Backoff::Accumulating, false),
        ] {
            assert_eq!(Schedule::new(&backoff).draws(), draws, "{backoff:?}");
        }
    }

    #[test]
    fn integer_doubling_gives_the_f64_rule_s_delays() {
        let bases = [
            0,
            1,
            2,
            3,
            7,
            1000,
            (1 << 40) + 1,
            EXACT - 1,
            EXACT,
            u64::MAX,
        ];
        let maxes = [0, 1, 600, 1 << 52, EXACT - 1, EXACT, EXACT + 3, u64::MAX];
        for &base in &bases {
            for &max in &maxes {
                for k in 0..70 {
                    assert_eq!(
                        exponential_delay(base, 2.0, max, k),
                        exponential_delay_f64(base, 2.0, max, k),
                        "base {base} max {max} k {k}"
                    );
                }
            }
        }
        assert_eq!(exponential_delay(2, 2.0, 600, 3), 16);
        assert_eq!(exponential_delay(2, 2.0, 600, 9), 600);
        assert_eq!(exponential_delay(3, 1.5, 600, 2), 7); // ceil(6.75)
    }

    #[test]
    fn a_schedule_gives_the_general_rule_s_send_times_and_draws() {
        let bases = [0, 1, 2, 3, 1000, (1 << 40) + 1, EXACT - 1, EXACT, u64::MAX];
        let maxes = [0, 1, 2, 600, 1 << 52, EXACT - 1, EXACT, u64::MAX];
        let mut doubling = 0;
        for &base in &bases {
            for &max in &maxes {
                for (factor, jitter) in [(2.0, 0), (2.0, 1), (2.0, 2), (2.0, 5), (1.5, 0)] {
                    let b = Backoff::Exponential {
                        base,
                        factor,
                        max,
                        jitter,
                    };
                    let schedule = Schedule::new(&b);
                    doubling += usize::from(matches!(schedule, Schedule::Doubling { .. }));
                    for now in [0, 17, u64::MAX - 3] {
                        let (mut r1, mut r2) = (stream(3, "x"), stream(3, "x"));
                        let (mut c1, mut t1, mut c2, mut t2) = (0, 0, 0, 0);
                        for n in 1..70 {
                            schedule.count_send(&mut c1, &mut t1, now, &mut r1);
                            b.count_send(&mut c2, &mut t2, now, &mut r2);
                            assert_eq!(
                                (c1, t1),
                                (c2, t2),
                                "base {base} max {max} factor {factor} jitter {jitter} n {n} now {now}"
                            );
                        }
                        assert_eq!(r1.get_word_pos(), r2.get_word_pos(), "same draws");
                    }
                }
            }
        }
        assert!(
            doubling > 50,
            "most doubling configurations are integer: {doubling}"
        );
        // Jitter too (scenarios/batch_payload.json's configuration).
        let jittered = Backoff::Exponential {
            base: 2,
            factor: 2.0,
            max: 120,
            jitter: 2,
        };
        assert!(matches!(
            Schedule::new(&jittered),
            Schedule::Doubling { jitter: 2, .. }
        ));
        for b in [
            Backoff::Fixed { interval: 2 },
            Backoff::Fixed { interval: 0 },
            Backoff::Fixed { interval: u64::MAX },
            Backoff::Linear { step: 3 },
            Backoff::Accumulating,
        ] {
            let schedule = Schedule::new(&b);
            assert!(matches!(schedule, Schedule::Other(_)));
            // The inlined fixed interval and the out-of-line rest give the rule's times.
            for now in [0, 17, u64::MAX - 3] {
                let (mut r1, mut r2) = (stream(3, "x"), stream(3, "x"));
                let (mut c1, mut t1, mut c2, mut t2) = (0, 0, 0, 0);
                for n in 1..70 {
                    schedule.count_send(&mut c1, &mut t1, now + n.min(3), &mut r1);
                    b.count_send(&mut c2, &mut t2, now + n.min(3), &mut r2);
                    assert_eq!((c1, t1), (c2, t2), "{b:?} n {n} now {now}");
                }
                assert_eq!(r1.get_word_pos(), r2.get_word_pos(), "same draws");
            }
        }
    }

    #[test]
    fn doubling_is_the_same_as_squaring_bit_for_bit() {
        for exp in 0..1100 {
            assert_eq!(
                pow(2.0, exp).to_bits(),
                pow_by_squaring(2.0, exp).to_bits(),
                "2^{exp}"
            );
        }
        assert_eq!(pow(2.0, 10), 1024.0);
        assert!(pow(2.0, 1024).is_infinite());
        assert_eq!(pow(1.5, 2), 2.25);
    }

    fn schedule(b: &Backoff, sends: u32) -> Vec<Tick> {
        // Send whenever due, starting at tick 0: the ticks of the sends.
        let mut rng = stream(1, "node/A/protocol");
        let (mut t, mut send_time, mut ticks) = (0, 0, vec![]);
        for n in 1..=sends {
            t = t.max(send_time);
            ticks.push(t);
            send_time = b.next_send_time(n, t, send_time, &mut rng);
        }
        ticks
    }

    #[test]
    fn fixed_adds_the_interval_whatever_the_count() {
        assert_eq!(
            schedule(&Backoff::Fixed { interval: 2 }, 5),
            [0, 2, 4, 6, 8]
        );
    }

    #[test]
    fn linear_grows_by_step_each_send() {
        // Gaps 3, 6, 9, 12.
        assert_eq!(schedule(&Backoff::Linear { step: 3 }, 5), [0, 3, 9, 18, 30]);
    }

    #[test]
    fn exponential_doubles_up_to_max() {
        let b = Backoff::Exponential {
            base: 1,
            factor: 2.0,
            max: 8,
            jitter: 0,
        };
        // Gaps 1, 2, 4, 8, 8, 8.
        assert_eq!(schedule(&b, 7), [0, 1, 3, 7, 15, 23, 31]);
        let slow = Backoff::Exponential {
            base: 2,
            factor: 1.5,
            max: 1000,
            jitter: 0,
        };
        // Gaps ceil(2), ceil(3), ceil(4.5)=5, ceil(6.75)=7.
        assert_eq!(schedule(&slow, 5), [0, 2, 5, 10, 17]);
    }

    #[test]
    fn exponential_jitter_stays_below_jitter() {
        let b = Backoff::Exponential {
            base: 10,
            factor: 1.0,
            max: 10,
            jitter: 4,
        };
        let mut rng = stream(2, "j");
        let mut seen = [false; 4];
        for _ in 0..200 {
            let t = b.next_send_time(1, 100, 0, &mut rng);
            assert!((110..114).contains(&t), "{t}");
            seen[(t - 110) as usize] = true;
        }
        assert_eq!(seen, [true; 4]);
    }

    #[test]
    fn accumulating_runs_away() {
        // send_time += now + 2n: 0 -> 2 -> 8 -> 22 -> 52: the gaps grow like the send time itself.
        assert_eq!(schedule(&Backoff::Accumulating, 5), [0, 2, 8, 22, 52]);
    }

    #[test]
    fn huge_counts_saturate_instead_of_overflowing() {
        let mut rng = stream(1, "x");
        let b = Backoff::Exponential {
            base: 1,
            factor: 2.0,
            max: u64::MAX,
            jitter: 0,
        };
        assert_eq!(b.next_send_time(5000, 10, 0, &mut rng), u64::MAX);
        assert_eq!(
            Backoff::Linear { step: u64::MAX }.next_send_time(3, 1, 0, &mut rng),
            u64::MAX
        );
    }
}
