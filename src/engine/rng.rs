//! Random streams: one ChaCha stream per independent source of randomness.
//!
//! Each stream is seeded from `SHA-256("syncsim/stream/v1" || u64_le(seed) || label)`, where the
//! label names the source by stable names, never by position: `link/A->B/latency`,
//! `link/A->B/loss`, `node/A/availability`, `node/A/protocol`, `workload`. Turning on loss
//! therefore never shifts latency draws, and adding a node never changes what another node draws.
//!
//! The samplers here are written out (integer arithmetic on `next_u64`), so their values depend
//! only on the ChaCha output, not on a distribution crate's version. They take any [`Draw`]: a
//! [`Stream`] (`rand_chacha`'s `ChaCha8Rng`, four blocks computed at a time), a
//! [`SmallStream`] (one block at a time, a third of the memory) or a [`WideStream`] whose read
//! position its owner keeps (through [`WideStream::reader`]), which give the same words.

use rand::{Rng, SeedableRng};
use rand_chacha::rand_core::block::Generator;
use rand_chacha::{ChaCha8Core, ChaCha8Rng};
use sha2::{Digest, Sha256};

/// One independent random stream.
pub type Stream = ChaCha8Rng;

/// The stream of source `label` in a run with root seed `seed`.
pub fn stream(seed: u64, label: &str) -> Stream {
    ChaCha8Rng::from_seed(stream_key(seed, label))
}

/// The ChaCha key of source `label`'s stream.
fn stream_key(seed: u64, label: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"syncsim/stream/v1");
    h.update(seed.to_le_bytes());
    h.update(label.as_bytes());
    h.finalize().into()
}

/// [`stream`] as a [`SmallStream`]: the same words.
pub fn small_stream(seed: u64, label: &str) -> SmallStream {
    SmallStream::new(stream_key(seed, label))
}

/// [`stream`] as a [`WideStream`]: the same words.
pub fn wide_stream(seed: u64, label: &str) -> WideStream {
    WideStream::new(stream_key(seed, label))
}

/// A source of 64-bit words for the samplers: a [`Stream`] or a [`SmallStream`].
pub trait Draw {
    /// The next 64 bits of the stream.
    fn draw_u64(&mut self) -> u64;
}

impl Draw for ChaCha8Rng {
    #[inline]
    fn draw_u64(&mut self) -> u64 {
        self.next_u64()
    }
}

/// A ChaCha8 stream that keeps one 64-byte block where [`Stream`] (`rand_chacha`'s
/// `ChaCha8Rng`) keeps four: the same words in the same order (ChaCha with 8 rounds, a 64-bit
/// block counter from 0, stream 0), in 112 bytes instead of 312, each block computed alone
/// without vector instructions. For streams that draw a few words in their life (a mesh's
/// link directions), where four blocks at once would mostly go unused.
#[derive(Clone, Debug)]
pub struct SmallStream {
    key: [u32; 8],
    /// The block that `block` holds is `counter - 1`.
    counter: u64,
    block: [u32; 16],
    /// The next word of `block` to hand out (16: none left).
    index: u8,
}

impl SmallStream {
    /// The stream of ChaCha key `key`, at its start.
    pub fn new(key: [u8; 32]) -> Self {
        let mut k = [0u32; 8];
        for (w, bytes) in k.iter_mut().zip(key.chunks_exact(4)) {
            *w = u32::from_le_bytes(bytes.try_into().expect("four bytes"));
        }
        Self {
            key: k,
            counter: 0,
            block: [0; 16],
            index: 16,
        }
    }

    /// Computes the next block.
    fn refill(&mut self) {
        let mut input = [0u32; 16];
        input[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
        input[4..12].copy_from_slice(&self.key);
        input[12] = self.counter as u32;
        input[13] = (self.counter >> 32) as u32;
        let mut x = input;
        #[inline(always)]
        fn quarter(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
            x[a] = x[a].wrapping_add(x[b]);
            x[d] = (x[d] ^ x[a]).rotate_left(16);
            x[c] = x[c].wrapping_add(x[d]);
            x[b] = (x[b] ^ x[c]).rotate_left(12);
            x[a] = x[a].wrapping_add(x[b]);
            x[d] = (x[d] ^ x[a]).rotate_left(8);
            x[c] = x[c].wrapping_add(x[d]);
            x[b] = (x[b] ^ x[c]).rotate_left(7);
        }
        for _ in 0..4 {
            quarter(&mut x, 0, 4, 8, 12);
            quarter(&mut x, 1, 5, 9, 13);
            quarter(&mut x, 2, 6, 10, 14);
            quarter(&mut x, 3, 7, 11, 15);
            quarter(&mut x, 0, 5, 10, 15);
            quarter(&mut x, 1, 6, 11, 12);
            quarter(&mut x, 2, 7, 8, 13);
            quarter(&mut x, 3, 4, 9, 14);
        }
        for (out, (x, i)) in self.block.iter_mut().zip(x.iter().zip(&input)) {
            *out = x.wrapping_add(*i);
        }
        self.counter += 1;
    }

    /// The next 32-bit word.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= 16 {
            self.refill();
            self.index = 0;
        }
        let w = self.block[self.index as usize];
        self.index += 1;
        w
    }
}

impl Draw for SmallStream {
    /// Two words, the first in the low half (as `rand_core`'s block streams read them, across
    /// a block boundary too).
    #[inline]
    fn draw_u64(&mut self) -> u64 {
        let lo = self.next_u32();
        let hi = self.next_u32();
        (u64::from(hi) << 32) | u64::from(lo)
    }
}

/// A [`Stream`] whose read position is kept by its owner: the words of `rand_chacha`'s
/// `ChaCha8Rng` in the same order (four ChaCha8 blocks computed at a time by its own core), for
/// a caller that keeps the position beside other state it reads anyway. `ChaCha8Rng` keeps the
/// position in its first word, so a draw reads that word's cache line and the line of the
/// words it hands out; here a draw reads the words' line only. Words are handed out in pairs
/// (`u64`s only), so a pair never straddles two lines.
#[derive(Clone, Debug)]
#[repr(align(64))]
pub struct WideStream {
    words: [u32; 64],
    core: ChaCha8Core,
}

impl WideStream {
    /// The read position of a stream with no words left (a new one's).
    pub const EMPTY: u8 = 64;

    /// The stream of ChaCha key `key`, at its start (its position [`Self::EMPTY`]).
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            words: [0; 64],
            core: ChaCha8Core::from_seed(key),
        }
    }

    /// The next 64 bits, the word at `at` in the low half; `at` is the stream's read position,
    /// kept by the caller (even, at most [`Self::EMPTY`]).
    #[inline]
    pub fn draw(&mut self, at: &mut u8) -> u64 {
        if *at >= Self::EMPTY {
            self.refill();
            *at = 0;
        }
        let i = usize::from(*at & 62);
        *at += 2;
        (u64::from(self.words[i + 1]) << 32) | u64::from(self.words[i])
    }

    #[inline(never)]
    fn refill(&mut self) {
        self.core.generate(&mut self.words);
    }

    /// The stream with its position `at`, as a [`Draw`].
    #[inline(always)]
    pub fn reader<'a>(&'a mut self, at: &'a mut u8) -> WideReader<'a> {
        WideReader { stream: self, at }
    }
}

/// A [`WideStream`] and its read position.
pub struct WideReader<'a> {
    stream: &'a mut WideStream,
    at: &'a mut u8,
}

impl Draw for WideReader<'_> {
    #[inline(always)]
    fn draw_u64(&mut self) -> u64 {
        self.stream.draw(self.at)
    }
}

/// A uniform integer in `lo..=hi` (unbiased, by rejection).
#[inline]
pub fn uniform_inclusive<R: Draw + ?Sized>(rng: &mut R, lo: u64, hi: u64) -> u64 {
    debug_assert!(lo <= hi);
    let span = hi - lo;
    if span == u64::MAX {
        return rng.draw_u64();
    }
    let n = span + 1;
    // Accept draws at or below `zone`, the top of the largest multiple of n; the rest would bias
    // low values. `zone` is at least `u64::MAX - (n - 1)`, so a draw up to there is accepted
    // without computing it (a division saved on nearly every draw; the same draws either way).
    loop {
        let x = rng.draw_u64();
        if x <= u64::MAX - (n - 1) || x <= u64::MAX - (u64::MAX - n + 1) % n {
            return lo + x % n;
        }
    }
}

/// A probability turned into an integer threshold once, so that each draw is one integer compare.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Probability {
    p: f64,
    threshold: u64,
}

impl Probability {
    /// `p` must be in `[0, 1]` (checked when the scenario is validated).
    pub fn new(p: f64) -> Self {
        debug_assert!((0.0..=1.0).contains(&p));
        // 2^64 * p, saturating: p = 1 is handled by `is_certain`.
        let threshold = (p * 18_446_744_073_709_551_616.0) as u64;
        Self { p, threshold }
    }

    /// The probability as given.
    pub fn value(self) -> f64 {
        self.p
    }

    /// The integer threshold: an event happens when a uniform `u64` draw is below it.
    pub fn threshold(self) -> u64 {
        self.threshold
    }

    /// Whether the event is certain (no draw needed).
    pub fn is_certain(self) -> bool {
        self.p >= 1.0
    }

    /// Whether the event is impossible (no draw needed).
    pub fn is_impossible(self) -> bool {
        self.p <= 0.0
    }

    /// Draws once (unless the outcome is certain or impossible) and says whether the event happens.
    #[inline]
    pub fn sample<R: Draw + ?Sized>(self, rng: &mut R) -> bool {
        if self.is_certain() {
            true
        } else if self.is_impossible() {
            false
        } else {
            rng.draw_u64() < self.threshold
        }
    }
}

/// A uniform `f64` in `[0, 1)` with 53 random bits.
#[inline]
pub fn unit_f64<R: Draw + ?Sized>(rng: &mut R) -> f64 {
    (rng.draw_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// A standard normal draw (Box–Muller, one value per two uniforms). Uses `libm`, whose
/// functions are pure Rust and give the same bits on every platform.
pub fn standard_normal<R: Draw + ?Sized>(rng: &mut R) -> f64 {
    let u1 = 1.0 - unit_f64(rng); // (0, 1]
    let u2 = unit_f64(rng);
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
}

/// An exponential draw with the given mean.
pub fn exponential<R: Draw + ?Sized>(rng: &mut R, mean: f64) -> f64 {
    -mean * libm::log(1.0 - unit_f64(rng))
}

/// A geometric draw on `1, 2, ...` with mean `mean >= 1` (the number of trials up to and
/// including the first success, success probability `1/mean`).
pub fn geometric<R: Draw + ?Sized>(rng: &mut R, mean: f64) -> u64 {
    if mean <= 1.0 {
        return 1;
    }
    let p = 1.0 / mean;
    let u = 1.0 - unit_f64(rng); // (0, 1]
    let k = libm::ceil(libm::log(u) / libm::log(1.0 - p));
    if k.is_finite() && k >= 1.0 {
        k.min(9.0e15) as u64
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_depend_on_seed_and_label_only() {
        let a1: Vec<u64> = (0..4)
            .map({
                let mut r = stream(7, "link/A->B/latency");
                move |_| r.next_u64()
            })
            .collect();
        let a2: Vec<u64> = (0..4)
            .map({
                let mut r = stream(7, "link/A->B/latency");
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a1, a2);
        assert_ne!(stream(7, "link/A->B/loss").next_u64(), a1[0]);
        assert_ne!(stream(8, "link/A->B/latency").next_u64(), a1[0]);
    }

    #[test]
    fn stream_values_are_pinned() {
        // If this changes, every published result of the simulator changes: bump the stream
        // version in the label prefix instead.
        let mut r = stream(1, "workload");
        assert_eq!(format!("{:016x}", r.next_u64()), "0ad56a99294665f2");
    }

    #[test]
    fn uniform_stays_in_range_and_hits_every_value() {
        let mut r = stream(3, "t");
        let mut seen = [0u32; 3];
        for _ in 0..3000 {
            let x = uniform_inclusive(&mut r, 1, 3);
            assert!((1..=3).contains(&x));
            seen[(x - 1) as usize] += 1;
        }
        for count in seen {
            assert!((800..1200).contains(&count), "{seen:?}");
        }
        assert_eq!(uniform_inclusive(&mut r, 5, 5), 5);
    }

    #[test]
    fn uniform_draws_equal_the_plain_rejection_rule() {
        // The rule as first written: one division for the zone on every draw.
        fn reference(rng: &mut Stream, lo: u64, hi: u64) -> u64 {
            let n = hi - lo + 1;
            let zone = u64::MAX - (u64::MAX - n + 1) % n;
            loop {
                let x = rng.next_u64();
                if x <= zone {
                    return lo + x % n;
                }
            }
        }
        // Spans up to nearly 2^64, where draws land in the rejected top often.
        let spans = [
            1,
            2,
            3,
            7,
            600,
            65_536,
            1 << 40,
            (1 << 63) + 1,
            u64::MAX - 9,
        ];
        for (i, &span) in spans.iter().enumerate() {
            let mut a = stream(11, &format!("u/{i}"));
            let mut b = a.clone();
            for _ in 0..2000 {
                assert_eq!(
                    uniform_inclusive(&mut a, 5, 5 + span - 1),
                    reference(&mut b, 5, 5 + span - 1)
                );
            }
            // The same number of words drawn.
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn probability_extremes_do_not_draw() {
        let mut r = stream(3, "p");
        let mut untouched = r.clone();
        assert!(Probability::new(1.0).sample(&mut r));
        assert!(!Probability::new(0.0).sample(&mut r));
        assert_eq!(r.next_u64(), untouched.next_u64());
    }

    fn mean_sd(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
        (mean, var.sqrt())
    }

    #[test]
    fn continuous_samplers_have_their_mean_and_spread() {
        let mut r = stream(4, "s");
        let normal: Vec<f64> = (0..50_000).map(|_| standard_normal(&mut r)).collect();
        let (m, sd) = mean_sd(&normal);
        assert!(m.abs() < 0.02 && (sd - 1.0).abs() < 0.02, "{m} {sd}");
        let exp: Vec<f64> = (0..50_000).map(|_| exponential(&mut r, 5.0)).collect();
        let (m, sd) = mean_sd(&exp);
        assert!((m - 5.0).abs() < 0.1 && (sd - 5.0).abs() < 0.15, "{m} {sd}");
        let geo: Vec<f64> = (0..50_000).map(|_| geometric(&mut r, 4.0) as f64).collect();
        let (m, sd) = mean_sd(&geo);
        // Geometric with p = 1/4: mean 4, sd sqrt(1-p)/p = 3.46.
        assert!(
            (m - 4.0).abs() < 0.08 && (sd - 3.464).abs() < 0.1,
            "{m} {sd}"
        );
        assert!(geo.iter().all(|&k| k >= 1.0));
        assert_eq!(geometric(&mut r, 1.0), 1);
    }

    #[test]
    fn float_samplers_are_pinned() {
        let mut r = stream(1, "pin");
        // Bits of the first draw: a change here means every normal/lognormal latency changes.
        let z = standard_normal(&mut r);
        assert_eq!(format!("{:016x}", z.to_bits()), "3ff35f2ec8e0d4c4");
    }

    /// Twenty rounds of the samplers on two sources that must give the same words: the same
    /// normal, uniform (over `lo..=hi`) and Bernoulli draws from each.
    fn samplers_agree(a: &mut impl Draw, b: &mut impl Draw, (lo, hi): (u64, u64)) {
        for _ in 0..20 {
            assert_eq!(standard_normal(a), standard_normal(b));
            assert_eq!(uniform_inclusive(a, lo, hi), uniform_inclusive(b, lo, hi));
            let p = Probability::new(0.3);
            assert_eq!(p.sample(a), p.sample(b));
        }
    }

    /// The small stream gives the words of the full one: many keys, long runs across blocks,
    /// and the samplers on top of either agree draw for draw.
    #[test]
    fn a_small_stream_draws_the_words_of_the_full_one() {
        for k in 0..50u64 {
            let label = format!("link/n-{k}->n-{}/latency", k + 1);
            let (mut full, mut small) = (stream(k, &label), small_stream(k, &label));
            for _ in 0..(k * 7 % 60 + 40) {
                assert_eq!(small.draw_u64(), full.next_u64());
            }
            samplers_agree(&mut small, &mut full, (1, 3));
        }
        // Odd word offsets: a 64-bit draw straddling two blocks.
        let (mut full, mut small) = (stream(5, "w"), small_stream(5, "w"));
        assert_eq!(small.next_u32(), full.next_u32());
        for _ in 0..100 {
            assert_eq!(small.draw_u64(), full.next_u64());
        }
        assert!(std::mem::size_of::<SmallStream>() <= 112);
    }

    /// A wide stream with its position kept outside gives the words of the full one, across
    /// many refills of its four blocks, and the samplers on top agree draw for draw.
    #[test]
    fn a_wide_stream_draws_the_words_of_the_full_one() {
        for k in 0..20u64 {
            let label = format!("link/n-{k}->n-{}/loss", k + 2);
            let (mut full, mut wide) = (stream(k, &label), wide_stream(k, &label));
            let mut at = WideStream::EMPTY;
            // 32 words a refill: past several refills, stopping at every offset.
            for _ in 0..(k * 13 % 32 + 100) {
                assert_eq!(wide.draw(&mut at), full.next_u64());
                assert!(at.is_multiple_of(2) && at <= WideStream::EMPTY);
            }
            samplers_agree(&mut wide.reader(&mut at), &mut full, (2, 9));
        }
        // Two streams of the same key and position draw the same; another key does not.
        let (mut a, mut b, mut c) = (
            wide_stream(1, "x"),
            wide_stream(1, "x"),
            wide_stream(2, "x"),
        );
        let (mut pa, mut pb, mut pc) = (WideStream::EMPTY, WideStream::EMPTY, WideStream::EMPTY);
        let xs: Vec<u64> = (0..40).map(|_| a.draw(&mut pa)).collect();
        let ys: Vec<u64> = (0..40).map(|_| b.draw(&mut pb)).collect();
        let zs: Vec<u64> = (0..40).map(|_| c.draw(&mut pc)).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        // Its words start on a cache line, so a pair of words never straddles two.
        assert_eq!(std::mem::align_of::<WideStream>(), 64);
    }

    #[test]
    fn probability_frequency_matches() {
        let mut r = stream(9, "p");
        let p = Probability::new(0.1);
        let hits = (0..100_000).filter(|_| p.sample(&mut r)).count();
        assert!((9_500..10_500).contains(&hits), "{hits}");
    }
}
