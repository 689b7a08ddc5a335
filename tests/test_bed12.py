"""Genomic zipcode BED: standard BED12 read correctly by the real bedtools, extras in a sidecar."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from rnatracker_cli.errors import InputError
from rnatracker_cli.io.bed import BED12_COLUMNS, SIDECAR_COLUMNS, ZipcodeRecord, read_zipcode_bed, sidecar_path, write_bed

bedtools = shutil.which("bedtools")
needs_bedtools = pytest.mark.skipif(bedtools is None, reason="bedtools not installed (CI installs it)")

# The zipcode of the issue report: blocks 309-759, 1250-1350, 1400-1500 on chr1 (two introns).
BLOCKS = [(309, 759), (1250, 1350), (1400, 1500)]


def _record(name="SIMT00000001:cytosol:enhancing", chrom="chr1", blocks=BLOCKS, strand="-"):
    return ZipcodeRecord(chrom, blocks[0][0], blocks[-1][1], name, 512, strand, 0.0123456, "cytosol",
                         "enhancing", np.array([0.01, -0.005, 0.0, 2e-7]), blocks=list(blocks))


def _write(tmp_path, records):
    bed, extra = tmp_path / "z.bed", tmp_path / "z.extra.tsv"
    with open(bed, "w") as handle, open(extra, "w") as side:
        write_bed(handle, records, bed12=True, comment="rnatracker test coordinates=genome", sidecar=side)
    return bed, extra


def _bedtools(*args) -> list[list[str]]:
    res = subprocess.run([bedtools, *map(str, args)], capture_output=True, text=True, check=True)
    return [line.split("\t") for line in res.stdout.splitlines() if line]


def test_bed12_rows_have_exactly_12_columns_and_sidecar_holds_the_extras(tmp_path):
    other = _record("SIMT00000002:nuclear:repressive", chrom="chr2", blocks=[(10, 60)], strand="+")
    bed, extra = _write(tmp_path, [other, _record()])
    rows = [line.split("\t") for line in bed.read_text().splitlines() if not line.startswith("#")]
    assert [len(r) for r in rows] == [len(BED12_COLUMNS)] * 2 == [12, 12]
    assert rows[0][:6] == ["chr1", "309", "1500", "SIMT00000001:cytosol:enhancing", "512", "-"]
    assert rows[0][9:] == ["3", "450,100,100", "0,941,1091"]
    side = [line.split("\t") for line in extra.read_text().splitlines()]
    assert side[0] == list(SIDECAR_COLUMNS)
    # Same order as the BED; (name, chrom, start, end) joins a sidecar row to its BED row.
    assert [r[:4] for r in side[1:]] == [[r[3], r[0], r[1], r[2]] for r in rows]
    assert side[1][4:] == ["0.0123456", "cytosol", "enhancing", "0.01,-0.005,0,2e-07"]


@pytest.mark.parametrize("name, expected", [("z.bed", "z.extra.tsv"), ("run.BED", "run.extra.tsv"),
                                            ("zip.txt", "zip.txt.extra.tsv"), (".bed", ".bed.extra.tsv")])
def test_sidecar_path_rule(tmp_path, name, expected):
    assert sidecar_path(tmp_path / name) == tmp_path / expected


@needs_bedtools
def test_bedtools_split_intersection_respects_blocks(tmp_path):
    bed, _ = _write(tmp_path, [_record()])
    intronic, exonic = tmp_path / "intronic.bed", tmp_path / "exonic.bed"
    intronic.write_text("chr1\t800\t900\tintron_feature\n")
    exonic.write_text("chr1\t1300\t1310\texon_feature\n")
    assert _bedtools("intersect", "-split", "-u", "-a", intronic, "-b", bed) == []
    assert _bedtools("intersect", "-split", "-u", "-a", bed, "-b", intronic) == []
    hit = _bedtools("intersect", "-split", "-u", "-a", exonic, "-b", bed)
    assert [r[3] for r in hit] == ["exon_feature"]
    # Without -split the whole span counts, so the intronic feature does overlap it.
    assert len(_bedtools("intersect", "-u", "-a", intronic, "-b", bed)) == 1


@needs_bedtools
def test_bedtools_bed12tobed6_gives_the_blocks(tmp_path):
    bed, _ = _write(tmp_path, [_record()])
    rows = _bedtools("bed12tobed6", "-i", bed)
    assert [(r[0], int(r[1]), int(r[2]), r[3], r[5]) for r in rows] == [
        ("chr1", s, e, "SIMT00000001:cytosol:enhancing", "-") for s, e in BLOCKS]


def test_zipcode_bed_round_trip(tmp_path):
    """read_zipcode_bed gives back what write_bed wrote: BED12 + sidecar, and BED6+4."""
    genomic = [_record(), _record("SIMT00000001:cytosol:enhancing", blocks=[(2000, 2100)])]  # same name twice
    bed, extra = _write(tmp_path, genomic)
    back = read_zipcode_bed(bed)  # the sidecar is found by its path rule
    assert [(r.chrom, r.start, r.end, r.name, r.score, r.strand, r.blocks, r.fraction, r.direction) for r in back] == [
        (r.chrom, r.start, r.end, r.name, r.score, r.strand, r.blocks, r.fraction, r.direction) for r in genomic]
    for got, want in zip(back, genomic):
        assert got.kl_peak == pytest.approx(want.kl_peak, rel=1e-5)
        np.testing.assert_allclose(got.deltas, want.deltas, rtol=1e-5)
    extra.unlink()
    bare = read_zipcode_bed(bed)
    assert [r.blocks for r in bare] == [r.blocks for r in genomic] and np.isnan(bare[0].kl_peak)
    tx = [ZipcodeRecord("T1", 5, 80, "T1:nuclear:repressive", 40, "+", 0.002, "nuclear", "repressive",
                        np.array([-0.001, 0.001]))]
    with open(tmp_path / "t.bed", "w") as handle:
        write_bed(handle, tx, bed12=False, comment="transcript coordinates")
    (row,) = read_zipcode_bed(tmp_path / "t.bed")
    assert (row.chrom, row.start, row.end, row.direction, row.blocks) == ("T1", 5, 80, "repressive", None)


@pytest.mark.parametrize("line, message", [
    ("chr1\t10\t5\tn\t0\t+\t0.1\tcytosol\tenhancing\t0.1", "end 5 is not after start 10"),
    ("chr1\t0\t50\tn\t0\t+\t0\t0\t0\t2\t10,10\t0,20", "blocks do not span start to end"),
    ("chr1\t0\t50\tn\t0\t+\t0\t50\t0\t2\t30,30\t0,20", "overlapping"),
    ("chr1\t0\t50\tn\t0\t+\t0\t50\t0\t2\t10\t0,40", "blockSizes lists 1 values"),
    ("chr1\t0\t50\tn\t2000\t+\t0.1\tcytosol\tenhancing\t0.1", "score 2000 is above 1000"),
    ("chr1\t0\t50\tn\t5\t+\t0.1", "7 columns"),
])
def test_zipcode_bed_reader_errors_name_the_line(tmp_path, line, message):
    path = tmp_path / "bad.bed"
    path.write_text("#comment\n" + line + "\n")
    with pytest.raises(InputError, match=message) as info:
        read_zipcode_bed(path)
    assert "line 2" in str(info.value)
