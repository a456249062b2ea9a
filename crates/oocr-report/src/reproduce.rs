//! `oocr reproduce`: reruns every experiment of the paper's Sec. 3–4 at its settings (in parallel,
//! one single-threaded run per rayon task), checks the claims, and writes the figures, run folders,
//! CSV data, `claims.json`, `report.md` and a self-contained `report.html`.

use crate::claims::{num, Claim};
use crate::error::{ReportError, Result};
use crate::plots::{self, BlockMark, Group, Heatmap, Mark, Panel, Series};
use crate::report::{self, Block};
use faer::Mat;
use oocr_core::config::Config;
use oocr_core::csv_table::{csv_text, num_cell};
use oocr_core::metrics::SvmReference;
use oocr_core::presets::preset;
use oocr_core::run::{write_atomic, write_json, RunDir};
use oocr_core::svm::{self, Norm, SolveOptions};
use oocr_core::theory;
use oocr_core::train::{train, Observer, Record};
use oocr_core::Task;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to reproduce and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// Output folder (created; existing report files are replaced).
    pub out: PathBuf,
    /// Fewer steps and sweep points: a first look and CI.
    pub quick: bool,
}

/// One training run of the reproduction.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Folder name under `runs/` (also the key in the report).
    pub name: String,
    /// The resolved config.
    pub cfg: Config,
    /// Whether to compare against both SVM solutions at every logged step.
    pub svm: bool,
}

/// A finished run: its records, the final W_OV[A, S ∪ R] and its task.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// What was run.
    pub spec: RunSpec,
    /// The task it trained on.
    pub task: Task,
    /// Every logged record.
    pub records: Vec<Record>,
    /// Final W_OV restricted to answers × (subjects ∪ {r1, r2}).
    pub w: Mat<f64>,
    /// Seconds of training.
    pub elapsed_s: f64,
}

impl RunResult {
    fn last(&self) -> &oocr_core::metrics::Metrics {
        &self.records.last().expect("at least one record").metrics
    }
}

/// The sizes of each experiment for a default or a quick reproduction.
#[derive(Debug, Clone)]
pub struct Scale {
    /// Steps of the non-factorized paper run (paper preset: 20000).
    pub nonfactorized_steps: usize,
    /// d_h values of the width sweep.
    pub dh: Vec<usize>,
    /// Steps of each width-sweep run.
    pub dh_steps: usize,
    /// (m_train, m_test) points of the margin sweep.
    pub margin_points: Vec<(usize, usize)>,
    /// Steps of each margin-sweep GD run.
    pub margin_steps: usize,
    /// Steps of each authors'-code run (preset: 2000).
    pub authors_steps: usize,
}

impl Scale {
    /// The default (paper settings) or quick scale.
    pub fn new(quick: bool) -> Scale {
        if quick {
            Scale {
                nonfactorized_steps: 20000,
                dh: vec![3, 4, 128],
                dh_steps: 6000,
                margin_points: vec![(1, 3), (1, 1), (3, 1)],
                margin_steps: 3000,
                authors_steps: 500,
            }
        } else {
            Scale {
                nonfactorized_steps: 20000,
                dh: vec![3, 4, 8, 16, 32, 64, 128],
                dh_steps: 6000,
                margin_points: vec![
                    (1, 4),
                    (1, 3),
                    (1, 2),
                    (2, 3),
                    (1, 1),
                    (3, 2),
                    (2, 1),
                    (3, 1),
                    (4, 1),
                ],
                margin_steps: 3000,
                authors_steps: 2000,
            }
        }
    }
}

fn config(name: &str, sets: &[String]) -> Result<Config> {
    Ok(preset(name)?.config.with_overrides(sets)?)
}

/// Every run of the reproduction, longest first (so the parallel schedule ends together).
pub fn plan(scale: &Scale) -> Result<Vec<RunSpec>> {
    let mut runs = Vec::new();
    let mut add = |name: String, p: &str, sets: Vec<String>, svm: bool| -> Result<()> {
        runs.push(RunSpec {
            name,
            cfg: config(p, &sets)?,
            svm,
        });
        Ok(())
    };
    add("factorized".into(), "paper-factorized", vec![], true)?;
    add(
        "nonfactorized".into(),
        "paper-nonfactorized",
        vec![format!("train.steps={}", scale.nonfactorized_steps)],
        true,
    )?;
    for &d in &scale.dh {
        add(
            format!("dh-{d}"),
            "paper-factorized",
            vec![
                format!("model.d_h={d}"),
                format!("train.steps={}", scale.dh_steps),
            ],
            false,
        )?;
    }
    for &(a, b) in &scale.margin_points {
        add(
            format!("margin-{a}-{b}"),
            "paper-factorized",
            vec![
                format!("task.m_train={a}"),
                format!("task.m_test={b}"),
                "model.d=0".into(),
                format!("train.steps={}", scale.margin_steps),
            ],
            false,
        )?;
    }
    add(
        "theorem2".into(),
        "theorem2",
        vec!["train.log_every=10".into()],
        false,
    )?;
    for param in ["factorized", "nonfactorized"] {
        add(
            format!("authors-{param}"),
            "authors-main",
            vec![
                format!("model.param={param}"),
                format!("train.steps={}", scale.authors_steps),
                "train.log_every=50".into(),
            ],
            false,
        )?;
    }
    runs.sort_by_key(|r| std::cmp::Reverse(cost(&r.cfg)));
    Ok(runs)
}

/// A rough cost estimate (steps × samples × width) for scheduling.
fn cost(cfg: &Config) -> usize {
    let m = cfg.task.m_train + cfg.task.m_test;
    let width = cfg
        .model
        .dim(cfg.task.vocab_size())
        .max(cfg.task.vocab_size());
    cfg.train.steps * cfg.task.n * (m + 1) * cfg.task.seq_len * width / 100
}

/// Total optimizer steps of a plan (the progress bar's length).
pub fn total_steps(runs: &[RunSpec]) -> u64 {
    runs.iter().map(|r| r.cfg.train.steps as u64).sum()
}

struct Progress<'a> {
    dir: RunDir,
    tick: &'a (dyn Fn(u64) + Sync),
    pending: u64,
}

impl Observer for Progress<'_> {
    fn on_step(&mut self, _step: usize, _loss: f64) {
        self.pending += 1;
        if self.pending == 100 {
            (self.tick)(100);
            self.pending = 0;
        }
    }
    fn on_record(&mut self, record: &Record) -> oocr_core::Result<()> {
        self.dir.append(record)
    }
}

/// The exact SVM reference of a task (both norms, certified).
pub fn svm_reference(task: &Task) -> Result<SvmReference> {
    let opts = SolveOptions::default();
    Ok(SvmReference {
        nuclear: svm::solve(task, Norm::Nuclear, &opts)?.w,
        frobenius: svm::solve(task, Norm::Frobenius, &opts)?.w,
    })
}

/// Runs one spec into `runs/NAME` (config.toml, metrics.jsonl, summary.json).
pub fn run_one(spec: &RunSpec, runs_dir: &Path, tick: &(dyn Fn(u64) + Sync)) -> Result<RunResult> {
    let task = Task::new(&spec.cfg.task, spec.cfg.train.seed);
    let reference = if spec.svm {
        Some(svm_reference(&task)?)
    } else {
        None
    };
    let dir = RunDir::create(&runs_dir.join(&spec.name), &spec.cfg, true)?;
    let mut obs = Progress {
        dir,
        tick,
        pending: 0,
    };
    let outcome = train(&spec.cfg, reference.as_ref(), &mut obs)?;
    tick(obs.pending);
    obs.dir.finish(&spec.cfg, &outcome)?;
    let w = outcome.model.w_answers_context(&outcome.task);
    Ok(RunResult {
        spec: spec.clone(),
        task: outcome.task,
        records: outcome.records,
        w,
        elapsed_s: outcome.elapsed_s,
    })
}

/// Runs the plan in parallel (rayon; each run single-threaded, so results do not depend on the
/// thread count), in plan order.
pub fn run_all(
    runs: &[RunSpec],
    runs_dir: &Path,
    tick: &(dyn Fn(u64) + Sync),
) -> Result<Vec<RunResult>> {
    runs.par_iter()
        .with_max_len(1)
        .map(|spec| run_one(spec, runs_dir, tick))
        .collect()
}

/// What a reproduction produced.
#[derive(Debug, Clone)]
pub struct Reproduction {
    /// The checked claims.
    pub claims: Vec<Claim>,
    /// Every file written at the top of the output folder.
    pub files: Vec<PathBuf>,
    /// Wall-clock seconds in all.
    pub elapsed_s: f64,
}

impl Reproduction {
    /// Whether every claim passes.
    pub fn all_pass(&self) -> bool {
        self.claims.iter().all(|c| c.pass)
    }
}

fn by_name<'a>(res: &'a [RunResult], name: &str) -> &'a RunResult {
    res.iter()
        .find(|r| r.spec.name == name)
        .unwrap_or_else(|| panic!("run `{name}` is in every plan"))
}

/// Runs everything and writes the report into `opts.out`. `tick(k)` is called as k more steps finish
/// (for a progress bar of length [`total_steps`]).
pub fn reproduce(opts: &Options, tick: &(dyn Fn(u64) + Sync)) -> Result<Reproduction> {
    let t0 = Instant::now();
    let scale = Scale::new(opts.quick);
    let runs = plan(&scale)?;
    let out = &opts.out;
    let data = out.join("data");
    for d in [out.clone(), out.join("runs"), data.clone()] {
        std::fs::create_dir_all(&d).map_err(|e| ReportError::io(&d, e))?;
    }
    let results = run_all(&runs, &out.join("runs"), tick)?;
    let train_s = t0.elapsed().as_secs_f64();
    let margins = margin_table(&scale, &results)?;
    let mut claims = Vec::new();
    let mut blocks = Vec::new();
    let mut files = Vec::new();
    build(
        out,
        &scale,
        &results,
        &margins,
        &mut claims,
        &mut blocks,
        &mut files,
    )?;
    let elapsed_s = t0.elapsed().as_secs_f64();
    let failed: Vec<&str> = claims
        .iter()
        .filter(|c| !c.pass)
        .map(|c| c.id.as_str())
        .collect();
    let verdict = if failed.is_empty() {
        format!("All {} claims pass.", claims.len())
    } else {
        format!(
            "{} of {} claims FAIL: {}.",
            failed.len(),
            claims.len(),
            failed.join(", ")
        )
    };
    let mut head = vec![
        Block::Heading(1, "oocr reproduce: out-of-context reasoning in transformers".into()),
        Block::Para(format!(
            "Huang et al., \"Generalization or Hallucination? Understanding Out-of-Context Reasoning in Transformers\" \
             (NeurIPS 2025), Sections 3–4, rerun by `oocr reproduce{}`: {} training runs, {} in all \
             ({} of training on {} threads; the rest is SVM solves, figures and this report). {verdict} \
             `oocr reproduce` exits with a non-zero status when any claim fails.",
            if opts.quick { " --quick" } else { "" },
            results.len(),
            secs(elapsed_s),
            secs(train_s),
            rayon::current_num_threads(),
        )),
        Block::Heading(2, "Claims".into()),
        Block::Table(
            vec!["id".into(), "claim".into(), "threshold".into(), "measured".into(), "pass".into()],
            claims
                .iter()
                .map(|c| {
                    vec![
                        c.id.clone(),
                        c.claim.clone(),
                        c.threshold.clone(),
                        c.measured.clone(),
                        if c.pass { "PASS" } else { "FAIL" }.into(),
                    ]
                })
                .collect(),
        ),
    ];
    head.append(&mut blocks);
    head.push(Block::Heading(2, "Files".into()));
    head.push(Block::Para(
        "`runs/NAME/` holds each run's resolved `config.toml`, `metrics.jsonl` (every logged step) and `summary.json`; \
         `data/` holds the CSV behind each figure (`w_*.csv`: the learned W_OV[answers, subjects ∪ {r1, r2}]); \
         every figure is a PNG and an SVG; `claims.json` lists the claims with id, claim, threshold, measured and pass. \
         Rerun one experiment with `oocr train --config runs/NAME/config.toml --out DIR`."
            .into(),
    ));
    head.push(Block::Table(
        vec![
            "run".into(),
            "steps".into(),
            "time".into(),
            "train loss".into(),
            "test loss".into(),
            "test acc".into(),
        ],
        results
            .iter()
            .map(|r| {
                let m = r.last();
                vec![
                    r.spec.name.clone(),
                    r.spec.cfg.train.steps.to_string(),
                    secs(r.elapsed_s),
                    num(m.train_loss),
                    num(m.test_loss),
                    num(m.test_accuracy),
                ]
            })
            .collect(),
    ));
    let md = out.join("report.md");
    write_atomic(&md, report::markdown(&head).as_bytes())?;
    let html = out.join("report.html");
    let page = report::html(&head, "oocr reproduce", out)?;
    write_atomic(&html, page.as_bytes())?;
    let cj = out.join("claims.json");
    write_json(&cj, &claims)?;
    files.extend([md, html, cj]);
    Ok(Reproduction {
        claims,
        files,
        elapsed_s,
    })
}

fn secs(s: f64) -> String {
    format!("{s:.1} s")
}

/// One point of the margin sweep.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MarginRow {
    /// Training subjects per pair.
    pub m_train: usize,
    /// Test subjects per pair.
    pub m_test: usize,
    /// min{√(m_train/m_test), 1}.
    pub closed_form: f64,
    /// Test-vs-implications margin of the nuclear-norm SVM solution (train margin 1).
    pub svm_nuclear: f64,
    /// Relative duality gap of that solution.
    pub svm_nuclear_gap: f64,
    /// The same for the Frobenius-norm SVM solution.
    pub svm_frobenius: f64,
    /// Relative duality gap of that solution.
    pub svm_frobenius_gap: f64,
    /// The factorized GD model after training, normalized by its train margin.
    pub gd_factorized: f64,
}

fn margin_table(scale: &Scale, results: &[RunResult]) -> Result<Vec<MarginRow>> {
    let opts = SolveOptions::default();
    scale
        .margin_points
        .iter()
        .map(|&(a, b)| {
            let r = by_name(results, &format!("margin-{a}-{b}"));
            let nuc = svm::solve(&r.task, Norm::Nuclear, &opts)?;
            let fro = svm::solve(&r.task, Norm::Frobenius, &opts)?;
            let test = |w: &Mat<f64>| {
                svm::margins(&r.task, w.as_ref())
                    .test_vs_implications_min
                    .unwrap_or(f64::NAN)
            };
            let m = r.last();
            Ok(MarginRow {
                m_train: a,
                m_test: b,
                closed_form: theory::test_margin(Norm::Nuclear, r.task.cfg.n, a, b)
                    .unwrap_or(f64::NAN),
                svm_nuclear: test(&nuc.w),
                svm_nuclear_gap: nuc.certificate.rel_gap,
                svm_frobenius: test(&fro.w),
                svm_frobenius_gap: fro.certificate.rel_gap,
                gd_factorized: m.margin_test_vs_implications_min / m.margin_train_min,
            })
        })
        .collect()
}

/// Writes a CSV of numbers with a header row (the one CSV writer of oocr-core).
fn write_csv(path: &Path, header: &[&str], rows: &[Vec<f64>]) -> Result<()> {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|&v| num_cell(v)).collect())
        .collect();
    write_atomic(path, csv_text(header, &cells).as_bytes()).map_err(Into::into)
}

fn curve(r: &RunResult, f: impl Fn(&oocr_core::metrics::Metrics) -> f64) -> Vec<(f64, f64)> {
    r.records
        .iter()
        .map(|x| (x.step as f64, f(&x.metrics)))
        .collect()
}

/// The test-implication block of W (implication rows × test-subject columns), raw and with each
/// column's mean over the implication rows removed, and the train-implication block.
pub struct BlockStats {
    /// max |raw test-implication block|.
    pub raw_max: f64,
    /// max |test-implication block − its per-column mean over implications|.
    pub centered_max: f64,
    /// max |train-implication block|.
    pub train_max: f64,
}

/// Column split of the task's context columns: (train subjects, all subjects).
fn subject_split(task: &Task) -> (usize, usize) {
    let ns = task.n_subjects();
    let ntrain = (0..ns).filter(|&s| task.is_train_subject(s)).count();
    debug_assert!((0..ntrain).all(|s| task.is_train_subject(s)));
    (ntrain, ns)
}

/// The statistics of the test-implication block of `w` (layout of `Model::w_answers_context`).
pub fn block_stats(task: &Task, w: &Mat<f64>) -> BlockStats {
    let n = task.cfg.n;
    let (ntrain, ns) = subject_split(task);
    let mut st = BlockStats {
        raw_max: 0.0,
        centered_max: 0.0,
        train_max: 0.0,
    };
    for j in 0..ns {
        let mean = (n..2 * n).map(|i| w[(i, j)]).sum::<f64>() / n as f64;
        for i in n..2 * n {
            if j < ntrain {
                st.train_max = st.train_max.max(w[(i, j)].abs());
            } else {
                st.raw_max = st.raw_max.max(w[(i, j)].abs());
                st.centered_max = st.centered_max.max((w[(i, j)] - mean).abs());
            }
        }
    }
    st
}

fn heatmap(task: &Task, w: &Mat<f64>, title: &str, centered: bool) -> Heatmap {
    let n = task.cfg.n;
    let (ntrain, ns) = subject_split(task);
    let values = (0..w.nrows())
        .map(|i| {
            let rows = if i < n { 0..n } else { n..2 * n };
            (0..w.ncols())
                .map(|j| {
                    let mean = if centered {
                        rows.clone().map(|k| w[(k, j)]).sum::<f64>() / n as f64
                    } else {
                        0.0
                    };
                    w[(i, j)] - mean
                })
                .collect()
        })
        .collect();
    let g = |label: &str, range: std::ops::Range<usize>| Group {
        label: label.into(),
        range,
    };
    let b = |label: &str, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>| BlockMark {
        label: label.into(),
        rows,
        cols,
    };
    Heatmap {
        title: title.into(),
        values,
        row_groups: vec![g("facts b_i", 0..n), g("implications c_i", n..2 * n)],
        col_groups: vec![
            g("train subjects", 0..ntrain),
            g("test subjects", ntrain..ns),
            g("r1 r2", ns..ns + 2),
        ],
        blocks: vec![
            b("train facts", 0..n, 0..ntrain),
            b("train implications", n..2 * n, 0..ntrain),
            b("test facts", 0..n, ntrain..ns),
            b("TEST IMPLICATIONS (D_test)", n..2 * n, ntrain..ns),
        ],
        x_note: "columns: subjects (cyclic order s_1,1 … s_n,1, s_1,2 …) then relations r1, r2; rows: answers".into(),
    }
}

fn save_w(path: &Path, task: &Task, w: &Mat<f64>) -> Result<()> {
    let mut header = vec!["answer".to_string()];
    header.extend((0..w.ncols()).map(|z| task.token_name(z)));
    let rows: Vec<Vec<String>> = (0..w.nrows())
        .map(|i| {
            let mut row = vec![task.token_name(task.answers().start + i)];
            row.extend((0..w.ncols()).map(|j| num_cell(w[(i, j)])));
            row
        })
        .collect();
    write_atomic(path, csv_text(&header, &rows).as_bytes()).map_err(Into::into)
}

/// The metrics of the training-curve CSVs (`data/curves_*.csv`), after `step`.
const CURVE_METRICS: [&str; 9] = [
    "train_loss",
    "test_loss",
    "loss_train_facts",
    "loss_train_implications",
    "loss_test_facts",
    "loss_test_implications",
    "test_accuracy",
    "cos_nuclear_svm",
    "cos_frobenius_svm",
];

/// Columns of `data/dh_sweep.csv`, after `d_h`.
const DH_METRICS: [&str; 4] = ["train_loss", "test_loss", "test_accuracy", "test_mean_rank"];

/// The named metrics of `m`, in order (every name is one of `Metrics::KEYS`).
fn pick_metrics(m: &oocr_core::metrics::Metrics, keys: &[&str]) -> Vec<f64> {
    keys.iter()
        .map(|k| m.get(k).expect("a Metrics key"))
        .collect()
}

fn save_curves(path: &Path, r: &RunResult) -> Result<()> {
    let rows: Vec<Vec<f64>> = r
        .records
        .iter()
        .map(|x| {
            let mut row = vec![x.step as f64];
            row.extend(pick_metrics(&x.metrics, &CURVE_METRICS));
            row
        })
        .collect();
    let mut header = vec!["step"];
    header.extend(CURVE_METRICS);
    write_csv(path, &header, &rows)
}

fn block_loss_panel(r: &RunResult, title: &str) -> Panel {
    let mut p = Panel::new(
        title,
        "gradient-descent step",
        "cross-entropy loss (log scale)",
    );
    p.y_log = true;
    p.series = vec![
        Series::new(
            "train facts",
            curve(r, |m| m.loss_train_facts),
            0,
            Mark::Line,
        ),
        Series::new(
            "train implications",
            curve(r, |m| m.loss_train_implications),
            2,
            Mark::Line,
        ),
        Series::new("test facts", curve(r, |m| m.loss_test_facts), 4, Mark::Line),
        Series::new(
            "test implications (D_test)",
            curve(r, |m| m.loss_test_implications),
            1,
            Mark::Line,
        ),
    ];
    p
}

#[allow(clippy::too_many_arguments)]
fn build(
    out: &Path,
    scale: &Scale,
    res: &[RunResult],
    margins: &[MarginRow],
    claims: &mut Vec<Claim>,
    blocks: &mut Vec<Block>,
    files: &mut Vec<PathBuf>,
) -> Result<()> {
    let data = out.join("data");
    let fig = |stem: &str| out.join(stem);
    let add_fig = |files: &mut Vec<PathBuf>, f: plots::FigureFiles| {
        files.push(f.png);
        files.push(f.svg);
    };
    let fac = by_name(res, "factorized");
    let non = by_name(res, "nonfactorized");
    let n = fac.task.cfg.n;
    let ln_n = (n as f64).ln();

    // §3: the two parameterizations.
    let (mf, mn) = (fac.last(), non.last());
    claims.push(Claim::new(
        "factorized_generalizes",
        "The factorized model W_O W_V^T reaches ~zero train and test loss (paper Sec. 3.2).",
        "train loss ≤ 0.01, test loss ≤ 0.1, test accuracy = 1",
        format!(
            "train {}, test {}, accuracy {}",
            num(mf.train_loss),
            num(mf.test_loss),
            num(mf.test_accuracy)
        ),
        mf.train_loss <= 0.01 && mf.test_loss <= 0.1 && mf.test_accuracy == 1.0,
    ));
    claims.push(Claim::new(
        "nonfactorized_fails",
        "The merged W_OV fits the training data but does not generalize to test implications.",
        "train loss ≤ 0.01, test loss ≥ ln n (uniform over the n implications), test accuracy = 0",
        format!(
            "train {}, test {} (ln n = {}), accuracy {}",
            num(mn.train_loss),
            num(mn.test_loss),
            num(ln_n),
            num(mn.test_accuracy)
        ),
        mn.train_loss <= 0.01 && mn.test_loss >= ln_n - 1e-9 && mn.test_accuracy == 0.0,
    ));
    let bs = block_stats(&non.task, &non.w);
    let bf = block_stats(&fac.task, &fac.w);
    claims.push(Claim::new(
        "nonfactorized_zero_test_block",
        "The merged model's learned test-implication block is all zero: it carries no pair information.",
        "max |block − its per-subject mean over implications| ≤ 1e-9 × max |train-implication block|",
        format!(
            "{} (ratio {}); raw block is a per-subject constant, max |raw| / max |train block| = {}; \
             factorized model for contrast: ratio {}",
            num(bs.centered_max),
            num(bs.centered_max / bs.train_max),
            num(bs.raw_max / bs.train_max),
            num(bf.centered_max / bf.train_max)
        ),
        bs.centered_max <= 1e-9 * bs.train_max,
    ));
    save_curves(&data.join("curves_factorized.csv"), fac)?;
    save_curves(&data.join("curves_nonfactorized.csv"), non)?;
    save_w(&data.join("w_factorized.csv"), &fac.task, &fac.w)?;
    save_w(&data.join("w_nonfactorized.csv"), &non.task, &non.w)?;
    add_fig(
        files,
        plots::line_figure(
            &fig("loss_curves"),
            &[
                block_loss_panel(fac, "factorized W_O W_V^T"),
                block_loss_panel(non, "non-factorized W_OV"),
            ],
            720,
            520,
        )?,
    );
    for (r, name, label) in [
        (fac, "factorized", "factorized W_O W_V^T"),
        (non, "nonfactorized", "non-factorized W_OV"),
    ] {
        add_fig(
            files,
            plots::heatmap_figure(
                &fig(&format!("heatmap_{name}")),
                &[
                    heatmap(
                        &r.task,
                        &r.w,
                        &format!("{label}: learned W_OV[answers, subjects ∪ R]"),
                        false,
                    ),
                    heatmap(
                        &r.task,
                        &r.w,
                        &format!(
                            "{label}: each column centred within facts and within implications"
                        ),
                        true,
                    ),
                ],
                1300,
                560,
            )?,
        );
    }
    blocks.push(Block::Heading(
        2,
        "Factorized vs non-factorized (Sec. 3.2)".into(),
    ));
    blocks.push(Block::Para(format!(
        "Paper settings: n = {n} pairs, m_train = 1, m_test = 3, d = d_h = 128 orthonormal embeddings, fixed attention, \
         softmax over the answers, gradient descent lr 1. Factorized: {} steps from Gaussian init 0.01; \
         non-factorized: {} steps from W_OV = 0.",
        fac.spec.cfg.train.steps, non.spec.cfg.train.steps
    )));
    blocks.push(Block::Figure(
        "loss_curves".into(),
        "Loss per block over training. Left: the factorized model drives all four blocks, including the unseen test \
         implications, to ~0. Right: the merged W_OV fits the three training blocks while the test-implication loss \
         rises to ln n and stays there."
            .into(),
    ));
    blocks.push(Block::Figure(
        "heatmap_factorized".into(),
        "Factorized model: W_OV restricted to answers × (subjects ∪ {r1, r2}). Top: raw; bottom: each column \
         centred within the fact rows and within the implication rows (a shift shared by all implications in one \
         subject's column does not change which implication wins). The test-implication block carries the diagonal c_i ↔ subject-of-pair-i pattern."
            .into(),
    ));
    blocks.push(Block::Figure(
        "heatmap_nonfactorized".into(),
        format!(
            "Non-factorized model, same layout. Gradient descent from W_OV = 0 pushes every W(c_j, s_test) down by the \
             same amount (the test-fact queries put probability on all implications alike), so the raw test-implication \
             block is a per-subject constant (max |raw| = {} × the train-implication block), not literally 0; after \
             centring (bottom) it is exactly zero (max {}): no pair information, hence no generalization.",
            num(bs.raw_max / bs.train_max),
            num(bs.centered_max)
        ),
    ));

    // d_h sweep.
    let dh_runs: Vec<&RunResult> = scale
        .dh
        .iter()
        .map(|d| by_name(res, &format!("dh-{d}")))
        .collect();
    let dh_rows: Vec<Vec<f64>> = dh_runs
        .iter()
        .map(|r| {
            let mut row = vec![r.spec.cfg.model.d_h as f64];
            row.extend(pick_metrics(r.last(), &DH_METRICS));
            row
        })
        .collect();
    let mut dh_header = vec!["d_h"];
    dh_header.extend(DH_METRICS);
    write_csv(&data.join("dh_sweep.csv"), &dh_header, &dh_rows)?;
    let pick = |i: usize| dh_rows.iter().map(|r| (r[0], r[i])).collect::<Vec<_>>();
    let mut p1 = Panel::new(
        "final loss against the hidden width d_h",
        "d_h (log scale)",
        "loss (log scale)",
    );
    p1.x_log = true;
    p1.y_log = true;
    // Headroom above ln n so the legend (upper right) covers no data.
    p1.y_range = Some((1e-4, 1e3));
    let dh_x = (
        scale.dh[0] as f64,
        *scale.dh.last().expect("d_h values") as f64,
    );
    p1.series = vec![
        Series::new("test loss", pick(2), 1, Mark::LinePoints),
        Series::new("train loss", pick(1), 0, Mark::LinePoints),
        Series::new(
            "ln n (uniform over implications)",
            vec![(dh_x.0, ln_n), (dh_x.1, ln_n)],
            7,
            Mark::Dashed,
        ),
    ];
    let mut p2 = Panel::new(
        "test accuracy against d_h",
        "d_h (log scale)",
        "test accuracy",
    );
    p2.x_log = true;
    p2.y_range = Some((-0.05, 1.05));
    p2.series = vec![Series::new("test accuracy", pick(3), 2, Mark::LinePoints)];
    add_fig(
        files,
        plots::line_figure(&fig("dh_sweep"), &[p1, p2], 720, 500)?,
    );
    let d4 = by_name(res, "dh-4").last();
    let d3 = by_name(res, "dh-3").last();
    claims.push(Claim::new(
        "dh4_generalizes",
        "The factorized model still generalizes with d_h = 4.",
        "test accuracy = 1 and test loss ≤ 0.5",
        format!(
            "accuracy {}, test loss {}",
            num(d4.test_accuracy),
            num(d4.test_loss)
        ),
        d4.test_accuracy == 1.0 && d4.test_loss <= 0.5,
    ));
    claims.push(Claim::new(
        "dh3_fails",
        "With d_h = 3 the factorized model does not generalize fully.",
        "test accuracy < 1",
        format!(
            "accuracy {}, test loss {}",
            num(d3.test_accuracy),
            num(d3.test_loss)
        ),
        d3.test_accuracy < 1.0,
    ));
    blocks.push(Block::Heading(2, "Hidden width d_h".into()));
    blocks.push(Block::Para(format!(
        "Factorized model at the paper settings with d_h ∈ {:?}, {} steps each.",
        scale.dh, scale.dh_steps
    )));
    blocks.push(Block::Figure(
        "dh_sweep".into(),
        "Final train and test loss (left) and test accuracy (right) against d_h.".into(),
    ));
    blocks.push(Block::Table(
        vec![
            "d_h".into(),
            "train loss".into(),
            "test loss".into(),
            "test accuracy".into(),
            "test mean rank".into(),
        ],
        dh_rows
            .iter()
            .map(|r| {
                vec![
                    format!("{}", r[0]),
                    num(r[1]),
                    num(r[2]),
                    num(r[3]),
                    num(r[4]),
                ]
            })
            .collect(),
    ));

    // Margins against m_train / m_test.
    write_csv(
        &data.join("margins.csv"),
        &[
            "m_train",
            "m_test",
            "closed_form",
            "svm_nuclear",
            "svm_nuclear_rel_gap",
            "svm_frobenius",
            "svm_frobenius_rel_gap",
            "gd_factorized",
        ],
        &margins
            .iter()
            .map(|m| {
                vec![
                    m.m_train as f64,
                    m.m_test as f64,
                    m.closed_form,
                    m.svm_nuclear,
                    m.svm_nuclear_gap,
                    m.svm_frobenius,
                    m.svm_frobenius_gap,
                    m.gd_factorized,
                ]
            })
            .collect::<Vec<_>>(),
    )?;
    let ratio = |m: &MarginRow| m.m_train as f64 / m.m_test as f64;
    let (lo, hi) = margins
        .iter()
        .map(ratio)
        .fold((f64::INFINITY, 0.0f64), |(a, b), r| (a.min(r), b.max(r)));
    let dense: Vec<(f64, f64)> = (0..=200)
        .map(|k| {
            let r = lo * (hi / lo).powf(k as f64 / 200.0);
            (r, r.sqrt().min(1.0))
        })
        .collect();
    let mut pm = Panel::new(
        "test-implication margin (train margin normalized to 1)",
        "m_train / m_test (log scale)",
        "min margin of c* over other implications",
    );
    pm.x_log = true;
    pm.legend = plots::SeriesLabelPosition::MiddleRight;
    pm.y_range = Some((-0.1, 1.15));
    pm.series = vec![
        Series::new(
            "closed form min{√(m_train/m_test), 1}",
            dense,
            7,
            Mark::Line,
        ),
        Series::new(
            "nuclear-norm SVM solution",
            margins.iter().map(|m| (ratio(m), m.svm_nuclear)).collect(),
            0,
            Mark::Points,
        ),
        Series::new(
            "Frobenius-norm SVM solution",
            margins
                .iter()
                .map(|m| (ratio(m), m.svm_frobenius))
                .collect(),
            1,
            Mark::Points,
        ),
        Series::new(
            "factorized GD after training (normalized)",
            margins
                .iter()
                .map(|m| (ratio(m), m.gd_factorized))
                .collect(),
            2,
            Mark::Squares,
        ),
    ];
    add_fig(files, plots::line_figure(&fig("margins"), &[pm], 900, 560)?);
    let nuc_err = margins
        .iter()
        .map(|m| (m.svm_nuclear - m.closed_form).abs())
        .fold(0.0, f64::max);
    let fro_max = margins
        .iter()
        .map(|m| m.svm_frobenius.abs())
        .fold(0.0, f64::max);
    claims.push(Claim::new(
        "nuclear_margin_closed_form",
        "The nuclear-norm SVM's test-implication margin is min{√(m_train/m_test), 1}.",
        "max |SVM − closed form| ≤ 1e-6 over every (m_train, m_test) point",
        format!("{} over {} points", num(nuc_err), margins.len()),
        nuc_err <= 1e-6,
    ));
    claims.push(Claim::new(
        "frobenius_margin_zero",
        "The Frobenius-norm SVM's test-implication margin is 0.",
        "max |margin| ≤ 1e-6 over every (m_train, m_test) point",
        format!("{} over {} points", num(fro_max), margins.len()),
        fro_max <= 1e-6,
    ));
    blocks.push(Block::Heading(
        2,
        "Margins on test implications (Sec. 4.1)".into(),
    ));
    blocks.push(Block::Para(format!(
        "For each (m_train, m_test) the exact max-margin programs are solved (certified by a duality gap) and the \
         factorized model is trained by GD for {} steps; its margin is divided by its train margin so that it is \
         comparable with the SVM solutions (whose train margin is 1). GD approaches the max-margin direction only \
         logarithmically slowly, so its normalized margin lags the SVM's.",
        scale.margin_steps
    )));
    blocks.push(Block::Figure(
        "margins".into(),
        "Test-implication margin against m_train / m_test: closed form (line), nuclear- and Frobenius-norm SVM \
         solutions (dots), factorized GD after training (squares)."
            .into(),
    ));
    blocks.push(Block::Table(
        vec![
            "m_train".into(),
            "m_test".into(),
            "closed form".into(),
            "nuclear SVM".into(),
            "rel. gap".into(),
            "Frobenius SVM".into(),
            "rel. gap".into(),
            "GD factorized".into(),
        ],
        margins
            .iter()
            .map(|m| {
                vec![
                    m.m_train.to_string(),
                    m.m_test.to_string(),
                    num(m.closed_form),
                    num(m.svm_nuclear),
                    num(m.svm_nuclear_gap),
                    num(m.svm_frobenius),
                    num(m.svm_frobenius_gap),
                    num(m.gd_factorized),
                ]
            })
            .collect(),
    ));

    // Alignment with the SVM solutions.
    let cos_panel = |r: &RunResult, title: &str| {
        let mut p = Panel::new(
            title,
            "gradient-descent step",
            "cosine with the SVM solution",
        );
        p.y_range = Some((-0.05, 1.05));
        p.series = vec![
            Series::new(
                "nuclear-norm SVM",
                curve(r, |m| m.cos_nuclear_svm.unwrap_or(f64::NAN)),
                0,
                Mark::Line,
            ),
            Series::new(
                "Frobenius-norm SVM",
                curve(r, |m| m.cos_frobenius_svm.unwrap_or(f64::NAN)),
                1,
                Mark::Line,
            ),
        ];
        p
    };
    add_fig(
        files,
        plots::line_figure(
            &fig("alignment"),
            &[
                cos_panel(fac, "factorized W_O W_V^T"),
                cos_panel(non, "non-factorized W_OV"),
            ],
            720,
            500,
        )?,
    );
    let cos = |m: &oocr_core::metrics::Metrics| {
        (
            m.cos_nuclear_svm.unwrap_or(f64::NAN),
            m.cos_frobenius_svm.unwrap_or(f64::NAN),
        )
    };
    let (fn_, ff) = cos(mf);
    let (nn, nf) = cos(mn);
    claims.push(Claim::new(
        "gd_aligns_nuclear",
        "GD on the factorized model converges in direction to the nuclear-norm SVM solution (Theorem 1).",
        "final cos(W, W_nuclear) ≥ 0.9 and > cos(W, W_Frobenius)",
        format!("cos nuclear {}, cos Frobenius {}", num(fn_), num(ff)),
        fn_ >= 0.9 && fn_ > ff,
    ));
    claims.push(Claim::new(
        "gd_aligns_frobenius",
        "GD on the merged W_OV converges in direction to the Frobenius-norm SVM solution (Theorem 1).",
        "final cos(W, W_Frobenius) ≥ 0.9 and > cos(W, W_nuclear)",
        format!("cos Frobenius {}, cos nuclear {}", num(nf), num(nn)),
        nf >= 0.9 && nf > nn,
    ));
    blocks.push(Block::Heading(
        2,
        "Implicit bias: alignment with the SVM solutions (Theorem 1)".into(),
    ));
    blocks.push(Block::Figure(
        "alignment".into(),
        "Cosine between the learned W_OV[answers, subjects ∪ R] and the two max-margin solutions over training, for \
         the factorized (left) and merged (right) models."
            .into(),
    ));

    // Theorem 2.
    let t2 = by_name(res, "theorem2");
    save_curves(&data.join("curves_theorem2.csv"), t2)?;
    let t2n = (t2.task.cfg.n as f64).ln();
    let gap = t2
        .records
        .iter()
        .map(|x| x.metrics.test_loss - t2n)
        .fold(f64::INFINITY, f64::min);
    let steps2 = t2.spec.cfg.train.steps as f64;
    let mut pt = Panel::new(
        "Theorem 2: merged W_OV, trainable attention, symmetric init",
        "gradient-descent step",
        "loss (log scale)",
    );
    pt.y_log = true;
    pt.legend = plots::SeriesLabelPosition::MiddleRight;
    pt.series = vec![
        Series::new("test loss", curve(t2, |m| m.test_loss), 1, Mark::Line),
        Series::new("train loss", curve(t2, |m| m.train_loss), 0, Mark::Line),
        Series::new(
            "ln |A2| (the bound)",
            vec![(0.0, t2n), (steps2, t2n)],
            7,
            Mark::Dashed,
        ),
    ];
    add_fig(
        files,
        plots::line_figure(&fig("theorem2"), &[pt], 900, 520)?,
    );
    claims.push(Claim::new(
        "theorem2_bound",
        "Theorem 2: with trainable attention and symmetric init the merged model's test loss stays ≥ ln |A2|.",
        "min over logged steps of (test loss − ln |A2|) ≥ −1e-9",
        format!(
            "{} over {} logged steps (final train loss {})",
            num(gap),
            t2.records.len(),
            num(t2.last().train_loss)
        ),
        gap >= -1e-9,
    ));
    blocks.push(Block::Heading(2, "Theorem 2".into()));
    blocks.push(Block::Figure(
        "theorem2".into(),
        format!(
            "The `theorem2` preset ({} GD steps, logged every {}): the training loss falls while the test loss never \
             goes below ln |A2| = ln {}.",
            t2.spec.cfg.train.steps, t2.spec.cfg.train.log_every, t2.task.cfg.n
        ),
    ));

    // Authors' code variant.
    let af = by_name(res, "authors-factorized");
    let an = by_name(res, "authors-nonfactorized");
    save_curves(&data.join("curves_authors_factorized.csv"), af)?;
    save_curves(&data.join("curves_authors_nonfactorized.csv"), an)?;
    let ap = |r: &RunResult, title: &str| {
        let mut p = Panel::new(title, "AdamW step", "loss (log scale)");
        p.y_log = true;
        p.series = vec![
            Series::new("train loss", curve(r, |m| m.train_loss), 0, Mark::Line),
            Series::new("test loss", curve(r, |m| m.test_loss), 1, Mark::Line),
        ];
        p
    };
    add_fig(
        files,
        plots::line_figure(
            &fig("authors_code"),
            &[
                ap(af, "authors' code: factorized"),
                ap(an, "authors' code: non-factorized"),
            ],
            720,
            500,
        )?,
    );
    let (maf, man) = (af.last(), an.last());
    let tr = &af.spec.cfg.train;
    blocks.push(Block::Heading(
        2,
        "The authors' code (`authors-main`)".into(),
    ));
    blocks.push(Block::Para(format!(
        "The authors' main script: AdamW (lr {}, weight decay {}), their `identity` init ({}), trainable attention, \
         every step a fresh minibatch of {} length-{} sequences (a third each of train facts, train implications \
         and test facts; subjects with replacement, noise tokens redrawn), loss −ln(p + {}) over the whole \
         vocabulary, metrics on {} fresh sequences per block; {} steps. Final: factorized train {} / test {} \
         (accuracy {}); non-factorized train {} / test {} (accuracy {}). No claim is attached to this variant.",
        tr.lr,
        tr.weight_decay,
        tr.init_scale,
        tr.batch_size,
        af.spec.cfg.task.seq_len,
        tr.loss_eps,
        tr.eval_size,
        tr.steps,
        num(maf.train_loss),
        num(maf.test_loss),
        num(maf.test_accuracy),
        num(man.train_loss),
        num(man.test_loss),
        num(man.test_accuracy)
    )));
    blocks.push(Block::Figure(
        "authors_code".into(),
        "Train and test loss under the authors' code (final accuracies in the text above).".into(),
    ));
    Ok(())
}
