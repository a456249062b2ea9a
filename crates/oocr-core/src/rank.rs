//! Rank of a true answer among scored candidates, ties counted half.

/// Relative tolerance under which two scores count as tied.
pub const TIE_RTOL: f64 = 1e-9;

/// 0-indexed rank of `scores[truth]` among `scores` (higher is better), ties counted half.
///
/// Two scores tie when they differ by at most `TIE_RTOL * max(1, |score|)`, so that
/// floating-point summation order does not break ties that are exact in exact arithmetic.
/// A uniform score over `k` candidates ranks `(k - 1) / 2`.
pub fn rank_with_ties(scores: &[f64], truth: usize) -> f64 {
    let t = scores[truth];
    let tol = TIE_RTOL * t.abs().max(1.0);
    let mut rank = 0.0;
    for (i, &s) in scores.iter().enumerate() {
        if i == truth {
            continue;
        }
        if (s - t).abs() <= tol {
            rank += 0.5;
        } else if s > t {
            rank += 1.0;
        }
    }
    rank
}

/// Mean of `rank_with_ties` over several (scores, truth) items; NaN when empty.
pub fn mean_rank<'a>(items: impl IntoIterator<Item = (&'a [f64], usize)>) -> f64 {
    let (mut sum, mut count) = (0.0, 0usize);
    for (scores, truth) in items {
        sum += rank_with_ties(scores, truth);
        count += 1;
    }
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_with_ties() {
        assert_eq!(rank_with_ties(&[3.0, 2.0, 1.0], 0), 0.0);
        assert_eq!(rank_with_ties(&[3.0, 2.0, 1.0], 2), 2.0);
        assert_eq!(rank_with_ties(&[1.0, 1.0, 1.0, 1.0], 1), 1.5);
        assert_eq!(rank_with_ties(&[5.0, 1.0, 1.0, 0.0], 1), 1.5);
        let uniform = vec![0.25; 20];
        assert_eq!(rank_with_ties(&uniform, 7), 9.5);
    }

    #[test]
    fn mean_rank_averages() {
        let a = [1.0, 0.0];
        let b = [0.0, 1.0];
        assert_eq!(mean_rank([(&a[..], 0), (&b[..], 0)]), 0.5);
        assert!(mean_rank(std::iter::empty::<(&[f64], usize)>()).is_nan());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::testutil::fixed;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(fixed(512))]

        /// On scores drawn from a few levels (so ties are common): the rank is the number of
        /// strictly better scores plus half the tied ones, within [0, k − 1], and does not depend
        /// on the order of the candidates.
        #[test]
        fn rank_counts_better_and_half_the_ties(
            levels in prop::collection::vec(0u8..5, 1..20),
            scale in prop_oneof![Just(1.0), 1e-3f64..1e6],
            truth_pick in any::<prop::sample::Index>(),
            rotate in 0usize..20,
        ) {
            let scores: Vec<f64> = levels.iter().map(|&l| f64::from(l) * scale).collect();
            let truth = truth_pick.index(scores.len());
            let t = scores[truth];
            let better = scores.iter().filter(|&&s| s > t).count() as f64;
            let ties = scores.iter().filter(|&&s| s == t).count() as f64 - 1.0;
            let r = rank_with_ties(&scores, truth);
            prop_assert_eq!(r, better + 0.5 * ties);
            prop_assert!((0.0..=(scores.len() - 1) as f64).contains(&r));
            let k = rotate % scores.len();
            let mut rotated = scores.clone();
            rotated.rotate_left(k);
            let new_truth = (truth + scores.len() - k) % scores.len();
            prop_assert_eq!(rank_with_ties(&rotated, new_truth), r);
        }

        /// Ties within the relative tolerance count half, whatever the summation order did.
        #[test]
        fn near_ties_count_half(x in -1e6f64..1e6, k in 2usize..10) {
            let eps = TIE_RTOL * x.abs().max(1.0) * 0.5;
            let mut scores = vec![x; k];
            scores[1] = x + eps;
            prop_assert_eq!(rank_with_ties(&scores, 0), 0.5 * (k - 1) as f64);
        }
    }
}
