#!/usr/bin/env bash
# CI test: a 9-point `oocr sweep` split over a real `sbatch --array=0-3` on a one-node Slurm.
# Starts Slurm (scripts/slurm-local.sh, as root), submits the array, waits for it, checks that
# every point ran exactly once and every task completed, aggregates, and stops the daemons.
#
#   bash scripts/test-slurm-sweep.sh            # builds target/debug/oocr if OOCR_BIN is unset
#   OOCR_BIN=/path/to/oocr bash scripts/test-slurm-sweep.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d /tmp/oocr-slurm-test.XXXXXX)"
chmod 755 "$WORK"
TIMEOUT_S="${SLURM_TEST_TIMEOUT_S:-150}"
say() { echo "test-slurm-sweep: $*" >&2; }
fail() {
    say "FAIL: $*"
    exit 1
}
cleanup() { bash "$ROOT/scripts/slurm-local.sh" stop || true; }
trap cleanup EXIT
start_s=$SECONDS

if [ -z "${OOCR_BIN:-}" ]; then
    (cd "$ROOT" && cargo build -q -p oocr-cli --bin oocr)
    OOCR_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/oocr"
fi
[ -x "$OOCR_BIN" ] || fail "no oocr binary at $OOCR_BIN"

bash "$ROOT/scripts/slurm-local.sh" start
eval "$(bash "$ROOT/scripts/slurm-local.sh" env)"

# 9 points: d_h ∈ {2, 4, 8} × 3 seeds on a 4-pair task, 200 GD steps each.
cat >"$WORK/base.toml" <<'EOF'
[task]
n = 4
m_train = 1
m_test = 1
[model]
embedding = "onehot"
d = 0
[train]
steps = 200
log_every = 50
EOF
cat >"$WORK/grid.toml" <<'EOF'
config = "base.toml"
seeds = [0, 1, 2]
[grid]
"model.d_h" = [2, 4, 8]
EOF
OUT="$WORK/sweep"
"$OOCR_BIN" sweep --grid "$WORK/grid.toml" --out "$OUT" --dry-run >/dev/null

# The sbatch line of the README: one array task per shard.
JOB=$(cd "$WORK" && sbatch --parsable --array=0-3 --cpus-per-task=1 --job-name=oocr-sweep \
    --output="$WORK/slurm-%A_%a.out" \
    --wrap "\"$OOCR_BIN\" sweep --grid \"$WORK/grid.toml\" --out \"$OUT\" --jobs 1 --shard \$((SLURM_ARRAY_TASK_ID+1))/\$SLURM_ARRAY_TASK_COUNT")
JOB="${JOB%%;*}"
say "submitted array job $JOB"

deadline=$((SECONDS + TIMEOUT_S))
while [ -n "$(squeue -h -j "$JOB" 2>/dev/null)" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "job $JOB still queued/running after ${TIMEOUT_S}s: $(squeue -j "$JOB")"
    sleep 1
done

# Every array task completed with exit code 0.
states="$(scontrol -o show job "$JOB" | grep -o 'JobState=[A-Z_]* .*ExitCode=[0-9:]*' | sed 's/ .*ExitCode=/ /')"
echo "$states" >&2
[ "$(echo "$states" | grep -c '^JobState=COMPLETED 0:0$')" = 4 ] || {
    cat "$WORK"/slurm-*.out >&2
    fail "not every array task completed"
}

# Every point ran exactly once: one "done" line per index 0..8 across the four shard logs, and
# nothing else in them; every point folder of sweep.json holds summary.json.
for i in 1 2 3 4; do
    [ -s "$OUT/points.shard-$i-of-4.jsonl" ] || fail "no log of shard $i/4"
done
done_idx="$(cat "$OUT"/points.shard-*-of-4.jsonl | grep '"status":"done"' |
    sed 's/^{"index":\([0-9]*\),.*/\1/' | sort -n | tr '\n' ' ')"
[ "$done_idx" = "0 1 2 3 4 5 6 7 8 " ] || fail "done indices '$done_idx', expected 0..8 once each"
[ "$(cat "$OUT"/points.shard-*-of-4.jsonl | wc -l)" = 9 ] || fail "extra log lines"
folders="$(grep -o '"folder": "[0-9a-f]*"' "$OUT/sweep.json" | sed 's/.*: "\(.*\)"/\1/')"
[ "$(echo "$folders" | sort -u | wc -l)" = 9 ] || fail "sweep.json does not list 9 distinct folders"
for f in $folders; do
    [ -s "$OUT/$f/summary.json" ] || fail "point folder $f has no summary.json"
done

# A rerun (unsharded) redoes nothing.
rerun="$("$OOCR_BIN" sweep --grid "$WORK/grid.toml" --out "$OUT")"
echo "$rerun" | grep -q "0 done, 9 skipped" || fail "rerun did work: $rerun"

"$OOCR_BIN" aggregate "$OUT" --out "$WORK/results.csv" --out "$WORK/results.md" >&2
[ "$(wc -l <"$WORK/results.csv")" = 4 ] || fail "results.csv should have a header and 3 rows"
head -c 300 "$WORK/results.csv" >&2
echo >&2
cat "$WORK/results.md" | cut -c1-160 >&2

say "PASS in $((SECONDS - start_s)) s (work folder $WORK)"
