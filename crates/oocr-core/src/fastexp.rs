//! A branch-free `exp` that the compiler vectorizes; accurate to a few ulp on the range softmax uses.

/// e^x for x ≤ 0, relative error below 4e-16 on [−708, 0]; x below −708 is clamped to −708
/// (e^−708 ≈ 3e−308, negligible next to the e^0 = 1 term of a max-shifted softmax).
///
/// Cody–Waite range reduction x = k ln2 + r, |r| ≤ ln2/2, a degree-13 Taylor polynomial for e^r,
/// and 2^k assembled from its exponent bits.
#[inline(always)]
pub fn exp_nonpos(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    // fdlibm's split of ln 2: LN2_HI has trailing zero bits so k·LN2_HI is exact.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    let x = x.max(-708.0);
    // Round to nearest by adding and subtracting 1.5·2^52 (no libm call, vectorizes).
    const SHIFTER: f64 = 6_755_399_441_055_744.0;
    let t = x * LOG2E + SHIFTER;
    let k = t - SHIFTER;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // Horner form of Σ_{i≤13} r^i / i!.
    let mut p = 1.0 / 6_227_020_800.0;
    p = p * r + 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // t = 1.5·2^52 + k exactly, so its low mantissa bits hold 2^51 + k; adding the bias and
    // shifting drops everything above the 11 exponent bits (k + 1023 ∈ [1, 1023]). Integer adds and
    // shifts vectorize, unlike a saturating `k as i64`.
    let bits = t.to_bits().wrapping_add(1023) << 52;
    p * f64::from_bits(bits)
}

/// Replaces each x of `xs` by e^(x − shift) (every x − shift must be ≤ 0) and returns their sum.
///
/// The sum runs in 4 interleaved lanes, a fixed order, so the result is the same bits whether the
/// AVX2 or the baseline version runs (no fused multiply-add is used by either).
pub fn exp_shifted_sum(xs: &mut [f64], shift: f64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { exp_shifted_sum_avx2(xs, shift) };
        }
    }
    exp_shifted_sum_body(xs, shift)
}

/// [`exp_shifted_sum`] compiled for AVX2 (4 doubles per vector instead of 2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exp_shifted_sum_avx2(xs: &mut [f64], shift: f64) -> f64 {
    exp_shifted_sum_body(xs, shift)
}

#[inline(always)]
fn exp_shifted_sum_body(xs: &mut [f64], shift: f64) -> f64 {
    for x in xs.iter_mut() {
        *x = exp_nonpos(*x - shift);
    }
    let mut acc = [0.0f64; 4];
    let mut chunks = xs.chunks_exact(4);
    for c in &mut chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    let tail: f64 = chunks.remainder().iter().sum();
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_std_exp() {
        let mut worst: f64 = 0.0;
        for i in 0..200_000 {
            let x = -708.0 * (i as f64 / 200_000.0).powi(3);
            let (a, b) = (exp_nonpos(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
        }
        assert!(worst < 4e-16, "worst relative error {worst:e}");
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert!(exp_nonpos(-1000.0) < 1e-300);
    }

    #[test]
    fn shifted_sum_matches_std_and_both_versions_agree() {
        for n in [0, 1, 3, 4, 5, 40, 83] {
            let xs: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 20.0).collect();
            let max = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mut a = xs.clone();
            let sum = exp_shifted_sum(&mut a, max);
            let mut b = xs.clone();
            let sum_body = exp_shifted_sum_body(&mut b, max);
            assert_eq!(sum.to_bits(), sum_body.to_bits(), "n = {n}");
            assert_eq!(a, b);
            let reference: f64 = xs.iter().map(|x| (x - max).exp()).sum();
            assert!(
                (sum - reference).abs() <= 1e-15 * reference.max(1.0),
                "n = {n}"
            );
            for (x, e) in xs.iter().zip(&a) {
                assert!((e - (x - max).exp()).abs() <= 4e-16 * e);
            }
        }
    }
}
