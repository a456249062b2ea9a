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
    let k = (x * LOG2E + SHIFTER) - SHIFTER;
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
    let bits = ((k as i64 + 1023) as u64) << 52;
    p * f64::from_bits(bits)
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
}
