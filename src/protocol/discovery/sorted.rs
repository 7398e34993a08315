//! Small ordered maps and sets kept as one sorted vector.
//!
//! A node's discovery state holds a few dozen peers (at most `max_peers` verified, a tracker
//! 100), looked up, walked in order and copied on every round. In a vector sorted by key they
//! sit in one allocation: a look-up is a binary search over contiguous memory and a walk is a
//! slice iteration, where a B-tree chases a pointer per node. Iteration is in key order, as a
//! `BTreeMap`'s, so replacing one by the other changes no result.

/// An ordered map as a vector of `(key, value)` sorted by key, keys unique.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortedMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord + Copy, V> SortedMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&self, key: &K) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.cmp(key))
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    /// The value of `key`, to change.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.find(key).ok().map(move |i| &mut self.entries[i].1)
    }

    /// Whether `key` has an entry.
    pub fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    /// Sets the value of `key`, returning the one it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The entries, in key order (as `BTreeMap::iter`'s pairs of references).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The entries as a slice, in key order.
    pub fn as_slice(&self) -> &[(K, V)] {
        &self.entries
    }
}

/// An ordered set as a sorted vector of unique keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortedSet<K> {
    keys: Vec<K>,
}

impl<K> Default for SortedSet<K> {
    fn default() -> Self {
        Self { keys: Vec::new() }
    }
}

impl<K: Ord + Copy> SortedSet<K> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &K) -> bool {
        self.keys.binary_search(key).is_ok()
    }

    /// Adds `key`; whether it was new.
    pub fn insert(&mut self, key: K) -> bool {
        match self.keys.binary_search(&key) {
            Ok(_) => false,
            Err(i) => {
                self.keys.insert(i, key);
                true
            }
        }
    }

    /// Removes `key`; whether it was there.
    pub fn remove(&mut self, key: &K) -> bool {
        match self.keys.binary_search(key) {
            Ok(i) => {
                self.keys.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.keys.clear();
    }

    /// The keys, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, K> {
        self.keys.iter()
    }

    /// The keys, in order, as a slice.
    pub fn as_slice(&self) -> &[K] {
        &self.keys
    }
}

impl<K: Ord + Copy> Extend<K> for SortedSet<K> {
    fn extend<I: IntoIterator<Item = K>>(&mut self, keys: I) {
        for k in keys {
            self.insert(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// After any sequence of inserts and removals, the map and the set hold and iterate
    /// exactly what a `BTreeMap` and a `BTreeSet` given the same operations do, and answer
    /// every operation the same.
    #[test]
    fn they_behave_as_the_b_tree_map_and_set() {
        use proptest::prelude::*;
        let op = (0u8..4, 0u32..40, 0u64..1000);
        proptest!(|(ops in prop::collection::vec(op, 1..300))| {
            let (mut m, mut bm) = (SortedMap::new(), BTreeMap::new());
            let (mut s, mut bs) = (SortedSet::new(), BTreeSet::new());
            for (kind, k, v) in ops {
                match kind {
                    0 | 1 => {
                        prop_assert_eq!(m.insert(k, v), bm.insert(k, v));
                        prop_assert_eq!(s.insert(k), bs.insert(k));
                    }
                    2 => {
                        prop_assert_eq!(m.remove(&k), bm.remove(&k));
                        prop_assert_eq!(s.remove(&k), bs.remove(&k));
                    }
                    _ => {
                        if let Some(x) = m.get_mut(&k) {
                            *x += 1;
                        }
                        if let Some(x) = bm.get_mut(&k) {
                            *x += 1;
                        }
                    }
                }
                prop_assert_eq!(m.get(&k), bm.get(&k));
                prop_assert_eq!(m.contains_key(&k), bm.contains_key(&k));
                prop_assert_eq!(s.contains(&k), bs.contains(&k));
                prop_assert_eq!((m.len(), s.len()), (bm.len(), bs.len()));
                prop_assert!(m.iter().eq(bm.iter()));
                prop_assert!(m.keys().eq(bm.keys()));
                prop_assert!(s.iter().eq(bs.iter()));
            }
            for (k, v) in &bm {
                prop_assert_eq!(m.get(k), Some(v));
            }
        });
    }
}
