"""Motif recovery on simulated data: simulate → prepare → train → scan-zipcodes → motifs.

    python benchmarks/motif_recovery.py [--n 2000] [--workdir DIR] [--threads 1]
        [--train-args "--epochs 100"] [--scan-args "--stride 5"] [--scan-max 200] [--reuse]

Every step is the real command (``python -m rnatracker_cli …``), as a user runs it:

1. ``simulate --n N --seed S --no-genome`` (planted motifs in ``sim/motifs.meme``);
2. ``prepare`` a cache of all transcripts, ``train`` with the defaults (plus ``--train-args``);
3. ``scan-zipcodes`` on the first ``--scan-max`` transcripts (defaults plus ``--scan-args``);
4. ``motifs sim/transcripts.fa --model run --db sim/motifs.meme --zipcodes calls.bed`` (the
   FASTA, not the cache: ``prepare`` drops low-expression transcripts, which are scanned too).

Per planted motif it reports the best filter match (Tomtom q-value) and the enrichment of the
motif in zipcodes of its own fraction and direction: *found by a filter* = some filter's
Tomtom q < 0.05 against it; *enriched* = q < 0.05 with odds ratio > 1 in the zipcodes called
for the motif's fraction and direction. Target (issue 11): ≥ 80 % of planted motifs found by
filters or enrichment, none missed by both. Tomtom p-values against a 6-motif database are
rough (memelite estimates the null from the targets' columns; MEME warns below 50 targets).

``--reuse`` keeps the outputs of earlier steps found in ``--workdir``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def _run(args: list[str], threads: int) -> float:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               NUMBA_NUM_THREADS=str(threads))
    print("$ rnatracker " + " ".join(shlex.quote(a) for a in args), flush=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rnatracker_cli", *args], check=True, env=env)
    seconds = time.perf_counter() - start
    print(f"  ({seconds:.0f} s)", flush=True)
    return seconds


def _first_records(fasta: Path, n: int, out: Path) -> None:
    count = 0
    with open(fasta) as src, open(out, "w") as dst:
        for line in src:
            if line.startswith(">"):
                count += 1
                if count > n:
                    break
            dst.write(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here (default: a temporary folder)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-args", default="", help="extra `train` options, e.g. \"--epochs 30\"")
    parser.add_argument("--scan-args", default="", help="extra `scan-zipcodes` options")
    parser.add_argument("--scan-max", type=int, default=200, help="scan the first this many transcripts")
    parser.add_argument("--reuse", action="store_true", help="keep earlier steps' outputs found in --workdir")
    args = parser.parse_args()
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="rnatracker-motifs-")
        work = Path(tmp.name)
    else:
        work = args.workdir
        work.mkdir(parents=True, exist_ok=True)
    sim, run, cache = work / "sim", work / "run", work / "sim.h5"
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    if not (args.reuse and (sim / "motifs.meme").exists()):
        seconds["simulate"] = _run(["simulate", "--out", str(sim), "--n", str(args.n), "--seed", str(args.seed),
                                    "--no-genome", "--force"], args.threads)
    if not (args.reuse and cache.exists()):
        seconds["prepare"] = _run(["prepare", "--fasta", str(sim / "transcripts.fa"), "-l",
                                   str(sim / "localization.tsv"), "-o", str(cache), "--force"], args.threads)
    if not (args.reuse and (run / "model.pt").exists()):
        seconds["train"] = _run(["train", str(cache), "--out", str(run), "--force", "--seed", str(args.seed),
                                 "--device", "cpu", *shlex.split(args.train_args)], args.threads)
    calls = work / "calls.bed"
    if not (args.reuse and calls.exists()):
        _first_records(sim / "transcripts.fa", args.scan_max, work / "scan.fa")
        seconds["scan"] = _run(["scan-zipcodes", str(run), str(work / "scan.fa"), "--out", str(calls), "--device",
                                "cpu", "--force", *shlex.split(args.scan_args)], args.threads)
    out = work / "motifs"
    seconds["motifs"] = _run(["motifs", str(sim / "transcripts.fa"), "--model", str(run), "--out", str(out), "--db",
                              str(sim / "motifs.meme"), "--zipcodes", str(calls), "--device", "cpu", "--force"],
                             args.threads)

    planted = [line.split()[1:3] for line in (sim / "motifs.meme").read_text().splitlines() if line.startswith("MOTIF")]
    tomtom = pd.read_csv(out / "tomtom.tsv", sep="\t")
    enrichment = pd.read_csv(out / "enrichment.tsv", sep="\t")
    influence = pd.read_csv(out / "influence.tsv", sep="\t").set_index("filter")
    print(f"\n{'motif':6s} {'class':22s} {'best filter':12s} {'q':>8s} {'KL rank':>7s} {'found':>5s}   "
          f"{'zipcodes':>9s} {'background':>11s} {'OR':>6s} {'q':>8s} {'enriched':>8s}")
    found_any = missed = 0
    for motif_id, label in planted:
        fraction, direction = label.rsplit("_", 1)
        hits = tomtom[tomtom["Target_ID"] == motif_id].sort_values("q-value")
        q = float(hits["q-value"].iloc[0]) if len(hits) else float("nan")
        best = str(hits["Query_ID"].iloc[0]) if len(hits) else "-"
        rank = int(list(influence.index).index(best)) + 1 if best in influence.index else 0
        found = bool(len(hits)) and q < 0.05
        row = enrichment[(enrichment["motif_id"] == motif_id) & (enrichment["fraction"] == fraction)
                         & (enrichment["direction"] == direction)]
        if len(row):
            r = row.iloc[0]
            enriched = bool(r["q_value"] < 0.05 and r["odds_ratio"] > 1)
            zip_text = f"{r['zipcodes_with_site']}/{r['zipcodes']}"
            back_text = f"{r['background_with_site']}/{r['background_windows']}"
            odds, eq = float(r["odds_ratio"]), float(r["q_value"])
        else:  # no zipcode of this class was called
            enriched, zip_text, back_text, odds, eq = False, "0/0", "-", float("nan"), float("nan")
        found_any += found or enriched
        missed += not (found or enriched)
        print(f"{motif_id:6s} {label:22s} {best:12s} {q:8.2g} {rank:7d} {'yes' if found else 'no':>5s}   "
              f"{zip_text:>9s} {back_text:>11s} {odds:6.3g} {eq:8.2g} {'yes' if enriched else 'no':>8s}")
    total = len(planted)
    print(f"\nfound by a filter or enriched: {found_any}/{total} ({100 * found_any / total:.0f} %); "
          f"missed by both: {missed}")
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())
          + f"; total {time.perf_counter() - started:.0f}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
