"""Resumable scans: per-transcript results appended to ``OUT.part`` as they are finished.

A scan writing to a file keeps a progress file ``OUT.part`` beside it. Each finished
transcript appends its block (regions, track intervals) and then a commit line ``D``/``S``,
and the file is flushed; an interrupted block (no commit line) is ignored when the file is
read again. The first line records the run's signature (model file SHA-256, settings,
fractions, whether a track is kept): a rerun with the same signature skips the committed
transcripts whose sequence is unchanged (each commit line holds the SHA-256 of the
transcript's codes, :func:`sequence_sha256`, so an edited sequence under the same id is
scanned again), a different signature is refused unless ``--force`` (which starts over). The
progress file is deleted once the outputs are written.

Lines (tab-separated; floats with 17 significant digits so a resumed run writes the same
bytes as an uninterrupted one)::

    #rnatracker-scan-part 1 <signature JSON>
    R id start end peak kl_peak fraction_index direction deltas(comma-separated)
    K id start end value                      (track interval)
    D id length sha256 windows unscanned_5prime method   (transcript done)
    S id length sha256 reason                        (transcript skipped)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnatracker_cli.errors import OutputExistsError
from rnatracker_cli.interpret.zipcodes import Region, Track
from rnatracker_cli.utils.hashing import file_sha256  # noqa: F401 (re-exported)

HEADER = "#rnatracker-scan-part"
VERSION = 2


@dataclass
class TranscriptResult:
    """One transcript's scan, in transcript coordinates.

    skipped: reason when not scanned (regions/track empty); unscanned: 5' nt outside the
    model's input; sha256: :func:`sequence_sha256` of the scanned codes.
    """

    id: str
    length: int
    regions: list[Region] = field(default_factory=list)
    track: Track | None = None
    windows: int = 0
    unscanned: int = 0
    method: str = ""
    skipped: str | None = None
    sha256: str = ""


def part_path(out: str | os.PathLike) -> Path:
    """``OUT.part`` beside the output."""
    out = Path(out)
    return out.with_name(out.name + ".part")




def sequence_sha256(codes: np.ndarray) -> str:
    """SHA-256 (hex) of a transcript's uint8 codes: the key of its finished work."""
    return hashlib.sha256(np.ascontiguousarray(codes, dtype=np.uint8).tobytes()).hexdigest()


def _g(value: float) -> str:
    return f"{value:.17g}"


def format_result(result: TranscriptResult) -> str:
    """The block of lines of one transcript, commit line last."""
    rid = result.id
    if result.skipped is not None:
        return f"S\t{rid}\t{result.length}\t{result.sha256}\t{result.skipped}\n"
    lines = [
        f"R\t{rid}\t{r.start}\t{r.end}\t{r.peak}\t{_g(r.kl_peak)}\t{r.fraction}\t{r.direction}\t"
        + ",".join(_g(v) for v in np.asarray(r.deltas, dtype=float).tolist()) + "\n"
        for r in result.regions
    ]
    if result.track is not None:
        t = result.track
        lines += [f"K\t{rid}\t{s}\t{e}\t{_g(v)}\n"
                  for s, e, v in zip(t.starts.tolist(), t.ends.tolist(), t.values.tolist())]
    lines.append(f"D\t{rid}\t{result.length}\t{result.sha256}\t{result.windows}\t{result.unscanned}\t{result.method}\n")
    return "".join(lines)


def read_part(path: Path, signature: dict) -> dict[str, TranscriptResult] | None:
    """Committed results of a progress file, or None when it belongs to another run."""
    with open(path, encoding="utf-8") as handle:
        first = handle.readline().rstrip("\n").split("\t")
        if len(first) != 3 or first[0] != HEADER or first[1] != str(VERSION):
            return None
        try:
            if json.loads(first[2]) != signature:
                return None
        except json.JSONDecodeError:
            return None
        done: dict[str, TranscriptResult] = {}
        pending: dict[str, TranscriptResult] = {}
        tracks: dict[str, list[tuple[int, int, float]]] = {}
        for line in handle:
            if not line.endswith("\n"):
                break  # an interrupted write
            f = line.rstrip("\n").split("\t")
            kind, rid = f[0], f[1]
            if kind == "R":
                res = pending.setdefault(rid, TranscriptResult(rid, 0))
                deltas = np.array([float(v) for v in f[8].split(",")])
                res.regions.append(Region(int(f[2]), int(f[3]), int(f[4]), float(f[5]), deltas, int(f[6]), f[7]))
            elif kind == "K":
                tracks.setdefault(rid, []).append((int(f[2]), int(f[3]), float(f[4])))
            elif kind == "D":
                res = pending.pop(rid, TranscriptResult(rid, 0))
                res.length, res.sha256 = int(f[2]), f[3]
                res.windows, res.unscanned, res.method = int(f[4]), int(f[5]), f[6]
                if signature.get("track"):
                    rows = tracks.pop(rid, [])
                    res.track = Track(np.array([r[0] for r in rows], dtype=np.int64),
                                      np.array([r[1] for r in rows], dtype=np.int64),
                                      np.array([r[2] for r in rows], dtype=float))
                done[rid] = res
            elif kind == "S":
                done[rid] = TranscriptResult(rid, int(f[2]), sha256=f[3], skipped=f[4])
    return done


class Progress:
    """The progress file of one run: opened for appending, resumed if compatible."""

    def __init__(self, out: str | os.PathLike, signature: dict, force: bool) -> None:
        self.path = part_path(out)
        self.signature = signature
        self.done: dict[str, TranscriptResult] = {}
        if self.path.exists() and not force:
            found = read_part(self.path, signature)
            if found is None:
                raise OutputExistsError(f"{self.path} holds an interrupted scan with other settings or another "
                                        "model; use --force to start over")
            self.done = found
        # Start the file afresh with what was committed (an interrupted block is dropped),
        # written beside it and renamed, so a crash here loses nothing.
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(f"{HEADER}\t{VERSION}\t{json.dumps(signature, sort_keys=True)}\n")
            for result in self.done.values():
                handle.write(format_result(result))
        os.replace(tmp, self.path)
        self._handle = open(self.path, "a", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed in close()

    def finished(self, record_id: str, sha256: str) -> TranscriptResult | None:
        """The committed result of this transcript, if its sequence is the one scanned then
        (handed over once: memory falls as the resumed run passes the finished transcripts)."""
        result = self.done.pop(record_id, None)
        return result if result is not None and result.sha256 == sha256 else None

    def add(self, result: TranscriptResult) -> None:
        self._handle.write(format_result(result))
        self._handle.flush()

    def close(self, finished: bool) -> None:
        self._handle.close()
        if finished:
            self.path.unlink(missing_ok=True)
