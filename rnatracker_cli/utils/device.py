"""Device selection: ``auto`` means CUDA when present, else CPU."""

from __future__ import annotations

import os

import torch

from rnatracker_cli.errors import RNATrackerError


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` (or None = auto) into a torch device.

    Raises :class:`RNATrackerError` when CUDA is asked for but absent, when ``N`` is not a
    visible GPU, or when the spec is not one of these forms.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    text = "auto" if spec is None else str(spec).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise RNATrackerError(f"--device {spec}: CUDA is not available on this machine (use --device cpu or auto)")
        index_text = text.partition(":")[2]
        if not index_text:
            return torch.device("cuda")
        if not index_text.isdigit():
            raise RNATrackerError(f"--device {spec}: expected cuda:N with N a GPU number")
        index, count = int(index_text), torch.cuda.device_count()
        if index >= count:
            raise RNATrackerError(f"--device {spec}: only {count} CUDA device(s) visible (0..{count - 1})")
        return torch.device("cuda", index)
    raise RNATrackerError(f"--device {spec}: expected auto, cpu, cuda or cuda:N")


def bf16_supported(device: torch.device) -> bool:
    """True when bfloat16 autocast can run on ``device`` (CUDA with bf16 support; never CPU)."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def limit_kernel_cache(capacity: int = 16) -> None:
    """Cap oneDNN's CPU primitive cache at ``capacity`` entries, unless the user set
    ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` already.

    oneDNN compiles and caches a kernel per input shape; length-bucketed batches have a new
    shape almost every batch, and with the default cache (1,024 entries) `predict`'s memory
    grew from 0.4 GB to 1 GB over a 74 M nt FASTA. With 16 entries it stays at ~0.4 GB
    at the same speed. Takes effect only before the process runs its first CPU convolution,
    so commands call it on entry.
    """
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(capacity))


#: CPU threads per job unless ``--threads`` says otherwise. One: on an idle 2-core machine two
#: threads trained only ~12 % faster (15.0 s vs 17.1 s for 3 lncATLAS epochs, with spinning
#: OpenMP waits), passive waits made two threads 4–5× slower, and spinning threads of two
#: jobs side by side made both 30–180× slower (docs/model.md, "Threads").
DEFAULT_THREADS = 1


def set_threads(threads: int | None) -> int:
    """Set PyTorch's intra-op CPU threads (None = :data:`DEFAULT_THREADS`); returns the count."""
    n = DEFAULT_THREADS if threads is None else threads
    if n < 1:
        raise RNATrackerError("--threads must be at least 1")
    torch.set_num_threads(n)
    return n
