//! The Markdown report of a run, laid out like the paper's table: one column per association.
use crate::dataset::ASSOCIATIONS;
use crate::eval::RankMetrics;
use crate::experiment::{AssocResult, RunResults};
use std::fmt::Write;

fn row(res: &RunResults, label: &str, f: impl Fn(&AssocResult) -> String) -> String {
    let cells: Vec<String> = ASSOCIATIONS
        .iter()
        .map(|a| {
            res.associations
                .iter()
                .find(|r| r.name == a.name)
                .map(&f)
                .unwrap_or_else(|| "–".into())
        })
        .collect();
    format!("| {label} | {} |\n", cells.join(" | "))
}

fn table(res: &RunResults, title: &str, metric: impl Fn(&RankMetrics) -> f64) -> String {
    let mut s = format!("### {title}\n\n| model |");
    for a in &ASSOCIATIONS {
        write!(s, " {} |", a.title).unwrap();
    }
    s.push_str("\n|---|");
    s.push_str(&"---|".repeat(ASSOCIATIONS.len()));
    s.push('\n');
    s.push_str(&row(res, &format!("{} (pretrained)", res.model), |r| {
        format!("{:.2}", metric(&r.before))
    }));
    s.push_str(&row(res, &format!("{} ({})", res.model, res.method), |r| {
        format!("{:.2}", metric(&r.after))
    }));
    s.push('\n');
    s
}

/// The Markdown report of a run.
pub fn markdown_table(res: &RunResults) -> String {
    let mut s = format!(
        "## Knowledge injection: {} fine-tuned with {}\n\nTest subjects' implications, ranked by the summed \
         log-probability of each candidate answer after the implication prompt. Lower is better.\n\n",
        res.model, res.method
    );
    s += &table(
        res,
        "Mean rank among the 10 candidates (5 facts + 5 implications; chance 4.5)",
        |m| m.mean_rank,
    );
    s += &table(
        res,
        "Mean rank among the 5 implications only (chance 2.0)",
        |m| m.mean_rank_among_implications,
    );
    s += &table(
        res,
        "Share of test subjects whose top answer is the true implication (chance 0.10)",
        |m| m.top1_share,
    );
    s += "### Details\n\n| association | fact loss before → after | fact rank after | train-implication rank after \
          | test-implication loss before → after | CF: top answer is the real-world language, before → after \
          | epochs | lr | final train loss | seconds | train tokens/s |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
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
            "| {} | {:.3} → {:.3} | {:.2} | {:.2} | {:.2} → {:.2} | {} | {} | {:.0e} | {:.4} | {:.0} | {:.0} |",
            r.title,
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
        "\n{} test subjects per association; {} trainable of {} parameters; {} threads; total {:.0} s.",
        res.associations.first().map_or(0, |r| r.n_test_subjects),
        res.trainable_params,
        res.model_params,
        res.threads,
        res.total_seconds
    )
    .unwrap();
    s
}
