//! One experiment run: for each association and seed, evaluate the pretrained model, fine-tune a
//! fresh copy (evaluating after every epoch), and write the run folder (`config.toml`,
//! `<assoc>/seed-<s>/` with the data, scores, `metrics.jsonl` and `result.json`, then
//! `results.json` and `results.md` with means over seeds, 95% intervals and the test against
//! chance); and its evaluation-only half (`evaluate`), for a base model or a checkpoint
//! fine-tuned elsewhere.
use crate::batch::Example;
use crate::dataset::{Association, Catalog, Dataset, DatasetConfig};
use crate::error::{LlmError, Result};
use crate::eval::{rank_metrics, score_dataset, RankMetrics, RecordScores};
use crate::loader::{load, load_with, LoadedModel};
use crate::lora::{make_trainable, Method};
use crate::optim::AdamW;
use crate::packed::BaseDtype;
use crate::report::markdown_table;
pub use crate::run_config::RunConfig;
use crate::run_dir::{check_folder, unit_dir, FolderState, CONFIG_FILE};
use crate::stats::{
    bootstrap_mean, rank_test, Interval, RankTest, PERMUTATIONS, RESAMPLES, STATS_SEED,
};
use crate::train::{train, TrainReport};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A packed (frozen) base only suits LoRA: full fine-tuning trains every weight in f32.
pub fn check_base_dtype(method: &Method, base: BaseDtype) -> Result<()> {
    if *method == Method::Full && base != BaseDtype::F32 {
        return Err(LlmError::config(
            "base_dtype",
            format!(
                "'{}' keeps the base frozen; full fine-tuning needs f32 (use --lora)",
                base.name()
            ),
        ));
    }
    Ok(())
}

/// The rank measures after one epoch (epoch 0: before training).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epochs trained so far.
    pub epoch: usize,
    /// Every rank measure.
    pub metrics: RankMetrics,
}

/// Result of one association and seed, as in `<assoc>/seed-<s>/result.json` and `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssocResult {
    /// Association name.
    pub name: String,
    /// Seed of the names, split, data order and LoRA init.
    pub seed: u64,
    /// Number of (fact, implication) pairs k: ranks are among 2k candidates.
    pub k: usize,
    /// Test implications' mean rank among 2k before fine-tuning.
    pub mean_rank_before: f64,
    /// … and after.
    pub mean_rank_after: f64,
    /// Mean training loss of the last epoch.
    pub train_loss_final: f64,
    /// Number of test subjects.
    pub n_test_subjects: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Learning rate.
    pub lr: f64,
    /// Wall time of the association: evaluations and training.
    pub seconds: f64,
    /// Training throughput (tokens fed per second, padding excluded; with per-epoch evaluation
    /// the evaluations count in the time).
    pub tokens_per_s: f64,
    /// Table title of the association.
    pub title: String,
    /// All rank measures before fine-tuning.
    pub before: RankMetrics,
    /// All rank measures after fine-tuning.
    pub after: RankMetrics,
    /// Rank measures before training and after every epoch (empty when `eval.per_epoch` is off).
    #[serde(default)]
    pub per_epoch: Vec<EpochMetrics>,
    /// The training run.
    pub train: TrainReport,
    /// What the result depends on (the run's result settings and the association); a resumed run
    /// keeps this result only if they are unchanged.
    #[serde(default)]
    pub settings: serde_json::Value,
}

/// One association over all seeds: means, 95% intervals and the test against chance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssocSummary {
    /// Association name.
    pub name: String,
    /// Table title.
    pub title: String,
    /// Causal (generalization) or made up (hallucination).
    pub causal: bool,
    /// Number of pairs k.
    pub k: usize,
    /// Seeds summarized.
    pub seeds: Vec<u64>,
    /// Mean rank among 2k before fine-tuning (chance (2k − 1)/2).
    pub mean_rank_before: Interval,
    /// … after.
    pub mean_rank_after: Interval,
    /// Mean rank among the k implications (within type) before (chance (k − 1)/2).
    pub within_rank_before: Interval,
    /// … after.
    pub within_rank_after: Interval,
    /// Share of test subjects whose top answer (of 2k) is the true implication, before.
    pub top1_before: Interval,
    /// … after.
    pub top1_after: Interval,
    /// One-sided permutation test of the within-type rank after fine-tuning against chance.
    pub test_after: RankTest,
    /// The same test before fine-tuning.
    pub test_before: RankTest,
    /// `test_after.p_value < 0.05`.
    pub link_learned: bool,
}

/// Contents of `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResults {
    /// Model name.
    pub model: String,
    /// `full` or `lora-rN`.
    pub method: String,
    /// One entry per association and seed, seeds in order, associations in run order.
    pub associations: Vec<AssocResult>,
    /// One entry per association: means over seeds, intervals, tests.
    #[serde(default)]
    pub summary: Vec<AssocSummary>,
    /// Trainable parameters.
    pub trainable_params: usize,
    /// Base model parameters.
    pub model_params: usize,
    /// Threads used by the tensor kernels.
    pub threads: usize,
    /// Wall time of this invocation, model loading included (resumed associations excluded).
    pub total_seconds: f64,
}

fn bar(len: u64, enabled: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb
}

/// Append-only JSON-lines log, flushed every line so a killed run keeps what it logged.
struct Log(File, PathBuf);

impl Log {
    fn create(path: PathBuf) -> Result<Log> {
        Ok(Log(
            File::create(&path).map_err(|e| LlmError::io(&path, e))?,
            path,
        ))
    }

    fn line(&mut self, v: &serde_json::Value) -> Result<()> {
        writeln!(self.0, "{v}")
            .and_then(|_| self.0.flush())
            .map_err(|e| LlmError::io(&self.1, e))
    }
}

/// Write bytes atomically (a fresh temporary file in the same folder, then a rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    oocr_core::atomic::write_atomic(path, bytes)
        .map_err(|e| LlmError::io(path, std::io::Error::other(e.to_string())))
}

fn write_json(path: &Path, v: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(v).expect("serializable") + "\n";
    write_atomic(path, text.as_bytes())
}

fn write_scores(path: &Path, scores: &[RecordScores]) -> Result<()> {
    let mut w = std::io::BufWriter::new(File::create(path).map_err(|e| LlmError::io(path, e))?);
    for s in scores {
        writeln!(w, "{}", serde_json::to_string(s).expect("serializable"))
            .map_err(|e| LlmError::io(path, e))?;
    }
    w.flush().map_err(|e| LlmError::io(path, e))
}

/// Read a scores file written by a run.
pub fn read_scores(path: &Path) -> Result<Vec<RecordScores>> {
    let text = std::fs::read_to_string(path).map_err(|e| LlmError::io(path, e))?;
    text.lines()
        .map(|l| {
            serde_json::from_str(l).map_err(|e| {
                LlmError::io(
                    path,
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            })
        })
        .collect()
}

/// Encode training records as (prompt, answer) token ids.
pub fn encode_train(lm: &LoadedModel, ds: &Dataset) -> Result<Vec<Example>> {
    ds.train()
        .map(|r| {
            Ok(Example {
                prompt: lm.tokenizer.encode_prompt(&r.prompt)?,
                answer: lm.tokenizer.encode_continuation(&r.answer)?,
            })
        })
        .collect()
}

/// How `run_with` treats the output folder and the terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Replace the results of an existing run folder (else it must be new, empty, or a run with
    /// the same settings, which resumes).
    pub force: bool,
    /// Progress bars and per-association lines on stderr.
    pub progress: bool,
}

/// What can be checked before the model is loaded: every setting, the associations (files
/// read), the dataset split of each, and the output folder. Writes nothing.
pub fn check_run(
    cfg: &RunConfig,
    out: &Path,
    force: bool,
) -> Result<(Vec<&'static Association>, FolderState)> {
    cfg.validate()?;
    let assocs = cfg.associations()?;
    let state = check_folder(cfg, out, force)?;
    Ok((assocs, state))
}

/// Run the experiment described by `cfg` into `out` (new folder, or resume a run with the same
/// settings).
pub fn run(cfg: &RunConfig, out: &Path, progress: bool) -> Result<RunResults> {
    run_with(
        cfg,
        out,
        RunOptions {
            force: false,
            progress,
        },
    )
}

/// The settings one association's result depends on.
fn unit_settings(cfg: &RunConfig, assoc: &Association, seed: u64) -> serde_json::Value {
    serde_json::json!({
        "run": cfg.result_settings(),
        "association": assoc,
        "seed": seed,
    })
}

/// A finished association in `dir` with these settings, if any.
fn finished(dir: &Path, settings: &serde_json::Value) -> Option<AssocResult> {
    let text = std::fs::read_to_string(dir.join("result.json")).ok()?;
    let r: AssocResult = serde_json::from_str(&text).ok()?;
    (r.settings == *settings && dir.join("scores_after.jsonl").exists()).then_some(r)
}

/// Run the experiment. Every setting and the folder are checked first, then the model is
/// opened (and the LoRA rank checked against its width); only then is the folder created. Each
/// association and seed writes its `result.json` last; a rerun with the same settings skips the
/// finished ones.
pub fn run_with(cfg: &RunConfig, out: &Path, opts: RunOptions) -> Result<RunResults> {
    let start = Instant::now();
    let (assocs, state) = check_run(cfg, out, opts.force)?;
    let mut lm = load_with(&cfg.model, cfg.tokenizer.as_deref(), cfg.base_dtype)?;
    cfg.check_model(lm.model.cfg.hidden_size)?;
    std::fs::create_dir_all(out).map_err(|e| LlmError::io(out, e))?;
    write_atomic(&out.join(CONFIG_FILE), cfg.to_toml_string().as_bytes())?;
    let model_params = lm.model.num_params();
    let mut results = Vec::new();
    let mut trainable_params = 0;
    for &seed in &cfg.seeds {
        for &assoc in &assocs {
            let dir = unit_dir(out, assoc.name, seed);
            let settings = unit_settings(cfg, assoc, seed);
            if state != FolderState::Replace {
                if let Some(r) = finished(&dir, &settings) {
                    if opts.progress {
                        eprintln!("{:>18}: seed {seed} finished before, kept", assoc.name);
                    }
                    results.push(r);
                    continue;
                }
            }
            let (r, trainable) = run_unit(cfg, &lm, assoc, seed, &dir, settings, opts.progress)?;
            trainable_params = trainable;
            results.push(r);
        }
    }
    if trainable_params == 0 {
        let mut m = lm.model.clone();
        trainable_params = make_trainable(&mut m, &cfg.method(), 0)?
            .iter()
            .map(|p| p.var.elem_count())
            .sum();
    }
    let summary = summarize(out, &assocs, &cfg.seeds, &results)?;
    let res = RunResults {
        model: lm.name.clone(),
        method: cfg.method().label(),
        associations: results,
        summary,
        trainable_params,
        model_params,
        threads: crate::threads(),
        total_seconds: start.elapsed().as_secs_f64(),
    };
    write_json(&out.join("results.json"), &res)?;
    write_atomic(&out.join("results.md"), markdown_table(&res).as_bytes())?;
    Ok(res)
}

/// Fine-tune one association with one seed into `dir`; returns its result and the number of
/// trainable parameters.
fn run_unit(
    cfg: &RunConfig,
    lm: &LoadedModel,
    assoc: &'static Association,
    seed: u64,
    dir: &Path,
    settings: serde_json::Value,
    progress: bool,
) -> Result<(AssocResult, usize)> {
    let t0 = Instant::now();
    let ds = Dataset::build(assoc, cfg.dataset_config(seed))?;
    // A stale result of other settings must not survive a half-finished rerun.
    let _ = std::fs::remove_file(dir.join("result.json"));
    ds.write(dir)?;
    let mut log = Log::create(dir.join("metrics.jsonl"))?;
    let n_eval = ds.records.len() as u64;
    let eval_bs = cfg.eval.batch_size;

    let pb = bar(n_eval, progress);
    pb.set_prefix(format!("{} eval", assoc.name));
    let before_scores =
        score_dataset(&lm.model, &lm.tokenizer, &ds, eval_bs, |n| pb.inc(n as u64))?;
    pb.finish_and_clear();
    write_scores(&dir.join("scores_before.jsonl"), &before_scores)?;
    let before = rank_metrics(&ds, &before_scores);
    let mut per_epoch = Vec::new();
    if cfg.eval.per_epoch {
        let e = EpochMetrics {
            epoch: 0,
            metrics: before,
        };
        log.line(&eval_line(assoc, seed, &e))?;
        per_epoch.push(e);
    }

    let mut model = lm.model.clone();
    let params = make_trainable(&mut model, &cfg.method(), seed)?;
    let trainable: usize = params.iter().map(|p| p.var.elem_count()).sum();
    let mut opt = AdamW::new(params, cfg.adamw())?;
    let examples = encode_train(lm, &ds)?;
    let tcfg = cfg.train_config(seed);
    let steps = tcfg.total_steps(examples.len());
    let per_epoch_steps = examples.len().div_ceil(tcfg.batch_size);
    let pb = bar(steps as u64, progress);
    pb.set_prefix(format!("{} train", assoc.name));
    let mut cb_err = None;
    let mut last_scores = None;
    let report = train(&model, &mut opt, &examples, &tcfg, |s| {
        pb.inc(1);
        pb.set_message(format!(
            "epoch {} loss {:.4} {:.0} tok/s",
            s.epoch, s.loss, s.tokens_per_s
        ));
        let mut v = serde_json::to_value(s).expect("serializable");
        v["assoc"] = assoc.name.into();
        v["seed"] = seed.into();
        if let Err(e) = log.line(&v) {
            cb_err.get_or_insert(e);
        }
        // The model's weights after the last step of an epoch.
        if cfg.eval.per_epoch && cb_err.is_none() && s.step % per_epoch_steps == 0 {
            let scored = score_dataset(&model, &lm.tokenizer, &ds, eval_bs, |_| {});
            match scored {
                Ok(sc) => {
                    let e = EpochMetrics {
                        epoch: s.epoch,
                        metrics: rank_metrics(&ds, &sc),
                    };
                    if let Err(err) = log.line(&eval_line(assoc, seed, &e)) {
                        cb_err.get_or_insert(err);
                    }
                    per_epoch.push(e);
                    last_scores = Some(sc);
                }
                Err(err) => {
                    cb_err.get_or_insert(err);
                }
            }
        }
    })?;
    pb.finish_and_clear();
    if let Some(e) = cb_err {
        return Err(e);
    }

    let after_scores = match last_scores {
        Some(sc) => sc,
        None => {
            let pb = bar(n_eval, progress);
            pb.set_prefix(format!("{} eval", assoc.name));
            let sc = score_dataset(&model, &lm.tokenizer, &ds, eval_bs, |n| pb.inc(n as u64))?;
            pb.finish_and_clear();
            sc
        }
    };
    write_scores(&dir.join("scores_after.jsonl"), &after_scores)?;
    let after = rank_metrics(&ds, &after_scores);
    drop(model);

    let r = AssocResult {
        name: assoc.name.into(),
        seed,
        k: assoc.k(),
        title: assoc.title.into(),
        mean_rank_before: before.mean_rank,
        mean_rank_after: after.mean_rank,
        train_loss_final: *report.epoch_losses.last().expect("at least one epoch"),
        n_test_subjects: ds.test().count(),
        epochs: cfg.train.epochs,
        lr: cfg.optim.lr,
        seconds: t0.elapsed().as_secs_f64(),
        tokens_per_s: report.tokens_per_s,
        before,
        after,
        per_epoch,
        train: report,
        settings,
    };
    let mut v = serde_json::to_value(&r).expect("serializable");
    v["event"] = "association_done".into();
    v.as_object_mut().expect("object").remove("settings");
    log.line(&v)?;
    write_json(&dir.join("result.json"), &r)?;
    if progress {
        eprintln!(
            "{:>18}: seed {seed}: mean rank {:.2} -> {:.2} (among implications {:.2} -> {:.2}), fact loss {:.3}, {:.0} s, {:.0} tok/s",
            r.name,
            r.mean_rank_before,
            r.mean_rank_after,
            r.before.mean_rank_among_implications,
            r.after.mean_rank_among_implications,
            r.after.fact_loss,
            r.seconds,
            r.tokens_per_s
        );
    }
    Ok((r, trainable))
}

fn eval_line(assoc: &Association, seed: u64, e: &EpochMetrics) -> serde_json::Value {
    let mut v = serde_json::to_value(e.metrics).expect("serializable");
    v["event"] = "eval".into();
    v["assoc"] = assoc.name.into();
    v["seed"] = seed.into();
    v["epoch"] = e.epoch.into();
    v
}

/// Per test subject of one scores file: (rank among 2k, rank among k, top-1, within-type scores
/// and true index).
struct TestView {
    rank: Vec<f64>,
    within: Vec<f64>,
    top1: Vec<f64>,
    subjects: Vec<crate::stats::Subject>,
}

fn test_view(scores: &[RecordScores], k: usize) -> TestView {
    use crate::dataset::Relation;
    use oocr_core::rank::rank_with_ties;
    let test: Vec<&RecordScores> = scores
        .iter()
        .filter(|s| s.relation == Relation::Implication && !s.train_subject)
        .collect();
    TestView {
        rank: test
            .iter()
            .map(|s| rank_with_ties(&s.scores, s.answer_index))
            .collect(),
        within: test
            .iter()
            .map(|s| rank_with_ties(&s.scores[k..], s.answer_index - k))
            .collect(),
        top1: test
            .iter()
            .map(|s| f64::from(u8::from(rank_with_ties(&s.scores, s.answer_index) == 0.0)))
            .collect(),
        subjects: test
            .iter()
            .map(|s| (s.scores[k..].to_vec(), s.answer_index - k))
            .collect(),
    }
}

/// Means over seeds with 95% intervals and the test against chance, one entry per association,
/// from the scores files of each association and seed.
fn summarize(
    out: &Path,
    assocs: &[&'static Association],
    seeds: &[u64],
    results: &[AssocResult],
) -> Result<Vec<AssocSummary>> {
    let mut out_v = Vec::new();
    for a in assocs {
        let mut before = Vec::new();
        let mut after = Vec::new();
        let mut used = Vec::new();
        for &s in seeds {
            if !results.iter().any(|r| r.name == a.name && r.seed == s) {
                continue;
            }
            let dir = unit_dir(out, a.name, s);
            before.push(test_view(
                &read_scores(&dir.join("scores_before.jsonl"))?,
                a.k(),
            ));
            after.push(test_view(
                &read_scores(&dir.join("scores_after.jsonl"))?,
                a.k(),
            ));
            used.push(s);
        }
        let iv = |views: &[TestView], f: fn(&TestView) -> &Vec<f64>| {
            let g: Vec<Vec<f64>> = views.iter().map(|v| f(v).clone()).collect();
            bootstrap_mean(&g, RESAMPLES, STATS_SEED)
        };
        let subjects = |views: &[TestView]| -> Vec<Vec<crate::stats::Subject>> {
            views.iter().map(|v| v.subjects.clone()).collect()
        };
        let test_after = rank_test(&subjects(&after), PERMUTATIONS, STATS_SEED);
        out_v.push(AssocSummary {
            name: a.name.into(),
            title: a.title.into(),
            causal: a.causal,
            k: a.k(),
            seeds: used,
            mean_rank_before: iv(&before, |v| &v.rank),
            mean_rank_after: iv(&after, |v| &v.rank),
            within_rank_before: iv(&before, |v| &v.within),
            within_rank_after: iv(&after, |v| &v.within),
            top1_before: iv(&before, |v| &v.top1),
            top1_after: iv(&after, |v| &v.top1),
            test_before: rank_test(&subjects(&before), PERMUTATIONS, STATS_SEED),
            link_learned: test_after.p_value < 0.05,
            test_after,
        });
    }
    Ok(out_v)
}

/// Everything an evaluation-only run (`oocr llm eval`) depends on; saved as `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// GGUF file or Hugging Face folder (a base model, or a checkpoint fine-tuned elsewhere).
    pub model: PathBuf,
    /// Optional tokenizer.json overriding the model's.
    pub tokenizer: Option<PathBuf>,
    /// Association name, comma-separated names, or `all`.
    pub assoc: String,
    /// Association files adding to the built-ins.
    #[serde(default)]
    pub assoc_files: Vec<PathBuf>,
    /// Dataset size and split (which subjects count as trained on and as test subjects).
    pub dataset: DatasetConfig,
    /// Prompts per scoring forward pass.
    pub eval_batch_size: usize,
}

/// One association of an evaluation, as in its `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalAssocResult {
    /// Association name.
    pub name: String,
    /// Number of (fact, implication) pairs k: ranks are among 2k candidates.
    pub k: usize,
    /// Table title of the association.
    pub title: String,
    /// Number of test subjects.
    pub n_test_subjects: usize,
    /// Wall time of the scoring.
    pub seconds: f64,
    /// All rank measures.
    pub metrics: RankMetrics,
}

/// Contents of an evaluation's `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalResults {
    /// Model name.
    pub model: String,
    /// One entry per association, in the paper's order.
    pub associations: Vec<EvalAssocResult>,
    /// Model parameters.
    pub model_params: usize,
    /// Threads used by the tensor kernels.
    pub threads: usize,
    /// Wall time of the whole evaluation, model loading included.
    pub total_seconds: f64,
}

/// Check an evaluation's settings and output folder without touching the disk: the association
/// name, the dataset split, the batch size, and that `out` is a new or empty folder (or `force`).
pub fn check_eval(cfg: &EvalConfig, out: &Path, force: bool) -> Result<()> {
    for a in Catalog::load(&cfg.assoc_files)?.select(&cfg.assoc)? {
        cfg.dataset.validate_for(a)?;
    }
    if cfg.eval_batch_size == 0 {
        return Err(LlmError::config("eval_batch_size", "must be at least 1"));
    }
    if out.exists() {
        if !out.is_dir() {
            return Err(LlmError::config(
                "out",
                format!("{} exists and is not a folder", out.display()),
            ));
        }
        let mut entries = std::fs::read_dir(out).map_err(|e| LlmError::io(out, e))?;
        if entries.next().is_some() && !force {
            return Err(LlmError::config(
                "out",
                format!(
                    "{} exists and is not empty (pass --force to write into it)",
                    out.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Evaluate a model on each association without training: score every record, compute every
/// rank measure, and write `out` (`config.json`, `<assoc>/scores.jsonl` in the record format of
/// `scores_before.jsonl`, `<assoc>/{meta,train,test}` dataset files, `results.json`,
/// `results.md`). Settings are checked and the model is opened before anything is written; the
/// files are written in a staging folder beside `out` and moved into it at the end, so a failed
/// evaluation leaves nothing behind.
pub fn evaluate(cfg: &EvalConfig, out: &Path, force: bool, progress: bool) -> Result<EvalResults> {
    let start = Instant::now();
    check_eval(cfg, out, force)?;
    let assocs = Catalog::load(&cfg.assoc_files)?.select(&cfg.assoc)?;
    let mut lm = load(&cfg.model, cfg.tokenizer.as_deref())?;
    let model_params = lm.model.num_params();
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "eval".into());
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let stage = parent.join(format!(".{name}.oocr-eval-{}", std::process::id()));
    std::fs::create_dir_all(&stage).map_err(|e| LlmError::io(&stage, e))?;
    let res =
        evaluate_into(cfg, &lm, model_params, assocs, &stage, progress, start).and_then(|res| {
            move_into(&stage, out)?;
            Ok(res)
        });
    // The staging folder is ours: remove what is left of it (everything, on failure).
    let _ = std::fs::remove_dir_all(&stage);
    res
}

fn evaluate_into(
    cfg: &EvalConfig,
    lm: &LoadedModel,
    model_params: usize,
    assocs: Vec<&'static Association>,
    dir: &Path,
    progress: bool,
    start: Instant,
) -> Result<EvalResults> {
    write_json(&dir.join("config.json"), cfg)?;
    let mut results = Vec::new();
    for assoc in assocs {
        let t0 = Instant::now();
        let ds = Dataset::build(assoc, cfg.dataset)?;
        let sub = dir.join(assoc.name);
        ds.write(&sub)?;
        let pb = bar(ds.records.len() as u64, progress);
        pb.set_prefix(format!("{} eval", assoc.name));
        let scores = score_dataset(&lm.model, &lm.tokenizer, &ds, cfg.eval_batch_size, |n| {
            pb.inc(n as u64)
        })?;
        pb.finish_and_clear();
        write_scores(&sub.join("scores.jsonl"), &scores)?;
        let metrics = rank_metrics(&ds, &scores);
        let r = EvalAssocResult {
            name: assoc.name.into(),
            k: assoc.k(),
            title: assoc.title.into(),
            n_test_subjects: ds.test().count(),
            seconds: t0.elapsed().as_secs_f64(),
            metrics,
        };
        if progress {
            eprintln!(
                "{:>18}: mean rank {:.2} (among implications {:.2}), fact loss {:.3}, {:.0} s",
                r.name,
                r.metrics.mean_rank,
                r.metrics.mean_rank_among_implications,
                r.metrics.fact_loss,
                r.seconds
            );
        }
        results.push(r);
    }
    let res = EvalResults {
        model: lm.name.clone(),
        associations: results,
        model_params,
        threads: crate::threads(),
        total_seconds: start.elapsed().as_secs_f64(),
    };
    write_json(&dir.join("results.json"), &res)?;
    let md = dir.join("results.md");
    std::fs::write(&md, eval_markdown(&res)).map_err(|e| LlmError::io(&md, e))?;
    Ok(res)
}

/// Move every file under `from` to the same place under `to` (created if missing), replacing
/// files of the same name.
fn move_into(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| LlmError::io(to, e))?;
    let entries = std::fs::read_dir(from).map_err(|e| LlmError::io(from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LlmError::io(from, e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        if src.is_dir() {
            move_into(&src, &dst)?;
        } else {
            std::fs::rename(&src, &dst).map_err(|e| LlmError::io(&dst, e))?;
        }
    }
    Ok(())
}

/// One table cell of a rank measure.
type MetricCell = Box<dyn Fn(&RankMetrics) -> String>;

/// The Markdown report of an evaluation: one table per rank measure, one column per association,
/// laid out like a run's "pretrained" rows.
pub fn eval_markdown(res: &EvalResults) -> String {
    use std::fmt::Write as _;
    let f2 = |x: f64| format!("{x:.2}");
    let tables: [(&str, MetricCell); 8] = [
        (
            "Test subjects' implication: mean rank among the 2k candidates (k facts + k implications; chance (2k − 1)/2, 4.5 for k = 5)",
            Box::new(move |m| f2(m.mean_rank)),
        ),
        (
            "Test subjects' implication: mean rank among the k implications only (chance (k − 1)/2, 2.0 for k = 5)",
            Box::new(move |m| f2(m.mean_rank_among_implications)),
        ),
        (
            "Share of test subjects whose top answer is the true implication (chance 1/(2k), 0.10 for k = 5)",
            Box::new(move |m| f2(m.top1_share)),
        ),
        (
            "Counterfactual associations: share of test subjects whose top answer is the real-world implication",
            Box::new(move |m| m.real_world_top1_share.map_or("–".into(), f2)),
        ),
        (
            "Training subjects' implication: mean rank among 2k",
            Box::new(move |m| f2(m.train_implication_mean_rank)),
        ),
        (
            "Facts: mean rank among 2k",
            Box::new(move |m| f2(m.fact_mean_rank)),
        ),
        (
            "Facts: mean rank among the k facts only",
            Box::new(move |m| f2(m.fact_mean_rank_among_facts)),
        ),
        (
            "Answer loss (mean per-token negative log-likelihood of the true answer): facts / test implications",
            Box::new(|m| format!("{:.3} / {:.3}", m.fact_loss, m.test_implication_loss)),
        ),
    ];
    let mut s = format!(
        "## Evaluation: {}\n\nEvery record's 2k candidate answers ranked by the summed log-probability of the \
         answer after the prompt (no training). Lower ranks are better.\n\n",
        res.model
    );
    let assocs = &res.associations;
    for (title, metric) in &tables {
        write!(s, "### {title}\n\n| model |").unwrap();
        for a in assocs {
            write!(s, " {} |", a.title).unwrap();
        }
        s.push_str("\n|---|");
        s.push_str(&"---|".repeat(assocs.len()));
        write!(s, "\n| {} |", res.model).unwrap();
        for a in assocs {
            write!(s, " {} |", metric(&a.metrics)).unwrap();
        }
        s.push_str("\n\n");
    }
    s.push_str("Chance levels: (2k − 1)/2 among 2k, (k − 1)/2 among k, 1/(2k) for the top answer; k per association: ");
    let ks: Vec<String> = assocs
        .iter()
        .map(|a| format!("{} {}", a.title, a.k))
        .collect();
    s.push_str(&ks.join(", "));
    s.push_str(".\n\n");
    writeln!(
        s,
        "{} test subjects per association; {} parameters; {} threads; total {:.0} s.",
        res.associations.first().map_or(0, |r| r.n_test_subjects),
        res.model_params,
        res.threads,
        res.total_seconds
    )
    .unwrap();
    s
}
