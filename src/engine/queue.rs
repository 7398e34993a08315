//! The event queue: a priority queue ordered by `(tick, phase, sequence number)`.
//!
//! The sequence number grows with every push, so two events at the same tick and phase come out
//! in the order they were pushed, whatever the heap's internal layout. Phases fix the order of
//! kinds of work within one tick (see [`Phase`]).

use super::time::Tick;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

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

struct Entry<E> {
    tick: Tick,
    phase: Phase,
    seq: u64,
    event: E,
}

impl<E> Entry<E> {
    fn key(&self) -> (Tick, Phase, u64) {
        (self.tick, self.phase, self.seq)
    }
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed, so that the max-heap pops the smallest key first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

/// A min-queue of events keyed by `(tick, phase, seq)`.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Schedules `event` at `tick` in `phase`.
    pub fn push(&mut self, tick: Tick, phase: Phase, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry {
            tick,
            phase,
            seq,
            event,
        });
    }

    /// The tick of the next event, if any.
    pub fn peek_tick(&self) -> Option<Tick> {
        self.heap.peek().map(|e| e.tick)
    }

    /// Removes and returns the next event in `(tick, phase, seq)` order.
    pub fn pop(&mut self) -> Option<(Tick, Phase, E)> {
        self.heap.pop().map(|e| (e.tick, e.phase, e.event))
    }

    /// Number of events still queued.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event is queued.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The queued events, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &E> {
        self.heap.iter().map(|e| &e.event)
    }
}

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
}
