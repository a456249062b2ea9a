//! Closed forms of the paper's Sec. 4.1 (Huang et al. 2025) for the max-margin programs.
//!
//! On a test implication (s, r2, c_i) the margin of the SVM solution against another implication
//! c_j is predicted to be min{√(m_train / m_test), 1} for the nuclear norm (so out-of-context
//! reasoning needs only *some* training subjects) and exactly 0 for the Frobenius norm (the
//! test-implication block is never touched). `oocr svm` prints this beside the solver's value and
//! the tests compare the two over many task sizes.

use crate::svm::Norm;

/// The predicted test-vs-implications margin of the `norm` SVM solution, or `None` where it is
/// undefined (no test subject, or a single pair so no other implication to compare with).
pub fn test_margin(norm: Norm, n: usize, m_train: usize, m_test: usize) -> Option<f64> {
    if m_test == 0 || n < 2 {
        return None;
    }
    Some(match norm {
        Norm::Nuclear => (m_train as f64 / m_test as f64).sqrt().min(1.0),
        Norm::Frobenius => 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(
            test_margin(Norm::Nuclear, 20, 1, 3),
            Some((1.0f64 / 3.0).sqrt())
        );
        assert_eq!(test_margin(Norm::Nuclear, 20, 4, 1), Some(1.0));
        assert_eq!(test_margin(Norm::Nuclear, 20, 0, 3), Some(0.0));
        assert_eq!(test_margin(Norm::Frobenius, 20, 1, 3), Some(0.0));
        assert_eq!(test_margin(Norm::Nuclear, 20, 1, 0), None);
        assert_eq!(test_margin(Norm::Nuclear, 1, 1, 3), None);
    }
}
