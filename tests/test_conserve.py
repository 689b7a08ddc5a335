"""conserve core: projection, bigWig reading, background drawing, statistics, simulated truth."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp, mannwhitneyu

from rnatracker_cli.errors import InputError, OutputExistsError
from rnatracker_cli.interpret.conservation import ConserveOptions, conserve, parse_cutoffs
from rnatracker_cli.interpret.conservation.background import draw_background
from rnatracker_cli.interpret.conservation.regions import TranscriptLookup, read_regions
from rnatracker_cli.interpret.conservation.stats import compare
from rnatracker_cli.io.bigwig import BigWig, runs, write_bigwig
from rnatracker_cli.io.gtf import coding_range, read_gtf
from rnatracker_cli.simulate import simulate_dataset, write_simulation

# One minus-strand transcript, exons (0-based half-open) [100,150) [200,260) [300,340):
# 5'→3' it reads 339…300 (tx 0–40), 259…200 (tx 40–100), 149…100 (tx 100–150).
# CDS [210,320) + stop codon [207,210): tx 20 (genomic 319) … tx 92 (genomic 207).
MINUS_GTF = "".join(
    f'chrT\tt\t{feat}\t{s + 1}\t{e}\t.\t-\t.\tgene_id "G1"; transcript_id "TX1.3"; transcript_biotype "protein_coding";\n'
    for feat, s, e in [("exon", 300, 340), ("exon", 200, 260), ("exon", 100, 150), ("CDS", 300, 320),
                       ("CDS", 210, 260), ("stop_codon", 207, 210)]
)


@pytest.fixture
def minus_gtf(tmp_path):
    path = tmp_path / "minus.gtf"
    path.write_text(MINUS_GTF)
    return path


def test_minus_strand_region_projects_to_hand_checked_blocks(tmp_path, minus_gtf):
    model = read_gtf(minus_gtf)["TX1.3"]
    assert coding_range(model) == (20, 93)
    bed = tmp_path / "z.bed"
    # TX1 without version: matched to TX1.3; tx [30,110) = genomic 309…300, 259…200, 149…140
    bed.write_text("TX1\t30\t110\tz1\t0\t+\nTX1.3\t0\t10\tz2\t0\t+\nTX1\t140\t150\tz3:x:repressive\t0\t+\n")
    regions = read_regions(bed, TranscriptLookup(read_gtf(minus_gtf)), {"chrT": 1000})
    assert [r.blocks for r in regions] == [[(140, 150), (200, 260), (300, 310)], [(330, 340)], [(100, 110)]]
    assert [r.region_type for r in regions] == ["cds", "utr5", "utr3"]  # cds: 62 of 80 bases
    assert all(r.chrom == "chrT" and r.strand == "-" and r.transcript == "TX1.3" for r in regions)
    assert [r.direction for r in regions] == ["", "", "repressive"]
    assert regions[0].length == 80


def test_bigwig_values_read_back(tmp_path):
    rng = np.random.default_rng(0)
    a = np.round(rng.normal(size=500), 3).astype(np.float32)
    a[100:130] = np.nan  # no score there
    b = np.full(200, 2.5, np.float32)
    path = tmp_path / "t.bw"
    write_bigwig(path, {"chrA": 500, "chrB": 200}, [*runs("chrA", 0, a), *runs("chrB", 0, b)])
    with BigWig(path) as track:
        assert track.chroms == {"chrA": 500, "chrB": 200}
        np.testing.assert_allclose(track.values("chrA", 0, 500), a, rtol=0, atol=1e-6, equal_nan=True)
        assert np.isnan(track.values("chrA", 95, 135)[5:35]).all()
        np.testing.assert_array_equal(track.blocks_values("chrB", [(0, 3), (190, 192)]), [2.5] * 5)
        with pytest.raises(InputError, match="chromosome chrZ is not in the bigWig"):
            track.values("chrZ", 0, 10)
        with pytest.raises(InputError, match="outside chrB"):
            track.values("chrB", 150, 250)
    with pytest.raises(OutputExistsError, match="exists"):
        write_bigwig(path, {"chrA": 10}, [])
    (tmp_path / "x.bw").write_text("not a bigwig")
    with pytest.raises(InputError, match="not a bigWig"):
        BigWig(tmp_path / "x.bw")


def _genomic_bases(region):
    return {p for s, e in region.blocks for p in range(s, e)}


@pytest.mark.parametrize("match_type", [True, False])
def test_background_is_same_transcript_length_type_and_never_overlaps(sim_dir, match_type):
    lookup = TranscriptLookup(read_gtf(sim_dir / "annotation.gtf"))
    with BigWig(sim_dir / "conservation.bw") as track:
        zipcodes = read_regions(sim_dir / "zipcodes.bed", lookup, track.chroms)
    background, short = draw_background(zipcodes, lookup, per_region=5, seed=1, match_type=match_type)
    assert len(background) + short == 5 * len(zipcodes) and len(background) > 4 * len(zipcodes)
    taken = {}
    for z in zipcodes:
        taken.setdefault(z.chrom, set()).update(_genomic_bases(z))
    types = set()
    for b in background:
        z = zipcodes[b.matched_to]
        assert b.transcript == z.transcript and b.length == z.length == b.tx_end - b.tx_start
        assert not _genomic_bases(b) & taken[b.chrom]
        if match_type:
            assert b.region_type == z.region_type
        types.add((z.region_type, b.region_type))
    assert {t for t, _ in types} >= {"utr3", "cds"}  # the simulation puts zipcodes in several types
    if not match_type:
        assert any(a != b for a, b in types)
    again, _ = draw_background(zipcodes, lookup, per_region=5, seed=1, match_type=match_type)
    other, _ = draw_background(zipcodes, lookup, per_region=5, seed=2, match_type=match_type)
    assert [b.blocks for b in again] == [b.blocks for b in background]
    assert [b.blocks for b in other] != [b.blocks for b in background]


def test_compare_equals_scipy():
    rng = np.random.default_rng(3)
    z, b = rng.normal(0.3, 1, 40), rng.normal(0, 1, 400)
    ks, ks_p, mw, mw_p = compare(z, b)
    assert (ks, ks_p) == pytest.approx(tuple(ks_2samp(z, b)), rel=1e-12)
    assert (mw, mw_p) == pytest.approx(tuple(mannwhitneyu(z, b, alternative="two-sided")), rel=1e-12)
    assert all(math.isnan(v) for v in compare(z, []))


def test_summary_p_values_are_scipy_on_the_region_means(sim_dir, tmp_path):
    res = conserve(sim_dir / "zipcodes.bed", sim_dir / "conservation.bw", tmp_path / "c", gtf=sim_dir / "annotation.gtf",
                   options=ConserveOptions(per_region=4, seed=5))
    regions = pd.read_csv(tmp_path / "c" / "regions.tsv", sep="\t")
    summary = pd.read_csv(tmp_path / "c" / "summary.tsv", sep="\t")
    assert list(summary["group"]) == ["all", "enhancing", "repressive"] and set(summary["min_kl"]) == {0}
    zips, bg = regions[regions.kind == "zipcode"], regions[regions.kind == "background"]
    for _, row in summary.iterrows():
        zsel = zips if row.group == "all" else zips[zips.direction == row.group]
        bsel = bg[bg.matched_to.isin(zsel["index"])]
        z, b = zsel["mean"].dropna().to_numpy(), bsel["mean"].dropna().to_numpy()
        assert (row.n_zipcodes, row.n_background) == (len(z), len(b))
        assert row.ks_p == pytest.approx(ks_2samp(z, b).pvalue, rel=1e-5)
        assert row.mw_p == pytest.approx(mannwhitneyu(z, b, alternative="two-sided").pvalue, rel=1e-5)
        assert row.median_zipcodes == pytest.approx(np.median(z), rel=1e-5)
    # covered bases are counted, not zero-filled: mean over the scored bases only
    with BigWig(sim_dir / "conservation.bw") as track:
        for r in res.zipcodes[:20] + res.background[:50]:
            v = track.blocks_values(r.chrom, r.blocks)
            assert r.covered == int((~np.isnan(v)).sum())
            if r.covered:
                assert r.mean == pytest.approx(np.nanmean(v), rel=1e-9)
                assert r.median == pytest.approx(np.nanmedian(v), rel=1e-9)
    assert (tmp_path / "c" / "ecdf.png").read_bytes()[:4] == b"\x89PNG"


def _simulated(tmp_path, seed, signal, n=60):
    out = tmp_path / f"sim{seed}_{signal}"
    write_simulation(simulate_dataset(n=n, seed=seed, max_length=1500), out, conservation_signal=signal)
    return out


def test_signal_detected_and_null_calibrated(tmp_path):
    sim = _simulated(tmp_path, 11, 1.5)
    res = conserve(sim / "zipcodes.bed", sim / "conservation.bw", tmp_path / "sig", gtf=sim / "annotation.gtf",
                   options=ConserveOptions(per_region=5, plot=False))
    assert res.summary[0].ks_p < 1e-10 and res.summary[0].median_zipcodes > res.summary[0].median_background + 0.5
    p_values = []
    for seed in range(8):
        sim = _simulated(tmp_path, 20 + seed, 0.0, n=40)
        res = conserve(sim / "zipcodes.bed", sim / "conservation.bw", tmp_path / f"null{seed}",
                       gtf=sim / "annotation.gtf", options=ConserveOptions(per_region=5, seed=seed, plot=False))
        p_values.append(res.summary[0].ks_p)
    # Binomial(8, 0.05): P(more than 2 below 0.05) < 0.006
    assert sum(p < 0.05 for p in p_values) <= 2, p_values
    # without region-type matching the same null data look "less conserved" (CDS scores higher)
    res = conserve(sim / "zipcodes.bed", sim / "conservation.bw", tmp_path / "unmatched", gtf=sim / "annotation.gtf",
                   options=ConserveOptions(per_region=20, match_type=False, plot=False))
    assert res.summary[0].median_zipcodes < res.summary[0].median_background


def test_parse_cutoffs():
    assert parse_cutoffs("0.05, 0,0.01") == (0.0, 0.01, 0.05)
    for bad in ("", "a", "-1", "nan"):
        with pytest.raises(Exception, match="--min-kl"):
            parse_cutoffs(bad)
