//! The paper's claims (Sec. 3–4) as measurable checks: each has an id, the statement, the
//! threshold it is held to, the measured value and whether it passes.

use serde::Serialize;

/// One checked claim, as written to `claims.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Claim {
    /// Stable identifier (e.g. `factorized_generalizes`).
    pub id: String,
    /// What the paper claims.
    pub claim: String,
    /// The test applied to the measurement.
    pub threshold: String,
    /// The measured value(s), human-readable.
    pub measured: String,
    /// Whether the measurement meets the threshold.
    pub pass: bool,
}

impl Claim {
    /// A claim with its verdict.
    pub fn new(id: &str, claim: &str, threshold: &str, measured: String, pass: bool) -> Self {
        Claim {
            id: id.into(),
            claim: claim.into(),
            threshold: threshold.into(),
            measured,
            pass,
        }
    }
}

/// The ids every reproduction must report.
pub const REQUIRED_IDS: [&str; 10] = [
    "factorized_generalizes",
    "nonfactorized_fails",
    "nonfactorized_zero_test_block",
    "dh4_generalizes",
    "dh3_fails",
    "nuclear_margin_closed_form",
    "frobenius_margin_zero",
    "theorem2_bound",
    "gd_aligns_nuclear",
    "gd_aligns_frobenius",
];

/// The claims as a plain-text table (what `oocr reproduce` prints last).
pub fn table(claims: &[Claim]) -> String {
    let w = claims.iter().map(|c| c.id.len()).max().unwrap_or(2).max(2);
    let mut s = format!("{:<w$}  {:<4}  measured  [threshold]\n", "id", "pass");
    for c in claims {
        s.push_str(&format!(
            "{:<w$}  {:<4}  {}  [{}]\n",
            c.id,
            if c.pass { "PASS" } else { "FAIL" },
            c.measured,
            c.threshold
        ));
    }
    let passed = claims.iter().filter(|c| c.pass).count();
    s.push_str(&format!("{passed}/{} claims pass\n", claims.len()));
    s
}

/// Formats a number compactly for tables (4 significant digits, scientific when tiny or huge).
pub fn num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !v.is_finite() {
        format!("{v}")
    } else if !(1e-3..1e4).contains(&a) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_counts_passes() {
        let c = vec![
            Claim::new("a", "x", "≤ 1", "0.5".into(), true),
            Claim::new("bb", "y", "≥ 1", "0.5".into(), false),
        ];
        let t = table(&c);
        assert!(t.contains("a   PASS  0.5  [≤ 1]"));
        assert!(t.contains("bb  FAIL"));
        assert!(t.ends_with("1/2 claims pass\n"));
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1.5e-9), "1.500e-9");
        assert_eq!(num(0.25), "0.2500");
    }
}
