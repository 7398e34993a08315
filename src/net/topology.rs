//! Topology generators: which pairs of nodes are linked. Every generator returns sorted pairs
//! `(a, b)` with `a < b`, a pure function of its parameters and its stream (`topology`).

use crate::engine::rng::{self, Probability, Stream};
use crate::ids::NodeId;
use std::collections::BTreeSet;

/// Every pair of `n` nodes, in order, made as they are asked for (a full mesh of n nodes has
/// n(n-1)/2 of them; the plan does not list them, see `Plan::mesh`).
pub fn full_mesh(n: u32) -> impl Iterator<Item = (NodeId, NodeId)> {
    (0..n).flat_map(move |a| (a + 1..n).map(move |b| (NodeId(a), NodeId(b))))
}

/// `center` linked to every other node.
pub fn star(n: u32, center: NodeId) -> Vec<(NodeId, NodeId)> {
    (0..n)
        .map(NodeId)
        .filter(|&x| x != center)
        .map(|x| (x.min(center), x.max(center)))
        .collect()
}

/// Each pair independently with probability `p` (G(n, p)), pairs drawn in order (one draw a
/// pair; only the drawn links are kept in memory).
pub fn erdos_renyi(n: u32, p: Probability, rng: &mut Stream) -> Vec<(NodeId, NodeId)> {
    full_mesh(n).filter(|_| p.sample(rng)).collect()
}

/// A uniformly random simple `k`-regular graph on `n` nodes, built by pairing random free stubs
/// and refusing loops and double edges (Steger–Wormald), restarting when stuck. Needs `n * k`
/// even and `k < n`; returns `None` if 100 attempts all got stuck.
pub fn random_regular(n: u32, k: u32, rng: &mut Stream) -> Option<Vec<(NodeId, NodeId)>> {
    if k == 0 {
        return Some(Vec::new());
    }
    if k >= n || (n as u64 * k as u64) % 2 == 1 {
        return None;
    }
    'attempt: for _ in 0..100 {
        let mut stubs: Vec<u32> = (0..n)
            .flat_map(|v| std::iter::repeat_n(v, k as usize))
            .collect();
        let mut edges: BTreeSet<(u32, u32)> = BTreeSet::new();
        let mut failures = 0u64;
        while !stubs.is_empty() {
            let len = stubs.len() as u64;
            let i = rng::uniform_inclusive(rng, 0, len - 1) as usize;
            let j = rng::uniform_inclusive(rng, 0, len - 1) as usize;
            let (u, v) = (stubs[i], stubs[j]);
            let e = (u.min(v), u.max(v));
            if i == j || u == v || edges.contains(&e) {
                failures += 1;
                if failures > 50 * len + 1000 {
                    continue 'attempt;
                }
                continue;
            }
            edges.insert(e);
            let (hi, lo) = (i.max(j), i.min(j));
            stubs.swap_remove(hi);
            stubs.swap_remove(lo);
        }
        return Some(
            edges
                .into_iter()
                .map(|(a, b)| (NodeId(a), NodeId(b)))
                .collect(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::stream;

    fn degrees(n: u32, edges: &[(NodeId, NodeId)]) -> Vec<u32> {
        let mut d = vec![0; n as usize];
        for &(a, b) in edges {
            assert!(a < b);
            d[a.idx()] += 1;
            d[b.idx()] += 1;
        }
        d
    }

    #[test]
    fn random_regular_is_simple_and_regular_and_seeded() {
        for (n, k) in [(50, 8), (10, 3), (200, 4)] {
            let e = random_regular(n, k, &mut stream(1, "topology")).unwrap();
            assert_eq!(e.len() as u32, n * k / 2);
            assert!(degrees(n, &e).iter().all(|&d| d == k));
            let unique: BTreeSet<_> = e.iter().collect();
            assert_eq!(unique.len(), e.len());
            assert_eq!(e, random_regular(n, k, &mut stream(1, "topology")).unwrap());
            assert_ne!(e, random_regular(n, k, &mut stream(2, "topology")).unwrap());
        }
        assert!(
            random_regular(5, 3, &mut stream(1, "t")).is_none(),
            "n * k odd"
        );
        assert!(
            random_regular(4, 4, &mut stream(1, "t")).is_none(),
            "k >= n"
        );
    }

    #[test]
    fn erdos_renyi_has_the_expected_density() {
        let e = erdos_renyi(200, Probability::new(0.1), &mut stream(3, "topology"));
        let pairs = 200.0 * 199.0 / 2.0;
        let density = e.len() as f64 / pairs;
        assert!((density - 0.1).abs() < 0.01, "{density}");
    }

    #[test]
    fn star_links_the_center_to_everyone() {
        let e = star(4, NodeId(2));
        assert_eq!(
            e,
            [
                (NodeId(0), NodeId(2)),
                (NodeId(1), NodeId(2)),
                (NodeId(2), NodeId(3))
            ]
        );
        assert_eq!(
            full_mesh(3).collect::<Vec<_>>(),
            [
                (NodeId(0), NodeId(1)),
                (NodeId(0), NodeId(2)),
                (NodeId(1), NodeId(2))
            ]
        );
    }
}
