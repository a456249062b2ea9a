//! Statistics over seeds: the mean of a per-subject measure with a 95% interval from a two-stage
//! bootstrap (seeds with replacement, then test subjects with replacement within each drawn seed),
//! and a one-sided permutation test of "the true implication ranks better than chance" (within
//! each seed, the true answers are shuffled among the test subjects: under the null hypothesis
//! that a subject's scores do not depend on its true implication, every shuffle is as likely).
use oocr_core::rank::rank_with_ties;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Bootstrap resamples of an interval.
pub const RESAMPLES: usize = 2000;
/// Permutations of a test.
pub const PERMUTATIONS: usize = 2000;
/// Seed of the resampling (results are reproducible).
pub const STATS_SEED: u64 = 0x5eed;

/// A mean with its 95% bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Mean over seeds of the per-seed mean.
    pub mean: f64,
    /// 2.5% percentile of the bootstrap distribution.
    pub lo: f64,
    /// 97.5% percentile.
    pub hi: f64,
}

impl Interval {
    /// `1.23 [1.10, 1.35]`.
    pub fn cell(&self) -> String {
        format!("{:.2} [{:.2}, {:.2}]", self.mean, self.lo, self.hi)
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// The `q` quantile (0..=1) of sorted values, linear between order statistics.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos.fract());
    if i + 1 < sorted.len() {
        sorted[i] * (1.0 - f) + sorted[i + 1] * f
    } else {
        sorted[i]
    }
}

/// Mean over seeds of the per-seed mean of `groups[seed]`, with a 95% percentile interval from
/// `resamples` two-stage bootstrap draws. Empty seeds are skipped; no values gives NaN.
pub fn bootstrap_mean(groups: &[Vec<f64>], resamples: usize, seed: u64) -> Interval {
    let groups: Vec<&Vec<f64>> = groups.iter().filter(|g| !g.is_empty()).collect();
    if groups.is_empty() {
        return Interval {
            mean: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
        };
    }
    let point = groups.iter().map(|g| mean(g)).sum::<f64>() / groups.len() as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let s = groups.len();
    let mut stats: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            let mut total = 0.0;
            for _ in 0..s {
                // With one seed there is nothing to resample at the top level.
                let g = if s == 1 {
                    groups[0]
                } else {
                    groups[rng.random_range(0..s)]
                };
                let n = g.len();
                let sum: f64 = (0..n).map(|_| g[rng.random_range(0..n)]).sum();
                total += sum / n as f64;
            }
            total / s as f64
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    Interval {
        mean: point,
        lo: quantile(&stats, 0.025),
        hi: quantile(&stats, 0.975),
    }
}

/// One test subject: its scores of the k implications and the index of the true one.
pub type Subject = (Vec<f64>, usize);

/// Result of the one-sided test of the within-type rank against chance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankTest {
    /// Observed mean (over seeds) within-type rank, ties half.
    pub mean_rank: f64,
    /// Chance level (k − 1)/2.
    pub chance: f64,
    /// One-sided permutation p-value of "ranks better (lower) than chance".
    pub p_value: f64,
}

/// One-sided permutation test: is the mean over seeds of the true implication's mean rank among
/// the k implications lower than when the true implications are shuffled among the test
/// subjects of each seed? `p = (1 + #{shuffles with a mean rank <= observed}) / (1 + permutations)`.
pub fn rank_test(seeds: &[Vec<Subject>], permutations: usize, seed: u64) -> RankTest {
    let seeds: Vec<&Vec<Subject>> = seeds.iter().filter(|s| !s.is_empty()).collect();
    let k = seeds.first().map_or(0, |s| s[0].0.len());
    let chance = k.saturating_sub(1) as f64 / 2.0;
    if seeds.is_empty() {
        return RankTest {
            mean_rank: f64::NAN,
            chance,
            p_value: f64::NAN,
        };
    }
    // ranks[s][i][j]: rank of implication j among subject i's scores.
    let ranks: Vec<Vec<Vec<f64>>> = seeds
        .iter()
        .map(|subs| {
            subs.iter()
                .map(|(sc, _)| (0..sc.len()).map(|j| rank_with_ties(sc, j)).collect())
                .collect()
        })
        .collect();
    let stat = |labels: &[Vec<usize>]| -> f64 {
        let per_seed: f64 = ranks
            .iter()
            .zip(labels)
            .map(|(r, l)| r.iter().zip(l).map(|(ri, &li)| ri[li]).sum::<f64>() / r.len() as f64)
            .sum();
        per_seed / ranks.len() as f64
    };
    let mut labels: Vec<Vec<usize>> = seeds
        .iter()
        .map(|subs| subs.iter().map(|(_, l)| *l).collect())
        .collect();
    let observed = stat(&labels);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut as_low = 0usize;
    for _ in 0..permutations {
        for l in labels.iter_mut() {
            // Fisher–Yates with the seeded generator.
            for i in (1..l.len()).rev() {
                l.swap(i, rng.random_range(0..=i));
            }
        }
        if stat(&labels) <= observed + 1e-12 {
            as_low += 1;
        }
    }
    RankTest {
        mean_rank: observed,
        chance,
        p_value: (1 + as_low) as f64 / (1 + permutations) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr_free::normal;

    /// A standard normal draw (Box–Muller), so the tests need no extra crate.
    mod rand_distr_free {
        use rand::Rng;
        pub fn normal(rng: &mut impl Rng) -> f64 {
            let u: f64 = rng.random::<f64>().max(1e-300);
            let v: f64 = rng.random();
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    #[test]
    fn interval_of_constant_values_is_a_point_and_one_seed_works() {
        let i = bootstrap_mean(&[vec![2.0; 10], vec![2.0; 7]], 200, 1);
        assert_eq!((i.mean, i.lo, i.hi), (2.0, 2.0, 2.0));
        let i = bootstrap_mean(&[vec![0.0, 1.0, 2.0, 3.0, 4.0]], 500, 1);
        assert_eq!(i.mean, 2.0);
        assert!(
            i.lo < 2.0 && i.hi > 2.0 && i.lo >= 0.0 && i.hi <= 4.0,
            "{i:?}"
        );
        assert!(bootstrap_mean(&[], 10, 0).mean.is_nan());
        assert_eq!(
            bootstrap_mean(&[vec![1.0, 3.0]], 300, 9),
            bootstrap_mean(&[vec![1.0, 3.0]], 300, 9),
            "reproducible"
        );
    }

    /// Coverage simulation: 3 seeds of 80 subjects, per-seed offsets (the seed changes names,
    /// split and training) with a spread equal to the within-seed standard error. The 95%
    /// interval should cover the true mean in about 95% of the simulated studies.
    #[test]
    fn interval_covers_the_truth_at_about_its_level() {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let (sims, n, truth, sd) = (400, 80, 1.5, 1.0);
        let seed_sd = sd / (n as f64).sqrt();
        let mut covered = 0;
        for sim in 0..sims {
            let groups: Vec<Vec<f64>> = (0..3)
                .map(|_| {
                    let off = seed_sd * normal(&mut rng);
                    (0..n)
                        .map(|_| truth + off + sd * normal(&mut rng))
                        .collect()
                })
                .collect();
            let i = bootstrap_mean(&groups, 500, sim);
            if i.lo <= truth && truth <= i.hi {
                covered += 1;
            }
        }
        let rate = covered as f64 / sims as f64;
        eprintln!("coverage of the 95% interval over {sims} simulated 3-seed studies: {rate:.3}");
        assert!((0.90..=0.99).contains(&rate), "coverage {rate}");
        // One seed: the plain bootstrap over subjects.
        let mut covered = 0;
        for sim in 0..sims {
            let g: Vec<f64> = (0..n).map(|_| truth + sd * normal(&mut rng)).collect();
            let i = bootstrap_mean(&[g], 500, sim);
            covered += usize::from(i.lo <= truth && truth <= i.hi);
        }
        let rate = covered as f64 / sims as f64;
        eprintln!("coverage with one seed: {rate:.3}");
        assert!((0.90..=0.99).contains(&rate), "coverage {rate}");
    }

    fn study(
        rng: &mut ChaCha8Rng,
        k: usize,
        n: usize,
        seeds: usize,
        link: f64,
        bias: bool,
    ) -> Vec<Vec<Subject>> {
        (0..seeds)
            .map(|_| {
                // A model-wide preference for some implications (independent of the subject).
                let pref: Vec<f64> = (0..k)
                    .map(|_| if bias { 2.0 * normal(rng) } else { 0.0 })
                    .collect();
                (0..n)
                    .map(|i| {
                        let label = i % k;
                        let scores = (0..k)
                            .map(|j| pref[j] + normal(rng) + if j == label { link } else { 0.0 })
                            .collect();
                        (scores, label)
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn test_rejects_chance_only_when_it_should() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // Hand-built: the true implication always scores highest: rank 0, p at its floor.
        let perfect: Vec<Subject> = (0..20)
            .map(|i| {
                let mut s = vec![-5.0; 5];
                s[i % 5] = 0.0;
                (s, i % 5)
            })
            .collect();
        let t = rank_test(&[perfect], 999, 1);
        assert_eq!((t.mean_rank, t.chance), (0.0, 2.0));
        assert!(t.p_value <= 0.002, "{t:?}");
        // Every score tied: rank (k - 1)/2 for everyone, never below chance.
        let tied: Vec<Subject> = (0..20).map(|i| (vec![1.0; 5], i % 5)).collect();
        let t = rank_test(&[tied], 200, 1);
        assert_eq!(t.mean_rank, 2.0);
        assert_eq!(t.p_value, 1.0);
        // A real but modest link over 3 seeds of 80 subjects is detected.
        let t = rank_test(&study(&mut rng, 5, 80, 3, 0.7, true), 500, 2);
        assert!(t.p_value < 0.05 && t.mean_rank < 2.0, "{t:?}");
        // No link, with or without a model-wide preference: rejected in about 5% of studies.
        for bias in [false, true] {
            let sims = 200;
            let rejected = (0..sims)
                .filter(|&s| {
                    rank_test(&study(&mut rng, 5, 40, 2, 0.0, bias), 200, s).p_value < 0.05
                })
                .count();
            let rate = rejected as f64 / sims as f64;
            eprintln!("false rejections at p < 0.05 (bias {bias}): {rate:.3}");
            assert!(rate <= 0.10, "bias {bias}: {rate}");
        }
        // And a link in the wrong direction (the true implication ranked last) is not "learned".
        let t = rank_test(&study(&mut rng, 5, 80, 1, -1.0, false), 300, 3);
        assert!(t.p_value > 0.5, "{t:?}");
    }
}
