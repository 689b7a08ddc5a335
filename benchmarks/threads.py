"""Epoch time of `train` by thread count and OpenMP wait policy, alone and two jobs side by side.

    python benchmarks/threads.py CACHE.h5 [--epochs 2] [--workdir DIR]

For each case the real command ``python -m rnatracker_cli train CACHE --epochs E --threads T``
runs in a child process with ``OMP_WAIT_POLICY`` set; the seconds per epoch are read from the
run's ``log.tsv`` (the mean over epochs after the first). "side by side" starts two identical
jobs at once (what a user running two trainings, or a shared cluster node, gets) and reports
the mean of the two. Ratios are printed against one thread alone, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = [  # (threads, wait policy, jobs side by side)
    (1, "PASSIVE", 1), (2, "PASSIVE", 1), (2, "ACTIVE", 1),
    (1, "PASSIVE", 2), (2, "PASSIVE", 2), (2, "ACTIVE", 2),
]


def _epoch_seconds(run: Path) -> float:
    rows = [line.split("\t") for line in (run / "log.tsv").read_text().splitlines()[1:]]
    seconds = [float(r[-1]) for r in rows]
    later = seconds[1:] or seconds
    return sum(later) / len(later)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cache")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=None)
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="rnatracker-threads-"))
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    for threads, policy, jobs in CASES:
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
        env["OMP_WAIT_POLICY"] = policy
        runs = [work / f"t{threads}_{policy}_{jobs}_{j}" for j in range(jobs)]
        procs = [subprocess.Popen([sys.executable, "-m", "rnatracker_cli", "train", a.cache, "-o", str(run), "--force",
                                   "--epochs", str(a.epochs), "--threads", str(threads), "--patience", "0", "-q"], env=env)
                 for run in runs]
        if any(p.wait() for p in procs):
            raise SystemExit(f"a train job failed ({threads} threads, {policy}, {jobs} side by side)")
        results[(threads, policy, jobs)] = sum(_epoch_seconds(r) for r in runs) / jobs
    base = results[(1, "PASSIVE", 1)]
    print(f"{'threads':>8}{'wait policy':>13}{'jobs':>6}{'s/epoch':>10}{'vs 1 thread alone':>19}")
    for (threads, policy, jobs), sec in results.items():
        print(f"{threads:>8}{policy:>13}{jobs:>6}{sec:>10.1f}{sec / base:>18.2f}x")


if __name__ == "__main__":
    main()
