"""Synthetic localization data with planted zipcodes (known answers for tests and benchmarks).

Each transcript has a 5'UTR, a CDS (ATG … stop, sense codons in between) and a 3'UTR, with a
human-like log-normal length (median 2.5 kb, clipped to 300 nt – 12 kb). A handful of motifs
are tied to one fraction each with a positive (enhancing) or negative (repressive) effect.

The localization rule is a function of the sequence alone: a *site* of a motif is any place
whose sequence is within one mismatch of the motif's consensus (10–12 nt), and sites of one
motif less than ``ZIPCODE_GAP`` nt apart form one *zipcode*. Zipcodes (1–3 copies of one
motif) are planted, mostly in 3'UTRs, but a zipcode that arises by chance in the random
background acts the same way, and ``zipcodes.bed`` lists every zipcode the rule sees — so the
truth file is exact: masking a listed region changes the true localization, masking anything
else does not. Localization logits are ``baseline + effect per zipcode + length effect +
noise``; shorter transcripts are more cytosolic, as in CeFra-seq. Per-fraction expression with
replicate columns is drawn around ``total × distribution`` with multiplicative noise, and some
transcripts fall below the expression filter. A small spliced genome + GTF (both strands,
introns, several isoforms per gene, the longest protein-coding one being the simulated
transcript) is written too, with a phyloP-like conservation track on it
(``conservation.bw``, :func:`conservation_track`): region-type levels (intergenic < intron <
3'UTR < 5'UTR < CDS), a per-gene offset, noise, and ``conservation_signal`` added at every
base of the true zipcodes.

The dataset is drawn from one ``numpy.random.Generator(seed)``, the genome layout and the
conservation track from generators of their own derived from the seed (so a new output never
changes the others): the same seed gives byte-identical files.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rnatracker_cli.alphabet import decode, reverse_complement
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.io.atomic import atomic_path, check_output
from rnatracker_cli.io.gtf import transcript_blocks
from rnatracker_cli.io.writers import format_fasta, write_meme

DEFAULT_FRACTIONS = ("cytosol", "nuclear", "membrane", "insoluble")
MIN_LENGTH, MAX_LENGTH, MEDIAN_LENGTH = 300, 12_000, 2_500
MOTIF_WIDTHS = (10, 12)  # inclusive
MUTATED_SHARE = 0.5  # planted copies: consensus, or (this often) one position changed
ZIPCODE_GAP = 10  # sites of one motif at most this far apart form one zipcode
OUTPUT_FILES = ("transcripts.fa", "localization.tsv", "zipcodes.bed", "motifs.meme", "genome.fa", "annotation.gtf",
                "conservation.bw")
GENOME_FILES = ("genome.fa", "annotation.gtf", "conservation.bw")
# conservation track: mean score per region type (phyloP-like units), per-gene offset sd, noise sd;
# the noise is constant over CONSERVATION_BIN nt (keeps the bigWig small: ~1 entry per bin)
CONSERVATION_LEVELS = {"intergenic": 0.0, "intron": 0.3, "utr5": 0.9, "cds": 1.8, "utr3": 0.6}
CONSERVATION_GENE_SD, CONSERVATION_NOISE_SD, CONSERVATION_BIN = 0.25, 1.0, 5
CONSERVATION_SIGNAL = 1.5
CONSERVATION_GAP_SHARE = 0.005  # share of the genome left without a score (in 10–100 nt gaps)

_CODONS = np.array([[a, b, c] for a in range(4) for b in range(4) for c in range(4)], dtype=np.uint8)
_STOPS = np.array([[3, 0, 0], [3, 0, 2], [3, 2, 0]], dtype=np.uint8)  # TAA TAG TGA
_SENSE = np.array([c for c in _CODONS if not any((c == s).all() for s in _STOPS)], dtype=np.uint8)


@dataclass
class Motif:
    """A motif tied to one fraction: ``consensus`` codes (width,) over A C G U.

    Its sites are the sequences within one mismatch of the consensus; ``pwm`` (width, 4) is
    the base composition of planted copies (the consensus, or with probability
    ``MUTATED_SHARE`` one uniformly chosen position changed to another base).
    """

    id: str
    fraction: str
    effect: int  # +1 enhancing, -1 repressive
    consensus: np.ndarray

    @property
    def name(self) -> str:
        return f"{self.fraction}_{'enhancing' if self.effect > 0 else 'repressive'}"

    @property
    def pwm(self) -> np.ndarray:
        width = len(self.consensus)
        pwm = np.full((width, 4), MUTATED_SHARE / (3 * width))
        pwm[np.arange(width), self.consensus] = 1.0 - MUTATED_SHARE / width
        return pwm


@dataclass
class SimulatedData:
    """In-memory simulated dataset.

    sequences: N uint8 code arrays; targets: float32 (N, F) true distributions;
    expression: table with ``transcript_id gene_id FRACTION_repK…``; zipcodes: truth table
    ``transcript start end motif fraction effect`` (0-based, half-open); utr5/cds: int arrays
    (N,) segment lengths (3'UTR = the rest).
    """

    ids: list[str]
    genes: list[str]
    sequences: list[np.ndarray]
    fractions: tuple[str, ...]
    targets: np.ndarray
    expression: pd.DataFrame
    zipcodes: pd.DataFrame
    motifs: list[Motif]
    utr5: np.ndarray
    cds: np.ndarray
    seed: int


def _make_motifs(rng: np.random.Generator, fractions: tuple[str, ...]) -> list[Motif]:
    plan = [(f, +1) for f in fractions] + [(fractions[i], -1) for i in range(max(1, len(fractions) // 2))]
    lo, hi = MOTIF_WIDTHS
    return [
        Motif(f"SIM{k:02d}", fraction, effect, rng.integers(0, 4, size=int(rng.integers(lo, hi + 1))).astype(np.uint8))
        for k, (fraction, effect) in enumerate(plan, 1)
    ]


def _sample_site(rng: np.random.Generator, consensus: np.ndarray) -> np.ndarray:
    """One planted copy: the consensus, or with probability MUTATED_SHARE one base changed."""
    site = consensus.copy()
    if rng.random() < MUTATED_SHARE:
        pos = int(rng.integers(len(site)))
        site[pos] = (site[pos] + rng.integers(1, 4)) % 4
    return site


def find_sites(seq: np.ndarray, consensus: np.ndarray) -> np.ndarray:
    """Start positions where ``seq`` is within one mismatch of ``consensus``."""
    width = len(consensus)
    if len(seq) < width:
        return np.zeros(0, dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(seq, width)
    return np.flatnonzero((windows != consensus).sum(axis=1) <= 1)


def find_zipcodes(seq: np.ndarray, motifs: list[Motif]) -> list[tuple[int, int, Motif]]:
    """Every zipcode the localization rule sees: (start, end, motif), sorted by start.

    Sites of one motif whose gap is at most ZIPCODE_GAP nt (or that overlap) are merged.
    """
    found = []
    for motif in motifs:
        width = len(motif.consensus)
        start = end = None
        for pos in find_sites(seq, motif.consensus).tolist():
            if end is not None and pos <= end + ZIPCODE_GAP:
                end = max(end, pos + width)
                continue
            if end is not None:
                found.append((start, end, motif))
            start, end = pos, pos + width
        if end is not None:
            found.append((start, end, motif))
    return sorted(found, key=lambda z: (z[0], z[1], z[2].id))


def _lengths(rng: np.random.Generator, n: int, median: float, max_length: int | None) -> np.ndarray:
    hi = MAX_LENGTH if max_length is None else min(MAX_LENGTH, max_length)
    lo = min(MIN_LENGTH, hi)
    raw = np.exp(rng.normal(math.log(median), 0.65, size=n))
    return np.clip(np.round(raw), lo, hi).astype(np.int64)


def _transcript(rng: np.random.Generator, length: int) -> tuple[np.ndarray, int, int]:
    utr5 = int(np.clip(round(length * rng.uniform(0.04, 0.12)), 10, length // 4))
    utr3 = int(round(length * rng.uniform(0.25, 0.55)))
    cds = max(9, (length - utr5 - utr3) // 3 * 3)
    cds = min(cds, (length - utr5) // 3 * 3)
    n_inner = cds // 3 - 2
    codons = _SENSE[rng.integers(0, len(_SENSE), size=n_inner)].reshape(-1)
    body = np.concatenate([[0, 3, 2], codons, _STOPS[rng.integers(0, 3)]]).astype(np.uint8)
    seq = np.empty(length, dtype=np.uint8)
    seq[:utr5] = rng.integers(0, 4, size=utr5)
    seq[utr5 : utr5 + cds] = body
    seq[utr5 + cds :] = rng.integers(0, 4, size=length - utr5 - cds)
    return seq, utr5, cds


def _plant(rng, seq, utr5, cds, motifs, occupied) -> bool:
    """Plant one zipcode (1–3 copies of a motif) in a free stretch; False if nothing fits."""
    motif = motifs[int(rng.integers(len(motifs)))]
    copies = int(rng.integers(1, 4))
    gaps = rng.integers(0, ZIPCODE_GAP + 1, size=copies - 1)
    width = len(motif.consensus)
    size = copies * width + int(gaps.sum())
    length = len(seq)
    segments = [(utr5 + cds, length), (utr5, utr5 + cds), (0, utr5)]
    choice = rng.choice(3, p=[0.8, 0.1, 0.1])
    for seg in (segments[choice], segments[0], (0, length)):
        lo, hi = seg
        if hi - lo < size:
            continue
        for _ in range(5):
            start = int(rng.integers(lo, hi - size + 1))
            if all(start >= e or start + size <= s for s, e in occupied):
                pos = start
                for c in range(copies):
                    seq[pos : pos + width] = _sample_site(rng, motif.consensus)
                    pos += width + (int(gaps[c]) if c < copies - 1 else 0)
                occupied.append((start, start + size))
                return True
    return False


def simulate_dataset(
    n: int = 2000,
    fractions: tuple[str, ...] | list[str] = DEFAULT_FRACTIONS,
    seed: int = 0,
    max_length: int | None = None,
    median_length: float = MEDIAN_LENGTH,
    replicates: int = 2,
    zipcodes_per_transcript: float = 1.5,
    effect_size: float = 1.5,
) -> SimulatedData:
    """Draw a synthetic dataset (see the module docstring); no files are written."""
    fractions = tuple(fractions)
    if n < 1:
        raise RNATrackerError("--n must be at least 1")
    if len(fractions) < 2 or len(set(fractions)) != len(fractions) or not all(fractions):
        raise RNATrackerError("--fractions needs at least two distinct, non-empty names")
    if max_length is not None and max_length < 60:
        raise RNATrackerError("--max-length must be at least 60")
    if replicates < 1:
        raise RNATrackerError("replicates must be at least 1")
    rng = np.random.default_rng(seed)
    motifs = _make_motifs(rng, fractions)
    lengths = _lengths(rng, n, median_length, max_length)
    n_frac = len(fractions)
    cyto = fractions.index("cytosol") if "cytosol" in fractions else 0
    baseline = rng.normal(0.0, 0.3, size=n_frac)
    ids = [f"SIMT{i + 1:08d}" for i in range(n)]
    genes = [f"SIMG{i + 1:08d}" for i in range(n)]
    sequences, utr5s, cdss, zip_rows = [], np.zeros(n, np.int64), np.zeros(n, np.int64), []
    logits = np.tile(baseline, (n, 1))
    for i in range(n):
        seq, utr5, cds = _transcript(rng, int(lengths[i]))
        occupied: list[tuple[int, int]] = []
        for _ in range(int(rng.poisson(zipcodes_per_transcript))):
            _plant(rng, seq, utr5, cds, motifs, occupied)
        for start, end, motif in find_zipcodes(seq, motifs):
            logits[i, fractions.index(motif.fraction)] += motif.effect * effect_size
            zip_rows.append((ids[i], start, end, motif.id, motif.fraction, motif.effect))
        sequences.append(seq)
        utr5s[i], cdss[i] = utr5, cds
    logits[:, cyto] -= 0.8 * (np.log(lengths) - math.log(median_length))
    logits += rng.normal(0.0, 0.25, size=logits.shape)
    targets = np.exp(logits - logits.max(axis=1, keepdims=True))
    targets /= targets.sum(axis=1, keepdims=True)
    # Total abundance: log-normal around 20 (FPKM-like); a few percent fall at or below 1.
    total = np.exp(rng.normal(math.log(20.0), 1.9, size=n))
    columns: dict[str, object] = {"transcript_id": ids, "gene_id": genes}
    for f, name in enumerate(fractions):
        for r in range(1, replicates + 1):
            noise = np.exp(rng.normal(0.0, 0.1, size=n))
            columns[f"{name}_rep{r}"] = np.round(total * targets[:, f] * noise, 4)
    zipcodes = pd.DataFrame(zip_rows, columns=["transcript", "start", "end", "motif", "fraction", "effect"])
    return SimulatedData(
        ids, genes, sequences, fractions, targets.astype(np.float32), pd.DataFrame(columns),
        zipcodes, motifs, utr5s, cdss, seed,
    )


# -- genome -----------------------------------------------------------------------------------

def _exon_cuts(rng: np.random.Generator, length: int) -> list[int]:
    """Interior exon boundaries in transcript coordinates (exons ≥ 50 nt)."""
    n_exons = int(rng.integers(2, 7))
    n_cuts = min(n_exons - 1, length // 50 - 1)
    if n_cuts < 1:
        return []
    cuts = np.sort(rng.choice(np.arange(1, length // 50), size=n_cuts, replace=False)) * 50
    return [int(c) for c in cuts]


def _intron(rng: np.random.Generator) -> np.ndarray:
    body = rng.integers(0, 4, size=int(rng.integers(80, 600))).astype(np.uint8)
    body[:2] = (2, 3)  # GT … AG, in transcript orientation
    body[-2:] = (0, 2)
    return body


def _gtf_line(chrom, feature, start, end, strand, frame, attrs) -> str:
    attr = " ".join(f'{k} "{v}";' for k, v in attrs.items())
    return f"{chrom}\trnatracker\t{feature}\t{start + 1}\t{end}\t.\t{strand}\t{frame}\t{attr}\n"


@dataclass
class GeneLayout:
    """Where simulated transcript ``index`` lies: 0-based half-open genomic exons (ascending)
    of its ``.1`` isoform and the gene's span ``[start, end)`` on ``chrom``."""

    index: int
    chrom: str
    strand: str
    start: int
    end: int
    exons: list[tuple[int, int]]


def build_genome(data: SimulatedData, layout: list[GeneLayout] | None = None
                 ) -> tuple[dict[str, np.ndarray], list[str]]:
    """Lay the transcripts out as spliced genes; returns chromosome codes and GTF lines.

    ``layout``, when given, receives one :class:`GeneLayout` per transcript.

    Isoforms per gene: the simulated transcript (``T.1``, protein_coding, all exons); a shorter
    protein-coding isoform (``T.2``: an internal exon skipped, or a later transcription start);
    and a longer ``retained_intron`` isoform (``T.3``) with the first intron kept, which a
    correct "longest protein-coding isoform" choice must ignore. Ids carry version suffixes
    (``SIMT00000001.1``) as GENCODE does.
    """
    rng = np.random.default_rng([data.seed, 1])
    n_chrom = max(1, min(5, len(data.ids) // 400 + 1))
    chroms: dict[str, list[np.ndarray]] = {f"chr{c + 1}": [] for c in range(n_chrom)}
    cursor = {c: 0 for c in chroms}
    lines: dict[str, list[str]] = {c: [] for c in chroms}
    for i, (tid, gid, seq) in enumerate(zip(data.ids, data.genes, data.sequences)):
        chrom = f"chr{i % n_chrom + 1}"
        strand = "+" if rng.random() < 0.5 else "-"
        spacer = rng.integers(0, 4, size=int(rng.integers(100, 1000))).astype(np.uint8)
        chroms[chrom].append(spacer)
        cursor[chrom] += len(spacer)
        cuts = [0, *_exon_cuts(rng, len(seq)), len(seq)]
        exon_seqs = [seq[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
        introns = [_intron(rng) for _ in range(len(exon_seqs) - 1)]
        parts, tx_exons, pos = [], [], 0  # tx_exons: pre-mRNA coordinates of exons
        for k, ex in enumerate(exon_seqs):
            parts.append(ex)
            tx_exons.append((pos, pos + len(ex)))
            pos += len(ex)
            if k < len(introns):
                parts.append(introns[k])
                pos += len(introns[k])
        pre = np.concatenate(parts)
        g0 = cursor[chrom]
        gsize = len(pre)

        def to_genome(a: int, b: int) -> tuple[int, int]:
            return (g0 + a, g0 + b) if strand == "+" else (g0 + gsize - b, g0 + gsize - a)

        chroms[chrom].append(pre if strand == "+" else reverse_complement(pre))
        cursor[chrom] += gsize
        exons = sorted(to_genome(a, b) for a, b in tx_exons)
        if layout is not None:
            layout.append(GeneLayout(i, chrom, strand, g0, g0 + gsize, list(exons)))
        base = {"gene_id": f"{gid}.1", "gene_name": f"SIM{i + 1}", "gene_biotype": "protein_coding"}
        out = lines[chrom]
        out.append(_gtf_line(chrom, "gene", g0, g0 + gsize, strand, ".", base))
        utr5, cds = int(data.utr5[i]), int(data.cds[i])
        isoforms = [(f"{tid}.1", exons, "protein_coding", (utr5, utr5 + cds))]
        if len(exons) >= 3:
            skip = int(rng.integers(1, len(exons) - 1))
            isoforms.append((f"{tid}.2", [e for k, e in enumerate(exons) if k != skip], "protein_coding", None))
        else:
            first = list(exons)
            s, e = first[0] if strand == "+" else first[-1]
            trim = min(20, (e - s) // 2)
            if strand == "+":
                first[0] = (s + trim, e)
            else:
                first[-1] = (s, e - trim)
            isoforms.append((f"{tid}.2", first, "protein_coding", None))
        if len(exons) >= 2:
            kept = [(exons[0][0], exons[1][1])] + exons[2:]
            isoforms.append((f"{tid}.3", kept, "retained_intron", None))
        for iso_id, iso_exons, biotype, cds_range in isoforms:
            attrs = {**base, "transcript_id": iso_id, "transcript_biotype": biotype}
            out.append(_gtf_line(chrom, "transcript", iso_exons[0][0], iso_exons[-1][1], strand, ".", attrs))
            order = iso_exons if strand == "+" else iso_exons[::-1]
            for k, (s, e) in enumerate(order, 1):
                out.append(_gtf_line(chrom, "exon", s, e, strand, ".", {**attrs, "exon_number": k}))
            if cds_range is None:
                continue
            length = sum(e - s for s, e in iso_exons)
            done = 0
            for feature, (a, b) in (("five_prime_utr", (0, cds_range[0])), ("CDS", cds_range),
                                    ("three_prime_utr", (cds_range[1], length))):
                blocks = transcript_blocks(iso_exons, strand, a, b)
                for s, e in (blocks if strand == "+" else blocks[::-1]):
                    frame = "."
                    if feature == "CDS":
                        frame = str((3 - done % 3) % 3)
                        done += e - s
                    out.append(_gtf_line(chrom, feature, s, e, strand, frame, attrs))
    genome = {c: (np.concatenate(p) if p else np.zeros(0, np.uint8)) for c, p in chroms.items()}
    gtf = [line for c in chroms for line in lines[c]]
    return genome, gtf


def conservation_track(data: SimulatedData, chrom_sizes: dict[str, int], layout: list[GeneLayout],
                       signal: float = CONSERVATION_SIGNAL) -> dict[str, np.ndarray]:
    """phyloP-like scores: float32 (chromosome length,) per chromosome, NaN = no score.

    score = level of the base's region type (:data:`CONSERVATION_LEVELS`; exons of the ``.1``
    isoform split into 5'UTR / CDS / 3'UTR, the rest of a gene's span intron) + a per-gene
    offset + noise (constant over ``CONSERVATION_BIN`` nt) + ``signal`` at every base of a true
    zipcode; ``CONSERVATION_GAP_SHARE`` of the genome has no score. Rounded to 3 decimals,
    like phyloP's bigWigs. Its generator is ``default_rng([seed, 2])``, independent of the
    other outputs' draws.
    """
    rng = np.random.default_rng([data.seed, 2])
    level = {c: np.full(n, CONSERVATION_LEVELS["intergenic"], np.float32) for c, n in chrom_sizes.items()}
    zip_by_tx: dict[str, list[tuple[int, int]]] = {}
    for t, s, e in data.zipcodes[["transcript", "start", "end"]].itertuples(index=False):
        zip_by_tx.setdefault(t, []).append((int(s), int(e)))
    for g in layout:
        track = level[g.chrom]
        offset = float(rng.normal(0.0, CONSERVATION_GENE_SD))
        track[g.start : g.end] = CONSERVATION_LEVELS["intron"] + offset
        utr5, cds = int(data.utr5[g.index]), int(data.cds[g.index])
        length = sum(e - s for s, e in g.exons)
        for kind, (a, b) in (("utr5", (0, utr5)), ("cds", (utr5, utr5 + cds)), ("utr3", (utr5 + cds, length))):
            for s, e in transcript_blocks(g.exons, g.strand, a, b):
                track[s:e] = CONSERVATION_LEVELS[kind] + offset
        for a, b in zip_by_tx.get(data.ids[g.index], []):
            for s, e in transcript_blocks(g.exons, g.strand, a, b):
                track[s:e] += signal
    out = {}
    for chrom, track in level.items():
        n = len(track)
        bins = rng.normal(0.0, CONSERVATION_NOISE_SD, size=-(-n // CONSERVATION_BIN)).astype(np.float32)
        scores = np.round(track + np.repeat(bins, CONSERVATION_BIN)[:n], 3)
        n_gaps = int(rng.poisson(CONSERVATION_GAP_SHARE * n / 55))
        for start, size in zip(rng.integers(0, max(1, n), size=n_gaps), rng.integers(10, 101, size=n_gaps)):
            scores[start : start + size] = np.nan
        out[chrom] = scores
    return out


# -- files ------------------------------------------------------------------------------------

def write_simulation(data: SimulatedData, out_dir: str | os.PathLike, genome: bool = True, force: bool = False,
                     conservation_signal: float = CONSERVATION_SIGNAL) -> list[Path]:
    """Write the dataset's files into ``out_dir`` (created if needed); returns the paths.

    genome: also write genome.fa, annotation.gtf and conservation.bw (with
    ``conservation_signal`` added at the true zipcodes; 0 = no zipcode signal).
    """
    from rnatracker_cli.io.bigwig import runs, write_bigwig

    if not math.isfinite(conservation_signal):
        raise RNATrackerError("--conservation-signal must be a finite number")
    out = Path(out_dir)
    names = [f for f in OUTPUT_FILES if genome or f not in GENOME_FILES]
    if out.exists() and not out.is_dir():
        raise RNATrackerError(f"{out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        check_output(out / name, force)
    written = []

    def emit(name: str, text: str) -> None:
        with atomic_path(out / name, force) as tmp:
            tmp.write_text(text, newline="\n")
        written.append(out / name)

    emit("transcripts.fa", "".join(
        format_fasta(tid, decode(seq), f"gene:{gid} utr5:{int(u)} cds:{int(c)}")
        for tid, gid, seq, u, c in zip(data.ids, data.genes, data.sequences, data.utr5, data.cds)
    ))
    emit("localization.tsv", data.expression.to_csv(sep="\t", index=False, float_format="%.4f", lineterminator="\n"))
    z = data.zipcodes.sort_values(["transcript", "start", "end"], kind="stable")
    bed = [
        f"{t}\t{s}\t{e}\t{m}:{f}:{'enhancing' if x > 0 else 'repressive'}\t0\t+\t{m}\t{f}\t{x:+d}\n"
        for t, s, e, m, f, x in z.itertuples(index=False)
    ]
    emit("zipcodes.bed", "".join(bed))
    with atomic_path(out / "motifs.meme", force) as tmp:
        write_meme(tmp, [(m.id, m.name, m.pwm) for m in data.motifs], nsites=20)
    written.append(out / "motifs.meme")
    if genome:
        layout: list[GeneLayout] = []
        chroms, gtf = build_genome(data, layout)
        emit("genome.fa", "".join(format_fasta(c, decode(s)) for c, s in chroms.items()))
        emit("annotation.gtf", "".join(gtf))
        sizes = {c: len(s) for c, s in chroms.items()}
        scores = conservation_track(data, sizes, layout, conservation_signal)
        write_bigwig(out / "conservation.bw", sizes,
                     (entry for c, v in scores.items() for entry in runs(c, 0, v)), force=force)
        written.append(out / "conservation.bw")
    return written
