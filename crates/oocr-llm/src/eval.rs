//! Mean-rank evaluation: score the 2k candidate answers of each prompt by the summed
//! log-probability of the whole answer continuation, then rank the true answer (0-indexed, ties
//! counted half).
use crate::batch::scoring_batch;
use crate::dataset::{Dataset, Relation};
use crate::error::Result;
use crate::model::CausalLm;
use crate::tokenizer::TextTokenizer;
use oocr_core::rank::{mean_rank, rank_with_ties};
use serde::{Deserialize, Serialize};

/// Summed log-probabilities of every candidate after one record's prompt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordScores {
    /// The subject.
    pub subject: String,
    /// Fact or implication prompt.
    pub relation: Relation,
    /// Whether the subject's implication was trained on.
    pub train_subject: bool,
    /// Index of the true answer among the candidates.
    pub answer_index: usize,
    /// Summed log-probability of each candidate continuation (candidate order of the dataset).
    pub scores: Vec<f64>,
    /// Number of tokens of each candidate.
    pub lengths: Vec<usize>,
}

/// Score every record of `ds` (facts and implications of all subjects).
pub fn score_dataset(
    model: &CausalLm,
    tok: &TextTokenizer,
    ds: &Dataset,
    batch_size: usize,
    mut on_batch: impl FnMut(usize),
) -> Result<Vec<RecordScores>> {
    let cands: Vec<Vec<u32>> = ds
        .candidates
        .iter()
        .map(|c| tok.encode_continuation(c))
        .collect::<Result<_>>()?;
    let lengths: Vec<usize> = cands.iter().map(Vec::len).collect();
    let prompts: Vec<Vec<u32>> = ds
        .records
        .iter()
        .map(|r| tok.encode_prompt(&r.prompt))
        .collect::<Result<_>>()?;
    let mut out = Vec::with_capacity(ds.records.len());
    for (chunk_recs, chunk_prompts) in ds
        .records
        .chunks(batch_size.max(1))
        .zip(prompts.chunks(batch_size.max(1)))
    {
        let refs: Vec<&[u32]> = chunk_prompts.iter().map(Vec::as_slice).collect();
        let batch = scoring_batch(&refs, &cands, 0)?;
        let lp: Vec<f32> = model
            .target_logprobs(&batch.inputs, &batch.rows, &batch.targets)?
            .to_vec1()?;
        let mut it = lp.into_iter();
        for r in chunk_recs {
            let scores = lengths
                .iter()
                .map(|&n| it.by_ref().take(n).map(f64::from).sum())
                .collect();
            out.push(RecordScores {
                subject: r.subject.clone(),
                relation: r.relation,
                train_subject: r.train_subject,
                answer_index: r.answer_index,
                scores,
                lengths: lengths.clone(),
            });
        }
        on_batch(chunk_recs.len());
    }
    Ok(out)
}

/// Rank measures of one evaluation (before or after fine-tuning).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankMetrics {
    /// Test subjects' implications: mean rank among the 2k candidates (chance (2k − 1)/2, 4.5 for
    /// k = 5). The paper's measure.
    pub mean_rank: f64,
    /// Test subjects' implications: mean rank among the k implications only (chance (k − 1)/2).
    pub mean_rank_among_implications: f64,
    /// Share of test subjects whose top-scored candidate (of 2k) is the true implication.
    pub top1_share: f64,
    /// Counterfactual associations: share of test subjects whose top candidate is the fact's
    /// real-world implication (e.g. French for Paris). `None` otherwise.
    pub real_world_top1_share: Option<f64>,
    /// Training subjects' implications (trained on): mean rank among 2k.
    pub train_implication_mean_rank: f64,
    /// Facts of all subjects (trained on): mean rank among 2k.
    pub fact_mean_rank: f64,
    /// Facts: mean rank among the k facts only.
    pub fact_mean_rank_among_facts: f64,
    /// Facts: mean per-token negative log-likelihood of the true answer ("answer loss").
    pub fact_loss: f64,
    /// Test implications: mean per-token negative log-likelihood of the true answer.
    pub test_implication_loss: f64,
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

/// Compute the rank measures from record scores.
pub fn rank_metrics(ds: &Dataset, scores: &[RecordScores]) -> RankMetrics {
    let test: Vec<&RecordScores> = scores
        .iter()
        .filter(|s| s.relation == Relation::Implication && !s.train_subject)
        .collect();
    let train_impl: Vec<&RecordScores> = scores
        .iter()
        .filter(|s| s.relation == Relation::Implication && s.train_subject)
        .collect();
    let facts: Vec<&RecordScores> = scores
        .iter()
        .filter(|s| s.relation == Relation::Fact)
        .collect();
    let k = ds.assoc.k();
    let nll = |s: &RecordScores| -s.scores[s.answer_index] / s.lengths[s.answer_index] as f64;
    let real_world_top1_share = ds.assoc.real_world.as_ref().map(|_| {
        mean(test.iter().map(|s| {
            let real = ds
                .real_world_index(s.answer_index - k)
                .expect("counterfactual association");
            if rank_with_ties(&s.scores, real) == 0.0 {
                1.0
            } else {
                0.0
            }
        }))
    });
    RankMetrics {
        mean_rank: mean_rank(test.iter().map(|s| (s.scores.as_slice(), s.answer_index))),
        mean_rank_among_implications: mean_rank(
            test.iter().map(|s| (&s.scores[k..], s.answer_index - k)),
        ),
        top1_share: mean(
            test.iter()
                .map(|s| f64::from(u8::from(rank_with_ties(&s.scores, s.answer_index) == 0.0))),
        ),
        real_world_top1_share,
        train_implication_mean_rank: mean_rank(
            train_impl
                .iter()
                .map(|s| (s.scores.as_slice(), s.answer_index)),
        ),
        fact_mean_rank: mean_rank(facts.iter().map(|s| (s.scores.as_slice(), s.answer_index))),
        fact_mean_rank_among_facts: mean_rank(
            facts.iter().map(|s| (&s.scores[..k], s.answer_index)),
        ),
        fact_loss: mean(facts.iter().map(|s| nll(s))),
        test_implication_loss: mean(test.iter().map(|s| nll(s))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{association, DatasetConfig, Record};

    fn fake(ds: &Dataset, f: impl Fn(&Record) -> Vec<f64>) -> Vec<RecordScores> {
        ds.records
            .iter()
            .map(|r| RecordScores {
                subject: r.subject.clone(),
                relation: r.relation,
                train_subject: r.train_subject,
                answer_index: r.answer_index,
                scores: f(r),
                lengths: vec![2; 10],
            })
            .collect()
    }

    #[test]
    fn hand_built_scores_with_ties() {
        let cfg = DatasetConfig {
            group_size: 5,
            train_ratio: 0.2,
            seed: 1,
        };
        let ds = Dataset::build(association("city-language-cf").unwrap(), cfg).unwrap();
        // Uniform scores: every rank is a full tie, (10 - 1) / 2 = 4.5 among 10, 2.0 among 5.
        let m = rank_metrics(&ds, &fake(&ds, |_| vec![-1.0; 10]));
        assert_eq!(m.mean_rank, 4.5);
        assert_eq!(m.mean_rank_among_implications, 2.0);
        assert_eq!(m.top1_share, 0.0);
        assert_eq!(m.fact_loss, 0.5);
        // Implications all score above facts, the true one ties with one other implication:
        // rank 0.5 among 10 and among 5; never strictly on top.
        let m = rank_metrics(
            &ds,
            &fake(&ds, |r| {
                let mut s = vec![-9.0; 10];
                for x in &mut s[5..] {
                    *x = -3.0;
                }
                s[r.answer_index] = -1.0;
                let other = if r.answer_index == 9 {
                    8
                } else {
                    r.answer_index + 1
                };
                if r.relation == Relation::Implication {
                    s[other] = -1.0;
                }
                s
            }),
        );
        assert_eq!(m.mean_rank, 0.5);
        assert_eq!(m.mean_rank_among_implications, 0.5);
        assert_eq!(m.top1_share, 0.0);
        assert_eq!(
            m.fact_mean_rank, 0.0,
            "the true fact scores strictly highest"
        );
        assert_eq!(m.fact_mean_rank_among_facts, 0.0);
        assert_eq!(m.train_implication_mean_rank, 0.5);
        // Real-world language strictly on top for every test subject.
        let m = rank_metrics(
            &ds,
            &fake(&ds, |r| {
                let mut s = vec![-5.0; 10];
                if r.relation == Relation::Implication {
                    s[ds.real_world_index(r.answer_index - 5).unwrap()] = 0.0;
                }
                s
            }),
        );
        assert_eq!(m.real_world_top1_share, Some(1.0));
        assert_eq!(m.top1_share, 0.0);
        assert_eq!(
            m.mean_rank, 5.0,
            "true answer ties with 8 others below one: 1 + 8/2"
        );
    }
}
