"""Training throughput (transcripts/s) of the three input modes, in one run.

    python benchmarks/train_throughput.py [--n 256] [--one-at-a-time 48] [--device cpu] [--threads 1]

Simulated transcripts with human-like lengths (log-normal, median 2.5 kb, 300 nt – 12 kb;
`rnatracker_cli.simulate`) are trained on for one epoch each way with the real fit loop:

* fixed  – 4,000 nt windows (5' truncation / padding), batches of 256 (the paper's batch mode);
* full, length-batched – every nucleotide, length buckets under --batch-nt padded nt;
* full, one at a time – every nucleotide, batch size 1 (the paper's full-length method),
  timed on a random subset of --one-at-a-time transcripts (same length distribution).

Prints transcripts/s for each and the ratio length-batched / one-at-a-time (target ≥ 10×).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.simulate import simulate_dataset
from rnatracker_cli.training.data import TrainingSet
from rnatracker_cli.training.loop import DEFAULT_BATCH_NT, FitOptions, fit
from rnatracker_cli.utils.device import limit_kernel_cache, resolve_device


def _epoch_rate(data: TrainingSet, mode: str, batch_size: int, batch_nt: int, device: torch.device) -> tuple[float, float]:
    """(transcripts/s, seconds) of one training epoch (after a one-batch warm-up)."""
    config = default_config("rnatracker", data.targets.shape[1], mode=mode)
    torch.manual_seed(0)
    model = build_model(config)
    warm = data.subset(np.arange(min(len(data), batch_size if mode == "fixed" else 2)))
    fit(model, config, warm, None, FitOptions(epochs=1, batch_size=batch_size, batch_nt=batch_nt, patience=0), device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    fit(model, config, data, None, FitOptions(epochs=1, batch_size=batch_size, batch_nt=batch_nt, patience=0), device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    return len(data) / seconds, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=256, help="transcripts for the fixed and length-batched epochs")
    parser.add_argument("--one-at-a-time", type=int, default=48, help="transcripts timed at batch size 1")
    parser.add_argument("--batch-nt", type=int, default=DEFAULT_BATCH_NT, help="full mode nucleotide budget")
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    limit_kernel_cache()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    sim = simulate_dataset(n=args.n, seed=args.seed)
    lengths = np.array([len(s) for s in sim.sequences])
    data = TrainingSet(np.array(sim.ids, dtype=object), sim.sequences, None, lengths, sim.targets)
    subset = np.sort(np.random.default_rng(args.seed).choice(args.n, size=min(args.one_at_a_time, args.n), replace=False))
    print(f"device {device} ({torch.get_num_threads()} CPU threads), {args.n} simulated transcripts, "
          f"length median {int(np.median(lengths))} nt, mean {lengths.mean():.0f} nt, max {lengths.max()} nt; "
          f"one-at-a-time subset {len(subset)} transcripts, mean {lengths[subset].mean():.0f} nt")
    rows = [
        ("fixed 4000 nt, batch 256", *_epoch_rate(data, "fixed", 256, args.batch_nt, device), len(data)),
        (f"full, length-batched ({args.batch_nt:,} nt)", *_epoch_rate(data, "full", 256, args.batch_nt, device), len(data)),
        ("full, one at a time", *_epoch_rate(data.subset(subset), "full", 1, args.batch_nt, device), len(subset)),
    ]
    print(f"{'mode':<38}{'transcripts':>12}{'seconds':>10}{'transcripts/s':>15}")
    for name, rate, seconds, n in rows:
        print(f"{name:<38}{n:>12}{seconds:>10.2f}{rate:>15.2f}")
    ratio = rows[1][1] / rows[2][1]
    print(f"length-batched / one-at-a-time: {ratio:.1f}x ({'meets' if ratio >= 10 else 'BELOW'} the 10x target)")


if __name__ == "__main__":
    main()
