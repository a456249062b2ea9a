#!/usr/bin/env bash
# oocr's side of the authors'-code comparison (README, "The authors' code"): the presets
# authors-main (merged, as the main script) and authors-rank-sweep at r = 4, 16, 64, seeds 0-2,
# evaluated on 1000 fresh sequences per block (as scripts/authors/run_reference.py does for theirs).
#   scripts/authors/run_oocr.sh OUT [SWEEP_STEPS]      (SWEEP_STEPS default: the preset's 20000)
# Needs a built `oocr` (OOCR, default target/release/oocr). Writes OUT/<name>/ run folders.
set -euo pipefail
out=${1:?usage: run_oocr.sh OUT [SWEEP_STEPS]}
sweep_steps=${2:-20000}
oocr=${OOCR:-target/release/oocr}
for s in 0 1 2; do
  "$oocr" train --preset authors-main --set train.seed=$s --set train.eval_size=1000 \
    --out "$out/main-s$s" --force
done
for r in 4 16 64; do
  for s in 0 1 2; do
    "$oocr" train --preset authors-rank-sweep --set model.d_h=$r --set train.seed=$s \
      --set train.steps="$sweep_steps" --set train.eval_size=1000 \
      --out "$out/sweep-r$r-steps$sweep_steps-s$s" --force
  done
done
