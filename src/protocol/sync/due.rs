//! The candidate sends of one node, keyed by the tick they fall due: a bucket per pending tick.
//!
//! An entry names a record (or a request record) and the send time it had when it was queued.
//! Records change after they are queued (an ACK arrives, the record is sent and gets a new send
//! time), so entries are deleted lazily: the owner says which entries are still live when they
//! surface, and dead ones are dropped then. Inside a bucket entries are unordered; the step sorts
//! what it takes out, so the order in which entries surface never reaches an output.
//!
//! Ticks are integers and a node's due times cluster on a few ticks (every record sent in one step
//! with the same send count is due again at the same tick), so a bucket per tick makes pushing and
//! taking out one entry O(1) once its bucket exists, where a binary heap pays O(log n) moves.

use crate::engine::time::Tick;
use crate::ids::{MsgRef, NodeId};
use std::collections::BTreeMap;

/// What an entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum DueKind {
    /// A request record of a wanted message.
    Request,
    /// A record of a held message.
    Record,
}

/// One candidate send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Due {
    /// [`DueKind::Record`]: the message's position among the node's held messages (held
    /// messages are never removed, so positions are stable; no hash lookup when the entry
    /// surfaces). [`DueKind::Request`]: the wanted message's [`MsgRef`] number.
    pub key: u32,
    pub peer: NodeId,
    /// The kind in the top bit (set: [`DueKind::Request`]); below it, for a record, the record's
    /// position in the message's records when queued: a hint checked against `peer` when the
    /// entry surfaces (records inserted since move it). Packed to keep an entry at 12 bytes.
    kind_pos: u32,
}

/// The bit of [`Due::kind_pos`] that marks a request entry.
const REQUEST: u32 = 1 << 31;

impl Due {
    /// An entry for the record of `peer`, at position `pos` of its records, on the held message
    /// at position `held`.
    pub fn record(held: usize, peer: NodeId, pos: usize) -> Self {
        Self {
            key: held as u32,
            peer,
            kind_pos: (pos as u32).min(REQUEST - 1),
        }
    }

    /// What the entry is about.
    #[inline]
    pub fn kind(self) -> DueKind {
        if self.kind_pos & REQUEST != 0 {
            DueKind::Request
        } else {
            DueKind::Record
        }
    }

    /// A record entry's position hint (see [`Due::record`]).
    #[inline]
    pub fn pos(self) -> usize {
        (self.kind_pos & !REQUEST) as usize
    }

    /// An entry for the request record of `peer` on the wanted message `msg`.
    pub fn request(msg: MsgRef, peer: NodeId) -> Self {
        Self {
            key: msg.0,
            peer,
            kind_pos: REQUEST,
        }
    }
}

/// Emptied buckets kept for reuse, per node (more would only hold memory).
const SPARE: usize = 2;

/// The due entries of one node: a B-tree of buckets, one per pending tick. A node may have
/// hundreds of pending ticks (backoff with jitter spreads them), so buckets are found in
/// O(log n); the latest bucket, where most pushes of a step go, is tried first.
#[derive(Clone, Debug)]
pub(super) struct DueQueue {
    buckets: BTreeMap<Tick, Vec<Due>>,
    spare: Vec<Vec<Due>>,
    /// No live entry is due before this tick (`Tick::MAX`: none is live): the first live tick
    /// found last, lowered by every push since, raised past every tick taken out.
    floor: Tick,
}

impl Default for DueQueue {
    fn default() -> Self {
        Self {
            buckets: BTreeMap::new(),
            spare: Vec::new(),
            floor: Tick::MAX,
        }
    }
}

impl DueQueue {
    /// A tick no live entry is due before, in O(1): at most [`DueQueue::first_live`]'s answer
    /// (`None`: no entry is live).
    pub fn floor(&self) -> Option<Tick> {
        (self.floor != Tick::MAX).then_some(self.floor)
    }

    /// Queues `due` at tick `t`.
    #[inline(always)]
    pub fn push(&mut self, t: Tick, due: Due) {
        self.floor = self.floor.min(t);
        if let Some(mut last) = self.buckets.last_entry()
            && *last.key() == t
        {
            last.get_mut().push(due);
            return;
        }
        self.push_other(t, due);
    }

    /// [`DueQueue::push`] to a tick other than the latest pending one.
    #[inline(never)]
    fn push_other(&mut self, t: Tick, due: Due) {
        let spare = &mut self.spare;
        self.buckets
            .entry(t)
            .or_insert_with(|| spare.pop().unwrap_or_default())
            .push(due);
    }

    /// Queues, at its send time, every record of the held message at position `held` whose peer
    /// is not known to hold it.
    pub fn push_unheld(&mut self, held: usize, records: &[super::Record]) {
        for (i, r) in records.iter().enumerate().filter(|(_, r)| !r.hold) {
            self.push(r.send_time, Due::record(held, r.peer, i));
        }
    }

    fn recycle(&mut self, mut bucket: Vec<Due>) {
        if self.spare.len() < SPARE {
            bucket.clear();
            self.spare.push(bucket);
        }
    }

    /// The earliest tick with a live entry; dead entries met on the way are dropped.
    pub fn first_live(&mut self, live: impl FnMut(Tick, Due) -> bool) -> Option<Tick> {
        let first = self.find_first_live(live);
        self.floor = first.unwrap_or(Tick::MAX);
        first
    }

    fn find_first_live(&mut self, mut live: impl FnMut(Tick, Due) -> bool) -> Option<Tick> {
        loop {
            let mut first = self.buckets.first_entry()?;
            let t = *first.key();
            let bucket = first.get_mut();
            while let Some(&due) = bucket.last() {
                if live(t, due) {
                    return Some(t);
                }
                bucket.pop();
            }
            let empty = first.remove();
            self.recycle(empty);
        }
    }

    /// Takes out every entry due at or before `now`, calling `f` with each and its tick, in
    /// tick order (unordered within a tick).
    #[inline]
    pub fn take_until(&mut self, now: Tick, mut f: impl FnMut(Tick, Due)) {
        if self.floor <= now {
            self.floor = now + 1;
        }
        while let Some(first) = self.buckets.first_entry() {
            if *first.key() > now {
                break;
            }
            let t = *first.key();
            let mut bucket = first.remove();
            for &due in &bucket {
                f(t, due);
            }
            bucket.clear();
            self.recycle(bucket);
        }
    }

    /// Entries queued (live or dead).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.buckets.values().map(Vec::len).sum()
    }

    /// Heap bytes held (B-tree entries counted at their size, bucket and spare capacities).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let buckets: usize = self
            .buckets
            .values()
            .map(|b| size_of::<(Tick, Vec<Due>)>() + b.capacity() * size_of::<Due>())
            .sum();
        let spare: usize = self.spare.iter().map(|b| b.capacity()).sum();
        buckets + spare * size_of::<Due>() + self.spare.capacity() * size_of::<Vec<Due>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(m: u32, p: u32) -> Due {
        Due::record(m as usize, NodeId(p), 0)
    }

    #[test]
    fn takes_out_entries_in_tick_order_up_to_now_and_keeps_the_rest() {
        let mut q = DueQueue::default();
        q.push(5, due(1, 0));
        q.push(2, due(2, 0));
        q.push(5, due(3, 0));
        q.push(9, due(4, 0));
        let mut got = Vec::new();
        q.take_until(5, |t, d| got.push((t, d.key)));
        got[1..].sort();
        assert_eq!(got, vec![(2, 2), (5, 1), (5, 3)]);
        assert_eq!(q.len(), 1);
        assert_eq!(q.first_live(|_, _| true), Some(9));
    }

    #[test]
    fn first_live_drops_dead_entries_and_stops_at_a_live_one() {
        let mut q = DueQueue::default();
        q.push(3, due(1, 0));
        q.push(3, due(2, 0));
        q.push(7, due(3, 0));
        q.push(8, due(4, 0));
        // Messages 1, 2 and 3 are dead: the answer is 8 and only message 4 stays queued.
        assert_eq!(q.first_live(|_, d| d.key == 4), Some(8));
        assert_eq!(q.len(), 1);
        assert_eq!(q.first_live(|_, _| false), None);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn the_floor_never_exceeds_the_first_live_tick() {
        let mut q = DueQueue::default();
        assert_eq!(q.floor(), None);
        q.push(9, due(1, 0));
        q.push(4, due(2, 0));
        assert_eq!(q.floor(), Some(4));
        // Message 2 dies: the floor stays 4 (a bound) until a poll finds 9.
        assert_eq!(q.floor(), Some(4));
        assert_eq!(q.first_live(|_, d| d.key == 1), Some(9));
        assert_eq!(q.floor(), Some(9));
        q.push(6, due(3, 0));
        assert_eq!(q.floor(), Some(6));
        q.take_until(6, |_, _| {});
        assert_eq!(q.floor(), Some(7));
        assert_eq!(q.first_live(|_, _| true), Some(9));
        q.take_until(20, |_, _| {});
        assert_eq!(q.floor(), Some(21));
        assert_eq!(q.first_live(|_, _| true), None);
        assert_eq!(q.floor(), None);
    }

    #[test]
    fn matches_a_sorted_reference_under_random_pushes_and_takes() {
        let mut rng = crate::engine::rng::stream(3, "test/due");
        let mut q = DueQueue::default();
        let mut reference: Vec<(Tick, u32)> = Vec::new();
        let mut now = 0;
        for i in 0..2000u32 {
            let t = now + crate::engine::rng::uniform_inclusive(&mut rng, 0, 20);
            q.push(t, due(i, 0));
            reference.push((t, i));
            if i % 7 == 0 {
                now += crate::engine::rng::uniform_inclusive(&mut rng, 0, 10);
                let mut got = Vec::new();
                q.take_until(now, |t, d| got.push((t, d.key)));
                got.sort();
                let mut want: Vec<_> = reference
                    .iter()
                    .copied()
                    .filter(|&(t, _)| t <= now)
                    .collect();
                want.sort();
                reference.retain(|&(t, _)| t > now);
                assert_eq!(got, want);
            }
        }
        assert_eq!(q.len(), reference.len());
    }
}
