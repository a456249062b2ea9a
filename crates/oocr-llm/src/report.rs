//! The Markdown report of a run, laid out like the paper's table: one column per association.
use crate::experiment::{AssocResult, AssocSummary, RunResults};
use crate::stats::Interval;
use std::fmt::Write;

/// Chance level of a measure for an association with k pairs.
pub type Chance = fn(usize) -> f64;

/// Chance mean rank among the 2k candidates.
pub fn chance_rank(k: usize) -> f64 {
    (2 * k - 1) as f64 / 2.0
}

/// Chance mean rank among the k implications.
pub fn chance_within(k: usize) -> f64 {
    (k - 1) as f64 / 2.0
}

/// Chance share of a true top answer among 2k candidates.
pub fn chance_top1(k: usize) -> f64 {
    1.0 / (2 * k) as f64
}

fn table(
    res: &RunResults,
    title: &str,
    chance: Chance,
    before: impl Fn(&AssocSummary) -> Interval,
    after: impl Fn(&AssocSummary) -> Interval,
) -> String {
    let sm = &res.summary;
    let mut s = format!("### {title}\n\n| model |");
    for a in sm {
        write!(s, " {} |", a.title).unwrap();
    }
    s.push_str("\n|---|");
    s.push_str(&"---|".repeat(sm.len()));
    s.push('\n');
    let row = |label: &str, f: &dyn Fn(&AssocSummary) -> String| {
        let cells: Vec<String> = sm.iter().map(f).collect();
        format!("| {label} | {} |\n", cells.join(" | "))
    };
    s += &row("chance", &|a| format!("{:.2}", chance(a.k)));
    s += &row(&format!("{} (pretrained)", res.model), &|a| {
        before(a).cell()
    });
    s += &row(&format!("{} ({})", res.model, res.method), &|a| {
        after(a).cell()
    });
    s
}

/// The Markdown report of a run: the paper's tables with means over seeds and 95% intervals, the
/// test of the within-type rank against chance, the rank per epoch, and per-seed details.
pub fn markdown_table(res: &RunResults) -> String {
    let seeds: Vec<String> = res
        .summary
        .first()
        .map(|a| a.seeds.iter().map(|x| x.to_string()).collect())
        .unwrap_or_default();
    let mut s = format!(
        "## Knowledge injection: {} fine-tuned with {}\n\nTest subjects' implications, ranked by the summed \
         log-probability of each candidate answer after the implication prompt. Lower is better. Each cell: \
         mean over seeds {} [95% interval, bootstrap over seeds and over test subjects within a seed].\n\n",
        res.model,
        res.method,
        seeds.join(", ")
    );
    s += &table(
        res,
        "Mean rank among the 2k candidates (k facts + k implications; chance (2k − 1)/2, 4.5 for k = 5)",
        chance_rank,
        |a| a.mean_rank_before,
        |a| a.mean_rank_after,
    );
    s.push('\n');
    s += &table(
        res,
        "Mean rank among the k implications only (within type; chance (k − 1)/2, 2.0 for k = 5)",
        chance_within,
        |a| a.within_rank_before,
        |a| a.within_rank_after,
    );
    let cells = |f: &dyn Fn(&AssocSummary) -> String| -> String {
        res.summary.iter().map(f).collect::<Vec<_>>().join(" | ")
    };
    writeln!(
        s,
        "| p-value, within-type rank after < chance (one-sided permutation test) | {} |",
        cells(&|a| format!("{:.4}", a.test_after.p_value))
    )
    .unwrap();
    writeln!(
        s,
        "| link learned (p < 0.05) | {} |\n",
        cells(&|a| if a.link_learned {
            "yes".into()
        } else {
            "no".into()
        })
    )
    .unwrap();
    s += &table(
        res,
        "Share of test subjects whose top answer is the true implication (chance 1/(2k), 0.10 for k = 5)",
        chance_top1,
        |a| a.top1_before,
        |a| a.top1_after,
    );
    s.push('\n');
    s += &epoch_table(res);
    s += "### Details per association and seed\n\n| association | seed | fact loss before → after | fact rank after | train-implication rank after \
          | test-implication loss before → after | CF: top answer is the real-world language, before → after \
          | epochs | lr | final train loss | seconds | train tokens/s |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for r in &res.associations {
        let cf = match (
            r.before.real_world_top1_share,
            r.after.real_world_top1_share,
        ) {
            (Some(b), Some(a)) => format!("{b:.2} → {a:.2}"),
            _ => "–".into(),
        };
        writeln!(
            s,
            "| {} | {} | {:.3} → {:.3} | {:.2} | {:.2} | {:.2} → {:.2} | {} | {} | {:.0e} | {:.4} | {:.0} | {:.0} |",
            r.title,
            r.seed,
            r.before.fact_loss,
            r.after.fact_loss,
            r.after.fact_mean_rank,
            r.after.train_implication_mean_rank,
            r.before.test_implication_loss,
            r.after.test_implication_loss,
            cf,
            r.epochs,
            r.lr,
            r.train_loss_final,
            r.seconds,
            r.tokens_per_s
        )
        .unwrap();
    }
    writeln!(
        s,
        "\n{} test subjects per association and seed; {} trainable of {} parameters; {} threads; this invocation {:.0} s.",
        res.associations.first().map_or(0, |r| r.n_test_subjects),
        res.trainable_params,
        res.model_params,
        res.threads,
        res.total_seconds
    )
    .unwrap();
    s
}

/// Mean over seeds of the within-type rank after each epoch (epoch 0: pretrained), one column
/// per association; empty when the run evaluated only before and after.
pub fn epoch_table(res: &RunResults) -> String {
    let curves = epoch_curves(res);
    let epochs = curves.iter().map(|c| c.1.len()).max().unwrap_or(0);
    if epochs == 0 {
        return String::new();
    }
    let mut s = String::from(
        "### Within-type rank per epoch (mean over seeds; epoch 0 = pretrained)\n\n| epoch |",
    );
    for (title, _) in &curves {
        write!(s, " {title} |").unwrap();
    }
    s.push_str("\n|---|");
    s.push_str(&"---|".repeat(curves.len()));
    s.push('\n');
    for e in 0..epochs {
        write!(s, "| {e} |").unwrap();
        for (_, c) in &curves {
            match c.get(e) {
                Some(x) => write!(s, " {x:.2} |").unwrap(),
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }
    s.push('\n');
    s
}

/// Per association (title), the mean over seeds of the within-type rank at epochs 0, 1, …
pub fn epoch_curves(res: &RunResults) -> Vec<(String, Vec<f64>)> {
    res.summary
        .iter()
        .map(|a| {
            let runs: Vec<&AssocResult> = res
                .associations
                .iter()
                .filter(|r| r.name == a.name && !r.per_epoch.is_empty())
                .collect();
            let n = runs.iter().map(|r| r.per_epoch.len()).min().unwrap_or(0);
            let curve = (0..n)
                .map(|e| {
                    runs.iter()
                        .map(|r| r.per_epoch[e].metrics.mean_rank_among_implications)
                        .sum::<f64>()
                        / runs.len() as f64
                })
                .collect();
            (a.title.clone(), curve)
        })
        .collect()
}
