//! The event queue: events come out ordered by `(tick, phase, sequence number)`.
//!
//! The sequence number is the push order, so two events at the same tick and phase come out in
//! the order they were pushed. Phases fix the order of kinds of work within one tick (see
//! [`Phase`]). Integer ticks allow a bucket queue instead of a heap (see [`EventQueue`]).

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

/// The events of one tick, one FIFO per phase.
struct Slot<E> {
    phases: [VecDeque<E>; PHASES],
    /// Bit `p` is set iff phase `p`'s FIFO holds events (the first one is a bit scan).
    mask: u8,
}

impl<E> Slot<E> {
    fn new() -> Self {
        Self {
            phases: std::array::from_fn(|_| VecDeque::new()),
            mask: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.mask == 0
    }

    #[inline]
    fn push(&mut self, phase: Phase, event: E) {
        self.phases[phase as usize].push_back(event);
        self.mask |= 1 << phase as u8;
    }
}

/// Ticks held in the ring: the current tick and the next `RING - 1` (where arrivals, steps and
/// most retransmissions fall).
const RING: u64 = 64;

/// A min-queue of events keyed by `(tick, phase, seq)`: a bucket per pending tick, a FIFO per
/// phase inside it. Buckets of the next `RING` ticks sit in a ring indexed by `tick % RING`
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
        }
    }
}

impl<E> EventQueue<E> {
    /// Schedules `event` at `tick` in `phase`. `tick` must not be before the last popped tick.
    #[inline(always)]
    pub fn push(&mut self, tick: Tick, phase: Phase, event: E) {
        assert!(tick >= self.base, "event pushed into the past");
        if tick - self.base < RING {
            let i = (tick % RING) as usize;
            self.ring[i].push(phase, event);
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
            .push(phase, event);
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
            ring.mask = far.mask;
            far.mask = 0;
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
        let queue = &mut slot.phases[p];
        let event = queue
            .pop_front()
            .expect("a phase bit is set iff its FIFO holds events");
        if queue.is_empty() {
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

    /// The queued events, in order.
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
    fn matches_a_heap_on_tick_phase_seq_for_interleaved_pushes_and_pops() {
        // A reference: a sorted list of (tick, phase, seq).
        let phases = PHASE_ORDER;
        let mut q = EventQueue::default();
        let mut reference: Vec<(Tick, Phase, u64)> = Vec::new();
        let mut x = 12345u64;
        let mut seq = 0u64;
        let mut now = 0;
        for round in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if x >> 62 != 0 || reference.is_empty() {
                // Push at or after the current tick (as the engine does): mostly near, sometimes
                // beyond the ring's window, sometimes after a long idle stretch.
                let tick = match (x >> 8) % 16 {
                    0 => now + 60 + (x >> 40) % 200,
                    1 => now + 10_000 + (x >> 40) % 3,
                    _ => now + (x >> 40) % 7,
                };
                let phase = phases[((x >> 20) % 5) as usize];
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
