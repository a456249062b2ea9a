"""oocr from Python: train the paper's two models and draw the Sec. 3.2 heatmaps of W_OV.

    pip install ./crates/oocr-py matplotlib
    python examples/python/quickstart.py [OUT.png]

The factorized model (W_O W_V^T) fills the test-implication block of W_OV with the pair
structure it never saw in training (it generalizes); the merged W_OV leaves that block without
any pair information (it does not). Each panel is W_OV[answers, subjects ∪ {r1, r2}]; the
right-hand panels have each column's mean over the fact rows and over the implication rows
removed, which shows the block structure.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import oocr  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "heatmaps.png"

runs = {}
for preset in ("paper-factorized", "paper-nonfactorized"):
    run = oocr.train(preset)
    f = run.final
    print(
        f"{preset:20s} {run.steps:6d} steps in {run.elapsed_s:.2f} s: train loss {f['train_loss']:.4f}, "
        f"test loss {f['test_loss']:.4f}, test accuracy {f['test_accuracy']:.2f}, "
        f"test mean rank {f['test_mean_rank']:.2f}, rank W_OV {f['rank']}"
    )
    runs[preset] = run

nuc = oocr.svm("paper-factorized", "nuclear")
fro = oocr.svm("paper-factorized", "frobenius")
for name, sol in (("nuclear", nuc), ("frobenius", fro)):
    print(
        f"{name:9s} max-margin SVM: objective {sol['objective']:.6f} ({sol['status']}), "
        f"test margin {sol['margin_test_vs_implications_min']:.6f} "
        f"(closed form {sol['closed_form_test_margin']:.6f})"
    )
for preset, run in runs.items():
    print(f"cosine of {preset} W_OV with the nuclear / Frobenius solution: "
          f"{run.final['cos_nuclear_svm']:.4f} / {run.final['cos_frobenius_svm']:.4f}")


def centred(w, n):
    """Each column minus its mean over the fact rows (0..n) and over the implication rows."""
    w = w.copy()
    for rows in (slice(0, n), slice(n, 2 * n)):
        w[rows] -= w[rows].mean(axis=0, keepdims=True)
    return w


cfg = runs["paper-factorized"].config
n = cfg.get("task.n")
n_train = n * cfg.get("task.m_train")  # columns: train subjects, test subjects, r1, r2
n_subjects = n_train + n * cfg.get("task.m_test")
fig, axes = plt.subplots(2, 2, figsize=(14, 8), constrained_layout=True)
for row, (preset, run) in zip(axes, runs.items()):
    w = run.w_ov()
    for ax, (title, m) in zip(row, (("raw", w), ("column-centred", centred(w, n)))):
        vmax = np.abs(m).max()
        im = ax.imshow(m, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto", interpolation="nearest")
        for x in (n_train - 0.5, n_subjects - 0.5):
            ax.axvline(x, color="k", lw=0.8)
        ax.axhline(n - 0.5, color="k", lw=0.8)
        ax.set_title(f"{preset}: W_OV, {title}")
        ax.set_yticks([n / 2 - 0.5, 1.5 * n - 0.5], ["facts b_i", "implications c_i"])
        ax.set_xticks(
            [n_train / 2, (n_train + n_subjects) / 2, n_subjects + 0.5],
            ["train subjects", "test subjects", "r1 r2"],
        )
        fig.colorbar(im, ax=ax, shrink=0.8)
fig.savefig(out, dpi=110)
print(f"wrote {out}")
