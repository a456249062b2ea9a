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
