//! The peers a node shares one group with, and where each stands in that list.
//!
//! A peer's position in its group's sorted peer list is also, for every record list made while
//! the list was as it is, the position of that peer's record, so finding it is on the path of
//! every ACK, request and duplicate received. While the peers' ids lie close together (within
//! [`DENSITY`] ids a peer plus [`SLACK`], as in groups numbered in blocks) a table indexed by id
//! answers in one read; otherwise a binary search over the list does. Both give the same answer;
//! the table is only a shortcut.

use crate::ids::{GroupId, NodeId};

/// Most ids a peer the position table may span (plus [`SLACK`]).
const DENSITY: usize = 4;
/// Ids the position table may span whatever the peer count.
const SLACK: usize = 64;
/// In a table slot: no peer has this id.
const ABSENT: u16 = u16::MAX;

/// One group's peers, sorted, with a table from id to position when their ids are close.
#[derive(Clone, Debug)]
pub struct Sharing {
    group: GroupId,
    peers: Vec<NodeId>,
    /// The lowest peer id (the table's first slot).
    lo: u32,
    /// Per id from `lo`, that peer's position or [`ABSENT`]; empty when there is no table (then
    /// a binary search answers).
    slots: Vec<u16>,
}

impl Sharing {
    /// `peers` must be sorted and free of duplicates.
    pub fn new(group: GroupId, peers: Vec<NodeId>) -> Self {
        debug_assert!(peers.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
        let mut s = Self {
            group,
            peers,
            lo: 0,
            slots: Vec::new(),
        };
        s.index();
        s
    }

    fn index(&mut self) {
        self.slots.clear();
        let (Some(first), Some(last)) = (self.peers.first(), self.peers.last()) else {
            return;
        };
        let span = (last.0 - first.0) as usize + 1;
        if span > DENSITY * self.peers.len() + SLACK || self.peers.len() >= usize::from(ABSENT) {
            return;
        }
        self.lo = first.0;
        self.slots.resize(span, ABSENT);
        for (i, p) in self.peers.iter().enumerate() {
            self.slots[(p.0 - self.lo) as usize] = i as u16;
        }
    }

    /// The group.
    #[inline]
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// The peers, sorted.
    #[inline]
    pub fn peers(&self) -> &[NodeId] {
        &self.peers
    }

    /// Replaces the peers (sorted, distinct), returning the old list.
    pub fn replace(&mut self, peers: Vec<NodeId>) -> Vec<NodeId> {
        debug_assert!(peers.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
        let old = std::mem::replace(&mut self.peers, peers);
        self.index();
        old
    }

    /// `peer`'s position in [`Sharing::peers`], if it is one.
    #[inline]
    pub fn position(&self, peer: NodeId) -> Option<usize> {
        if self.slots.is_empty() {
            return self.peers.binary_search(&peer).ok();
        }
        match self.slots.get(peer.0.wrapping_sub(self.lo) as usize) {
            Some(&i) if i != ABSENT => Some(usize::from(i)),
            _ => None,
        }
    }

    /// Whether `peer` is one of the peers.
    #[inline]
    pub fn contains(&self, peer: NodeId) -> bool {
        self.position(peer).is_some()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.peers.capacity() * size_of::<NodeId>() + self.index_bytes()
    }

    /// The part of [`Sharing::heap_bytes`] in the table by id (it depends on how nodes are
    /// numbered).
    pub fn index_bytes(&self) -> usize {
        self.slots.capacity() * size_of::<u16>()
    }

    #[cfg(test)]
    fn has_table(&self) -> bool {
        !self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u32]) -> Vec<NodeId> {
        v.iter().map(|&i| NodeId(i)).collect()
    }

    /// Every id from 0 to a bit past the last peer answers as a binary search would.
    fn agrees_with_search(s: &Sharing) {
        let top = s.peers().last().map_or(0, |p| p.0) + 70;
        for id in (0..top).chain([u32::MAX - 1, u32::MAX]) {
            let p = NodeId(id);
            assert_eq!(s.position(p), s.peers().binary_search(&p).ok(), "id {id}");
            assert_eq!(s.contains(p), s.peers().contains(&p), "id {id}");
        }
    }

    #[test]
    fn close_ids_get_a_table_that_answers_as_the_search_does() {
        let s = Sharing::new(GroupId(0), ids(&[100, 103, 104, 120, 149]));
        assert!(s.has_table());
        assert_eq!(s.position(NodeId(104)), Some(2));
        assert_eq!(s.position(NodeId(105)), None);
        assert_eq!(s.position(NodeId(99)), None);
        assert_eq!(s.position(NodeId(150)), None);
        agrees_with_search(&s);
    }

    #[test]
    fn spread_out_ids_are_searched() {
        let s = Sharing::new(GroupId(0), ids(&[3, 5_000, 90_000]));
        assert!(!s.has_table());
        assert_eq!(s.position(NodeId(5_000)), Some(1));
        agrees_with_search(&s);
    }

    #[test]
    fn replacing_the_peers_rebuilds_or_drops_the_table() {
        let mut s = Sharing::new(GroupId(2), ids(&[]));
        assert!(!s.has_table());
        agrees_with_search(&s);
        assert_eq!(s.replace(ids(&[7, 8, 9])), ids(&[]));
        assert!(s.has_table());
        agrees_with_search(&s);
        assert_eq!(s.replace(ids(&[8, 1_000_000])), ids(&[7, 8, 9]));
        assert!(!s.has_table());
        agrees_with_search(&s);
        s.replace(ids(&[40, 41]));
        assert!(s.has_table());
        assert_eq!(s.position(NodeId(8)), None);
        agrees_with_search(&s);
        assert_eq!(s.group(), GroupId(2));
    }
}
