"""Writers for the text formats the tool emits (one writer per format, fixed columns)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

FASTA_WIDTH = 60


def format_fasta(record_id: str, sequence: str, description: str = "", width: int = FASTA_WIDTH) -> str:
    """One FASTA record, sequence wrapped at ``width`` characters, trailing newline."""
    header = f">{record_id} {description}".rstrip()
    lines = [sequence[i : i + width] for i in range(0, len(sequence), width)]
    return header + "\n" + "\n".join(lines) + "\n"


def write_meme(
    path: str | os.PathLike,
    motifs: Iterable[tuple[str, str, np.ndarray]],
    nsites: int = 20,
    alphabet: str = "ACGU",
    background: np.ndarray | None = None,
) -> None:
    """Write motifs (``(id, name, pwm (width, 4) probabilities)``) in minimal MEME format.

    Rows are renormalised to sum to 1 and printed with 6 decimals; the layout matches the
    RNAcompete database distributed with RNATracker (``ALPHABET= ACGU``), so MEME-suite tools
    and memelite read it.
    """
    bg = np.full(4, 0.25) if background is None else np.asarray(background, dtype=float)
    with open(path, "w", newline="\n") as out:
        out.write("MEME version 4\n\n")
        out.write(f"ALPHABET= {alphabet}\n\nstrands: +\n\n")
        out.write("Background letter frequencies\n")
        out.write(" ".join(f"{a} {p:.4f}" for a, p in zip(alphabet, bg)) + "\n\n")
        for motif_id, name, pwm in motifs:
            pwm = np.asarray(pwm, dtype=float)
            pwm = pwm / pwm.sum(axis=1, keepdims=True)
            out.write(f"MOTIF {motif_id} {name}\n\n".replace(" \n", "\n"))
            out.write(f"letter-probability matrix: alength= 4 w= {len(pwm)} nsites= {nsites} E= 0\n")
            for row in pwm:
                out.write(" ".join(f"{v:.6f}" for v in row) + "\n")
            out.write("\n")


def predict_columns(fractions: Sequence[str], spread: bool = False) -> list[str]:
    """Header of the predict TSV: ``id length <fractions…> predominant``, then for ensembles
    (``spread``) ``sd_<fraction>…``, the spread of each fraction across the members."""
    return ["id", "length", *fractions, "predominant"] + ([f"sd_{f}" for f in fractions] if spread else [])


def format_prediction(record_id: str, length: int, probs: np.ndarray, fractions: Sequence[str],
                      sd: np.ndarray | None = None) -> str:
    """One predict TSV line (4 decimals, fractions in model order, trailing newline)."""
    values = "\t".join(f"{v:.4f}" for v in probs)
    line = f"{record_id}\t{length}\t{values}\t{fractions[int(np.argmax(probs))]}"
    if sd is not None:
        line += "\t" + "\t".join(f"{v:.4f}" for v in sd)
    return line + "\n"
