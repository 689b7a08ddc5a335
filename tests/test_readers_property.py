"""Property-based tests (hypothesis): any input to a reader ends in success or a project error.

FASTA, localization table, GTF and zipcode BED readers get random bytes, random text over the
characters their formats use, truncated gzip streams and mutated valid files. A reader must
return normally or raise :class:`RNATrackerError` (which the CLI prints as one ``error:``
line); any other exception is a bug.
"""

from __future__ import annotations

import gzip
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnatracker_cli.cli.app import app
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.io.bed import ZipcodeRecord, read_zipcode_bed, write_bed
from rnatracker_cli.io.fasta import read_fasta
from rnatracker_cli.io.gtf import read_gtf
from rnatracker_cli.io.tables import read_localization

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_counter = itertools.count()


def _file(tmp_path, data: bytes, name: str):
    path = tmp_path / f"{next(_counter)}_{name}"
    path.write_bytes(data)
    return path


def _ends_well(read, *args) -> None:
    try:
        read(*args)
    except RNATrackerError:
        pass


def _maybe_gzip(data: bytes, how: int) -> bytes:
    """how 0: plain; 1: gzipped; 2..: gzipped and cut after ``how`` bytes (a truncated stream)."""
    if how == 0:
        return data
    packed = gzip.compress(data)
    return packed if how == 1 else packed[: min(how, len(packed) - 1)]


FASTA_TEXT = st.text(alphabet=">ACGTUNacgun RYKM*-;\n\r\t\x00é", max_size=300)
TABLE_TEXT = st.text(alphabet="id,\tcytosol_rep1nuclear_rep2gene_id0123456789.-eNA \n\r\"'é", max_size=300)


@FAST
@given(data=st.one_of(st.binary(max_size=300), FASTA_TEXT.map(str.encode)), how=st.integers(0, 40))
def test_fasta_reader_never_crashes(tmp_path, data, how):
    path = _file(tmp_path, _maybe_gzip(data, how), "x.fa")
    _ends_well(lambda p: list(read_fasta(p)), path)


@FAST
@given(data=st.one_of(st.binary(max_size=300), TABLE_TEXT.map(str.encode)), how=st.integers(0, 40),
       suffix=st.sampled_from(["tsv", "csv", "txt"]))
def test_localization_table_reader_never_crashes(tmp_path, data, how, suffix):
    path = _file(tmp_path, _maybe_gzip(data, how), f"t.{suffix}")
    _ends_well(read_localization, path)


@FAST
@given(header=st.lists(st.text(alphabet="abc_rep12 .\t,", max_size=8), min_size=1, max_size=5),
       rows=st.lists(st.lists(st.text(alphabet="0123456789.-eNAinfx ", max_size=6), min_size=1, max_size=5),
                     max_size=5),
       pattern=st.sampled_from([None, r"(?P<fraction>.+?)_rep\d+", "(", "x"]))
def test_localization_table_with_odd_headers_and_cells(tmp_path, header, rows, pattern):
    text = "\t".join(["id", *header]) + "\n" + "".join(f"t{i}\t" + "\t".join(r) + "\n" for i, r in enumerate(rows))
    path = _file(tmp_path, text.encode(), "t.tsv")
    _ends_well(read_localization, path, None, None, pattern)


def _valid_bed_lines() -> list[str]:
    recs = [ZipcodeRecord("chr1", 309, 1500, "T1:cytosol:enhancing", 512, "-", 0.0123, "cytosol", "enhancing",
                          np.array([0.01, -0.005]), blocks=[(309, 759), (1250, 1350), (1400, 1500)]),
            ZipcodeRecord("T2", 5, 80, "T2:nuclear:repressive", 40, "+", 0.002, "nuclear", "repressive",
                          np.array([-0.001, 0.001]))]
    import io

    bed12, side, bed6 = io.StringIO(), io.StringIO(), io.StringIO()
    write_bed(bed12, recs[:1], bed12=True, comment="x", sidecar=side)
    write_bed(bed6, recs[1:], bed12=False)
    return bed12.getvalue().splitlines() + bed6.getvalue().splitlines() + side.getvalue().splitlines()


VALID_BED = _valid_bed_lines()


@st.composite
def mutated_bed(draw) -> bytes:
    """Valid zipcode BED/sidecar lines with fields replaced, dropped, duplicated or cut."""
    lines = [line.split("\t") for line in draw(st.lists(st.sampled_from(VALID_BED), min_size=1, max_size=4))]
    for fields in lines:
        for _ in range(draw(st.integers(0, 3))):
            i = draw(st.integers(0, len(fields) - 1))
            op = draw(st.sampled_from(["replace", "drop", "dup"]))
            if op == "replace":
                fields[i] = draw(st.text(alphabet="0123456789-,.+eNaninfchr:x ", max_size=8))
            elif op == "drop" and len(fields) > 1:
                del fields[i]
            else:
                fields.insert(i, fields[i])
    text = "\n".join("\t".join(f) for f in lines) + "\n"
    return text[: draw(st.integers(0, len(text)))].encode()


@FAST
@given(bed=st.one_of(st.binary(max_size=200), mutated_bed()), side=st.one_of(st.none(), mutated_bed()),
       how=st.integers(0, 40))
def test_zipcode_bed_reader_never_crashes(tmp_path, bed, side, how):
    path = _file(tmp_path, _maybe_gzip(bed, how), "z.bed")
    sidecar = None if side is None else _file(tmp_path, side, "z.extra.tsv")
    _ends_well(read_zipcode_bed, path, sidecar)


GTF_LINE = ('chr1\tsim\texon\t100\t200\t.\t+\t.\tgene_id "G1"; transcript_id "T1.1"; '
            'transcript_biotype "protein_coding";')


@st.composite
def mutated_gtf(draw) -> bytes:
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        fields = GTF_LINE.split("\t")
        for _ in range(draw(st.integers(0, 3))):
            i = draw(st.integers(0, len(fields) - 1))
            fields[i] = draw(st.text(alphabet='0123456789-+.exonCDS "gene_id;transcript_id\t#', max_size=12))
        lines.append("\t".join(fields))
    text = "\n".join(lines) + "\n"
    return text[: draw(st.integers(0, len(text)))].encode()


@FAST
@given(data=st.one_of(st.binary(max_size=200), mutated_gtf()), how=st.integers(0, 40))
def test_gtf_reader_never_crashes(tmp_path, data, how):
    path = _file(tmp_path, _maybe_gzip(data, how), "a.gtf")
    _ends_well(read_gtf, path)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=120), FASTA_TEXT.map(str.encode)))
def test_cli_prints_one_error_line_for_any_fasta(runner, tmp_path, data):
    fasta = _file(tmp_path, data, "x.fa")
    table = _file(tmp_path, b"id\tcytosol\tnuclear\nA\t1\t2\nB\t3\t4\n", "t.tsv")
    out = tmp_path / f"{next(_counter)}.h5"
    res = runner.invoke(app, ["prepare", "--fasta", str(fasta), "--localization", str(table), "--out", str(out)])
    assert res.exit_code in (0, 1), res.output
    if res.exit_code == 1:
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.stderr


def test_property_inputs_include_the_valid_files(tmp_path):
    """The mutation base is itself readable (so the property tests start from real files)."""
    bed = tmp_path / "z.bed"
    bed.write_text("\n".join(line for line in VALID_BED if line.count("\t") in (0, 9, 11)) + "\n")
    side = tmp_path / "z.extra.tsv"
    side.write_text("\n".join(line for line in VALID_BED if line.count("\t") == 7) + "\n")
    recs = read_zipcode_bed(bed)
    assert [r.name for r in recs] == ["T1:cytosol:enhancing", "T2:nuclear:repressive"]
    assert recs[0].blocks == [(309, 759), (1250, 1350), (1400, 1500)] and recs[0].kl_peak == pytest.approx(0.0123)


@pytest.mark.parametrize("header", ["id\tcytosol\tnuclear\tcytosol", "id\tcytosol\tnuclear\tcytosol "])
def test_repeated_table_columns_are_an_error(tmp_path, header):
    path = _file(tmp_path, (header + "\nA\t1\t2\t3\n").encode(), "t.tsv")
    with pytest.raises(RNATrackerError, match="cytosol' appears more than once"):
        read_localization(path)
