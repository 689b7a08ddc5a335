"""How well could an ideal motif scanner recover a simulation's zipcodes? (a ceiling)

    python benchmarks/pwm_ceiling.py SIM_DIR [--max-mismatches 3]

Reads ``SIM_DIR/{transcripts.fa,motifs.meme,zipcodes.bed}`` as written by ``rnatracker
simulate``. For each motif, every position of every transcript is scored by its mismatches to
the motif's consensus (the PWM's most likely base per column). A scanner that knows the motifs
exactly calls the sites with at most K mismatches; per K this prints

- recall: the share of truth zipcodes of that motif holding a site with ≤ K mismatches, and
- site precision: the share of such sites that lie in a truth zipcode of that motif.

No model trained on the data can do better than the best trade-off in this table, since the
motif is all that separates a zipcode from the background. With the current simulator the
rule *is* "≤ 1 mismatch", so K = 1 gives 1.000 / 1.000; for simulations whose truth lists
only planted copies, chance matches in the background cap what any scan can reach.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from rnatracker_cli.io.fasta import read_fasta


def read_consensus(meme: Path) -> dict[str, np.ndarray]:
    motifs = {}
    number = r"[0-9.eE+-]+"
    row = re.compile(rf"^\s*{number}\s+{number}\s+{number}\s+{number}\s*$")
    for block in meme.read_text().split("\nMOTIF ")[1:]:
        rows = [[float(v) for v in line.split()] for line in block.splitlines()[1:] if row.match(line)]
        motifs[block.split()[0]] = np.asarray(rows).argmax(axis=1)
    return motifs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sim", type=Path)
    parser.add_argument("--max-mismatches", type=int, default=3)
    args = parser.parse_args()
    seqs = {r.id: r.codes for r in read_fasta(args.sim / "transcripts.fa")}
    truth = pd.read_csv(args.sim / "zipcodes.bed", sep="\t", header=None, usecols=[0, 1, 2, 6],
                        names=["chrom", "start", "end", "motif"])
    total = sum(len(s) for s in seqs.values())
    print(f"{args.sim}: {len(seqs)} transcripts, {total:,} nt, {len(truth)} truth zipcodes")
    print(f"{'motif':8s} {'width':>5s} {'zipcodes':>8s} {'K':>2s} {'recall':>7s} {'sites':>7s} "
          f"{'in truth':>8s} {'site precision':>14s}")
    for motif, consensus in read_consensus(args.sim / "motifs.meme").items():
        width = len(consensus)
        rows = truth[truth.motif == motif]
        by_tx = {tx: g for tx, g in rows.groupby("chrom")}
        best, site_mm, site_in = [], [], []
        for tx, seq in seqs.items():
            if len(seq) < width:
                continue
            mm = (np.lib.stride_tricks.sliding_window_view(seq, width) != consensus).sum(axis=1)
            inside = np.zeros(len(mm), dtype=bool)
            for z in by_tx.get(tx, rows.iloc[:0]).itertuples():
                last = max(z.start, z.end - width)
                best.append(int(mm[z.start : last + 1].min()))
                inside[z.start : last + 1] = True
            keep = mm <= args.max_mismatches
            site_mm.append(mm[keep])
            site_in.append(inside[keep])
        best_a, mm_a, in_a = np.array(best), np.concatenate(site_mm), np.concatenate(site_in)
        for k in range(args.max_mismatches + 1):
            sites = mm_a <= k
            n_sites, n_in = int(sites.sum()), int((sites & in_a).sum())
            recall = (best_a <= k).mean() if len(best_a) else float("nan")
            precision = n_in / n_sites if n_sites else float("nan")
            print(f"{motif:8s} {width:5d} {len(best_a):8d} {k:2d} {recall:7.3f} {n_sites:7d} {n_in:8d} {precision:14.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
