#!/usr/bin/env bash
# Quickstart on real human mRNAs with the built-in model (no training, nothing downloaded).
# Usage: bash examples/quickstart_real.sh [OUT_DIR]      (default: examples/out/real)
# Inputs: examples/data/mrna.fa, 10 human mRNAs from lncATLAS (examples/data/README.md);
# their nuclear/cytoplasmic labels are in examples/data/mrna.tsv for comparison.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out=${1:-"$here/out/real"}
mkdir -p "$out"

# 1. The built-in models that ship with rnatracker (the default one is marked *).
rnatracker models

# 2. Nuclear/cytoplasmic localization of each transcript with the default built-in model
#    (no --model): a TSV with id, length, one column per compartment, predominant.
rnatracker predict "$here/data/mrna.fa" --out "$out/predictions.tsv" --force
column -t "$out/predictions.tsv" 2>/dev/null || cat "$out/predictions.tsv"

# 3. Candidate zipcodes: regions whose masking changes the prediction (BED, one line per
#    region), and the per-nucleotide KL as a bedGraph track for a genome browser.
rnatracker scan-zipcodes "$here/data/mrna.fa" --out "$out/zipcodes.bed" --track "$out/zipcodes.bedgraph" --force
echo "zipcode regions: $(grep -vc '^#' "$out/zipcodes.bed" || true)" >&2
head -n 5 "$out/zipcodes.bed"

echo "done: outputs in $out" >&2
