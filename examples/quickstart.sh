#!/usr/bin/env bash
# End-to-end example on simulated data (a few minutes on a 2-core CPU).
# Usage: bash examples/quickstart.sh [OUT_DIR]      (default: examples/out)
set -euo pipefail
out=${1:-"$(dirname "$0")/out"}
mkdir -p "$out"

# 1. Synthetic transcripts with planted zipcodes (known answers), 4 compartments.
rnatracker simulate --out "$out/sim" --n 400 --max-length 3000 --seed 0 --force

# 2. Dataset cache, from the FASTA route and from the genome + GTF route.
rnatracker prepare --fasta "$out/sim/transcripts.fa" --localization "$out/sim/localization.tsv" \
    --out "$out/sim.h5" --force
rnatracker prepare --genome "$out/sim/genome.fa" --gtf "$out/sim/annotation.gtf" \
    --localization "$out/sim/localization.tsv" --out "$out/sim_genome.h5" --force

# 3. Train the paper's network (full-length mode). A real run uses the default 100 epochs
#    with early stopping on thousands of transcripts; 40 epochs on 400 keep this example
#    short (about a minute on 2 CPU cores), so the model here is a demonstration of the
#    pipeline, not an accurate predictor (see docs/model.md for trained figures).
rnatracker train "$out/sim.h5" --out "$out/run" --epochs 40 --seed 0 --force

# 4. Predict localization of transcripts (here: the simulated ones) to a TSV.
rnatracker predict "$out/run" "$out/sim/transcripts.fa" --out "$out/predictions.tsv" --force
head -n 5 "$out/predictions.tsv"

# 5. Zipcode scan of three transcripts: regions whose masking changes the prediction (BED),
#    and the per-nucleotide KL as a bedGraph track.
rnatracker scan-zipcodes "$out/run" "$out/sim/transcripts.fa" --ids SIMT00000001,SIMT00000002,SIMT00000003 \
    --out "$out/zipcodes.bed" --track "$out/zipcodes.bedgraph" --force

echo "done: outputs in $out" >&2
