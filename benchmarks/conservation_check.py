"""Validate `rnatracker conserve` on simulated conservation tracks, and time it.

    PYTHONPATH=. python benchmarks/conservation_check.py [--n 2000] [--null-n 300] [--null-seeds 20]
        [--calls CALLS.bed] [--workdir DIR]

1. **Signal**: ``simulate --n N --seed 0`` (conservation signal 1.5 at the true zipcodes);
   ``conserve`` on the truth ``zipcodes.bed`` with a region-type-matched background, and
   without matching. With ``--calls`` (a scan-zipcodes BED6+4 on transcripts of that same
   simulation, e.g. ``calls.bed`` of ``benchmarks/zipcode_recovery.py --n N``, whose
   ``--no-genome`` simulation has the same transcripts for the same seed), the model's calls too.
2. **Null calibration**: ``--null-seeds`` simulations (``--null-n`` transcripts each) with
   ``--conservation-signal 0``; how many KS / Mann–Whitney p-values (group ``all``) fall below
   0.05, with a matched and an unmatched background. A calibrated test gives about 5 %.
3. **Speed**: 10,000 random 100-nt transcript windows of the first simulation against its
   bigWig, ``--background-per-region 10`` (110,000 regions scored), one thread; target < 30 s
   for the 10,000 zipcodes (the printed "score 10,000 regions" time).

Everything runs through the library (``rnatracker_cli.interpret.conservation.conserve``), the
same code as the CLI.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from rnatracker_cli.interpret.conservation import ConserveOptions, conserve
from rnatracker_cli.interpret.conservation.regions import TranscriptLookup, read_regions
from rnatracker_cli.interpret.conservation.stats import score_regions
from rnatracker_cli.io.bigwig import BigWig
from rnatracker_cli.io.gtf import read_gtf
from rnatracker_cli.simulate import simulate_dataset, write_simulation


def _simulate(out: Path, n: int, seed: int, signal: float) -> Path:
    if not (out / "conservation.bw").exists():
        write_simulation(simulate_dataset(n=n, seed=seed), out, conservation_signal=signal, force=True)
    return out


def _report(label: str, res) -> None:
    for row in res.summary:
        print(f"  {label:28s} {row.group:10s} KL≥{row.min_kl:<5g} n={row.n_zipcodes:5d} vs {row.n_background:6d}  "
              f"median {row.median_zipcodes:6.3f} vs {row.median_background:6.3f}  KS D={row.ks_statistic:.3f} "
              f"p={row.ks_p:.3g}  MW p={row.mw_p:.3g}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="transcripts in the signal simulation (seed 0)")
    parser.add_argument("--null-n", type=int, default=300, help="transcripts per null simulation")
    parser.add_argument("--null-seeds", type=int, default=20)
    parser.add_argument("--calls", type=Path, default=None, help="scan-zipcodes BED6+4 on the seed-0 simulation")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--parts", default="signal,null,speed", help="comma-separated: signal, null, speed")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="conservation_check_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"workdir {work}")

    # 1. signal ---------------------------------------------------------------------------
    sim = _simulate(work / "signal", args.n, 0, 1.5)
    gtf, bw = sim / "annotation.gtf", sim / "conservation.bw"
    if "signal" in parts:
        _signal(args, work, sim, gtf, bw)
    if "null" in parts:
        _null(args, work)
    if "speed" in parts:
        _speed(work, gtf, bw)


def _signal(args, work: Path, sim: Path, gtf: Path, bw: Path) -> None:
    print(f"1. signal 1.5, n={args.n}, seed 0: truth zipcodes")
    for match in (True, False):
        res = conserve(sim / "zipcodes.bed", bw, work / f"truth_{match}", gtf=gtf, force=True,
                       options=ConserveOptions(match_type=match))
        _report("truth, " + ("matched" if match else "unmatched"), res)
    if args.calls is not None:
        print(f"   model calls {args.calls}")
        for match in (True, False):
            res = conserve(args.calls, bw, work / f"calls_{match}", gtf=gtf, force=True,
                           options=ConserveOptions(match_type=match))
            _report("calls, " + ("matched" if match else "unmatched"), res)



def _null(args, work: Path) -> None:
    print(f"2. null: signal 0, {args.null_seeds} simulations of {args.null_n} transcripts (seeds 100…)")
    below = {(m, t): 0 for m in (True, False) for t in ("ks", "mw")}
    started = time.perf_counter()
    for k in range(args.null_seeds):
        seed = 100 + k
        nsim = _simulate(work / f"null{seed}", args.null_n, seed, 0.0)
        line = []
        for match in (True, False):
            res = conserve(nsim / "zipcodes.bed", nsim / "conservation.bw", work / f"null{seed}_{match}",
                           gtf=nsim / "annotation.gtf", force=True,
                           options=ConserveOptions(match_type=match, seed=seed, plot=False))
            row = res.summary[0]
            below[(match, "ks")] += row.ks_p < 0.05
            below[(match, "mw")] += row.mw_p < 0.05
            line.append(f"{'matched' if match else 'unmatched'} KS p={row.ks_p:.3g} MW p={row.mw_p:.3g} "
                        f"(median {row.median_zipcodes:.3f} vs {row.median_background:.3f})")
        print(f"  seed {seed}: " + "; ".join(line), flush=True)
    for match in (True, False):
        print(f"  {'matched' if match else 'unmatched'} background: KS p<0.05 in {below[(match, 'ks')]}/"
              f"{args.null_seeds}, Mann–Whitney p<0.05 in {below[(match, 'mw')]}/{args.null_seeds}")
    print(f"  ({time.perf_counter() - started:.0f} s)")



def _speed(work: Path, gtf: Path, bw: Path) -> None:
    rng = np.random.default_rng(0)
    lookup = TranscriptLookup(read_gtf(gtf))
    models = [m for m in lookup.models.values() if m.transcript_id.endswith(".1")]
    picks = rng.integers(0, len(models), size=10_000)
    bed = work / "random10k.bed"
    with open(bed, "w") as out:
        for i, p in enumerate(picks.tolist()):
            m = models[p]
            s = int(rng.integers(0, m.length - 100))
            out.write(f"{m.transcript_id}\t{s}\t{s + 100}\tr{i}:cytosol:{'enhancing' if i % 2 else 'repressive'}\t0\t+\n")
    with BigWig(bw) as track:
        regions = read_regions(bed, lookup, track.chroms)
        t0, c0 = time.perf_counter(), time.process_time()
        score_regions(regions, track)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # CPU time as well as wall time: on a shared machine the wall time mostly measures the others
    print(f"3. speed: score 10,000 regions (100 nt) on the bigWig: {wall:.2f} s wall, {cpu:.2f} s CPU")
    t0, c0 = time.perf_counter(), time.process_time()
    res = conserve(bed, bw, work / "speed", gtf=gtf, force=True, options=ConserveOptions(per_region=10))
    print(f"   full conserve run, 10,000 zipcodes + {len(res.background):,} background windows "
          f"(read GTF, draw, score, test, write, plot): {time.perf_counter() - t0:.1f} s wall, "
          f"{time.process_time() - c0:.1f} s CPU")


if __name__ == "__main__":
    main()
