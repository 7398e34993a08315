//! Link directions: latency distributions and loss models.
//!
//! Latencies are whole ticks, at least 1. Continuous distributions are rounded to the nearest
//! tick: `normal` is truncated at 1 tick (draws below are redrawn, up to 64 times, then 1);
//! `exponential` and `lognormal` are raised to 1 tick when they round below it.
//!
//! Gilbert–Elliott loss is a two-state chain stepped once per packet: before each packet the
//! state moves good→bad with `p_good_to_bad` or bad→good with `p_bad_to_good`, then the packet is
//! lost with `loss_good` or `loss_bad`. Bursts in the bad state last `1 / p_bad_to_good` packets
//! on average. Each direction starts in the good state.

use crate::engine::rng::{self, Draw, Probability, SmallStream, Stream, WideStream};
use crate::engine::time::Tick;
use crate::ids::NodeId;

/// How long a packet takes on a link direction, in ticks (always at least 1).
#[derive(Clone, Debug, PartialEq)]
pub enum Latency {
    /// Always `delay` ticks.
    Fixed { delay: Tick },
    /// Uniform over the integers `min..=max`.
    Uniform { min: Tick, max: Tick },
    /// Normal with `mean` and `sd` (ticks), truncated at 1 tick.
    Normal { mean: f64, sd: f64 },
    /// Exponential with `mean` (ticks).
    Exponential { mean: f64 },
    /// Log-normal with `median` (ticks) and shape `sigma`.
    LogNormal { median: f64, sigma: f64 },
}

fn to_ticks(x: f64) -> Tick {
    let r = libm::round(x);
    if r >= 1.0 { r.min(9.0e15) as Tick } else { 1 }
}

impl Latency {
    /// Draws one latency.
    #[inline]
    pub fn sample<R: Draw + ?Sized>(&self, rng: &mut R) -> Tick {
        match *self {
            Latency::Fixed { delay } => delay,
            Latency::Uniform { min, max } => rng::uniform_inclusive(rng, min, max),
            Latency::Normal { mean, sd } => {
                for _ in 0..64 {
                    let x = libm::round(mean + sd * rng::standard_normal(rng));
                    if x >= 1.0 {
                        return x.min(9.0e15) as Tick;
                    }
                }
                1
            }
            Latency::Exponential { mean } => to_ticks(rng::exponential(rng, mean)),
            Latency::LogNormal { median, sigma } => {
                to_ticks(median * libm::exp(sigma * rng::standard_normal(rng)))
            }
        }
    }
}

/// Whether a packet is lost on a link direction.
#[derive(Clone, Debug, PartialEq)]
pub enum Loss {
    /// No packet is lost.
    None,
    /// Each packet is lost independently with probability `p`.
    Bernoulli { p: Probability },
    /// Two-state bursty loss, stepped per packet.
    GilbertElliott {
        p_good_to_bad: Probability,
        p_bad_to_good: Probability,
        loss_good: Probability,
        loss_bad: Probability,
    },
}

/// The random streams of one link direction, latency then loss: `None` until the first packet
/// that needs a draw. Boxed, so that a link that never carries a packet costs 8 bytes here, not
/// the state of two streams. `R` is [`Stream`] (two of them 624 bytes, four ChaCha blocks
/// computed at a time) or [`SmallStream`] (224 bytes, one block at a time: for a full mesh's
/// directions, which carry a few packets each); the same words. The engine keeps a
/// [`Direction`] for each link of a run that is not a full mesh, the same draws laid out for
/// the packet path.
pub type LinkStreams<R = Stream> = Option<Box<(R, R)>>;

/// A kind of stream a link direction can draw from.
pub trait LinkStream: Draw + Sized {
    /// The stream of source `label` in a run with root seed `seed`.
    fn open(seed: u64, label: &str) -> Self;
}

impl LinkStream for Stream {
    fn open(seed: u64, label: &str) -> Self {
        rng::stream(seed, label)
    }
}

impl LinkStream for SmallStream {
    fn open(seed: u64, label: &str) -> Self {
        rng::small_stream(seed, label)
    }
}

/// The delay of a direction with this latency and loss when it draws nothing (a fixed delay,
/// no loss); `None` when it draws.
pub fn fixed_delay(latency: &Latency, loss: &Loss) -> Option<Tick> {
    match (latency, loss) {
        (Latency::Fixed { delay }, Loss::None) => Some(*delay),
        _ => None,
    }
}

/// One direction of a link; its random streams are a [`LinkStreams`] kept by the caller.
#[derive(Clone, Debug)]
pub struct Link {
    /// Sending node.
    pub from: NodeId,
    /// Receiving node.
    pub to: NodeId,
    /// Latency distribution.
    pub latency: Latency,
    /// Loss model.
    pub loss: Loss,
    seed: u64,
    /// Gilbert–Elliott state: in the bad state.
    bad: bool,
}

/// What happened to one packet put on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transit {
    /// Ticks until arrival (drawn even when the packet is lost).
    pub latency: Tick,
    /// Whether the link lost the packet.
    pub lost: bool,
}

impl Link {
    /// A link direction; its streams `link/<from>-><to>/latency` and `.../loss` are derived from
    /// the run seed and the node names when the first packet is sent.
    pub fn new(seed: u64, from: NodeId, to: NodeId, latency: Latency, loss: Loss) -> Self {
        Self {
            from,
            to,
            latency,
            loss,
            seed,
            bad: false,
        }
    }

    /// The delay of a link that draws nothing (fixed latency, no loss: its streams are never
    /// needed), else `None`.
    pub fn fixed_delay(&self) -> Option<Tick> {
        fixed_delay(&self.latency, &self.loss)
    }

    /// Puts one packet on the link: latency first, then loss, drawn from `streams` (this
    /// direction's, derived on first use; `names` gives node names for their labels).
    #[inline]
    pub fn transmit<R: LinkStream>(
        &mut self,
        streams: &mut LinkStreams<R>,
        names: &dyn Fn(NodeId) -> String,
    ) -> Transit {
        if let (Latency::Fixed { delay }, Loss::None) = (&self.latency, &self.loss) {
            // Nothing to draw: the streams are never needed (or derived).
            return Transit {
                latency: *delay,
                lost: false,
            };
        }
        self.draw(streams, names)
    }

    /// Derives this direction's streams (once, at its first packet).
    #[cold]
    #[inline(never)]
    fn open<R: LinkStream>(&self, names: &dyn Fn(NodeId) -> String) -> Box<(R, R)> {
        let (f, t) = (names(self.from), names(self.to));
        Box::new((
            R::open(self.seed, &format!("link/{f}->{t}/latency")),
            R::open(self.seed, &format!("link/{f}->{t}/loss")),
        ))
    }

    /// [`Link::transmit`] on a link that draws its latency or its loss.
    fn draw<R: LinkStream>(
        &mut self,
        streams: &mut LinkStreams<R>,
        names: &dyn Fn(NodeId) -> String,
    ) -> Transit {
        let s = match streams {
            Some(s) => s,
            None => streams.insert(self.open(names)),
        };
        self.draw_from(&mut s.0, &mut s.1)
    }

    /// One packet's latency and fate from this direction's two streams.
    #[inline(always)]
    fn draw_from<R: Draw>(&mut self, latency_rng: &mut R, loss_rng: &mut R) -> Transit {
        let latency = self.latency.sample(latency_rng);
        let lost = lose(&self.loss, &mut self.bad, loss_rng);
        Transit { latency, lost }
    }
}

/// Whether the next packet is lost under `loss`, drawing from `rng`; `bad` is the
/// Gilbert–Elliott state, stepped first.
#[inline(always)]
fn lose<R: Draw>(loss: &Loss, bad: &mut bool, rng: &mut R) -> bool {
    match loss {
        Loss::None => false,
        Loss::Bernoulli { p } => p.sample(rng),
        Loss::GilbertElliott {
            p_good_to_bad,
            p_bad_to_good,
            loss_good,
            loss_bad,
        } => {
            let switch = if *bad { p_bad_to_good } else { p_good_to_bad };
            if switch.sample(rng) {
                *bad = !*bad;
            }
            if *bad {
                loss_bad.sample(rng)
            } else {
                loss_good.sample(rng)
            }
        }
    }
}

/// A direction's loss model as its [`Direction`] keeps it: the models without a state of their
/// own in full, Gilbert–Elliott (72 bytes and a state) left with the [`Link`].
#[derive(Clone, Copy, Debug)]
enum DirectionLoss {
    None,
    Bernoulli(Probability),
    OfLink,
}

/// What the packet path of a run that is not a full mesh reads and writes of a link direction
/// that draws, in one cache line: its latency and loss models (Gilbert–Elliott's stay with the
/// [`Link`]), the read position of each of its two streams and the pointer to their words. A
/// packet's draws then read this line and one line of words. The same draws as
/// [`Link::transmit`] with a [`LinkStreams`] of [`Stream`]s, which take a line for the link, a
/// line for the pointer, and two lines of the stream, whose read position is its first word
/// (`rand_core`'s block streams keep it there), a line away from most words it hands out.
#[derive(Debug)]
#[repr(align(64))]
pub struct Direction {
    latency: Latency,
    loss: DirectionLoss,
    /// The latency stream and the loss stream, derived at the first packet that draws.
    streams: Option<Box<[WideStream; 2]>>,
    /// The next word of each stream ([`WideStream::draw`]).
    at: [u8; 2],
}

impl Direction {
    /// The direction of `link`, its streams not yet derived.
    pub fn new(link: &Link) -> Self {
        Self {
            latency: link.latency.clone(),
            loss: match link.loss {
                Loss::None => DirectionLoss::None,
                Loss::Bernoulli { p } => DirectionLoss::Bernoulli(p),
                Loss::GilbertElliott { .. } => DirectionLoss::OfLink,
            },
            streams: None,
            at: [WideStream::EMPTY; 2],
        }
    }

    /// [`Link::transmit`] of `link`, whose direction this is.
    #[inline]
    pub fn transmit(&mut self, link: &mut Link, names: &dyn Fn(NodeId) -> String) -> Transit {
        if let (Latency::Fixed { delay }, DirectionLoss::None) = (&self.latency, &self.loss) {
            return Transit {
                latency: *delay,
                lost: false,
            };
        }
        let streams = match &mut self.streams {
            Some(s) => s,
            None => self.streams.insert(Self::open(link, names)),
        };
        let [latency_stream, loss_stream] = &mut **streams;
        let [latency_at, loss_at] = &mut self.at;
        let latency = self.latency.sample(&mut latency_stream.reader(latency_at));
        let loss = &mut loss_stream.reader(loss_at);
        let lost = match self.loss {
            DirectionLoss::None => false,
            DirectionLoss::Bernoulli(p) => p.sample(loss),
            DirectionLoss::OfLink => lose(&link.loss, &mut link.bad, loss),
        };
        Transit { latency, lost }
    }

    /// Derives the direction's streams (once, at its first packet that draws).
    #[cold]
    #[inline(never)]
    fn open(link: &Link, names: &dyn Fn(NodeId) -> String) -> Box<[WideStream; 2]> {
        let (f, t) = (names(link.from), names(link.to));
        Box::new([
            rng::wide_stream(link.seed, &format!("link/{f}->{t}/latency")),
            rng::wide_stream(link.seed, &format!("link/{f}->{t}/loss")),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: NodeId) -> String {
        ["A", "B"][n.idx()].to_string()
    }

    /// An unused link direction costs the engine a pointer for its streams, not their state;
    /// small streams take well under half the memory of full ones.
    #[test]
    fn unopened_streams_take_a_pointer() {
        let word = std::mem::size_of::<usize>();
        assert_eq!(std::mem::size_of::<LinkStreams>(), word);
        assert_eq!(std::mem::size_of::<LinkStreams<SmallStream>>(), word);
        assert!(std::mem::size_of::<(Stream, Stream)>() > 512);
        assert!(std::mem::size_of::<(SmallStream, SmallStream)>() <= 224);
    }

    /// Latency and loss models that draw, one of each kind at least, for tests that compare two
    /// ways of drawing a direction's transits.
    fn drawing_models() -> Vec<(Latency, Loss)> {
        let bernoulli = |p| Loss::Bernoulli {
            p: Probability::new(p),
        };
        vec![
            (Latency::Uniform { min: 1, max: 3 }, Loss::None),
            (Latency::Uniform { min: 1, max: 3 }, bernoulli(0.2)),
            (Latency::Uniform { min: 2, max: 40 }, bernoulli(0.2)),
            (Latency::Fixed { delay: 4 }, bernoulli(0.5)),
            (
                Latency::Normal { mean: 3.0, sd: 2.0 },
                Loss::GilbertElliott {
                    p_good_to_bad: Probability::new(0.1),
                    p_bad_to_good: Probability::new(0.3),
                    loss_good: Probability::new(0.01),
                    loss_bad: Probability::new(0.8),
                },
            ),
            (
                Latency::LogNormal {
                    median: 4.0,
                    sigma: 0.5,
                },
                Loss::None,
            ),
            (Latency::Exponential { mean: 2.5 }, Loss::None),
            (Latency::Exponential { mean: 2.5 }, bernoulli(0.5)),
        ]
    }

    /// A direction with small streams draws exactly what one with full streams draws, whatever
    /// its latency and loss models.
    #[test]
    fn small_streams_give_the_same_transits() {
        for (latency, loss) in drawing_models() {
            let mut full = link(latency.clone(), loss.clone());
            let mut small = Link::new(11, NodeId(0), NodeId(1), latency, loss);
            let mut small_streams: LinkStreams<SmallStream> = None;
            let a: Vec<Transit> = (0..300).map(|_| full.transmit(&names)).collect();
            let b: Vec<Transit> = (0..300)
                .map(|_| small.transmit(&mut small_streams, &names))
                .collect();
            assert_eq!(a, b);
            assert!(small_streams.is_some() && full.1.is_some());
        }
    }

    /// A [`Direction`] draws exactly what its link with full streams draws, whatever the
    /// latency and loss models (Gilbert–Elliott's state kept by the link), and is one cache line.
    #[test]
    fn a_direction_gives_its_links_transits() {
        // With the models that draw, one that draws nothing (its streams are never derived).
        let models = drawing_models()
            .into_iter()
            .chain([(Latency::Fixed { delay: 3 }, Loss::None)]);
        for (latency, loss) in models {
            let mut full = link(latency.clone(), loss.clone());
            let mut of = Link::new(11, NodeId(0), NodeId(1), latency.clone(), loss.clone());
            let mut direction = Direction::new(&of);
            // Past several refills of the streams' four blocks (32 draws each).
            let a: Vec<Transit> = (0..300).map(|_| full.transmit(&names)).collect();
            let b: Vec<Transit> = (0..300)
                .map(|_| direction.transmit(&mut of, &names))
                .collect();
            assert_eq!(a, b, "{latency:?} {loss:?}");
            let draws = of.fixed_delay().is_none();
            assert_eq!(direction.streams.is_some(), draws, "{latency:?} {loss:?}");
        }
        assert_eq!(std::mem::size_of::<Direction>(), 64);
    }

    /// A link direction with its streams, as the engine keeps them.
    struct Probe(Link, LinkStreams);

    impl Probe {
        fn transmit(&mut self, names: &dyn Fn(NodeId) -> String) -> Transit {
            self.0.transmit(&mut self.1, names)
        }
    }

    fn link(latency: Latency, loss: Loss) -> Probe {
        Probe(Link::new(11, NodeId(0), NodeId(1), latency, loss), None)
    }

    fn draws(latency: Latency, n: usize) -> Vec<f64> {
        let mut l = link(latency, Loss::None);
        (0..n).map(|_| l.transmit(&names).latency as f64).collect()
    }

    fn mean_sd(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
        (mean, var.sqrt())
    }

    #[test]
    fn turning_on_loss_does_not_shift_latency_draws() {
        let mut clean = link(Latency::Uniform { min: 1, max: 3 }, Loss::None);
        let mut lossy = link(
            Latency::Uniform { min: 1, max: 3 },
            Loss::Bernoulli {
                p: Probability::new(0.5),
            },
        );
        let a: Vec<Tick> = (0..200).map(|_| clean.transmit(&names).latency).collect();
        let b: Vec<Transit> = (0..200).map(|_| lossy.transmit(&names)).collect();
        assert_eq!(a, b.iter().map(|t| t.latency).collect::<Vec<_>>());
        let lost = b.iter().filter(|t| t.lost).count();
        assert!((60..140).contains(&lost), "{lost}");
        assert!(a.iter().all(|l| (1..=3).contains(l)));
    }

    #[test]
    fn directions_draw_from_different_streams() {
        let wide = Latency::Uniform { min: 1, max: 1000 };
        let mut ab = Probe(
            Link::new(11, NodeId(0), NodeId(1), wide.clone(), Loss::None),
            None,
        );
        let mut ba = Probe(Link::new(11, NodeId(1), NodeId(0), wide, Loss::None), None);
        let x: Vec<Tick> = (0..20).map(|_| ab.transmit(&names).latency).collect();
        let y: Vec<Tick> = (0..20).map(|_| ba.transmit(&names).latency).collect();
        assert_ne!(x, y);
    }

    #[test]
    fn uniform_latency_has_its_mean() {
        let (m, _) = mean_sd(&draws(Latency::Uniform { min: 2, max: 10 }, 40_000));
        assert!((m - 6.0).abs() < 0.05, "{m}");
    }

    #[test]
    fn normal_latency_has_its_mean_and_spread_and_is_at_least_one() {
        let xs = draws(
            Latency::Normal {
                mean: 50.0,
                sd: 10.0,
            },
            40_000,
        );
        let (m, sd) = mean_sd(&xs);
        assert!(
            (m - 50.0).abs() < 0.3 && (sd - 10.0).abs() < 0.3,
            "{m} {sd}"
        );
        let low = draws(Latency::Normal { mean: 1.0, sd: 3.0 }, 5_000);
        assert!(low.iter().all(|&x| x >= 1.0));
    }

    #[test]
    fn exponential_latency_has_its_mean() {
        let xs = draws(Latency::Exponential { mean: 20.0 }, 40_000);
        let (m, sd) = mean_sd(&xs);
        assert!(
            (m - 20.0).abs() < 0.4 && (sd - 20.0).abs() < 0.6,
            "{m} {sd}"
        );
    }

    #[test]
    fn lognormal_latency_has_its_median_and_mean() {
        let mut xs = draws(
            Latency::LogNormal {
                median: 30.0,
                sigma: 0.5,
            },
            40_000,
        );
        xs.sort_by(f64::total_cmp);
        let median = xs[xs.len() / 2];
        assert!((29.0..=31.0).contains(&median), "{median}");
        // Mean of a log-normal: median * exp(sigma^2 / 2) = 30 * 1.133 = 34.0.
        let (m, _) = mean_sd(&xs);
        assert!((m - 34.0).abs() < 0.5, "{m}");
    }

    #[test]
    fn gilbert_elliott_loses_in_bursts_of_the_stated_length() {
        let ge = Loss::GilbertElliott {
            p_good_to_bad: Probability::new(0.02),
            p_bad_to_good: Probability::new(0.25),
            loss_good: Probability::new(0.0),
            loss_bad: Probability::new(1.0),
        };
        let mut l = link(Latency::Fixed { delay: 1 }, ge);
        let lost: Vec<bool> = (0..200_000).map(|_| l.transmit(&names).lost).collect();
        // Runs of losses are the bad-state sojourns: geometric with mean 1 / 0.25 = 4 packets.
        let mut runs = vec![];
        let mut run = 0;
        for &x in &lost {
            if x {
                run += 1;
            } else if run > 0 {
                runs.push(run as f64);
                run = 0;
            }
        }
        let (mean_run, _) = mean_sd(&runs);
        assert!((mean_run - 4.0).abs() < 0.2, "{mean_run}");
        // Stationary loss rate: 0.02 / (0.02 + 0.25) = 0.074.
        let rate = lost.iter().filter(|&&x| x).count() as f64 / lost.len() as f64;
        assert!((rate - 0.074).abs() < 0.006, "{rate}");
    }
}
