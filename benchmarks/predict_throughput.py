"""Prediction throughput (nucleotides/s), model only and end to end (FASTA → TSV).

    python benchmarks/predict_throughput.py [--n 500] [--model model.pt] [--device cpu] [--threads 1]

Simulated transcripts with human-like lengths (median 2.5 kb, up to 12 kb). Without
--model an untrained default network (`rnatracker`, full mode) is timed: speed does not
depend on the weights. Two figures are printed:

* model: ``Predictor.predict`` on in-memory codes (length bucketing, --batch-nt budget);
* end to end: ``predict_fasta`` on a FASTA file written to a temporary folder (parsing,
  streaming in chunks, TSV writing), i.e. what `rnatracker predict` does.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rnatracker_cli.alphabet import decode
from rnatracker_cli.inference import Predictor, default_batch_nt
from rnatracker_cli.workflows.predict import predict_fasta
from rnatracker_cli.io.writers import format_fasta
from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.simulate import simulate_dataset
from rnatracker_cli.model.checkpoint import load_model, save_checkpoint
from rnatracker_cli.utils.device import limit_kernel_cache, resolve_device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--model", help="model.pt or run directory (default: untrained rnatracker)")
    parser.add_argument("--mode", default="full", choices=["full", "fixed"], help="input mode of the untrained model")
    parser.add_argument("--batch-nt", type=int, help="nucleotides per batch (default: the device's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CUDA only)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    limit_kernel_cache()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    args.batch_nt = args.batch_nt or default_batch_nt(device)
    sim = simulate_dataset(n=args.n, seed=args.seed)
    total_nt = int(sum(len(s) for s in sim.sequences))
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            model_path = args.model
        else:
            torch.manual_seed(args.seed)
            config = default_config("rnatracker", len(sim.fractions), mode=args.mode)
            model_path = str(Path(tmp) / "model.pt")
            save_checkpoint(model_path, build_model(config), config, list(sim.fractions), {})
        loaded = load_model(model_path, device)
        predictor = Predictor(loaded.model, loaded.config, device, batch_nt=args.batch_nt, bf16=args.bf16)
        predictor.predict(sim.sequences[:8])  # warm-up
        model_s = float("inf")
        for _ in range(2):  # best of two: the first pass also pays for memory allocation
            _sync(device)
            started = time.perf_counter()
            probs = predictor.predict(sim.sequences)
            _sync(device)
            model_s = min(model_s, time.perf_counter() - started)
        fasta = Path(tmp) / "in.fa"
        fasta.write_text("".join(format_fasta(i, decode(s)) for i, s in zip(sim.ids, sim.sequences)))
        summary = predict_fasta(model_path, str(fasta), out=str(Path(tmp) / "out.tsv"), device=str(device),
                                batch_nt=args.batch_nt, bf16=args.bf16)
        if args.bf16:
            ref = Predictor(loaded.model, loaded.config, device, batch_nt=args.batch_nt).predict(sim.sequences)
            print(f"bf16 vs float32: max |Δ| = {np.abs(ref - probs).max():.2e}")
    print(f"device {device} ({torch.get_num_threads()} CPU threads), {args.n} transcripts, {total_nt:,} nt, "
          f"model {loaded.config['arch']} ({loaded.config['mode']} mode), batch budget {args.batch_nt:,} nt")
    print(f"model only : {total_nt / model_s:>12,.0f} nt/s  ({args.n / model_s:,.1f} transcripts/s, {model_s:.2f} s)")
    print(f"end to end : {summary.nucleotides / summary.seconds:>12,.0f} nt/s  "
          f"({summary.transcripts / summary.seconds:,.1f} transcripts/s, {summary.seconds:.2f} s)")


if __name__ == "__main__":
    main()
