//! The candidate sends of one node, keyed by the tick they fall due.
//!
//! An entry names a record (or a request record) and the send time it had when it was queued,
//! or a held message: then it stands for every record of that message due at the entry's tick
//! (the records of a message created together and sent together keep the same send times when
//! the backoff draws nothing, and share one entry instead of one each). Records change after
//! they are queued (an ACK arrives, the record is sent and gets a new send time), so entries
//! are deleted lazily: the owner says which entries are still live when they surface, and dead
//! ones are dropped then; a message entry is live while any of its records is due at its tick. Entries of one tick come out in no particular order;
//! the step sorts what it takes out, so the order in which entries surface never reaches an
//! output.
//!
//! Ticks are integers and most due times are near (a retransmission a few ticks on), so entries
//! sit in a calendar: a ring with a slot per near tick, where a push and a take are O(1), and
//! a B-tree of far buckets, one per span of ticks, that move into the ring as it reaches them
//! (see [`DueQueue`]). Backoff with jitter spreads a node's due times over hundreds of ticks:
//! a bucket per tick (a B-tree entry and a vector for nearly every entry) cost a `medium` group
//! more than a tenth of its time.

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
    /// Every record of a held message that is due at the entry's tick: one entry for the
    /// records of a message that fall due together (a message's records are created together
    /// and, sent together, get the same next send time), instead of one per record.
    Message,
}

/// One candidate send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Due {
    /// [`DueKind::Record`]: the message's position among the node's held messages (held
    /// messages are never removed, so positions are stable; no hash lookup when the entry
    /// surfaces). [`DueKind::Request`]: the wanted message's [`MsgRef`] number.
    pub key: u32,
    pub peer: NodeId,
    /// The kind in the top two bits ([`REQUEST`], [`MESSAGE`]; neither: [`DueKind::Record`]);
    /// below them, for a record, the record's position in the message's records when queued: a
    /// hint checked against `peer` when the entry surfaces (records inserted since move it).
    /// Packed to keep an entry at 12 bytes.
    kind_pos: u32,
}

/// The bit of [`Due::kind_pos`] that marks a request entry.
const REQUEST: u32 = 1 << 31;

/// The bit of [`Due::kind_pos`] that marks a message entry.
const MESSAGE: u32 = 1 << 30;

/// The bits of [`Due::kind_pos`] that hold a record's position hint.
const POS: u32 = MESSAGE - 1;

impl Due {
    /// An entry for the record of `peer`, at position `pos` of its records, on the held message
    /// at position `held`.
    pub fn record(held: usize, peer: NodeId, pos: usize) -> Self {
        Self {
            key: held as u32,
            peer,
            kind_pos: (pos as u32).min(POS),
        }
    }

    /// An entry for every record of the held message at position `held` due at the entry's
    /// tick.
    pub fn message(held: usize) -> Self {
        Self {
            key: held as u32,
            peer: NodeId(0),
            kind_pos: MESSAGE,
        }
    }

    /// What the entry is about.
    #[inline]
    pub fn kind(self) -> DueKind {
        if self.kind_pos & REQUEST != 0 {
            DueKind::Request
        } else if self.kind_pos & MESSAGE != 0 {
            DueKind::Message
        } else {
            DueKind::Record
        }
    }

    /// A record entry's position hint (see [`Due::record`]).
    #[inline]
    pub fn pos(self) -> usize {
        (self.kind_pos & POS) as usize
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

/// Ticks per far bucket; the ring holds two such spans.
const SPAN: u64 = 64;

/// Ring slots: ticks `[SPAN * (base / SPAN), SPAN * (base / SPAN + 2))`, at `tick % RING`.
const RING: usize = 2 * SPAN as usize;

/// End of a list (and of the free list).
const NIL: u32 = u32::MAX;

/// One queued entry, the next entry of its list, and (in a far bucket) its tick's offset in
/// the bucket's span.
#[derive(Clone, Copy, Debug)]
struct Link {
    due: Due,
    next: u32,
    offset: u8,
}

/// The due entries of one node: a calendar of lists threaded through one slab of entries.
///
/// - Entries due in the current span of [`SPAN`] ticks or the next sit in a ring with a slot per
///   tick and a bitmap of the slots in use: a push is O(1), and the next tick with entries is
///   one bit scan.
/// - Later entries wait in a B-tree of far buckets, one per span, unordered inside; when the
///   ring moves on to a span, its bucket's entries move into the ring, each once. Backoff with
///   jitter spreads a node's due times over hundreds of ticks, but the B-tree is touched once
///   per span, not once per tick.
/// - Entries pushed for a tick already taken out (a packet arriving after the step of the
///   same tick can make a record due at once) wait in a small list of their own.
///
/// Nothing allocates per entry or per tick: an entry takes a free slab slot and gives it back
/// when taken out or found dead.
#[derive(Clone, Debug)]
pub(super) struct DueQueue {
    /// Entries of every list and the free slots; grows to the most entries ever queued at once.
    slab: Vec<Link>,
    /// First free slot of `slab` (`NIL`: none).
    free: u32,
    /// No entry is queued in the ring or a far bucket before this tick (one past the last tick
    /// taken out).
    base: Tick,
    /// The first tick after the ring's two spans: `SPAN * (base / SPAN + 2)`.
    ring_end: Tick,
    /// Per ring slot, its first entry (`NIL`: empty).
    ring: [u32; RING],
    /// Bit `s` is set iff ring slot `s` holds entries.
    occupied: u128,
    /// Far buckets by span number (`tick / SPAN`), each its first entry; every span after the
    /// ring's.
    far: BTreeMap<Tick, u32>,
    /// Entries due before `base`, with their ticks.
    past: Vec<(Tick, Due)>,
    /// No live entry is due before this tick (`Tick::MAX`: none is live): the first live tick
    /// found last, lowered by every push since, raised past every tick taken out.
    floor: Tick,
}

impl Default for DueQueue {
    fn default() -> Self {
        Self {
            slab: Vec::new(),
            free: NIL,
            base: 0,
            ring_end: 2 * SPAN,
            ring: [NIL; RING],
            occupied: 0,
            far: BTreeMap::new(),
            past: Vec::new(),
            floor: Tick::MAX,
        }
    }
}

/// A slot of `slab` holding `due` (at `offset`) ahead of `next`: the first free one (`free`
/// heads the free list), else a new one.
#[inline(always)]
fn slot(slab: &mut Vec<Link>, free: &mut u32, due: Due, offset: u8, next: u32) -> u32 {
    let link = Link { due, next, offset };
    if *free != NIL {
        let i = *free;
        *free = slab[i as usize].next;
        slab[i as usize] = link;
        i
    } else {
        assert!(slab.len() < NIL as usize, "more than 2^32 - 1 due entries");
        slab.push(link);
        (slab.len() - 1) as u32
    }
}

/// Gives slab slot `i` back: it heads the free list.
#[inline(always)]
fn release(slab: &mut [Link], free: &mut u32, i: u32) {
    slab[i as usize].next = *free;
    *free = i;
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
        if t >= self.base && t < self.ring_end {
            let s = (t % RING as u64) as usize;
            self.ring[s] = slot(&mut self.slab, &mut self.free, due, 0, self.ring[s]);
            self.occupied |= 1 << s;
        } else {
            self.push_other(t, due);
        }
    }

    /// [`DueQueue::push`] to a far bucket or the past.
    #[inline(never)]
    fn push_other(&mut self, t: Tick, due: Due) {
        if t < self.base {
            self.past.push((t, due));
            return;
        }
        let head = self.far.entry(t / SPAN).or_insert(NIL);
        *head = slot(&mut self.slab, &mut self.free, due, (t % SPAN) as u8, *head);
    }

    /// Queues, at its send time, every record of the held message at position `held` whose peer
    /// is not known to hold it: with `together`, one [`DueKind::Message`] entry when there are
    /// several and they share a send time (a new message's records do), else one entry each.
    pub fn push_unheld(&mut self, held: usize, records: &[super::Record], together: bool) {
        if !together {
            for (i, r) in records.iter().enumerate().filter(|(_, r)| !r.hold()) {
                self.push(r.send_time, Due::record(held, r.peer(), i));
            }
            return;
        }
        let mut unheld = records.iter().filter(|r| !r.hold());
        let Some(first) = unheld.next() else {
            return;
        };
        let t = first.send_time;
        let mut together = 1;
        for r in unheld {
            if r.send_time != t {
                together = 0;
                break;
            }
            together += 1;
        }
        if together >= 2 {
            self.push(t, Due::message(held));
            return;
        }
        for (i, r) in records.iter().enumerate().filter(|(_, r)| !r.hold()) {
            self.push(r.send_time, Due::record(held, r.peer(), i));
        }
    }

    /// The first tick whose ring slot holds entries (live or dead), if any.
    #[inline]
    fn first_ring_tick(&self) -> Option<Tick> {
        (self.occupied != 0).then(|| {
            let offset = self
                .occupied
                .rotate_right((self.base % RING as u64) as u32)
                .trailing_zeros();
            self.base + u64::from(offset)
        })
    }

    /// The earliest tick with an entry, live or dead, in about O(1): a tick no live entry is due
    /// before, found without reading what the entries name (the far bucket it may look into is
    /// a list of slab entries). Also the new [`DueQueue::floor`]. It answers what
    /// `first_live(|_, _| true)` answers; it walks the calendar itself because it runs at every
    /// wake-up, and going through `first_live` (its loops that drop dead entries) cost 0.4% more
    /// instructions on two `medium` groups.
    pub fn first_queued(&mut self) -> Option<Tick> {
        let first = if let Some(t) = self.past.iter().map(|&(t, _)| t).min() {
            Some(t)
        } else if let Some(t) = self.first_ring_tick() {
            Some(t)
        } else {
            self.far.first_key_value().map(|(&span, &head)| {
                let mut offset = u8::MAX;
                let mut i = head;
                while i != NIL {
                    let link = self.slab[i as usize];
                    offset = offset.min(link.offset);
                    i = link.next;
                }
                span * SPAN + u64::from(offset)
            })
        };
        self.floor = first.unwrap_or(Tick::MAX);
        first
    }

    /// The earliest tick with a live entry; dead entries met on the way are dropped.
    pub fn first_live(&mut self, live: impl FnMut(Tick, Due) -> bool) -> Option<Tick> {
        let first = self.find_first_live(live);
        self.floor = first.unwrap_or(Tick::MAX);
        first
    }

    fn find_first_live(&mut self, mut live: impl FnMut(Tick, Due) -> bool) -> Option<Tick> {
        // Entries of past ticks come before all others.
        if !self.past.is_empty() {
            self.past.retain(|&(t, d)| live(t, d));
            if let Some(t) = self.past.iter().map(|&(t, _)| t).min() {
                return Some(t);
            }
        }
        // The ring, tick by tick: its first slot with a live entry.
        while let Some(t) = self.first_ring_tick() {
            let s = (t % RING as u64) as usize;
            while self.ring[s] != NIL {
                let i = self.ring[s];
                if live(t, self.slab[i as usize].due) {
                    return Some(t);
                }
                self.ring[s] = self.slab[i as usize].next;
                release(&mut self.slab, &mut self.free, i);
            }
            self.occupied &= !(1 << s);
        }
        // Far buckets, span by span: the earliest live entry of the first with one.
        while let Some(mut first) = self.far.first_entry() {
            let start = *first.key() * SPAN;
            let head = first.get_mut();
            let (mut best, mut prev, mut i) = (None::<Tick>, NIL, *head);
            while i != NIL {
                let link = self.slab[i as usize];
                let t = start + u64::from(link.offset);
                if live(t, link.due) {
                    best = Some(best.map_or(t, |b| b.min(t)));
                    prev = i;
                } else {
                    // Unlink and free the dead entry.
                    if prev == NIL {
                        *head = link.next;
                    } else {
                        self.slab[prev as usize].next = link.next;
                    }
                    release(&mut self.slab, &mut self.free, i);
                }
                i = link.next;
            }
            if best.is_some() {
                return best;
            }
            first.remove();
        }
        None
    }

    /// Takes out every entry due at or before `now`, calling `f` with each and its tick, in no
    /// particular order (the caller sorts what it takes).
    #[inline]
    pub fn take_until(&mut self, now: Tick, mut f: impl FnMut(Tick, Due)) {
        if self.floor <= now {
            self.floor = now + 1;
        }
        if !self.past.is_empty() {
            for (t, d) in self.past.drain(..) {
                f(t, d);
            }
        }
        if now < self.base {
            return;
        }
        // The ring's slots up to `now`.
        while let Some(t) = self.first_ring_tick() {
            if t > now {
                break;
            }
            let s = (t % RING as u64) as usize;
            // Lists grow at the head: turn the slot's list around first, so entries come out in
            // the order they were pushed (nearly the order the step sorts them into, which its
            // sort then finds cheap).
            let (mut prev, mut i) = (NIL, std::mem::replace(&mut self.ring[s], NIL));
            while i != NIL {
                let next = self.slab[i as usize].next;
                self.slab[i as usize].next = prev;
                (prev, i) = (i, next);
            }
            let head = prev;
            self.occupied &= !(1 << s);
            let mut i = head;
            loop {
                let link = self.slab[i as usize];
                f(t, link.due);
                if link.next == NIL {
                    break;
                }
                i = link.next;
            }
            // The whole list goes to the free list.
            self.slab[i as usize].next = self.free;
            self.free = head;
        }
        let old_span = self.base / SPAN;
        self.base = now.saturating_add(1);
        if self.base / SPAN == old_span {
            return;
        }
        self.ring_end = (self.base / SPAN + 2).saturating_mul(SPAN);
        // The ring moves on: far buckets of spans up to its new end come in (entries due by
        // `now` are taken out on the way; every tick before the new base is taken).
        let last_span = self.base / SPAN + 1;
        while let Some(first) = self.far.first_entry() {
            let span = *first.key();
            if span > last_span {
                break;
            }
            let mut i = first.remove();
            while i != NIL {
                let link = self.slab[i as usize];
                let t = span * SPAN + u64::from(link.offset);
                if t <= now {
                    f(t, link.due);
                    release(&mut self.slab, &mut self.free, i);
                } else {
                    let s = (t % RING as u64) as usize;
                    self.slab[i as usize].next = self.ring[s];
                    self.slab[i as usize].offset = 0;
                    self.ring[s] = i;
                    self.occupied |= 1 << s;
                }
                i = link.next;
            }
        }
    }

    /// Entries queued (live or dead).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        let count = |mut i: u32| {
            let mut n = 0;
            while i != NIL {
                n += 1;
                i = self.slab[i as usize].next;
            }
            n
        };
        self.past.len()
            + self.ring.iter().map(|&h| count(h)).sum::<usize>()
            + self.far.values().map(|&h| count(h)).sum::<usize>()
    }

    /// Heap bytes held (B-tree entries counted at their size, the slab and the past list at
    /// their capacities; the ring is inline).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.slab.capacity() * size_of::<Link>()
            + self.far.len() * size_of::<(Tick, u32)>()
            + self.past.capacity() * size_of::<(Tick, Due)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(m: u32, p: u32) -> Due {
        Due::record(m as usize, NodeId(p), 0)
    }

    /// `(tick, key)` entries, sorted.
    type Taken = Vec<(Tick, u32)>;

    /// Takes out of `q` everything due by `now`, and out of `reference` the same: both as
    /// sorted `(tick, key)` lists.
    fn take_both(q: &mut DueQueue, reference: &mut Vec<(Tick, u32)>, now: Tick) -> (Taken, Taken) {
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
        (got, want)
    }

    #[test]
    fn a_message_whose_unheld_records_share_a_send_time_gets_one_entry() {
        use super::super::Record;
        let record = |p: u32, t: Tick, hold: bool| {
            let mut r = Record::new(NodeId(p), t);
            r.set_hold(hold);
            r
        };
        let mut taken = Vec::new();
        let mut take = |q: &mut DueQueue| {
            taken.clear();
            q.take_until(100, |t, d| taken.push((t, d.kind(), d.key, d.peer)));
            taken.sort_by_key(|&(t, _, _, p)| (t, p));
            taken.clone()
        };
        // Two unheld records due at 4 (the held one aside): one message entry.
        let mut q = DueQueue::default();
        let in_step = [record(1, 4, false), record(2, 0, true), record(3, 4, false)];
        q.push_unheld(7, &in_step, true);
        assert_eq!(q.len(), 1);
        assert_eq!(take(&mut q), [(4, DueKind::Message, 7, NodeId(0))]);
        // Not `together` (a backoff with jitter): an entry each.
        q.push_unheld(7, &in_step, false);
        assert_eq!(
            take(&mut q),
            [
                (4, DueKind::Record, 7, NodeId(1)),
                (4, DueKind::Record, 7, NodeId(3)),
            ]
        );
        // Send times apart: an entry per unheld record, with its peer.
        q.push_unheld(
            7,
            &[record(1, 4, false), record(2, 5, false), record(3, 4, true)],
            true,
        );
        assert_eq!(
            take(&mut q),
            [
                (4, DueKind::Record, 7, NodeId(1)),
                (5, DueKind::Record, 7, NodeId(2)),
            ]
        );
        // A single unheld record: its own entry; none unheld: nothing.
        q.push_unheld(7, &[record(1, 6, true), record(2, 6, false)], true);
        assert_eq!(take(&mut q), [(6, DueKind::Record, 7, NodeId(2))]);
        q.push_unheld(7, &[record(1, 6, true)], true);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn an_entry_s_kind_and_position_hint_do_not_touch_each_other() {
        let r = Due::record(5, NodeId(9), (1 << 30) - 1);
        assert_eq!(
            (r.kind(), r.key, r.peer, r.pos()),
            (DueKind::Record, 5, NodeId(9), (1 << 30) - 1)
        );
        // A hint too large to keep is clamped below the kind bits (checked against the peer).
        assert_eq!(Due::record(5, NodeId(9), 1 << 31).kind(), DueKind::Record);
        assert_eq!(Due::message(5).kind(), DueKind::Message);
        assert_eq!(Due::message(5).key, 5);
        let q = Due::request(MsgRef(3), NodeId(2));
        assert_eq!((q.kind(), q.key, q.peer), (DueKind::Request, 3, NodeId(2)));
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
        got.sort();
        assert_eq!(got, vec![(2, 2), (5, 1), (5, 3)]);
        assert_eq!(q.len(), 1);
        assert_eq!(q.first_live(|_, _| true), Some(9));
    }

    #[test]
    fn first_queued_answers_as_first_live_with_every_entry_live() {
        let mut q = DueQueue::default();
        let both = |q: &mut DueQueue| (q.first_queued(), q.clone().first_live(|_, _| true));
        assert_eq!(both(&mut q), (None, None));
        // Far buckets only: the earliest offset of the first span.
        q.push(1003, due(1, 0));
        q.push(1001, due(2, 0));
        q.push(5000, due(3, 0));
        assert_eq!(both(&mut q), (Some(1001), Some(1001)));
        // A ring tick comes first.
        q.push(50, due(4, 0));
        assert_eq!(both(&mut q), (Some(50), Some(50)));
        // Past the ring's start, a tick pushed late is in the past list.
        q.take_until(60, |_, _| {});
        q.push(40, due(5, 0));
        assert_eq!(q.past.len(), 1);
        assert_eq!(both(&mut q), (Some(40), Some(40)));
        assert_eq!(q.floor(), Some(40));
        assert_eq!(q.len(), 4, "nothing dropped");
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
                let (got, want) = take_both(&mut q, &mut reference, now);
                assert_eq!(got, want);
            }
        }
        assert_eq!(q.len(), reference.len());
    }

    /// Pushes far ahead (into far buckets, across many spans), into the past (after a tick was
    /// taken out) and near, with takes and polls in between: every take returns exactly the
    /// reference's entries due by then, and every poll the reference's first live tick.
    #[test]
    fn far_past_and_near_entries_match_a_reference_under_polls_and_takes() {
        let mut rng = crate::engine::rng::stream(7, "test/due/far");
        let draw = |rng: &mut crate::engine::rng::Stream, hi: u64| {
            crate::engine::rng::uniform_inclusive(rng, 0, hi)
        };
        let mut q = DueQueue::default();
        let mut reference: Vec<(Tick, u32)> = Vec::new();
        // Entries whose key is in `dead` are dead when polled.
        let mut dead = std::collections::BTreeSet::new();
        let mut now: Tick = 0;
        for i in 0..20_000u32 {
            let t = match draw(&mut rng, 9) {
                0 => now.saturating_sub(draw(&mut rng, 5)),
                1..=4 => now + draw(&mut rng, 20),
                5..=7 => now + draw(&mut rng, 1_000),
                _ => now + draw(&mut rng, 100_000),
            };
            q.push(t, due(i, 0));
            reference.push((t, i));
            if draw(&mut rng, 3) == 0 {
                dead.insert(i);
            }
            if i % 5 == 0 {
                let first = q.first_live(|_, d| !dead.contains(&d.key));
                // Dead entries may be dropped by the poll: the reference drops them too.
                let want = reference
                    .iter()
                    .filter(|(_, k)| !dead.contains(k))
                    .map(|&(t, _)| t)
                    .min();
                assert_eq!(first, want, "poll after push {i}");
                assert!(q.floor() <= want.or(Some(Tick::MAX)));
            }
            if i % 11 == 0 {
                now += match draw(&mut rng, 9) {
                    0 => draw(&mut rng, 5_000),
                    _ => draw(&mut rng, 40),
                };
                let (mut got, mut want) = take_both(&mut q, &mut reference, now);
                // A poll may have dropped dead entries before they were taken.
                got.retain(|(_, k)| !dead.contains(k));
                want.retain(|(_, k)| !dead.contains(k));
                assert_eq!(got, want, "take at {now}");
            }
        }
        let live = reference.iter().filter(|(_, k)| !dead.contains(k)).count();
        assert!(q.len() >= live);
    }
}
