"""A fair background for zipcodes: windows of the same length from the same transcripts.

For each zipcode with a known transcript, ``per_region`` windows of the zipcode's length are
drawn (seeded, without replacement) among the transcript's windows that share no base with
any zipcode (checked in genome coordinates, so zipcodes of other isoforms count too) and,
when ``match_type`` is on, whose majority region type (5'UTR / CDS / 3'UTR, from the GTF's
CDS) is the zipcode's. Windows drawn for different zipcodes may overlap each other.
"""

from __future__ import annotations

import numpy as np

from rnatracker_cli.interpret.conservation.regions import REGION_TYPES, Region, TranscriptLookup
from rnatracker_cli.io.gtf import transcript_blocks


def _merged(regions: list[Region]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per chromosome: sorted, merged (starts, ends) int64 arrays of every region block."""
    by_chrom: dict[str, list[tuple[int, int]]] = {}
    for r in regions:
        by_chrom.setdefault(r.chrom, []).extend(r.blocks)
    out = {}
    for chrom, blocks in by_chrom.items():
        arr = np.array(sorted(blocks), dtype=np.int64)
        # a new merged interval starts where a block begins after every earlier block ended
        reach = np.maximum.accumulate(arr[:, 1])
        new = np.ones(len(arr), dtype=bool)
        new[1:] = arr[1:, 0] > reach[:-1]
        groups = np.cumsum(new) - 1
        starts = arr[new, 0]
        ends = np.zeros(len(starts), dtype=np.int64)
        np.maximum.at(ends, groups, arr[:, 1])
        out[chrom] = (starts, ends)
    return out


def covered_positions(genomic: np.ndarray, merged: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """bool (len(genomic),): which genomic positions fall in one of the merged intervals."""
    if merged is None or len(merged[0]) == 0:
        return np.zeros(len(genomic), dtype=bool)
    starts, ends = merged
    idx = np.searchsorted(starts, genomic, side="right") - 1
    return (idx >= 0) & (genomic < ends[np.maximum(idx, 0)])


def draw_background(zipcodes: list[Region], lookup: TranscriptLookup, per_region: int, seed: int,
                    match_type: bool = True) -> tuple[list[Region], int]:
    """Background regions for ``zipcodes`` (each with ``matched_to`` = the zipcode's index).

    Returns the regions and the number of windows that could not be drawn (zipcodes without
    a known transcript, or with fewer than ``per_region`` eligible windows).
    """
    rng = np.random.default_rng(seed)
    merged = _merged(zipcodes)
    blocked: dict[str, np.ndarray] = {}  # transcript id -> cumulative count of zipcode-covered positions
    out: list[Region] = []
    short = 0
    for index, z in enumerate(zipcodes):
        if not z.transcript:
            short += per_region
            continue
        model = lookup.models[z.transcript]
        layout = lookup.layout(model)
        cum = blocked.get(model.transcript_id)
        if cum is None:
            covered = covered_positions(layout.genomic, merged.get(model.chrom))
            cum = blocked[model.transcript_id] = np.concatenate([[0], np.cumsum(covered)])
        width = z.tx_end - z.tx_start
        starts = np.arange(0, len(layout.genomic) - width + 1)
        ok = cum[starts + width] == cum[starts]
        if match_type and z.region_type:
            ok &= layout.majority(starts, width) == REGION_TYPES.index(z.region_type)
        candidates = starts[ok]
        k = min(per_region, len(candidates))
        short += per_region - k
        picks = np.sort(rng.choice(candidates, size=k, replace=False)) if k else []
        types = layout.majority(np.asarray(picks, dtype=np.int64), width) if k else []
        for n, (s, t) in enumerate(zip(np.asarray(picks).tolist(), list(types))):
            out.append(Region(
                f"background:{z.name}:{n + 1}", model.chrom, model.strand,
                transcript_blocks(model.exons, model.strand, s, s + width), transcript=model.transcript_id,
                tx_start=s, tx_end=s + width, direction=z.direction, kl_peak=z.kl_peak,
                region_type=REGION_TYPES[int(t)], matched_to=index,
            ))
    return out, short
