"""Throughput and footprint of `rnatracker prepare` on a large simulated set.

Simulates N transcripts (default 20,000, mean length ≈ 3.5 kb), writes FASTA + table (and,
with --genome-route, a genome + GTF), runs `rnatracker prepare` in a child process and prints
nucleotides per second, the child's peak resident memory, and the cache size relative to the
raw sequence bytes (target: < 2×).

    python benchmarks/prepare_throughput.py [--n 20000] [--workdir DIR] [--genome-route]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


from rnatracker_cli.simulate import simulate_dataset, write_simulation


# The child reports its own high-water mark (VmHWM, reset by exec): ru_maxrss would also
# count the pages a forked child shared with this (large) parent before it exec'd.
_CHILD = """
import re, sys
from rnatracker_cli.cli.app import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    if exc.code:
        raise
print(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
"""


def run_prepare(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `rnatracker prepare` child process."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, "prepare", *args, "--force", "--quiet"],
                          check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    return wall, int(done.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--median-length", type=float, default=2_900, help="log-normal median (mean ≈ 1.23×)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--genome-route", action="store_true", help="also time the genome + GTF route")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="rnatracker-bench-"))
    work.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    data = simulate_dataset(n=args.n, seed=0, median_length=args.median_length)
    write_simulation(data, work / "sim", genome=args.genome_route, force=True)
    sim_s = time.perf_counter() - t0
    raw_nt = int(sum(len(s) for s in data.sequences))
    print(f"simulated {args.n} transcripts, {raw_nt:,} nt (mean {raw_nt / args.n:,.0f} nt) in {sim_s:.1f} s")

    routes = {"fasta": ["--fasta", str(work / "sim/transcripts.fa")]}
    if args.genome_route:
        routes["genome+gtf"] = ["--genome", str(work / "sim/genome.fa"), "--gtf", str(work / "sim/annotation.gtf")]
    for name, source in routes.items():
        cache = work / f"{name}.h5"
        wall, peak = run_prepare([*source, "--localization", str(work / "sim/localization.tsv"), "--out", str(cache)])
        from rnatracker_cli.io.cache import Cache

        with Cache(cache) as c:
            stored_nt = int(c.lengths.sum())
            n_written = len(c)
        size = cache.stat().st_size
        print(
            f"{name:>10}: {n_written} transcripts, {stored_nt:,} nt in {wall:.2f} s = "
            f"{stored_nt / wall / 1e6:.2f} Mnt/s; peak RSS {peak:,.0f} MiB; "
            f"cache {size / 2**20:,.1f} MiB = {size / stored_nt:.3f}× raw sequence bytes"
        )


if __name__ == "__main__":
    main()
