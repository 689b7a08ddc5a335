"""Transcriptome scale: predict throughput and peak memory, zipcode-scan cost, bounded memory.

    python benchmarks/transcriptome_scale.py [--n 20000] [--sample 30] [--data DATA_DIR]
        [--model human-mrna] [--machines 1,10,100] [--work DIR] [--out figures.json]

Simulates ``--n`` human-like transcripts (random bases; log-normal lengths, median 3,000 nt,
σ = 0.75 in log space — 95th percentile ~10 kb —, clipped to 200 nt – 110 kb, close to
human mRNAs; `rnatracker simulate` clips at 12 kb, so lengths are drawn here; throughput
does not depend on the bases) and measures, each command in a subprocess
(``python -m rnatracker_cli``, the CLI users run) with ``OMP_NUM_THREADS`` set, its own peak
RSS read with ``os.wait4``:

* **predict**: all ``--n`` transcripts with 1 and 2 CPU threads (transcripts/s, nt/s, peak
  RSS); the same on the first ~10 M nt only (RSS against total input: streaming must keep it
  flat); on CUDA too when ``torch.cuda.is_available()``.
* **huge transcripts**: predict and scan-zipcodes (zero mask, ``--stride 2000``:
  every batch of masked copies has the same shape as at stride 1, so the peak is the same,
  and the run takes seconds instead of hours) on the longest lncATLAS lncRNA (205,012 nt,
  read from ``--data``; skipped without it), on a synthetic transcript of the same length and
  on one of 1,000,000 nt (the default ``--max-transcript-nt``); with the model under test
  and with an untrained single full-mode network.
* **scan-zipcodes cost**: ``--sample`` transcripts drawn at random from the ``--n`` are
  scanned with zero masks at stride 1 (window 100; the paper's settings, which make as many
  masked copies as the default random masks, 10 per window at stride 10) in this process, one thread, each
  timed; the cost is fitted as ``a·L + b·L²`` (a window batch reruns the LSTM over the whole
  transcript, so cost grows with the square of the length) and summed over all ``--n``
  lengths: an **extrapolation**, printed as such. The same model gives the wall time for
  ``--machines`` machines when the input is split into contiguous shards of equal record
  counts (``--shard K/N``): the slowest shard, an estimate.

Nothing is timed in the test suite; this script prints what one run measured. The machine it
ran on (other jobs, thermal state) shows in the figures: say where they came from.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's rnatracker_cli, like the subprocesses

from rnatracker_cli.alphabet import decode  # noqa: E402
from rnatracker_cli.io.fasta import read_fasta  # noqa: E402
from rnatracker_cli.io.writers import format_fasta  # noqa: E402

MEDIAN_NT, SIGMA, MIN_NT, MAX_NT = 3000, 0.75, 200, 110_000
LONG_LNCRNA = "lncatlas_lncrna/lncatlas_lncrna.fa"


def draw_lengths(n: int, seed: int) -> np.ndarray:
    """int64 (n,) human-mRNA-like lengths (see the module docstring)."""
    rng = np.random.default_rng(seed)
    raw = np.exp(rng.normal(np.log(MEDIAN_NT), SIGMA, size=n))
    return np.clip(np.round(raw), MIN_NT, MAX_NT).astype(np.int64)


def write_fasta(path: Path, ids: list[str], lengths, seed: int) -> int:
    """Random transcripts of ``lengths`` → FASTA at ``path``; returns total nt."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as handle:
        for rid, length in zip(ids, lengths):
            handle.write(format_fasta(rid, decode(rng.integers(0, 4, size=int(length)).astype(np.uint8))))
    return int(np.sum(lengths))


def run_cli(args: list[str], threads: int) -> dict:
    """Run ``python -m rnatracker_cli ARGS`` with ``threads`` CPU threads; wall seconds, peak
    RSS (bytes, of that process alone) and stderr."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rnatracker_cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"rnatracker {' '.join(args)} failed ({proc.returncode}):\n{err}")
    return {"wall_s": wall, "peak_rss_bytes": usage.ru_maxrss * 1024, "stderr": err}


def predict_run(model: str, fasta: Path, out: Path, threads: int, device: str = "cpu") -> dict:
    """`rnatracker predict`; ``seconds`` is the command's own timing (after model loading)."""
    res = run_cli(["predict", "--model", model, str(fasta), "-o", str(out), "--force", "--device", device], threads)
    m = re.search(r"predicted ([\d,]+) transcripts \(([\d,]+) nt\) in ([\d.]+)s", res["stderr"])
    if m is None:
        raise SystemExit(f"cannot read predict's summary:\n{res['stderr']}")
    n, nt, sec = int(m[1].replace(",", "")), int(m[2].replace(",", "")), float(m[3])
    return {"transcripts": n, "nt": nt, "seconds": sec, "wall_s": res["wall_s"], "peak_rss_bytes": res["peak_rss_bytes"],
            "transcripts_per_s": n / sec, "nt_per_s": nt / sec, "threads": threads, "device": device}


def scan_run(model: str, fasta: Path, out: Path, stride: int, threads: int = 1) -> dict:
    res = run_cli(["scan-zipcodes", "--model", model, str(fasta), "-o", str(out), "--force", "--stride", str(stride),
                   "--mask", "zero", "--device", "cpu"], threads)
    m = re.search(r"([\d,]+) windows\) in ([\d.]+)s", res["stderr"])
    return {"wall_s": res["wall_s"], "peak_rss_bytes": res["peak_rss_bytes"], "stride": stride,
            "windows": int(m[1].replace(",", "")) if m else None, "seconds": float(m[2]) if m else None}


def scan_sample(model: str, fasta: Path, device: str) -> list[dict]:
    """Scan every record of ``fasta`` with zero masks at stride 1 in this process; per-transcript
    seconds, windows and regions."""
    import torch

    from rnatracker_cli.interpret.scan import ScanOptions, TranscriptScanner
    from rnatracker_cli.model.checkpoint import load_model
    from rnatracker_cli.utils.device import limit_kernel_cache, resolve_device

    limit_kernel_cache()
    torch.set_num_threads(1)
    dev = resolve_device(device)
    loaded = load_model(model, dev)
    scanner = TranscriptScanner(loaded, ScanOptions(mask="zero", stride=1), dev)
    records = list(read_fasta(fasta))
    scanner.scan(type(records[0])("warmup", "", records[0].codes[:400]))  # first-call kernel set-up
    rows = []
    for rec in records:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        started = time.perf_counter()
        result = scanner.scan(rec)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        rows.append({"id": rec.id, "nt": len(rec.codes), "seconds": time.perf_counter() - started,
                     "windows": result.windows, "regions": len(result.regions)})
    return rows


def fit_cost(nt: np.ndarray, seconds: np.ndarray) -> tuple[float, float]:
    """Least-squares ``seconds ≈ a·L + b·L²`` (both ≥ 0)."""
    X = np.stack([nt, nt.astype(np.float64) ** 2], axis=1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(X, seconds, rcond=None)
    if coef[1] < 0:
        coef = np.array([float(np.sum(seconds) / np.sum(nt)), 0.0])
    elif coef[0] < 0:
        coef = np.array([0.0, float(np.sum(seconds * nt**2) / np.sum(nt.astype(np.float64) ** 4))])
    return float(coef[0]), float(coef[1])


def shard_max(costs: np.ndarray, machines: int) -> float:
    """Largest per-shard sum of ``costs`` under contiguous shards of equal record counts
    (shard K = records [floor((K−1)·n/N), floor(K·n/N)))."""
    n = len(costs)
    bounds = [(k * n) // machines for k in range(machines + 1)]
    return max(float(costs[a:b].sum()) for a, b in zip(bounds[:-1], bounds[1:]))


def longest_record(path: Path):
    best = None
    for rec in read_fasta(path):
        if best is None or len(rec.codes) > len(best.codes):
            best = rec
    return best


def gb(x: float) -> str:
    return f"{x / 1e9:.2f} GB"


def hours(s: float) -> str:
    return f"{s / 3600:,.1f} h" if s >= 3600 else f"{s / 60:,.1f} min" if s >= 60 else f"{s:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="simulated transcripts")
    parser.add_argument("--sample", type=int, default=30, help="transcripts scanned to estimate the scan cost")
    parser.add_argument("--data", help="reference data folder (for the 205,012-nt lncRNA in lncatlas_lncrna/)")
    parser.add_argument("--model", default="human-mrna", help="built-in name, model.pt or run directory")
    parser.add_argument("--machines", default="1,10,100")
    parser.add_argument("--subset-nt", type=int, default=10_000_000, help="smaller input for the RSS-vs-size check")
    parser.add_argument("--huge-nt", default="205012,1000000", help="lengths of the synthetic huge transcripts")
    parser.add_argument("--work", help="folder for the generated FASTA files (default: a temporary one)")
    parser.add_argument("--out", help="write every figure as JSON here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    machines = [int(m) for m in args.machines.split(",")]
    import torch

    from rnatracker_cli.model import build_model, default_config
    from rnatracker_cli.model.checkpoint import save_checkpoint

    cuda = torch.cuda.is_available()
    figures: dict = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "date": time.strftime("%Y-%m-%d"),
                     "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
                                f"cuda {'yes: ' + torch.cuda.get_device_name(0) if cuda else 'no'}",
                     "model": args.model}
    tmp = tempfile.TemporaryDirectory() if args.work is None else None
    work = Path(args.work or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s] {text}", flush=True)

    # Inputs.
    lengths = draw_lengths(args.n, args.seed)
    ids = [f"HS{i + 1:06d}" for i in range(args.n)]
    full = work / "transcripts.fa"
    total_nt = write_fasta(full, ids, lengths, args.seed + 1)
    k = int(np.searchsorted(np.cumsum(lengths), args.subset_nt)) + 1
    subset = work / "subset.fa"
    subset_nt = write_fasta(subset, ids[:k], lengths[:k], args.seed + 1)  # same seed: the same first k records
    figures["input"] = {"transcripts": args.n, "nt": total_nt, "median_nt": float(np.median(lengths)),
                        "mean_nt": float(lengths.mean()), "max_nt": int(lengths.max()),
                        "p95_nt": float(np.percentile(lengths, 95))}
    say(f"{args.n:,} transcripts, {total_nt:,} nt (median {np.median(lengths):,.0f}, 95th percentile "
        f"{np.percentile(lengths, 95):,.0f}, longest {lengths.max():,}) → {full}")
    torch.manual_seed(args.seed)
    config = default_config("rnatracker", 2, mode="full")
    untrained = work / "untrained-full.pt"
    save_checkpoint(untrained, build_model(config), config, ["cytosol", "nucleus"], {})

    # Predict throughput, 1 and 2 threads (and CUDA).
    runs = {}
    for threads in (1, 2):
        runs[f"cpu{threads}"] = predict_run(args.model, full, work / "pred.tsv", threads)
        r = runs[f"cpu{threads}"]
        say(f"predict, {threads} thread(s): {r['transcripts_per_s']:,.1f} transcripts/s, {r['nt_per_s']:,.0f} nt/s "
            f"({r['seconds']:.0f} s; {r['wall_s']:.0f} s with start-up), peak RSS {gb(r['peak_rss_bytes'])}")
    if cuda:
        runs["cuda"] = predict_run(args.model, full, work / "pred.tsv", 1, device="cuda")
        r = runs["cuda"]
        say(f"predict, CUDA: {r['transcripts_per_s']:,.1f} transcripts/s, {r['nt_per_s']:,.0f} nt/s, "
            f"peak RSS {gb(r['peak_rss_bytes'])}")
    runs["cpu1_subset"] = predict_run(args.model, subset, work / "pred.tsv", 1)
    r = runs["cpu1_subset"]
    say(f"predict, 1 thread, first {k:,} transcripts ({subset_nt:,} nt): peak RSS {gb(r['peak_rss_bytes'])} "
        f"vs {gb(runs['cpu1']['peak_rss_bytes'])} on {total_nt:,} nt")
    figures["predict"] = runs
    growth = (runs["cpu1"]["peak_rss_bytes"] - r["peak_rss_bytes"]) / (total_nt - subset_nt)
    figures["rss_growth_bytes_per_nt"] = growth
    figures["rss_at_1g_nt_linear_extrapolation_bytes"] = runs["cpu1"]["peak_rss_bytes"] + max(growth, 0) * (1e9 - total_nt)
    say(f"RSS growth {growth * 1e6:,.1f} bytes per million nt → 1 G nt (linear extrapolation): "
        f"{gb(figures['rss_at_1g_nt_linear_extrapolation_bytes'])}; 1 G nt at 1 thread would take "
        f"{hours(1e9 / runs['cpu1']['nt_per_s'])}")

    # Huge transcripts: predict and scan peak RSS.
    huge = []
    rng = np.random.default_rng(args.seed + 2)
    inputs = []
    if args.data:
        rec = longest_record(Path(args.data) / LONG_LNCRNA)
        path = work / "longest_lncrna.fa"
        path.write_text(format_fasta(rec.id, decode(rec.codes)))
        inputs.append((f"{rec.id} (longest lncATLAS lncRNA)", path, len(rec.codes)))
    for length in [int(v) for v in args.huge_nt.split(",")]:
        path = work / f"synthetic_{length}.fa"
        path.write_text(format_fasta(f"SYN{length}", decode(rng.integers(0, 4, size=length).astype(np.uint8))))
        inputs.append((f"synthetic {length:,} nt", path, length))
    for label, path, length in inputs:
        for model_label, model in ((args.model, args.model), ("untrained full-mode rnatracker", str(untrained))):
            p = predict_run(model, path, work / "huge.tsv", 1)
            s = scan_run(model, path, work / "huge.bed", stride=2000)
            huge.append({"input": label, "nt": length, "model": model_label, "predict_peak_rss_bytes": p["peak_rss_bytes"],
                         "scan_peak_rss_bytes": s["peak_rss_bytes"], "scan_stride": 2000,
                         "scan_seconds_stride2000": s["seconds"], "scan_windows_stride2000": s["windows"]})
            say(f"{label}, {model_label}: predict peak RSS {gb(p['peak_rss_bytes'])}, scan-zipcodes peak RSS "
                f"{gb(s['peak_rss_bytes'])}")
    figures["huge"] = huge

    # Scan cost per transcript at the default settings, on a random sample.
    pick = np.sort(np.random.default_rng(args.seed + 3).choice(args.n, size=min(args.sample, args.n), replace=False))
    sample = work / "sample.fa"
    wanted = {ids[i] for i in pick}
    with open(sample, "w") as handle:
        for rec in read_fasta(full):
            if rec.id in wanted:
                handle.write(format_fasta(rec.id, decode(rec.codes)))
    scan = {}
    for device in ["cpu"] + (["cuda"] if cuda else []):
        rows = scan_sample(args.model, sample, device)
        nt = np.array([r["nt"] for r in rows], dtype=np.float64)
        sec = np.array([r["seconds"] for r in rows])
        a, b = fit_cost(nt, sec)
        costs = a * lengths + b * lengths.astype(np.float64) ** 2
        entry = {"sample": rows, "sample_transcripts": len(rows), "sample_nt": int(nt.sum()),
                 "sample_seconds": float(sec.sum()), "mean_seconds_per_transcript": float(sec.mean()),
                 "windows_per_s": float(sum(r["windows"] for r in rows) / sec.sum()),
                 "regions_per_transcript": float(np.mean([r["regions"] for r in rows])),
                 "fit_a_s_per_nt": a, "fit_b_s_per_nt2": b,
                 "extrapolated_total_seconds": float(costs.sum()),
                 "extrapolated_by_sample_mean_seconds": float(sec.mean() * args.n),
                 "extrapolated_205012_nt_seconds": a * 205_012 + b * 205_012**2,
                 "machines": {str(m): shard_max(costs, m) for m in machines}}
        scan[device] = entry
        say(f"scan-zipcodes ({device}, zero mask, stride 1), {len(rows)} sampled transcripts ({int(nt.sum()):,} nt): "
            f"{sec.sum():.0f} s, {sec.mean():.1f} s per transcript, {entry['windows_per_s']:,.0f} windows/s, "
            f"{entry['regions_per_transcript']:.1f} regions per transcript")
        say(f"  cost ≈ {a:.2e}·L + {b:.2e}·L² s → all {args.n:,} (EXTRAPOLATION): {hours(costs.sum())} "
            f"(sample mean × n: {hours(sec.mean() * args.n)}); the 205,012-nt lncRNA alone "
            f"≈ {hours(entry['extrapolated_205012_nt_seconds'])}")
    figures["scan"] = scan

    # Implied wall time for N machines (ESTIMATES).
    est = {}
    per_nt = {key: 1.0 / runs[key]["nt_per_s"] for key in runs if key in ("cpu1", "cpu2", "cuda")}
    startup = runs["cpu1"]["wall_s"] - runs["cpu1"]["seconds"]
    for m in machines:
        row = {f"predict_{key}_s": shard_max(lengths * c, m) + startup for key, c in per_nt.items()}
        row.update({f"scan_{device}_s": scan[device]["machines"][str(m)] + startup for device in scan})
        est[str(m)] = row
        say(f"ESTIMATE, {m} machine(s) ({args.n:,} transcripts, contiguous shards): "
            + ", ".join(f"{key} {hours(v)}" for key, v in row.items()))
    figures["machines_estimate"] = est
    figures["benchmark_seconds"] = time.perf_counter() - t0
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=1) + "\n")
        say(f"figures → {args.out}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
