#!/usr/bin/env bash
# Reproduce the paper's findings in the toy world (docs/reproduction.md): run the
# paper-* toy protocols, analyse each with `sine-bench reproduce-report`, and copy the
# tables and plots (not the images, not the store) to results/reference/.
# Usage: scripts/reproduce-paper-toy.sh [PROTOCOL_NAME ...]   (default: all seven)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE  # a shared CPU: see README, "On a shared or busy CPU"
protocols=("$@")
if [ ${#protocols[@]} -eq 0 ]; then
  protocols=(paper-k-sweep paper-v-sweep paper-overfit paper-nonsquare paper-nonsquare-why
             paper-nonsquare-followup paper-edit-size)
fi
for name in "${protocols[@]}"; do
  start=$(date +%s)
  sine-bench run "protocols/$name.yaml" --threads 1 --no-progress
  echo "$name: $(( $(date +%s) - start )) s wall" | tee "runs/$name.wall"
  dest="results/reference/$name"
  rm -rf "$dest" && mkdir -p "$dest"
  sine-bench reproduce-report "runs/$name" --out "$dest/reproduction" > /dev/null
  cp -r "runs/$name/summary" "runs/$name/plots" "$dest/"
  cp "runs/$name/summary.json" "runs/$name/cells.csv" "runs/$name/manifest.json" "$dest/"
  cp "runs/$name/protocol.yaml" "$dest/"  # the resolved protocol: reproduce-report reads it
  cp "runs/$name.wall" "$dest/wall_seconds.txt"
done
# The K and v sweeps together: v = 1 (K = 400) and K = 1000 (v = 0.7) must be the same
# pretrained samples; all cells pooled for metric validity.
pooled=()
for name in paper-k-sweep paper-v-sweep paper-overfit paper-nonsquare; do
  [ -f "runs/$name/cells.parquet" ] && pooled+=("runs/$name")
done
sine-bench reproduce-report "${pooled[@]}" --out results/reference/pooled > /dev/null
