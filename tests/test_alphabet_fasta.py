import gzip

import numpy as np
import pytest

from rnatracker_cli.alphabet import decode, encode, reverse_complement
from rnatracker_cli.errors import InputError
from rnatracker_cli.io.fasta import read_fasta


def test_encode_maps_letters_u_lowercase_and_iupac():
    codes, n_amb, bad = encode("ACGTUacgtuNnRy")
    assert codes.tolist() == [0, 1, 2, 3, 3, 0, 1, 2, 3, 3, 4, 4, 4, 4]
    assert n_amb == 2 and bad == -1
    assert decode(codes) == "ACGTTACGTTNNNN"


def test_encode_reports_first_invalid_character():
    _, _, bad = encode("ACGX-A")
    assert bad == 3


def test_reverse_complement_matches_string_version():
    rng = np.random.default_rng(0)
    for _ in range(50):
        codes = rng.integers(0, 5, size=int(rng.integers(1, 40))).astype(np.uint8)
        expected = decode(codes)[::-1].translate(str.maketrans("ACGTN", "TGCAN"))
        assert decode(reverse_complement(codes)) == expected


def _write(path, text, gz=False):
    data = text.encode()
    if gz:
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def test_multiline_crlf_lowercase_u_and_gzip(tmp_path):
    text = ">a first record\r\nACGU\r\nacgt\r\n\r\n>b\r\nNNRY\r\n"
    for gz in (False, True):
        recs = list(read_fasta(_write(tmp_path / f"x{gz}.fa", text, gz)))
        assert [r.id for r in recs] == ["a", "b"]
        assert recs[0].description == "first record"
        assert decode(recs[0].codes) == "ACGTACGT"
        assert decode(recs[1].codes) == "NNNN" and recs[1].n_ambiguous == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (">a\nACGT\n>b\nACXT\n", "record b has invalid character 'X' at position 3"),
        (">a\nACGT\n>b\n>c\nAC\n", "record b has no sequence"),
        (">a\nACGT\n>a\nAC\n", "duplicate id a"),
        ("", "no FASTA records"),
        ("\n\n", "no FASTA records"),
        ("id\tcytosol\nx\t1\n", "before the first '>' header"),
    ],
)
def test_bad_fasta_raises_clear_error(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        list(read_fasta(_write(tmp_path / "bad.fa", text)))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        list(read_fasta(tmp_path / "nope.fa"))
    with pytest.raises(InputError, match="is a directory"):
        list(read_fasta(tmp_path))


def test_corrupt_gzip_is_an_input_error(tmp_path):
    data = gzip.compress(b">a\n" + b"ACGT" * 1000)
    (tmp_path / "t.fa.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot read"):
        list(read_fasta(tmp_path / "t.fa.gz"))
