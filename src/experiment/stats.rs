//! Statistics of replications: mean, sample standard deviation, and the 95% Student-t
//! confidence interval of the mean.

/// Two-sided 95% quantiles of Student's t, `t(0.975, df)` for df = 1..=30.
const T975: [f64; 30] = [
    12.706_204_736,
    4.302_652_730,
    3.182_446_305,
    2.776_445_105,
    2.570_581_836,
    2.446_911_851,
    2.364_624_252,
    2.306_004_135,
    2.262_157_163,
    2.228_138_852,
    2.200_985_160,
    2.178_812_830,
    2.160_368_656,
    2.144_786_688,
    2.131_449_546,
    2.119_905_299,
    2.109_815_578,
    2.100_922_040,
    2.093_024_054,
    2.085_963_447,
    2.079_613_845,
    2.073_873_068,
    2.068_657_610,
    2.063_898_562,
    2.059_538_553,
    2.055_529_439,
    2.051_830_516,
    2.048_407_142,
    2.045_229_642,
    2.042_272_456,
];

/// `t(0.975, df)`: exact table values up to 30 degrees of freedom, then the Cornish–Fisher
/// expansion around the normal quantile (error below 1e-5 for df > 30).
pub fn t975(df: u64) -> f64 {
    if df == 0 {
        return f64::NAN;
    }
    if df <= 30 {
        return T975[df as usize - 1];
    }
    let z: f64 = 1.959_963_985;
    let d = df as f64;
    let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
    z + (z3 + z) / (4.0 * d)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * d * d)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * d * d * d)
}

/// Summary statistics of a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Sample size.
    pub n: u64,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator); NaN when n < 2.
    pub sd: f64,
    /// Lower end of the 95% confidence interval of the mean; NaN when n < 2.
    pub ci_low: f64,
    /// Upper end.
    pub ci_high: f64,
}

/// The statistics of `xs` (in the order given; the sums are sequential, so the result is the
/// same for the same order).
pub fn stats(xs: &[f64]) -> Option<Stats> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Some(Stats {
            n: 1,
            mean,
            sd: f64::NAN,
            ci_low: f64::NAN,
            ci_high: f64::NAN,
        });
    }
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
    let sd = var.sqrt();
    let half = t975(n as u64 - 1) * sd / (n as f64).sqrt();
    Some(Stats {
        n: n as u64,
        mean,
        sd,
        ci_low: mean - half,
        ci_high: mean + half,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables() {
        for (df, t) in [
            (1, 12.706),
            (2, 4.303),
            (5, 2.571),
            (10, 2.228),
            (19, 2.093),
            (30, 2.042),
            (40, 2.021),
            (60, 2.000),
            (120, 1.980),
            (1000, 1.962),
        ] {
            assert!(
                (t975(df) - t).abs() < 0.0015,
                "df {df}: {} vs {t}",
                t975(df)
            );
        }
    }

    #[test]
    fn confidence_interval_of_a_known_sample() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample sd 2.138, t(7) = 2.365, half-width 1.788.
        let s = stats(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(s.n, 8);
        assert!((s.mean - 5.0).abs() < 1e-12);
        assert!((s.sd - 2.138_089_935).abs() < 1e-6);
        assert!(
            (s.ci_low - 3.212_5).abs() < 1e-3 && (s.ci_high - 6.787_5).abs() < 1e-3,
            "{s:?}"
        );
        let one = stats(&[3.0]).unwrap();
        assert_eq!(one.mean, 3.0);
        assert!(one.sd.is_nan() && one.ci_low.is_nan());
        assert!(stats(&[]).is_none());
    }
}
