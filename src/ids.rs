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
