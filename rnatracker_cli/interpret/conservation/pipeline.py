"""`conserve` as a library call: zipcode BED + bigWig (+ GTF) → regions.tsv, summary.tsv, ecdf.png."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from rnatracker_cli.errors import InputError, RNATrackerError
from rnatracker_cli.interpret.conservation.background import draw_background
from rnatracker_cli.interpret.conservation.regions import Region, TranscriptLookup, read_regions
from rnatracker_cli.interpret.conservation.report import write_ecdf_plot, write_regions, write_summary
from rnatracker_cli.interpret.conservation.stats import Comparison, score_regions, summarize
from rnatracker_cli.io.atomic import check_output, open_output
from rnatracker_cli.io.bigwig import BigWig

OUTPUTS = ("regions.tsv", "summary.tsv", "ecdf.png", "settings.json")
DEFAULT_MIN_KL = (0.0, 0.01, 0.02, 0.05, 0.1)


@dataclass
class ConserveOptions:
    """per_region: background windows per zipcode (drawn background); seed: their generator's
    seed; min_kl: cut-offs of the zipcodes' peak KL; match_type: draw background windows of the
    zipcode's region type (5'UTR/CDS/3'UTR); plot: write ecdf.png (matplotlib takes ~1 s)."""

    per_region: int = 10
    seed: int = 0
    min_kl: tuple[float, ...] = DEFAULT_MIN_KL
    match_type: bool = True
    plot: bool = True


@dataclass
class ConserveResult:
    zipcodes: list[Region]
    background: list[Region]
    summary: list[Comparison]
    background_source: str  # "drawn" or the user's BED
    not_drawn: int  # background windows that could not be drawn
    kl_known: bool  # False: the BED has no kl_peak, cut-offs above 0 were not applied
    seconds: float
    paths: list[Path] = field(default_factory=list)


def parse_cutoffs(text: str) -> tuple[float, ...]:
    """``"0,0.01,0.05"`` → (0.0, 0.01, 0.05); finite, non-negative, at least one."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise RNATrackerError(f"--min-kl: {text!r} is not a comma-separated list of numbers") from None
    if not values or any(not math.isfinite(v) or v < 0 for v in values):
        raise RNATrackerError(f"--min-kl: {text!r}: give one or more non-negative numbers")
    return tuple(sorted(set(values)))


def conserve(zipcodes_bed: str | os.PathLike, bigwig: str | os.PathLike, out_dir: str | os.PathLike,
             gtf: str | os.PathLike | None = None, background_bed: str | os.PathLike | None = None,
             extra: str | os.PathLike | None = None, options: ConserveOptions | None = None,
             force: bool = False) -> ConserveResult:
    """Score zipcodes and a background on a conservation bigWig and test their difference.

    Writes ``regions.tsv``, ``summary.tsv``, ``ecdf.png`` (unless ``options.plot`` is off) and
    ``settings.json`` (inputs, options, seed) into ``out_dir`` (created if missing). Without ``background_bed`` the background is
    drawn from the zipcodes' transcripts, which needs ``gtf``.
    """
    from rnatracker_cli.io.gtf import read_gtf

    options = options or ConserveOptions()
    if options.per_region < 1:
        raise RNATrackerError("--background-per-region must be at least 1")
    started = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory")
    names = [n for n in OUTPUTS if options.plot or n != "ecdf.png"]
    if out.is_dir():
        for name in names:
            check_output(out / name, force)
    with BigWig(bigwig) as track:
        lookup = TranscriptLookup(read_gtf(gtf)) if gtf is not None else None
        zipcodes = read_regions(zipcodes_bed, lookup, track.chroms, "zipcode", extra)
        if background_bed is not None:
            background = read_regions(background_bed, lookup, track.chroms, "background")
            for b in background:
                b.direction, b.kl_peak = "", math.nan
            not_drawn, source = 0, str(background_bed)
        else:
            if lookup is None:
                raise InputError("a background needs --gtf (windows from the zipcodes' transcripts) or --background BED")
            if not any(z.transcript for z in zipcodes):
                raise InputError(f"{zipcodes_bed}: no zipcode could be placed on a GTF transcript (genomic BED names "
                                 f"must start with the transcript id, as scan-zipcodes writes them); give --background BED")
            background, not_drawn = draw_background(zipcodes, lookup, options.per_region, options.seed,
                                                    options.match_type)
            source = "drawn"
        score_regions(zipcodes, track)
        score_regions(background, track)
    kl_known = any(not math.isnan(z.kl_peak) for z in zipcodes)
    cutoffs = list(options.min_kl) if kl_known else [0.0]
    drawn = background_bed is None
    rows = summarize(zipcodes, background, cutoffs, drawn)
    out.mkdir(parents=True, exist_ok=True)
    write_regions(out / "regions.tsv", zipcodes, background, force)
    write_summary(out / "summary.tsv", rows, force)
    if options.plot:
        write_ecdf_plot(out / "ecdf.png", zipcodes, background, rows, drawn, force)
    settings = {
        "zipcodes": str(zipcodes_bed), "bigwig": str(bigwig), "gtf": None if gtf is None else str(gtf),
        "background": source, "sidecar": None if extra is None else str(extra),
        "background_per_region": options.per_region, "match_region_type": options.match_type,
        "min_kl": cutoffs, "seed": options.seed,
    }
    with open_output(out / "settings.json", force) as handle:
        json.dump(settings, handle, indent=2)
        handle.write("\n")
    return ConserveResult(zipcodes, background, rows, source, not_drawn, kl_known, time.perf_counter() - started,
                          [out / n for n in names])
