//! Dense identifiers for nodes, groups and messages.
//!
//! Everything inside a run refers to nodes, groups and messages by small integers assigned in
//! scenario order (nodes, groups) or append order (messages). Names and SHA-256 ids appear only
//! at the edges (scenario parsing, reports). Dense ids keep the hot paths free of string hashing
//! and make every container's order a function of the scenario alone.

use std::fmt;

macro_rules! dense_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u32);

        impl $name {
            /// The id as an index into a vector.
            #[inline]
            pub fn idx(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

dense_id!(
    /// A node (and its network address): the index of the node in the scenario's node list.
    NodeId
);
dense_id!(
    /// A group: the index of the group in the scenario's group list.
    GroupId
);
dense_id!(
    /// A message: the index of the message in the run's message table, in order of appending.
    MsgRef
);

/// A fast, deterministic hasher for the dense ids above (and other small keys) in hash maps on
/// hot paths: one multiply-rotate per word (the scheme of rustc's FxHasher). Not resistant to
/// chosen keys, which a simulation does not face; it has no random state, so nothing about a
/// run depends on it except speed (and no output iterates a hash map).
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl IdHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl std::hash::Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`IdHasher`]s.
pub type IdBuildHasher = std::hash::BuildHasherDefault<IdHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hasher};

    #[test]
    fn id_hasher_spreads_consecutive_ids_and_is_stable() {
        let b = IdBuildHasher::default();
        let hashes: std::collections::BTreeSet<u64> = (0..10_000u32)
            .map(|i| b.hash_one(MsgRef(i)) >> 57)
            .collect();
        // The top 7 bits (hashbrown's control byte) take many values over consecutive ids.
        assert!(hashes.len() > 100, "{}", hashes.len());
        let mut h = IdHasher::default();
        h.write_u32(7);
        assert_eq!(h.finish(), IdBuildHasher::default().hash_one(7u32));
    }
}
