//! `oocr svm`: solve the nuclear- or Frobenius-norm max-margin program of a task, with a
//! certificate, and write FILE.json plus the solution matrix as FILE.safetensors.

use crate::config_args::ConfigArgs;
use anyhow::{bail, Context, Result};
use oocr_core::run::write_atomic;
use oocr_core::svm::{self, Method, Norm, SolveOptions};
use oocr_core::{theory, Task};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Which norm to minimize.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum NormArg {
    /// Nuclear norm: the limit direction of the factorized W_O W_Vᵀ.
    Nuclear,
    /// Frobenius norm: the limit direction of the merged W_OV.
    Frobenius,
}

/// Which solver to use.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum MethodArg {
    /// The exact reduced solver (symmetry + SOCP + Newton polish), for both norms.
    Auto,
    /// Same as auto.
    Reduced,
    /// ADMM with singular-value thresholding on the full matrix (nuclear; no symmetry assumed).
    Admm,
    /// Dual coordinate ascent on the full program (frobenius; no symmetry assumed).
    DualCd,
    /// Interior-point SDP via Clarabel (nuclear, small tasks; needs a build with `--features sdp`).
    Sdp,
}

/// Arguments of `oocr svm`.
#[derive(clap::Args, Debug)]
pub struct SvmArgs {
    #[command(flatten)]
    /// The config whose [task] defines the program (model and train sections are ignored).
    pub config: ConfigArgs,
    /// The norm to minimize.
    #[arg(long, value_enum)]
    pub norm: NormArg,
    /// Output JSON file; the solution matrix goes beside it with the extension `.safetensors`.
    #[arg(long, value_name = "FILE.json")]
    pub out: PathBuf,
    /// The solver.
    #[arg(long, value_enum, default_value = "auto")]
    pub method: MethodArg,
    /// Target certified relative duality gap: the stopping rule of admm, dual-cd and sdp; with
    /// every method the status is `optimal` when the certified gap reaches it.
    #[arg(long, default_value_t = 1e-8)]
    pub tol: f64,
    /// Iteration cap of the first-order methods (admm, dual-cd; default 200000). The exact
    /// methods (auto, reduced, sdp) have no such cap: giving it with them is an error.
    #[arg(long)]
    pub max_iter: Option<usize>,
    /// Overwrite FILE.json and FILE.safetensors if they exist.
    #[arg(long)]
    pub force: bool,
}

/// The JSON written to `--out`.
#[derive(Serialize)]
struct Report<'a> {
    norm: &'static str,
    objective: f64,
    status: svm::Status,
    iterations: usize,
    solve_s: f64,
    margin_train_min: f64,
    margin_test_vs_implications_min: Option<f64>,
    margin_test_vs_facts_min: Option<f64>,
    closed_form_test_margin: Option<f64>,
    certificate: svm::certificate::Certificate,
    method: &'static str,
    detail: &'a str,
    n: usize,
    m_train: usize,
    m_test: usize,
    n_constraints: usize,
    solution_file: String,
    solution_shape: [usize; 2],
    solution_layout: &'static str,
}

/// Runs `oocr svm`.
pub fn run(args: SvmArgs) -> Result<()> {
    let cfg = args.config.resolve()?;
    if !(args.tol > 0.0 && args.tol.is_finite()) {
        bail!("--tol must be a positive number, got {}", args.tol);
    }
    if args.out.extension().and_then(|e| e.to_str()) != Some("json") {
        bail!("--out must name a .json file, got {}", args.out.display());
    }
    let st_path = args.out.with_extension("safetensors");
    if !args.force {
        for p in [&args.out, &st_path] {
            if p.exists() {
                bail!(
                    "--out {}: {} exists (use --force to overwrite)",
                    args.out.display(),
                    p.display()
                );
            }
        }
    }
    let max_iter = match (args.method, args.max_iter) {
        (_, Some(0)) => bail!("--max-iter must be at least 1"),
        (MethodArg::Admm | MethodArg::DualCd, m) => m.unwrap_or(200_000),
        (m, Some(_)) => bail!(
            "--max-iter applies to the first-order methods (admm, dual-cd), not --method {}",
            clap::ValueEnum::to_possible_value(&m)
                .map(|v| v.get_name().to_string())
                .unwrap_or_default()
        ),
        (_, None) => 200_000,
    };
    let norm = match args.norm {
        NormArg::Nuclear => Norm::Nuclear,
        NormArg::Frobenius => Norm::Frobenius,
    };
    let method = match args.method {
        MethodArg::Auto => Method::Auto,
        MethodArg::Reduced => Method::Reduced,
        MethodArg::Admm => Method::Admm,
        MethodArg::DualCd => Method::DualCd,
        MethodArg::Sdp => Method::Sdp,
    };
    let task = Task::new(&cfg.task, cfg.train.seed);
    let opts = SolveOptions {
        method,
        tol: args.tol,
        max_iter,
    };
    let sol = svm::solve(&task, norm, &opts)
        .with_context(|| format!("solving the {} program", norm.name()))?;
    let mg = svm::margins(&task, sol.w.as_ref());
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let (t, c) = (&cfg.task, &sol.certificate);
    let report = Report {
        norm: norm.name(),
        objective: sol.objective,
        status: sol.status,
        iterations: sol.iterations,
        solve_s: sol.solve_s,
        margin_train_min: mg.train_min,
        margin_test_vs_implications_min: mg.test_vs_implications_min,
        margin_test_vs_facts_min: mg.test_vs_facts_min,
        closed_form_test_margin: theory::test_margin(norm, t.n, t.m_train, t.m_test),
        certificate: *c,
        method: sol.method.name(),
        detail: &sol.detail,
        n: t.n,
        m_train: t.m_train,
        m_test: t.m_test,
        n_constraints: svm::constraints::Constraints::train(&task).len(),
        solution_file: st_path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        solution_shape: [sol.w.nrows(), sol.w.ncols()],
        solution_layout:
            "rows: answers b_1..b_n, c_1..c_n; cols: token ids 0..=r2 (subjects, r1, r2)",
    };
    write_safetensors(&st_path, &sol, &task)?;
    let text = serde_json::to_string_pretty(&report)? + "\n";
    write_atomic(&args.out, text.as_bytes())?;
    crate::say(&format!(
        "{} SVM: objective {:.10} ({:?}, certified rel gap {:.1e}, {} iterations, {:.3} s)\n\
         margins: train min {:.6}, test vs implications {}, test vs facts {}; closed form {}\n\
         wrote {} and {}",
        norm.name(),
        sol.objective,
        sol.status,
        c.rel_gap,
        sol.iterations,
        sol.solve_s,
        mg.train_min,
        fmt_opt(mg.test_vs_implications_min),
        fmt_opt(mg.test_vs_facts_min),
        fmt_opt(report.closed_form_test_margin),
        args.out.display(),
        st_path.display()
    ));
    Ok(())
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{v:.10}"))
}

/// The solution as one f64 tensor `w` (rows × cols, row-major) with the token names as metadata.
fn write_safetensors(path: &Path, sol: &svm::Solution, task: &Task) -> Result<()> {
    use safetensors::tensor::{Dtype, TensorView};
    let (r, c) = (sol.w.nrows(), sol.w.ncols());
    let mut bytes = Vec::with_capacity(r * c * 8);
    for i in 0..r {
        for j in 0..c {
            bytes.extend_from_slice(&sol.w[(i, j)].to_le_bytes());
        }
    }
    let view = TensorView::new(Dtype::F64, vec![r, c], &bytes)
        .map_err(|e| anyhow::anyhow!("safetensors: {e}"))?;
    let rows: Vec<String> = task.answers().map(|a| task.token_name(a)).collect();
    let cols: Vec<String> = (0..c).map(|z| task.token_name(z)).collect();
    let meta = HashMap::from([
        ("norm".to_string(), sol.norm.name().to_string()),
        ("objective".to_string(), format!("{:e}", sol.objective)),
        ("rows".to_string(), serde_json::to_string(&rows)?),
        ("cols".to_string(), serde_json::to_string(&cols)?),
    ]);
    let bytes = safetensors::serialize([("w", view)], Some(meta))
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    write_atomic(path, &bytes)?;
    Ok(())
}
