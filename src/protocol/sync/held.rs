//! The messages one node holds, in the order it got them, found by [`MsgRef`].
//!
//! A node's held messages are never removed, so a message's position (the order it was got in)
//! is stable: due entries name messages by position. Finding a message by id is the state
//! machine's most frequent lookup (every ACK, request and message received, every ACK sent).
//! Message ids are dense (numbered in append order within a run, or within a component of a
//! split run), and a node usually holds most messages of its run from some id on: then a table
//! indexed by id, from the lowest id held, finds a position with one read. A node that holds
//! only a thin slice of the ids (one group of many in a run that is not split) would make that
//! table mostly empty, so once the table would exceed [`DENSITY`] slots per held message (plus
//! [`SLACK`]) the node switches, for good, to a hash map. Which index a node uses changes only
//! speed and memory, never an answer.

use super::Held;
use crate::ids::{IdBuildHasher, MsgRef};
use std::collections::HashMap;

/// No held message at this id (a slot of the direct table).
const NIL: u32 = u32::MAX;

/// The direct table may hold this many slots per held message...
const DENSITY: usize = 4;

/// ...plus this many (so a node's first few messages need not be dense).
const SLACK: usize = 64;

/// Where to find a held message's position.
#[derive(Clone, Debug)]
enum Index {
    /// Position by id: `slots[id - first]`, `NIL` where not held (a node that joins late holds
    /// no early ids and keeps no slots for them).
    Direct { first: u32, slots: Vec<u32> },
    /// Position by id, for sparse ids.
    Hashed(HashMap<MsgRef, u32, IdBuildHasher>),
}

/// Held messages in the order the node got them, found by id in O(1).
#[derive(Clone, Debug)]
pub(super) struct Messages {
    entries: Vec<Held>,
    index: Index,
}

impl Default for Messages {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            index: Index::Direct {
                first: 0,
                slots: Vec::new(),
            },
        }
    }
}

impl Messages {
    /// The position of `msg`, if held.
    #[inline]
    pub fn position(&self, msg: MsgRef) -> Option<usize> {
        let p = match &self.index {
            Index::Direct { first, slots } => *slots.get(msg.0.wrapping_sub(*first) as usize)?,
            Index::Hashed(map) => *map.get(&msg)?,
        };
        (p != NIL).then_some(p as usize)
    }

    /// Whether `msg` is held.
    #[inline]
    pub fn contains_key(&self, msg: &MsgRef) -> bool {
        self.position(*msg).is_some()
    }

    /// The held message `msg`.
    #[inline]
    pub fn get(&self, msg: &MsgRef) -> Option<&Held> {
        let p = self.position(*msg)?;
        Some(&self.entries[p])
    }

    /// The held message `msg`, mutable.
    #[inline]
    pub fn get_mut(&mut self, msg: &MsgRef) -> Option<&mut Held> {
        let p = self.position(*msg)?;
        Some(&mut self.entries[p])
    }

    /// The position and the held message `msg`, mutable.
    #[inline]
    pub fn get_full_mut(&mut self, msg: &MsgRef) -> Option<(usize, &mut Held)> {
        let p = self.position(*msg)?;
        Some((p, &mut self.entries[p]))
    }

    /// The message at position `i` and its id.
    #[inline]
    pub fn get_index(&self, i: usize) -> Option<(&MsgRef, &Held)> {
        self.entries.get(i).map(|h| (&h.msg, h))
    }

    /// The message at position `i`, mutable.
    #[inline]
    pub fn get_index_mut(&mut self, i: usize) -> Option<&mut Held> {
        self.entries.get_mut(i)
    }

    /// Holds `held.msg` from now on, at the next position. It must not be held already.
    pub fn insert(&mut self, held: Held) {
        let msg = held.msg;
        debug_assert!(!self.contains_key(&msg), "{msg:?} held twice");
        let p = self.entries.len();
        assert!(p < NIL as usize, "a node holds at most 2^32 - 1 messages");
        self.entries.push(held);
        let bound = DENSITY * self.entries.len() + SLACK;
        match &mut self.index {
            Index::Direct { first, slots } => {
                if slots.is_empty() {
                    *first = msg.0;
                }
                if msg.0 >= *first {
                    let i = (msg.0 - *first) as usize;
                    if i < slots.len() {
                        slots[i] = p as u32;
                        return;
                    }
                    if i < bound {
                        slots.resize(i + 1, NIL);
                        slots[i] = p as u32;
                        return;
                    }
                } else {
                    // An id below the table: it grows at the front, with room for half its
                    // length more below (so ids arriving in falling order do not copy the
                    // table each time) where the bound allows.
                    let shift = (*first - msg.0) as usize;
                    if shift + slots.len() <= bound {
                        let room = (slots.len() / 2)
                            .min(msg.0 as usize)
                            .min(bound - shift - slots.len());
                        let mut grown = vec![NIL; room + shift + slots.len()];
                        grown[room + shift..].copy_from_slice(slots);
                        grown[room] = p as u32;
                        *slots = grown;
                        *first = msg.0 - room as u32;
                        return;
                    }
                }
                // Too sparse for a table: hash from now on.
                let map = self
                    .entries
                    .iter()
                    .enumerate()
                    .map(|(p, h)| (h.msg, p as u32))
                    .collect();
                self.index = Index::Hashed(map);
            }
            Index::Hashed(map) => {
                map.insert(msg, p as u32);
            }
        }
    }

    /// Makes room for `additional` more held messages.
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
        if let Index::Hashed(map) = &mut self.index {
            map.reserve(additional);
        }
    }

    /// Number of held messages.
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Held messages in order.
    pub fn values(&self) -> impl Iterator<Item = &Held> {
        self.entries.iter()
    }

    /// Held messages in order, mutable.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Held> {
        self.entries.iter_mut()
    }

    /// Held messages and their ids in order.
    pub fn iter(&self) -> impl Iterator<Item = (&MsgRef, &Held)> {
        self.entries.iter().map(|h| (&h.msg, h))
    }

    /// Held messages and their ids in order, taken out.
    pub fn into_iter(self) -> impl Iterator<Item = (MsgRef, Held)> {
        self.entries.into_iter().map(|h| (h.msg, h))
    }

    /// Heap bytes of the entries and the index (records not included), counted from capacities.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Held>() + self.index_bytes()
    }

    /// Heap bytes of the index alone (a hash map's buckets at their entry size plus a control
    /// byte each).
    pub fn index_bytes(&self) -> usize {
        use std::mem::size_of;
        match &self.index {
            Index::Direct { slots, .. } => slots.capacity() * size_of::<u32>(),
            Index::Hashed(map) => map.capacity() * (size_of::<(MsgRef, u32)>() + 1),
        }
    }

    /// Whether ids are found through the direct table.
    #[cfg(test)]
    fn is_direct(&self) -> bool {
        matches!(self.index, Index::Direct { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::GroupId;

    fn held(id: u32, group: u32) -> Held {
        Held::new(
            MsgRef(id),
            GroupId(group),
            false,
            super::super::Records::Many(Vec::new()),
        )
    }

    #[test]
    fn positions_follow_insertion_order_for_dense_ids() {
        let mut m = Messages::default();
        for id in [3u32, 0, 7, 1] {
            m.insert(held(id, id));
        }
        assert!(m.is_direct());
        assert_eq!(m.position(MsgRef(3)), Some(0));
        assert_eq!(m.position(MsgRef(0)), Some(1));
        assert_eq!(m.position(MsgRef(7)), Some(2));
        assert_eq!(m.position(MsgRef(1)), Some(3));
        assert_eq!(m.position(MsgRef(2)), None);
        assert_eq!(m.position(MsgRef(1000)), None);
        assert_eq!(
            m.get_index(2).map(|(id, h)| (*id, h.group())),
            Some((MsgRef(7), GroupId(7)))
        );
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn sparse_ids_switch_to_hashing_and_keep_every_answer() {
        let mut m = Messages::default();
        let ids: Vec<u32> = (0..200).map(|k| k * 1000 + 5).collect();
        for (k, &id) in ids.iter().enumerate() {
            m.insert(held(id, k as u32));
            // Every id so far is found at its position, whichever index is in use.
            for (p, &seen) in ids[..=k].iter().enumerate() {
                assert_eq!(m.position(MsgRef(seen)), Some(p));
            }
        }
        assert!(!m.is_direct(), "ids 1000 apart are too sparse for a table");
        assert_eq!(m.position(MsgRef(6)), None);
        assert_eq!(m.get(&MsgRef(5005)).map(|h| h.group()), Some(GroupId(5)));
        let order: Vec<u32> = m.iter().map(|(id, _)| id.0).collect();
        assert_eq!(order, ids);
    }

    #[test]
    fn a_late_first_id_and_ids_below_it_keep_the_table() {
        let mut m = Messages::default();
        // A node that joins late: its first id is far into the run.
        m.insert(held(100_000, 0));
        assert!(m.is_direct());
        let Index::Direct { first, slots } = &m.index else {
            unreachable!()
        };
        assert_eq!((*first, slots.len()), (100_000, 1));
        // Ids just above and below it (an older message forwarded late) stay in the table.
        for (k, id) in [100_003u32, 99_990, 100_001, 99_995]
            .into_iter()
            .enumerate()
        {
            m.insert(held(id, k as u32 + 1));
            assert!(m.is_direct(), "id {id}");
        }
        for (p, id) in [100_000u32, 100_003, 99_990, 100_001, 99_995]
            .into_iter()
            .enumerate()
        {
            assert_eq!(m.position(MsgRef(id)), Some(p), "id {id}");
        }
        for id in [0u32, 99_989, 99_991, 100_002, 100_004, u32::MAX] {
            assert_eq!(m.position(MsgRef(id)), None, "id {id}");
        }
        // An id far below is too sparse: hashing from then on, every answer kept.
        m.insert(held(5, 9));
        assert!(!m.is_direct());
        assert_eq!(m.position(MsgRef(99_990)), Some(2));
        assert_eq!(m.position(MsgRef(5)), Some(5));
    }

    #[test]
    fn ids_in_falling_order_stay_in_the_table_with_every_answer() {
        let mut m = Messages::default();
        for (k, id) in (0..2000u32).rev().enumerate() {
            m.insert(held(id, 0));
            assert!(m.is_direct(), "id {id}");
            let Index::Direct { slots, .. } = &m.index else {
                unreachable!()
            };
            assert!(slots.len() <= DENSITY * m.len() + SLACK);
            assert_eq!(m.position(MsgRef(id)), Some(k));
        }
        for id in 0..2000u32 {
            assert_eq!(m.position(MsgRef(id)), Some(1999 - id as usize));
        }
        assert_eq!(m.position(MsgRef(2000)), None);
    }

    #[test]
    fn the_direct_table_stays_within_its_density_bound() {
        let mut m = Messages::default();
        // Every fourth id: the table grows to at most DENSITY slots a message plus SLACK.
        for k in 0..1000u32 {
            m.insert(held(k * 4, 0));
            assert!(m.is_direct(), "id {} switched", k * 4);
            let Index::Direct { slots, .. } = &m.index else {
                unreachable!()
            };
            assert!(slots.len() <= DENSITY * m.len() + SLACK);
        }
        // One id far ahead is too sparse: hashing from then on.
        m.insert(held(1_000_000, 0));
        assert!(!m.is_direct());
        assert_eq!(m.position(MsgRef(1_000_000)), Some(1000));
        assert_eq!(m.position(MsgRef(3996)), Some(999));
    }
}
