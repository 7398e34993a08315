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
}

impl<E> Slot<E> {
    fn new() -> Self {
        Self {
            phases: std::array::from_fn(|_| VecDeque::new()),
        }
    }

    fn is_empty(&self) -> bool {
        self.phases.iter().all(VecDeque::is_empty)
    }
}

/// A min-queue of events keyed by `(tick, phase, seq)`: a bucket per pending tick (in a B-tree
/// keyed by tick, so idle ticks cost nothing), a FIFO per phase inside it. Pushes are in
/// sequence order, so the FIFO order is the sequence order: the same order as a heap on
/// `(tick, phase, seq)`, without comparing or moving events.
pub struct EventQueue<E> {
    ticks: BTreeMap<Tick, Slot<E>>,
    /// Emptied slots, kept for reuse (their queues keep their capacity).
    spare: Vec<Slot<E>>,
    len: usize,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self {
            ticks: BTreeMap::new(),
            spare: Vec::new(),
            len: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Schedules `event` at `tick` in `phase`.
    pub fn push(&mut self, tick: Tick, phase: Phase, event: E) {
        let spare = &mut self.spare;
        self.ticks
            .entry(tick)
            .or_insert_with(|| spare.pop().unwrap_or_else(Slot::new))
            .phases[phase as usize]
            .push_back(event);
        self.len += 1;
    }

    /// The tick of the next event, if any.
    pub fn peek_tick(&self) -> Option<Tick> {
        self.ticks.first_key_value().map(|(&t, _)| t)
    }

    /// Removes and returns the next event in `(tick, phase, seq)` order.
    pub fn pop(&mut self) -> Option<(Tick, Phase, E)> {
        let mut entry = self.ticks.first_entry()?;
        let tick = *entry.key();
        let slot = entry.get_mut();
        let p = slot
            .phases
            .iter()
            .position(|q| !q.is_empty())
            .expect("slots in the map are never empty");
        let event = slot.phases[p].pop_front().expect("non-empty");
        if slot.is_empty() {
            let slot = entry.remove();
            if self.spare.len() < 64 {
                self.spare.push(slot);
            }
        }
        self.len -= 1;
        Some((tick, PHASE_ORDER[p], event))
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
        self.ticks
            .values()
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
                // Push at or after the current tick (as the engine does).
                let tick = now + (x >> 40) % 7;
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
        }
    }
}
