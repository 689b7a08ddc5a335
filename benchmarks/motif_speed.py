"""Speed of the `motifs` steps that scale with databases and zipcodes (issue 11 targets).

    python benchmarks/motif_speed.py [--db MOTIFS.meme] [--threads 1] [--zipcodes 1000] [--transcripts 500]

1. Tomtom (memelite, forward strand) of 32 filter-like motifs (width 10) against the motifs
   of ``--db`` (e.g. the 102 RNAcompete RBP motifs of Ray et al. 2013; default: 102 random
   motifs of width 7, the RNAcompete width) — target < 5 s on CPU;
2. enrichment (FIMO of the database motifs + Fisher tests) over ``--zipcodes`` zipcodes (100-300
   nt, two fractions × two directions) on ``--transcripts`` random transcripts of 2,500 nt —
   target < 1 min.

Both are timed after one warm-up call on tiny inputs, so numba's one-time compilation (cached
on disk after the first run in an environment) is reported separately.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=None, help="MEME motif database (default: 102 random width-7 motifs)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--zipcodes", type=int, default=1000)
    parser.add_argument("--transcripts", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ["NUMBA_NUM_THREADS"] = str(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    import numpy as np

    from rnatracker_cli.interpret.motifs.enrichment import Zipcodes, enrichment_table
    from rnatracker_cli.interpret.motifs.matching import run_tomtom
    from rnatracker_cli.interpret.motifs.workflow import load_database
    from rnatracker_cli.io.meme import MemeMotif

    rng = np.random.default_rng(args.seed)
    if args.db is None:
        database = [MemeMotif(f"RBP{i + 1:03d}", "", rng.dirichlet(np.full(4, 0.3), size=7)) for i in range(102)]
    else:
        database, _ = load_database(args.db)
    queries = [MemeMotif(f"filter{i + 1:02d}", "", rng.dirichlet(np.full(4, 0.4), size=10)) for i in range(32)]

    t = time.perf_counter()
    run_tomtom(queries[:2], database[:30])
    warm_tomtom = time.perf_counter() - t
    t = time.perf_counter()
    result = run_tomtom(queries, database)
    tomtom_s = time.perf_counter() - t
    print(f"Tomtom 32 filters x {len(database)} motifs: {tomtom_s:.2f} s (target < 5 s; "
          f"warm-up incl. compilation {warm_tomtom:.1f} s); best q min {np.nanmin(result.q_values):.2g}")

    n_tx, length = args.transcripts, 2500
    sequences = {f"tx{i}": rng.integers(0, 4, size=length).astype(np.uint8) for i in range(n_tx)}
    chrom, start, end, fraction, direction = [], [], [], [], []
    per_tx = -(-args.zipcodes // n_tx)
    slot = length // per_tx
    for k in range(args.zipcodes):
        i, j = k % n_tx, k // n_tx
        size = int(rng.integers(100, 301))
        lo = j * slot + int(rng.integers(0, max(1, slot - size)))
        chrom.append(f"tx{i}")
        start.append(lo)
        end.append(min(lo + size, length))
        fraction.append(("cytosol", "nuclear")[k % 2])
        direction.append(("enhancing", "repressive")[(k // 2) % 2])
    zipcodes = Zipcodes(np.array(chrom, dtype=object), np.array(start), np.array(end),
                        np.array(fraction, dtype=object), np.array(direction, dtype=object))
    small = Zipcodes(zipcodes.chrom[:4], zipcodes.start[:4], zipcodes.end[:4], zipcodes.fraction[:4],
                     zipcodes.direction[:4])
    t = time.perf_counter()
    enrichment_table(database, sequences, small)
    warm_fimo = time.perf_counter() - t
    t = time.perf_counter()
    table = enrichment_table(database, sequences, zipcodes)
    enrich_s = time.perf_counter() - t
    print(f"enrichment: {len(database)} motifs, {args.zipcodes} zipcodes on {n_tx} transcripts "
          f"({n_tx * length:,} nt), {len(table)} tests: {enrich_s:.2f} s (target < 60 s; warm-up incl. compilation "
          f"{warm_fimo:.1f} s); smallest q {table['q_value'].min():.2g} (random data: expect no enrichment)")


if __name__ == "__main__":
    main()
