//! Test helpers: the proptest configuration shared by the property tests and the bounded fuzz
//! runs (a fixed case count and seed, so every run checks the same cases and a failure replays;
//! no regression files written into the source tree).

use proptest::test_runner::{Config, RngSeed};

/// `cases` cases from a fixed seed, no persistence of failures.
pub fn fixed(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x6f6f_6372),
        failure_persistence: None,
        ..Config::default()
    }
}
