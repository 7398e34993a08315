//! The run fingerprint: a hash over the ordered stream of events.
//!
//! Every event the engine processes (append, send with its latency, its loss decision and
//! whether it will find its receiver offline, the arrival of every other packet with its outcome,
//! delivery, step) is folded in, in processing order, as a few `u64` words (a packet's send as
//! five: tag, first item's kind, flags and item count in one; tick; sender and receiver in one;
//! first item; latency).
//! Two runs with the same fingerprint did the same things in the same order. The hash is a
//! fixed, portable function of those words (not `std`'s randomly keyed hasher), so fingerprints
//! compare across machines and versions of Rust.

/// Incremental 128-bit fingerprint of an event stream.
#[derive(Clone, Debug)]
pub struct Fingerprint {
    a: u64,
    b: u64,
    words: u64,
}

const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;

fn mix(mut z: u64) -> u64 {
    // splitmix64's finaliser.
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Default for Fingerprint {
    fn default() -> Self {
        Self {
            a: 0x6a09_e667_f3bc_c908,
            b: 0xbb67_ae85_84ca_a73b,
            words: 0,
        }
    }
}

impl Fingerprint {
    /// Folds one word into the fingerprint.
    #[inline]
    pub fn word(&mut self, x: u64) {
        self.a = (self.a ^ x).wrapping_mul(K1).rotate_left(29);
        self.b = (self.b.rotate_left(17) ^ x.wrapping_add(self.a)).wrapping_mul(K2);
        self.words += 1;
    }

    /// Folds one event, given as a tag and its fields.
    #[inline]
    pub fn event(&mut self, tag: u64, fields: &[u64]) {
        self.word(tag);
        for &f in fields {
            self.word(f);
        }
    }

    /// The fingerprint as 32 hexadecimal digits.
    pub fn hex(&self) -> String {
        let hi = mix(self.a ^ mix(self.words));
        let lo = mix(self.b ^ hi);
        format!("{hi:016x}{lo:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(words: &[u64]) -> String {
        let mut f = Fingerprint::default();
        for &w in words {
            f.word(w);
        }
        f.hex()
    }

    #[test]
    fn order_and_content_matter() {
        assert_eq!(of(&[1, 2, 3]), of(&[1, 2, 3]));
        assert_ne!(of(&[1, 2, 3]), of(&[1, 3, 2]));
        assert_ne!(of(&[1, 2, 3]), of(&[1, 2, 3, 0]));
        assert_ne!(of(&[]), of(&[0]));
    }

    #[test]
    fn value_is_pinned() {
        // A fingerprint is compared across machines and versions; its function must not drift.
        assert_eq!(of(&[]), "492b8d6066c09227ad58fc6152849930");
        assert_eq!(of(&[42]), "091377894904ac5d340de08cfed710ce");
    }
}
