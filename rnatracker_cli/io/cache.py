"""The HDF5 dataset cache (``CACHE.h5``) shared by every command.

Layout (schema 1, see docs/formats.md)::

    attrs: schema, rnatracker_version, fractions, alphabet, created, inputs, params,
           content_sha256
    /ids (N) str   /genes (N) str, optional ("" = no gene id)   /lengths (N) int32   /offsets (N+1) int64
    /full_lengths (N) int32   length before any --max-length truncation
    /seq (ΣL) uint8            codes A C G T N = 0..4
    /targets (N, F) float32    rows sum to 1
    /expression (N, F) float32 averaged raw values, optional
    /structure (ΣL) uint8      F T I H M S = 0..5 (255 = not folded yet), written by `fold`;
                               attrs params (fold settings, JSON), sha256 (see below)
    /structure_done (N) bool

Identity: ``content_sha256`` covers ids, sequences and targets; ``structure_sha256`` (stored
on ``/structure`` by `fold` once every record is folded; computed on the fly for caches folded
before it was stored) covers the fold settings and every element code. `cv` and `train`
record both, so that a run is never extended with a cache folded differently.

Sequences are stored once, concatenated; a record is ``seq[offsets[i]:offsets[i+1]]``.
The file is opened lazily (on first access, again in each worker process after pickling),
and its schema is checked before use.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import h5py
import numpy as np

from rnatracker_cli import __version__
from rnatracker_cli.alphabet import ALPHABET
from rnatracker_cli.errors import CacheError
from rnatracker_cli.io.atomic import atomic_path

SCHEMA_VERSION = 1
STRUCTURE_ALPHABET = "FTIHMS"
STRUCTURE_UNSET = 255

_STR = h5py.string_dtype(encoding="utf-8")
_CHUNK = 1 << 18


def _chunks(total: int) -> tuple[int]:
    """Equal chunks of at most 256 KiB, so the file wastes under one byte per chunk."""
    n_chunks = max(1, -(-total // _CHUNK))
    return (max(1, -(-total // n_chunks)),)


def _content_hash(ids: Sequence[str], seq: np.ndarray, offsets: np.ndarray, targets: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update("\n".join(ids).encode())
    h.update(np.ascontiguousarray(offsets, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(seq, dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(targets, dtype=np.float32).tobytes())
    return h.hexdigest()


def _structure_hash(params: dict | None, codes: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(params or {}, sort_keys=True).encode())
    h.update(np.ascontiguousarray(codes, dtype=np.uint8).tobytes())
    return h.hexdigest()


def write_cache(
    path: str | os.PathLike,
    *,
    ids: Sequence[str],
    sequences: Sequence[np.ndarray],
    targets: np.ndarray,
    fractions: Sequence[str],
    genes: Sequence[str] | None = None,
    expression: np.ndarray | None = None,
    full_lengths: Sequence[int] | None = None,
    inputs: Sequence[dict] = (),
    params: dict | None = None,
    force: bool = False,
) -> Path:
    """Write a new cache atomically.

    sequences: N uint8 arrays of codes 0..4; targets: float32 (N, F), rows summing to 1;
    expression: float32 (N, F) or None; full_lengths: lengths before truncation (default:
    the stored lengths). Returns the path written.
    """
    n = len(ids)
    targets = np.asarray(targets, dtype=np.float32)
    if targets.shape != (n, len(fractions)):
        raise ValueError(f"targets shape {targets.shape} != ({n}, {len(fractions)})")
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int32, count=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    seq = np.concatenate(sequences).astype(np.uint8, copy=False) if n else np.zeros(0, np.uint8)
    full = lengths if full_lengths is None else np.asarray(full_lengths, dtype=np.int32)
    with atomic_path(path, force) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["schema"] = SCHEMA_VERSION
            f.attrs["rnatracker_version"] = __version__
            f.attrs["fractions"] = json.dumps(list(fractions))
            f.attrs["alphabet"] = ALPHABET
            f.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            f.attrs["inputs"] = json.dumps(list(inputs))
            f.attrs["params"] = json.dumps(params or {}, sort_keys=True)
            f.attrs["content_sha256"] = _content_hash(ids, seq, offsets, targets)
            f.create_dataset("ids", data=np.array(list(ids), dtype=object), dtype=_STR)
            if genes is not None:
                f.create_dataset("genes", data=np.array(list(genes), dtype=object), dtype=_STR)
            f.create_dataset("lengths", data=lengths)
            f.create_dataset("full_lengths", data=full)
            f.create_dataset("offsets", data=offsets)
            # Chunked so that `fold` and batch readers touch only what they need.
            f.create_dataset("seq", data=seq, chunks=_chunks(len(seq)))
            f.create_dataset("targets", data=targets)
            if expression is not None:
                f.create_dataset("expression", data=np.asarray(expression, dtype=np.float32))
    return Path(path)


class Cache:
    """Lazy, picklable reader of a dataset cache.

    ``mode="r+"`` allows :meth:`write_structure` (used by ``fold``). Metadata (ids, lengths,
    offsets, targets) is read once; sequences are read on demand, or all at once after
    :meth:`load`.
    """

    def __init__(self, path: str | os.PathLike, mode: str = "r") -> None:
        self.path = Path(path)
        self.mode = mode
        self._file: h5py.File | None = None
        self._seq: np.ndarray | None = None
        if not self.path.is_file():
            raise CacheError(f"cache {self.path} not found")
        f = self._h5()
        schema = f.attrs.get("schema")
        if schema is None or "seq" not in f or "offsets" not in f:
            raise CacheError(f"{self.path} is not an rnatracker cache (run `rnatracker prepare`)")
        if int(schema) != SCHEMA_VERSION:
            raise CacheError(
                f"{self.path} has cache schema {int(schema)}; this rnatracker reads schema "
                f"{SCHEMA_VERSION}: rebuild it with `rnatracker prepare`"
            )
        self.fractions: list[str] = json.loads(f.attrs["fractions"])
        self.params: dict = json.loads(f.attrs.get("params", "{}"))
        self.inputs: list[dict] = json.loads(f.attrs.get("inputs", "[]"))
        self.content_sha256: str = str(f.attrs.get("content_sha256", ""))
        self.ids = np.array(f["ids"].asstr()[:], dtype=object)
        self.genes = np.array(f["genes"].asstr()[:], dtype=object) if "genes" in f else None
        self.lengths: np.ndarray = f["lengths"][:]
        self.full_lengths: np.ndarray = f["full_lengths"][:] if "full_lengths" in f else self.lengths
        self.offsets: np.ndarray = f["offsets"][:]
        self.targets: np.ndarray = f["targets"][:]
        self.expression = f["expression"][:] if "expression" in f else None

    @property
    def groups(self) -> np.ndarray | None:
        """Object (N,) group per transcript for CV folds and validation splits, None when the
        cache has no genes: the gene id, or for a transcript stored without one (``""``) a key
        of its own (its id behind a NUL, which no gene id contains), so that isoforms of a gene
        stay together and gene-less transcripts are independent."""
        if self.genes is None:
            return None
        return np.array([g if g else "\0" + i for g, i in zip(self.genes, self.ids)], dtype=object)

    # -- file handle ----------------------------------------------------------------------
    def _h5(self) -> h5py.File:
        if self._file is None:
            try:
                self._file = h5py.File(self.path, self.mode)
            except OSError as exc:
                raise CacheError(f"cannot open cache {self.path}: {exc}") from None
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        # h5py handles do not survive pickling: each worker reopens the file lazily.
        state = self.__dict__.copy()
        state["_file"] = None
        return state

    def __len__(self) -> int:
        return len(self.ids)

    # -- sequences ------------------------------------------------------------------------
    def load(self) -> Cache:
        """Read every sequence into memory (ΣL bytes); later reads are slices."""
        if self._seq is None:
            self._seq = self._h5()["seq"][:]
        return self

    def sequence(self, index: int) -> np.ndarray:
        """uint8 codes (length,) of record ``index``."""
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        if self._seq is not None:
            return self._seq[start:end]
        return self._h5()["seq"][start:end]

    def sequences(self, indices: Sequence[int] | np.ndarray) -> list[np.ndarray]:
        """uint8 code arrays for ``indices`` (in the given order), read in one span per call."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size == 0:
            return []
        if self._seq is not None:
            return [self._seq[self.offsets[i] : self.offsets[i + 1]] for i in idx]
        lo, hi = int(self.offsets[idx.min()]), int(self.offsets[idx.max() + 1])
        needed = int((self.offsets[idx + 1] - self.offsets[idx]).sum())
        if hi - lo <= 4 * needed + (1 << 20):
            block = self._h5()["seq"][lo:hi]
            return [block[self.offsets[i] - lo : self.offsets[i + 1] - lo] for i in idx]
        return [self.sequence(int(i)) for i in idx]

    def length_order(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Indices sorted by increasing length (stable: ties keep cache order)."""
        idx = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        return idx[np.argsort(self.lengths[idx], kind="stable")]

    def iter_batches(
        self, batch_size: int, indices: Sequence[int] | np.ndarray | None = None, by_length: bool = True
    ) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
        """Yield ``(indices, sequences)`` batches, in length order by default."""
        idx = self.length_order(indices) if by_length else np.arange(len(self)) if indices is None else np.asarray(indices)
        for start in range(0, len(idx), batch_size):
            chunk = idx[start : start + batch_size]
            yield chunk, self.sequences(chunk)

    def index_of(self, ids: Sequence[str]) -> np.ndarray:
        """Positions of ``ids`` in the cache; unknown ids raise :class:`CacheError`."""
        lookup = {v: i for i, v in enumerate(self.ids)}
        missing = [i for i in ids if i not in lookup]
        if missing:
            raise CacheError(f"{len(missing)} id(s) not in {self.path}, e.g. {missing[0]}")
        return np.array([lookup[i] for i in ids], dtype=np.int64)

    # -- structure (written by `fold`) ----------------------------------------------------
    @property
    def has_structure(self) -> bool:
        """True when every record has been folded."""
        done = self.structure_done
        return done is not None and bool(done.all())

    @property
    def structure_done(self) -> np.ndarray | None:
        f = self._h5()
        return f["structure_done"][:] if "structure_done" in f else None

    @property
    def structure_params(self) -> dict | None:
        """Fold settings stored with ``/structure`` (None when the cache was never folded)."""
        f = self._h5()
        return json.loads(f["structure"].attrs.get("params", "{}")) if "structure" in f else None

    @property
    def structure_sha256(self) -> str | None:
        """SHA-256 of the fold settings and ``/structure``; None unless every record is folded."""
        if not self.has_structure:
            return None
        ds = self._h5()["structure"]
        stored = ds.attrs.get("sha256")
        if stored:
            return str(stored)
        return _structure_hash(self.structure_params, ds[:])  # folded before the hash was stored

    @property
    def identity(self) -> dict:
        """What a run trained on this cache depends on: ``data_sha256`` and ``structure_sha256``."""
        return {"data_sha256": self.content_sha256, "structure_sha256": self.structure_sha256}

    def seal_structure(self) -> str | None:
        """Store :attr:`structure_sha256` with ``/structure`` (mode r+) when every record is
        folded; returns it (None when some are not)."""
        f = self._writable()
        if not self.has_structure:
            return None
        ds = f["structure"]
        digest = _structure_hash(self.structure_params, ds[:])
        ds.attrs["sha256"] = digest
        f.flush()
        return digest

    def structure(self, index: int) -> np.ndarray:
        """uint8 element codes F T I H M S = 0..5 of record ``index``."""
        f = self._h5()
        if "structure" not in f:
            raise CacheError(f"{self.path} has no structure: run `rnatracker fold {self.path}`")
        return f["structure"][int(self.offsets[index]) : int(self.offsets[index + 1])]

    def structures(self, indices: Sequence[int] | np.ndarray) -> list[np.ndarray]:
        return [self.structure(int(i)) for i in indices]

    def ensure_structure(self, params: dict) -> None:
        """Create ``/structure`` and ``/structure_done`` (mode r+) if absent.

        ``params`` (fold settings) are stored; folding again with other settings is refused
        unless the datasets are first removed with :meth:`reset_structure`.
        """
        f = self._writable()
        if "structure" in f:
            old = json.loads(f["structure"].attrs.get("params", "{}"))
            if old != params:
                raise CacheError(
                    f"{self.path} was folded with {old}; not mixing with {params} "
                    "(use --force to fold again from scratch)"
                )
            return
        total = int(self.offsets[-1])
        ds = f.create_dataset("structure", shape=(total,), dtype=np.uint8,
                              chunks=_chunks(total), fillvalue=STRUCTURE_UNSET)
        ds.attrs["params"] = json.dumps(params, sort_keys=True)
        f.create_dataset("structure_done", data=np.zeros(len(self), dtype=bool))
        f.flush()

    def reset_structure(self) -> None:
        f = self._writable()
        for name in ("structure", "structure_done"):
            if name in f:
                del f[name]
        f.flush()

    def write_structure(self, indices: Sequence[int], codes: Sequence[np.ndarray]) -> None:
        """Store element codes for records and mark them done (flushed, so a kill keeps them)."""
        f = self._writable()
        ds, done = f["structure"], f["structure_done"]
        if "sha256" in ds.attrs:  # the stored identity no longer holds
            del ds.attrs["sha256"]
        for i, c in zip(indices, codes):
            start, end = int(self.offsets[i]), int(self.offsets[i + 1])
            if len(c) != end - start:
                raise ValueError(f"structure of record {i} has length {len(c)}, expected {end - start}")
            ds[start:end] = c
        for i in indices:
            done[int(i)] = True
        f.flush()

    def _writable(self) -> h5py.File:
        if self.mode == "r":
            raise CacheError(f"cache {self.path} was opened read-only")
        return self._h5()
