//! Solve time of the max-margin programs: exact reduced solver over growing n, and the general
//! first-order solvers at small sizes. `cargo bench -p oocr-core --bench svm`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use oocr_core::config::TaskConfig;
use oocr_core::svm::{solve, Method, Norm, SolveOptions};
use oocr_core::Task;
use std::time::Duration;

fn task(n: usize, m_train: usize, m_test: usize) -> Task {
    Task::new(
        &TaskConfig {
            n,
            m_train,
            m_test,
            ..TaskConfig::default()
        },
        0,
    )
}

fn reduced(c: &mut Criterion) {
    let mut g = c.benchmark_group("svm_reduced");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for n in [20, 50, 100] {
        let t = task(n, 1, 3);
        for norm in [Norm::Nuclear, Norm::Frobenius] {
            g.bench_with_input(BenchmarkId::new(norm.name(), n), &t, |b, t| {
                b.iter(|| solve(t, norm, &SolveOptions::default()).unwrap())
            });
        }
    }
    g.finish();
}

fn general(c: &mut Criterion) {
    let mut g = c.benchmark_group("svm_general");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let t = task(20, 1, 3);
    let admm = SolveOptions {
        method: Method::Admm,
        tol: 1e-6,
        ..SolveOptions::default()
    };
    g.bench_function("nuclear_admm/20", |b| {
        b.iter(|| solve(&t, Norm::Nuclear, &admm).unwrap())
    });
    let cd = SolveOptions {
        method: Method::DualCd,
        tol: 1e-8,
        ..SolveOptions::default()
    };
    g.bench_function("frobenius_dual_cd/20", |b| {
        b.iter(|| solve(&t, Norm::Frobenius, &cd).unwrap())
    });
    g.finish();
}

criterion_group!(benches, reduced, general);
criterion_main!(benches);
