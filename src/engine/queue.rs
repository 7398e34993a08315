//! The event queue: events come out ordered by `(tick, phase, key)`.
//!
//! Phases fix the order of kinds of work within one tick (see [`Phase`]). Inside a phase the key
//! is the push order, so two events at the same tick and phase come out in the order they were
//! pushed, except in the one phase a queue may be given an order of its own
//! ([`EventQueue::with_order`]): there events come out by a key that stands for the event, so
//! their order does not depend on when they were scheduled. Integer ticks allow a bucket queue
//! instead of a heap (see [`EventQueue`]).

use super::time::Tick;
use std::collections::{BTreeMap, VecDeque};

/// The fixed order of work inside one tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Group membership changes (joins, leaves).
    Membership = 0,
    /// Workload injections: a node appends a message.
    Append = 1,
    /// Packet arrivals at their receivers.
    Arrival = 2,
    /// Node steps (the sync protocol's send rounds).
    Step = 3,
    /// Snapshots of the sync-state tables, after everything else in the tick.
    Snapshot = 4,
}

/// Number of phases.
const PHASES: usize = 5;

/// The events of one tick, one FIFO per phase; the ordered phase's as keys.
struct Slot<E> {
    phases: [VecDeque<E>; PHASES],
    /// The ordered phase's events, as keys; once sorted, largest first (the next is the last).
    keys: Vec<u64>,
    /// Bit `p` is set iff phase `p` holds events (the first one is a bit scan).
    mask: u8,
    /// Whether keys were pushed since `keys` was last sorted.
    unsorted: bool,
}

impl<E> Slot<E> {
    fn new() -> Self {
        Self {
            phases: std::array::from_fn(|_| VecDeque::new()),
            keys: Vec::new(),
            mask: 0,
            unsorted: false,
        }
    }

    fn is_empty(&self) -> bool {
        self.mask == 0
    }

    /// Queues `event` in `phase`: in its FIFO, or as its key if `phase` is the ordered one.
    #[inline(always)]
    fn push(&mut self, phase: Phase, event: E, order: &Order<E>) {
        if order.phase == Some(phase) {
            self.keys.push((order.key)(&event));
            self.unsorted = true;
        } else {
            self.phases[phase as usize].push_back(event);
        }
        self.mask |= 1 << phase as u8;
    }
}

/// The phase whose events come out by key, and the two halves of the correspondence between an
/// event and its key.
struct Order<E> {
    phase: Option<Phase>,
    key: fn(&E) -> u64,
    event: fn(u64) -> E,
}

/// Ticks held in the ring: the current tick and the next `RING - 1` (where arrivals, steps and
/// most retransmissions fall).
const RING: u64 = 64;

/// A min-queue of events keyed by `(tick, phase, seq)`: a bucket per pending tick, a FIFO per
/// phase inside it (for the ordered phase, if any, `(tick, phase, key(event))`: see
/// [`EventQueue::with_order`]). Buckets of the next `RING` ticks sit in a ring indexed by `tick % RING`
/// with a bitmap of the non-empty ones (finding the next tick is one bit scan); later ticks wait
/// in a B-tree and move into the ring, whole, as the window reaches them, before any event can
/// be pushed to them there. Idle stretches cost nothing: with the ring empty, the window jumps
/// to the B-tree's first tick. Pushes are in sequence order, so the FIFO order is the sequence
/// order: the same order as a heap on `(tick, phase, seq)`, without comparing or moving events.
pub struct EventQueue<E> {
    /// Buckets of ticks `base .. base + RING`, at index `tick % RING`.
    ring: Vec<Slot<E>>,
    /// Bit `tick % RING` is set iff that ring bucket holds events.
    occupied: u64,
    /// No event is queued before this tick; the ring covers `base .. base + RING`.
    base: Tick,
    /// Buckets of ticks at or after `base + RING`.
    far: BTreeMap<Tick, Slot<E>>,
    /// Emptied far buckets, kept for reuse (their queues keep their capacity).
    spare: Vec<Slot<E>>,
    len: usize,
    order: Order<E>,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self {
            ring: (0..RING).map(|_| Slot::new()).collect(),
            occupied: 0,
            base: 0,
            far: BTreeMap::new(),
            spare: Vec::new(),
            len: 0,
            order: Order {
                phase: None,
                key: |_| 0,
                event: |_| unreachable!("no ordered phase"),
            },
        }
    }
}

impl<E> EventQueue<E> {
    /// A queue whose events of `phase` come out, within a tick, in increasing `key(event)`
    /// instead of push order: as from a heap on `(tick, phase, key)`. `event` must give back
    /// the event of a key (`event(key(e))` is `e`): the phase keeps keys only, 8 bytes an
    /// event, sorted as integers. An event pushed into the current tick's `phase` while it is
    /// being popped joins the ones not yet popped in key order. Equal keys are equal events. The
    /// keys are sorted when the phase is first popped after a push: once a tick when nothing is
    /// pushed into it while it runs.
    pub fn with_order(phase: Phase, key: fn(&E) -> u64, event: fn(u64) -> E) -> Self {
        Self {
            order: Order {
                phase: Some(phase),
                key,
                event,
            },
            ..Self::default()
        }
    }

    /// Schedules `event` at `tick` in `phase`. `tick` must not be before the last popped tick.
    #[inline(always)]
    pub fn push(&mut self, tick: Tick, phase: Phase, event: E) {
        assert!(tick >= self.base, "event pushed into the past");
        if tick - self.base < RING {
            let i = (tick % RING) as usize;
            self.ring[i].push(phase, event, &self.order);
            self.occupied |= 1 << i;
        } else {
            self.push_far(tick, phase, event);
        }
        self.len += 1;
    }

    /// [`EventQueue::push`] beyond the ring: into the B-tree's bucket of `tick`.
    #[inline(never)]
    fn push_far(&mut self, tick: Tick, phase: Phase, event: E) {
        let spare = &mut self.spare;
        self.far
            .entry(tick)
            .or_insert_with(|| spare.pop().unwrap_or_else(Slot::new))
            .push(phase, event, &self.order);
    }

    /// The tick of the next event, if any.
    pub fn peek_tick(&self) -> Option<Tick> {
        if self.occupied != 0 {
            let offset = self
                .occupied
                .rotate_right((self.base % RING) as u32)
                .trailing_zeros();
            Some(self.base + offset as u64)
        } else {
            self.far.first_key_value().map(|(&t, _)| t)
        }
    }

    /// Moves the window to start at `to` (no event is queued before it) and brings the far
    /// buckets it now covers into the ring.
    #[inline(never)]
    fn advance(&mut self, to: Tick) {
        self.base = to;
        while let Some(entry) = self.far.first_entry() {
            let tick = *entry.key();
            if tick - self.base >= RING {
                break;
            }
            let i = (tick % RING) as usize;
            debug_assert!(
                self.ring[i].is_empty(),
                "ring bucket of tick {tick} reused early"
            );
            // The far bucket's events move into the ring bucket's queues, which keep the
            // capacity they grew to (an arrival queue grows to hundreds of events; swapping the
            // buckets instead would make it grow again from nothing every tick).
            let mut far = entry.remove();
            let ring = &mut self.ring[i];
            for (r, f) in ring.phases.iter_mut().zip(far.phases.iter_mut()) {
                r.append(f);
            }
            ring.keys.append(&mut far.keys);
            ring.mask = far.mask;
            ring.unsorted = far.unsorted;
            far.mask = 0;
            far.unsorted = false;
            self.occupied |= 1 << i;
            if self.spare.len() < 64 {
                self.spare.push(far);
            }
        }
    }

    /// Removes and returns the next event in `(tick, phase, seq)` order.
    #[inline]
    pub fn pop(&mut self) -> Option<(Tick, Phase, E)> {
        let tick = self.peek_tick()?;
        Some(self.pop_at(tick))
    }

    /// [`EventQueue::pop`] if the next event is before `limit`, else `None` (and nothing is
    /// removed).
    #[inline]
    pub fn pop_before(&mut self, limit: Tick) -> Option<(Tick, Phase, E)> {
        let tick = self.peek_tick()?;
        (tick < limit).then(|| self.pop_at(tick))
    }

    /// Removes the next event, which is at `tick` (the answer of [`EventQueue::peek_tick`]).
    #[inline(always)]
    fn pop_at(&mut self, tick: Tick) -> (Tick, Phase, E) {
        if tick != self.base {
            self.advance(tick);
        }
        let i = (tick % RING) as usize;
        let slot = &mut self.ring[i];
        debug_assert!(!slot.is_empty(), "occupied buckets are never empty");
        let p = slot.mask.trailing_zeros() as usize;
        let (event, emptied) = if self.order.phase.is_some_and(|o| o as usize == p) {
            if slot.unsorted {
                slot.unsorted = false;
                slot.keys.sort_unstable_by(|a, b| b.cmp(a));
            }
            let key = slot
                .keys
                .pop()
                .expect("a phase bit is set iff it holds events");
            ((self.order.event)(key), slot.keys.is_empty())
        } else {
            let queue = &mut slot.phases[p];
            let event = queue
                .pop_front()
                .expect("a phase bit is set iff its FIFO holds events");
            (event, queue.is_empty())
        };
        if emptied {
            slot.mask &= !(1 << p);
            if slot.mask == 0 {
                self.occupied &= !(1 << i);
            }
        }
        self.len -= 1;
        (tick, PHASE_ORDER[p], event)
    }

    /// Number of events still queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no event is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The queued events of the phases kept in push order, tick by tick and phase by phase (the
    /// ordered phase keeps keys, not events, and is not listed).
    pub fn iter(&self) -> impl Iterator<Item = &E> {
        let near = (self.base..self.base + RING).map(|t| &self.ring[(t % RING) as usize]);
        near.chain(self.far.values())
            .flat_map(|s| s.phases.iter().flat_map(|q| q.iter()))
    }
}

const PHASE_ORDER: [Phase; PHASES] = [
    Phase::Membership,
    Phase::Append,
    Phase::Arrival,
    Phase::Step,
    Phase::Snapshot,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pop_before_stops_at_the_limit_and_keeps_the_event() {
        let mut q = EventQueue::default();
        q.push(3, Phase::Step, 'a');
        q.push(200, Phase::Arrival, 'b');
        assert_eq!(q.pop_before(3), None);
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop_before(4), Some((3, Phase::Step, 'a')));
        assert_eq!(q.pop_before(200), None);
        assert_eq!(q.pop_before(Tick::MAX), Some((200, Phase::Arrival, 'b')));
        assert_eq!(q.pop_before(Tick::MAX), None);
    }

    #[test]
    fn pops_in_tick_phase_then_push_order() {
        let mut q = EventQueue::default();
        q.push(5, Phase::Step, "step5");
        q.push(2, Phase::Step, "step2-a");
        q.push(2, Phase::Arrival, "arrival2");
        q.push(2, Phase::Step, "step2-b");
        q.push(2, Phase::Append, "append2");
        q.push(0, Phase::Snapshot, "snap0");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, _, e)| e)).collect();
        assert_eq!(
            order,
            [
                "snap0", "append2", "arrival2", "step2-a", "step2-b", "step5"
            ]
        );
    }

    #[test]
    fn equal_keys_keep_push_order_over_many_entries() {
        let mut q = EventQueue::default();
        for i in 0..1000u32 {
            q.push(7, Phase::Arrival, i);
        }
        let order: Vec<u32> = std::iter::from_fn(|| q.pop().map(|(_, _, e)| e)).collect();
        assert_eq!(order, (0..1000).collect::<Vec<_>>());
        assert!(q.is_empty());
    }

    #[test]
    fn the_ordered_phase_comes_out_by_key_and_the_others_in_push_order() {
        // Events are numbers; the Step phase's key is 1000 minus the number (so the order is
        // the reverse of the numbers), and arrivals keep their push order.
        let mut q = EventQueue::with_order(Phase::Step, |&e: &u64| 1000 - e, |k| 1000 - k);
        q.push(4, Phase::Step, 1);
        q.push(4, Phase::Arrival, 11);
        q.push(4, Phase::Step, 8);
        q.push(4, Phase::Arrival, 10);
        q.push(4, Phase::Step, 5);
        // Beyond the ring: ordered as well when its bucket comes in.
        q.push(300, Phase::Step, 3);
        q.push(300, Phase::Step, 7);
        assert_eq!(
            q.iter().copied().collect::<Vec<_>>(),
            [11, 10],
            "keys are not listed"
        );
        let order: Vec<u64> = std::iter::from_fn(|| q.pop().map(|(_, _, e)| e)).collect();
        assert_eq!(order, [11, 10, 8, 5, 1, 7, 3]);
        assert!(q.is_empty());
    }

    #[test]
    fn an_event_pushed_into_the_running_ordered_phase_joins_the_rest_in_key_order() {
        let mut q = EventQueue::with_order(Phase::Step, |&k: &u64| k, |k| k);
        for k in [50, 10, 40, 30] {
            q.push(8, Phase::Step, k);
        }
        assert_eq!(q.pop(), Some((8, Phase::Step, 10)));
        // Pushed while tick 8's steps run: one before the rest, one after, one equal to the
        // next, one into a later tick.
        q.push(8, Phase::Step, 35);
        q.push(8, Phase::Step, 60);
        q.push(8, Phase::Step, 5);
        q.push(9, Phase::Step, 1);
        let order: Vec<u64> = std::iter::from_fn(|| q.pop().map(|(_, _, e)| e)).collect();
        assert_eq!(order, [5, 30, 35, 40, 50, 60, 1]);
    }

    /// The next move of a random schedule (`x` is its LCG state): `Some((tick, phase))` to push
    /// there, at or after `now` as the engine does (mostly near, sometimes beyond the ring's
    /// window, sometimes after a long idle stretch), or `None` to pop. Never a pop from an
    /// `empty` queue.
    fn next_move(x: &mut u64, now: Tick, empty: bool) -> Option<(Tick, Phase)> {
        *x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*x >> 62 != 0 || empty).then(|| {
            let tick = match (*x >> 8) % 16 {
                0 => now + 60 + (*x >> 40) % 200,
                1 => now + 10_000 + (*x >> 40) % 3,
                _ => now + (*x >> 40) % 7,
            };
            (tick, PHASE_ORDER[((*x >> 20) % 5) as usize])
        })
    }

    #[test]
    fn an_ordered_queue_matches_a_heap_on_tick_phase_key() {
        // As the test below, with Step events keyed by a bijection of their number (so keys are
        // distinct and unrelated to push order).
        const ODD: u64 = 0x9E37_79B9_7F4A_7C15;
        // The inverse of ODD modulo 2^64 (Newton's iteration doubles the correct bits).
        const INVERSE: u64 = {
            let mut x = ODD;
            let mut i = 0;
            while i < 6 {
                x = x.wrapping_mul(2u64.wrapping_sub(ODD.wrapping_mul(x)));
                i += 1;
            }
            x
        };
        assert_eq!(ODD.wrapping_mul(INVERSE), 1);
        let key = |&s: &u64| s.wrapping_mul(ODD);
        let mut q = EventQueue::with_order(Phase::Step, key, |k| k.wrapping_mul(INVERSE));
        let mut reference: Vec<(Tick, Phase, u64, u64)> = Vec::new();
        let mut x = 777u64;
        let mut now = 0;
        for seq in 0..20_000u64 {
            if let Some((tick, phase)) = next_move(&mut x, now, reference.is_empty()) {
                q.push(tick, phase, seq);
                let k = if phase == Phase::Step { key(&seq) } else { seq };
                reference.push((tick, phase, k, seq));
            } else {
                reference.sort();
                let (t, p, _, s) = reference.remove(0);
                assert_eq!(q.pop(), Some((t, p, s)), "event {seq}");
                now = t;
            }
        }
        reference.sort();
        let rest: Vec<u64> = std::iter::from_fn(|| q.pop().map(|(_, _, e)| e)).collect();
        assert_eq!(rest, reference.iter().map(|r| r.3).collect::<Vec<_>>());
    }

    #[test]
    fn matches_a_heap_on_tick_phase_seq_for_interleaved_pushes_and_pops() {
        // A reference: a sorted list of (tick, phase, seq).
        let mut q = EventQueue::default();
        let mut reference: Vec<(Tick, Phase, u64)> = Vec::new();
        let mut x = 12345u64;
        let mut seq = 0u64;
        let mut now = 0;
        for round in 0..5000 {
            if let Some((tick, phase)) = next_move(&mut x, now, reference.is_empty()) {
                q.push(tick, phase, seq);
                reference.push((tick, phase, seq));
                seq += 1;
            } else {
                reference.sort();
                let (t, p, s) = reference.remove(0);
                assert_eq!(q.pop(), Some((t, p, s)), "round {round}");
                now = t;
            }
            assert_eq!(q.len(), reference.len());
            let mut sorted = reference.clone();
            sorted.sort();
            assert_eq!(q.peek_tick(), sorted.first().map(|r| r.0), "round {round}");
        }
        reference.sort();
        let rest: Vec<u64> = q.iter().copied().collect();
        assert_eq!(rest, reference.iter().map(|r| r.2).collect::<Vec<_>>());
    }
}
