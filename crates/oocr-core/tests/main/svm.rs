//! End-to-end checks of the max-margin solvers: certificates, the paper-size numbers of the paper's Sec. 4,
//! the closed form over many task sizes, and agreement between independent methods.

use oocr_core::config::TaskConfig;
use oocr_core::metrics::cosine;
use oocr_core::svm::{margins, solve, Method, Norm, SolveOptions, Status};
use oocr_core::{theory, Task};

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

fn opts(method: Method, tol: f64) -> SolveOptions {
    SolveOptions {
        method,
        tol,
        ..SolveOptions::default()
    }
}

#[test]
fn paper_size_nuclear_margin_is_sqrt_one_third_and_admm_agrees() {
    let t = task(20, 1, 3);
    let exact = solve(&t, Norm::Nuclear, &SolveOptions::default()).unwrap();
    assert_eq!(exact.status, Status::Optimal);
    assert!(
        exact.certificate.rel_gap.abs() < 1e-10,
        "{:?}",
        exact.certificate
    );
    let mg = margins(&t, exact.w.as_ref());
    assert!((mg.train_min - 1.0).abs() < 1e-12);
    let m = mg.test_vs_implications_min.unwrap();
    assert!((m - (1.0f64 / 3.0).sqrt()).abs() < 1e-9, "test margin {m}");
    // An independent solver (ADMM on the full 40 × 82 matrix, no symmetry) certifies the same value.
    let admm = solve(&t, Norm::Nuclear, &opts(Method::Admm, 3e-7)).unwrap();
    assert_eq!(admm.status, Status::Optimal, "{}", admm.detail);
    let rel = (admm.objective - exact.objective).abs() / exact.objective;
    assert!(
        rel < 1e-6,
        "ADMM {} vs reduced {}",
        admm.objective,
        exact.objective
    );
    // Both certificates bracket the optimum: each one's dual bound is below the other's primal.
    assert!(admm.certificate.dual <= exact.objective * (1.0 + 1e-12));
    assert!(exact.certificate.dual <= admm.objective * (1.0 + 1e-12));
    // The solution is unique in direction as far as the two methods can tell.
    assert!(cosine(admm.w.as_ref(), exact.w.as_ref()) > 0.9999);
}

#[test]
fn paper_size_frobenius_leaves_the_test_block_at_zero_and_dual_cd_agrees() {
    let t = task(20, 1, 3);
    let exact = solve(&t, Norm::Frobenius, &SolveOptions::default()).unwrap();
    assert_eq!(exact.status, Status::Optimal);
    let m = margins(&t, exact.w.as_ref())
        .test_vs_implications_min
        .unwrap();
    assert!(m.abs() < 1e-8, "Frobenius test margin {m}");
    let cd = solve(&t, Norm::Frobenius, &opts(Method::DualCd, 1e-7)).unwrap();
    assert_eq!(cd.status, Status::Optimal, "{}", cd.detail);
    let rel = (cd.objective - exact.objective).abs() / exact.objective;
    assert!(
        rel < 1e-6,
        "dual CD {} vs reduced {}",
        cd.objective,
        exact.objective
    );
    assert!(cosine(cd.w.as_ref(), exact.w.as_ref()) > 1.0 - 1e-6);
}

#[test]
fn closed_form_holds_over_many_sizes() {
    let mut checked = 0;
    for n in [2, 3, 5, 8] {
        for m_train in 0..=4 {
            for m_test in 1..=4 {
                let t = task(n, m_train, m_test);
                for norm in [Norm::Nuclear, Norm::Frobenius] {
                    let s = solve(&t, norm, &SolveOptions::default()).unwrap();
                    assert_eq!(
                        s.status,
                        Status::Optimal,
                        "{n} {m_train} {m_test} {norm:?}: {}",
                        s.detail
                    );
                    let got = margins(&t, s.w.as_ref()).test_vs_implications_min.unwrap();
                    let want = theory::test_margin(norm, n, m_train, m_test).unwrap();
                    assert!(
                        (got - want).abs() < 1e-8,
                        "n={n} m_train={m_train} m_test={m_test} {norm:?}: solver {got}, closed form {want}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 4 * 5 * 4 * 2);
}

#[test]
fn admm_matches_the_reduced_solver_on_small_tasks() {
    for (n, m_train, m_test) in [(3, 1, 2), (4, 2, 1), (2, 3, 3), (5, 0, 2)] {
        let t = task(n, m_train, m_test);
        let exact = solve(&t, Norm::Nuclear, &SolveOptions::default()).unwrap();
        let admm = solve(&t, Norm::Nuclear, &opts(Method::Admm, 1e-7)).unwrap();
        assert_eq!(admm.status, Status::Optimal, "{}", admm.detail);
        let rel = (admm.objective - exact.objective).abs() / exact.objective;
        assert!(
            rel < 2e-7,
            "({n},{m_train},{m_test}): ADMM {} vs reduced {}",
            admm.objective,
            exact.objective
        );
    }
}

#[test]
fn dual_cd_matches_the_reduced_solver_on_small_tasks() {
    for (n, m_train, m_test) in [(3, 1, 2), (4, 2, 1), (1, 1, 1)] {
        let t = task(n, m_train, m_test);
        let exact = solve(&t, Norm::Frobenius, &SolveOptions::default()).unwrap();
        let cd = solve(&t, Norm::Frobenius, &opts(Method::DualCd, 1e-9)).unwrap();
        assert_eq!(cd.status, Status::Optimal, "{}", cd.detail);
        assert!((cd.objective - exact.objective).abs() / exact.objective < 1e-8);
    }
}

#[test]
fn a_single_pair_and_no_test_subjects_are_handled() {
    let t = task(1, 2, 1);
    let s = solve(&t, Norm::Nuclear, &SolveOptions::default()).unwrap();
    assert_eq!(s.status, Status::Optimal);
    assert_eq!(margins(&t, s.w.as_ref()).test_vs_implications_min, None);
    let t = task(4, 2, 0);
    let s = solve(&t, Norm::Nuclear, &SolveOptions::default()).unwrap();
    assert_eq!(s.status, Status::Optimal);
    let m = margins(&t, s.w.as_ref());
    assert_eq!(
        (m.test_vs_implications_min, m.test_vs_facts_min),
        (None, None)
    );
}

#[test]
fn methods_that_do_not_fit_the_norm_are_refused() {
    let t = task(2, 1, 1);
    let e = solve(&t, Norm::Frobenius, &opts(Method::Admm, 1e-6)).unwrap_err();
    assert!(e.to_string().contains("admm"), "{e}");
    let e = solve(&t, Norm::Nuclear, &opts(Method::DualCd, 1e-6)).unwrap_err();
    assert!(e.to_string().contains("dual-cd"), "{e}");
}

#[cfg(feature = "sdp")]
#[test]
fn interior_point_sdp_agrees_on_small_tasks() {
    for (n, m_train, m_test) in [(3, 1, 2), (2, 2, 1), (4, 1, 3)] {
        let t = task(n, m_train, m_test);
        let exact = solve(&t, Norm::Nuclear, &SolveOptions::default()).unwrap();
        let sdp = solve(&t, Norm::Nuclear, &opts(Method::Sdp, 1e-7)).unwrap();
        let rel = (sdp.objective - exact.objective).abs() / exact.objective;
        assert!(
            rel < 1e-6,
            "({n},{m_train},{m_test}): SDP {} vs reduced {}",
            sdp.objective,
            exact.objective
        );
        assert!(sdp.certificate.rel_gap < 1e-6, "{:?}", sdp.certificate);
    }
}

#[cfg(not(feature = "sdp"))]
#[test]
fn sdp_without_the_feature_says_how_to_get_it() {
    let e = solve(&task(2, 1, 1), Norm::Nuclear, &opts(Method::Sdp, 1e-6)).unwrap_err();
    assert!(e.to_string().contains("--features sdp"), "{e}");
}
