#!/usr/bin/env python3
"""The side-by-side table of the README ("The authors' code"): final train loss, test loss and test
accuracy, mean ± sample std (min–max) over seeds, of the authors' code (JSON lines written by
run_reference.py) and of oocr (run folders written by run_oocr.sh).

  python3 scripts/authors/table.py --ref ref.jsonl [--ref more.jsonl] --oocr OUT
"""
import argparse
import glob
import json
import os
import re
import statistics


def fmt(xs, digits):
    m = statistics.mean(xs)
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{m:.{digits}f} ± {sd:.{digits}f} ({min(xs):.{digits}f}–{max(xs):.{digits}f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", action="append", required=True)
    ap.add_argument("--oocr", required=True)
    a = ap.parse_args()
    rows = {}
    for path in a.ref:
        for line in open(path):
            d = json.loads(line)
            name = "main (merged)" if d["script"] == "main" else f"sweep r = {d['rank']}"
            rows.setdefault((name, d["steps"], "authors' code"), []).append(d)
    for summary in sorted(glob.glob(os.path.join(a.oocr, "*", "summary.json"))):
        s = json.load(open(summary))
        folder = os.path.basename(os.path.dirname(summary))
        cfg = s["config"]
        if folder.startswith("main"):
            name = "main (merged)"
        else:
            name = f"sweep r = {cfg['model']['d_h']}"
        d = dict(s["final"], seed=cfg["train"]["seed"])
        rows.setdefault((name, s["steps"], "oocr"), []).append(d)

    def order(key):
        name, steps, side = key
        r = re.search(r"\d+", name)
        return (name.startswith("sweep"), int(r[0]) if r else 0, steps, side)

    print("| run | steps | side | seeds | train loss | test loss | test accuracy |")
    print("|---|---|---|---|---|---|---|")
    for key in sorted(rows, key=order):
        ds = rows[key]
        name, steps, side = key
        print(
            f"| {name} | {steps} | {side} | {','.join(str(d['seed']) for d in sorted(ds, key=lambda d: d['seed']))} "
            f"| {fmt([d['train_loss'] for d in ds], 4)} | {fmt([d['test_loss'] for d in ds], 3)} "
            f"| {fmt([d['test_accuracy'] for d in ds], 3)} |"
        )


if __name__ == "__main__":
    main()
