"""Spliced transcript sequences from a genome FASTA (pyfaidx) and GTF transcript models."""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyfaidx

from rnatracker_cli.alphabet import encode, reverse_complement
from rnatracker_cli.errors import InputError
from rnatracker_cli.io.fasta import FastaRecord
from rnatracker_cli.io.gtf import TranscriptModel


class Genome:
    """Random access to a genome FASTA.

    A gzipped genome is decompressed once into a temporary folder (pyfaidx reads only
    uncompressed or BGZF files); the ``.fai`` index goes beside the genome when that folder is
    writable, else into the temporary folder.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        src = Path(path)
        if not src.is_file():
            raise InputError(f"{src}: file not found")
        self._tmp = tempfile.TemporaryDirectory(prefix="rnatracker-genome-")
        with open(src, "rb") as handle:
            gz = handle.read(2) == b"\x1f\x8b"
        if gz:
            plain = Path(self._tmp.name) / src.name.removesuffix(".gz")
            try:
                with gzip.open(src, "rb") as fin, open(plain, "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
            except (OSError, EOFError) as exc:
                raise InputError(f"{src}: cannot decompress: {exc}") from None
            src = plain
        index = None if os.access(src.parent, os.W_OK) else str(Path(self._tmp.name) / (src.name + ".fai"))
        try:
            self._fasta = pyfaidx.Fasta(str(src), indexname=index, as_raw=True, sequence_always_upper=True)
        except (pyfaidx.FastaIndexingError, pyfaidx.FastaNotFoundError, ValueError) as exc:
            raise InputError(f"{path}: cannot index genome FASTA: {exc}") from None
        self.path = Path(path)

    def close(self) -> None:
        self._fasta.close()
        self._tmp.cleanup()

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def transcript(self, model: TranscriptModel) -> FastaRecord:
        """The spliced, strand-aware sequence of one transcript model."""
        if model.chrom not in self._fasta:
            raise InputError(f"{self.path}: chromosome {model.chrom} of {model.transcript_id} is not in the genome")
        contig = self._fasta[model.chrom]
        size = len(contig)
        parts = []
        for s, e in model.exons:
            if e > size:
                raise InputError(f"{model.transcript_id}: exon {s + 1}-{e} lies beyond the end of {model.chrom} ({size} nt)")
            parts.append(str(contig[s:e]))
        raw = "".join(parts)
        codes, n_amb, bad = encode(raw)
        if bad >= 0:
            raise InputError(f"{self.path}: invalid character '{raw[bad]}' in {model.transcript_id} (genome {model.chrom})")
        if model.strand == "-":
            codes = reverse_complement(codes)
        return FastaRecord(model.transcript_id, f"gene:{model.gene_id}", np.ascontiguousarray(codes), n_amb)

    def transcripts(self, models: list[TranscriptModel]) -> Iterator[FastaRecord]:
        for model in models:
            yield self.transcript(model)
