import gzip

import numpy as np
import pandas as pd
import pytest

from rnatracker_cli.cli.app import app
from rnatracker_cli.io.cache import Cache
from rnatracker_cli.io.fasta import read_fasta
from rnatracker_cli.io.tables import strip_version


def _expected_targets(table_path, fractions):
    table = pd.read_csv(table_path, sep="\t")
    means = np.stack([table[[f"{f}_rep1", f"{f}_rep2"]].mean(axis=1) for f in fractions], axis=1)
    total = means.sum(axis=1)
    return table["transcript_id"].tolist(), means, total


def _summary(res) -> dict[str, str]:
    """The rows of prepare's summary table on stderr, as {label: value}."""
    return {ln.split("│")[1].strip(): ln.split("│")[2].strip() for ln in res.stderr.splitlines() if ln.count("│") == 3}


def _prepare(runner, *args):
    return runner.invoke(app, ["prepare", *map(str, args)])


def test_fasta_route_cache_contents_and_summary(runner, sim_dir, sim_data, tmp_path):
    out = tmp_path / "c.h5"
    res = _prepare(runner, "--fasta", sim_dir / "transcripts.fa", "-l", sim_dir / "localization.tsv", "-o", out)
    assert res.exit_code == 0, res.stderr
    ids, means, total = _expected_targets(sim_dir / "localization.tsv", sim_data.fractions)
    keep = total > 1.0
    n_low = int((~keep).sum())
    assert n_low > 0  # the fixture has low-expression transcripts, so the filter is exercised
    summary = _summary(res)
    assert summary["dropped: low expression"] == str(n_low)
    assert summary["written"].startswith(f"{keep.sum()} transcripts")
    with Cache(out) as c:
        assert c.fractions == list(sim_data.fractions)
        assert list(c.ids) == [i for i, k in zip(ids, keep) if k]
        np.testing.assert_allclose(c.targets.sum(axis=1), 1.0, atol=1e-6)
        np.testing.assert_allclose(c.targets, means[keep] / total[keep, None], atol=1e-6)
        np.testing.assert_allclose(c.expression, means[keep], rtol=1e-6)
        fasta = {r.id: r.codes for r in read_fasta(sim_dir / "transcripts.fa")}
        for i, rid in enumerate(c.ids):
            assert np.array_equal(c.sequence(i), fasta[rid])
        assert list(c.genes) == [g for g, k in zip(sim_data.genes, keep) if k]
        assert c.params["min_total"] == 1.0 and c.inputs[0]["role"] == "fasta"
        assert len(c.inputs[0]["sha256"]) == 64


def test_summary_counts_by_reason(runner, sim_dir, tmp_path):
    # 10 FASTA records without a table row, 5 table rows without a sequence
    recs = list(read_fasta(sim_dir / "transcripts.fa"))
    table = pd.read_csv(sim_dir / "localization.tsv", sep="\t")
    fa = tmp_path / "x.fa"
    fa.write_text("".join(f">{r.id}\n{''.join('ACGTN'[c] for c in r.codes)}\n" for r in recs[5:]))
    table.iloc[:-10].to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    res = _prepare(runner, "--fasta", fa, "-l", tmp_path / "t.tsv", "-o", tmp_path / "c.h5", "--min-total", "0")
    assert res.exit_code == 0, res.stderr
    lines = _summary(res)
    assert lines["sequence records read"] == str(len(recs) - 5)
    assert lines["table rows"] == str(len(table) - 10)
    assert lines["matched"] == str(len(recs) - 15)
    assert lines["dropped: no sequence"] == "5"
    assert lines["dropped: no localization row"] == "10"


def test_genome_route_equals_fasta_route(runner, sim_dir, tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert _prepare(runner, "--fasta", sim_dir / "transcripts.fa", "-l", sim_dir / "localization.tsv", "-o", a).exit_code == 0
    res = _prepare(runner, "--genome", sim_dir / "genome.fa", "--gtf", sim_dir / "annotation.gtf",
                   "-l", sim_dir / "localization.tsv", "-o", b)
    assert res.exit_code == 0, res.stderr
    with Cache(a) as ca, Cache(b) as cb:
        # GTF ids carry versions (SIMT….1); they match the table's unversioned ids
        assert [strip_version(i) for i in cb.ids] == list(ca.ids)
        assert all(i.endswith(".1") for i in cb.ids)
        assert np.array_equal(ca.offsets, cb.offsets)
        for i in range(len(ca)):
            assert np.array_equal(ca.sequence(i), cb.sequence(i))
        np.testing.assert_array_equal(ca.targets, cb.targets)
        assert [strip_version(g) for g in cb.genes] == list(ca.genes)


def test_gzipped_genome_and_inputs(runner, sim_dir, tmp_path):
    for name in ("genome.fa", "annotation.gtf", "localization.tsv", "transcripts.fa"):
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress((sim_dir / name).read_bytes()))
    res = _prepare(runner, "--genome", tmp_path / "genome.fa.gz", "--gtf", tmp_path / "annotation.gtf.gz",
                   "-l", tmp_path / "localization.tsv.gz", "-o", tmp_path / "g.h5")
    assert res.exit_code == 0, res.stderr
    res = _prepare(runner, "--fasta", tmp_path / "transcripts.fa.gz", "-l", tmp_path / "localization.tsv.gz",
                   "-o", tmp_path / "f.h5")
    assert res.exit_code == 0, res.stderr
    with Cache(tmp_path / "g.h5") as g, Cache(tmp_path / "f.h5") as f:
        assert len(g) == len(f) > 0


def test_stdin_csv_versions_gene_ids_and_truncation(runner, tmp_path):
    fa = ">ENST01.3 gene:ENSG01.2\nAAAACCCCGG\n>ENST02.1\nUUUUggggcc\n>ENST03\nACGTACGTACGTAC\n>ENST04.1 gene:ENSG04\nACGT\n"
    (tmp_path / "t.csv").write_text(
        "gene_id,cytosol,nuclear\nENSG01,3,1\nENSG04,0.5,0.2\n"  # ENSG04 is below --min-total
    )
    out = tmp_path / "c.h5"
    res = runner.invoke(app, ["prepare", "--fasta", "-", "-l", str(tmp_path / "t.csv"), "-o", str(out), "--max-length", "6"], input=fa)
    assert res.exit_code == 0, res.stderr
    with Cache(out) as c:
        assert list(c.ids) == ["ENST01.3"]
        assert list(c.genes) == ["ENSG01.2"]
        assert c.lengths.tolist() == [6] and c.full_lengths.tolist() == [10]
        assert "".join("ACGTN"[x] for x in c.sequence(0)) == "CCCCGG"  # 5' truncation keeps the 3' end
        np.testing.assert_allclose(c.targets[0], [0.75, 0.25])
    assert "truncated" in res.stderr


def test_replicate_pattern_fraction_subset_and_normalized(runner, tmp_path):
    (tmp_path / "x.fa").write_text(">a\nACGT\n>b\nGGCC\n>c\nTTTT\n")
    (tmp_path / "t.tsv").write_text("id\tnote\tcyt.A\tcyt.B\tnuc.A\tnuc.B\tmem.A\tmem.B\n"
                                    "a\tx\t1\t3\t1\t1\t0\t0\nb\ty\t0\t0\t1\t1\t5\t5\nc\tz\t0.1\t0.1\t0.1\t0.1\t0\t0\n")
    out = tmp_path / "c.h5"
    res = _prepare(runner, "--fasta", tmp_path / "x.fa", "-l", tmp_path / "t.tsv", "-o", out,
                   "--replicate-pattern", r"(?P<fraction>\w+)\.[AB]", "--fractions", "nuc,cyt", "--min-total", "0")
    assert res.exit_code == 0, res.stderr
    with Cache(out) as c:
        assert c.fractions == ["nuc", "cyt"]
        assert list(c.ids) == ["a", "b", "c"]
        np.testing.assert_allclose(c.targets, [[1 / 3, 2 / 3], [1, 0], [0.5, 0.5]], atol=1e-6)
    (tmp_path / "n.tsv").write_text("id\tcytosol\tnucleus\na\t1\t0\nb\t0\t1\nc\t0.2\t0.2\n")
    res = _prepare(runner, "--fasta", tmp_path / "x.fa", "-l", tmp_path / "n.tsv", "-o", tmp_path / "n.h5", "--normalized")
    assert res.exit_code == 0, res.stderr
    with Cache(tmp_path / "n.h5") as c:
        np.testing.assert_allclose(c.targets, [[1, 0], [0, 1], [0.5, 0.5]])
    # the same indicator table without --normalized: everything is "low expression", with a hint
    res = _prepare(runner, "--fasta", tmp_path / "x.fa", "-l", tmp_path / "n.tsv", "-o", tmp_path / "m.h5")
    assert res.exit_code == 1 and "--normalized" in res.stderr
    assert not (tmp_path / "m.h5").exists()


FA = ">a\nACGT\n>b\nGGCC\n"
TSV = "id\tcyt\tnuc\na\t3\t1\nb\t2\t2\n"


@pytest.mark.parametrize(
    ("fasta", "table", "extra", "message"),
    [
        (None, TSV, [], "file not found"),
        ("", TSV, [], "no FASTA records"),
        (">a\nACGT\n>b\nGGZC\n", TSV, [], "record b has invalid character 'Z' at position 3"),
        (">a\nACGT\n>a\nGGCC\n", TSV, [], "duplicate id a"),
        (FA, "id\tcyt\tnuc\na\t3\t1\na\t2\t2\n", [], "duplicate id a"),
        (FA, "id\tcyt\tnuc\na.1\t3\t1\na.2\t2\t2\n", [], "duplicate id a.1 and a.2"),
        (FA, TSV, ["--id-column", "transcript"], "id column 'transcript' not found"),
        (FA, "id\tname\tother\na\tx\ty\nb\tz\tw\n", [], "no numeric fraction columns"),
        (FA, TSV, ["--fractions", "cyt,mem"], "fraction(s) mem not found"),
        (FA, "id\tcyt\tnuc\na\t3\tlots\nb\t2\t2\n", [], "non-numeric value 'lots' for a in column 'nuc'"),
        (FA, "id\tcyt\tnuc\na\t3\t-1\nb\t2\t2\n", [], "negative value -1 for a in column 'nuc'"),
        (FA, "id\tcyt\tnuc\na\t0\t0\nb\t0.5\t0.5\n", ["--normalized"], "row a sums to 0"),
        (FA, "id\tcyt\tnuc\nx\t3\t1\ny\t2\t2\n", [], "no ids match"),
        (FA, TSV, ["--min-total", "-1"], "--min-total must be >= 0"),
        (FA, TSV, ["--replicate-pattern", "(x"], "not a valid regex"),
    ],
)
def test_bad_input_gives_one_error_line_and_no_output(runner, tmp_path, fasta, table, extra, message):
    fa = tmp_path / "x.fa"
    if fasta is not None:
        fa.write_text(fasta)
    (tmp_path / "t.tsv").write_text(table)
    out = tmp_path / "c.h5"
    res = _prepare(runner, "--fasta", fa, "-l", tmp_path / "t.tsv", "-o", out, *extra)
    assert res.exit_code == 1
    assert res.stderr.startswith("error: ") and message in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".c.h5*"))


def test_zero_total_row_is_low_expression_in_raw_mode(runner, tmp_path):
    (tmp_path / "x.fa").write_text(FA)
    (tmp_path / "t.tsv").write_text("id\tcyt\tnuc\na\t0\t0\nb\t2\t2\n")
    res = _prepare(runner, "--fasta", tmp_path / "x.fa", "-l", tmp_path / "t.tsv", "-o", tmp_path / "c.h5", "--min-total", "0")
    assert res.exit_code == 0, res.stderr
    with Cache(tmp_path / "c.h5") as c:
        assert list(c.ids) == ["b"]


def test_gtf_without_protein_coding_is_an_error(runner, sim_dir, tmp_path):
    gtf = tmp_path / "nc.gtf"
    gtf.write_text((sim_dir / "annotation.gtf").read_text().replace('"protein_coding"', '"lncRNA"'))
    res = _prepare(runner, "--genome", sim_dir / "genome.fa", "--gtf", gtf, "-l", sim_dir / "localization.tsv", "-o", tmp_path / "c.h5")
    assert res.exit_code == 1 and "no protein-coding transcripts" in res.stderr


def test_existing_output_needs_force(runner, tmp_path):
    (tmp_path / "x.fa").write_text(FA)
    (tmp_path / "t.tsv").write_text(TSV)
    out = tmp_path / "c.h5"
    out.write_text("precious")
    res = _prepare(runner, "--fasta", tmp_path / "x.fa", "-l", tmp_path / "t.tsv", "-o", out)
    assert res.exit_code == 1 and "exists; use --force" in res.stderr
    assert out.read_text() == "precious"
    assert _prepare(runner, "--fasta", tmp_path / "x.fa", "-l", tmp_path / "t.tsv", "-o", out, "--force").exit_code == 0
    assert len(Cache(out)) == 2


def test_debug_shows_traceback(runner, tmp_path):
    res = _prepare(runner, "--fasta", tmp_path / "missing.fa", "-l", tmp_path / "t.tsv", "-o", tmp_path / "c.h5", "--debug")
    assert res.exit_code == 1 and "Traceback" in res.stderr


def test_missing_gene_ids_keep_the_others_and_group_isoforms(runner, tmp_path):
    """Rows without a gene id no longer erase every gene: isoforms of one gene share a CV fold
    and a validation side, and each gene-less transcript is a group of its own."""
    from rnatracker_cli.workflows.cv import CVOptions, run_cv
    from rnatracker_cli.training.data import split_validation

    rng = np.random.default_rng(6)
    records, rows = [], []
    for g in range(12):
        for k in range(3):
            records.append((f"T{g}_{k}", f"gene:G{g}"))
    records += [(f"U{i}", "") for i in range(6)]  # no gene tag
    for i, (rid, desc) in enumerate(records):
        seq = "".join(rng.choice(list("ACGT"), size=60 + 5 * i))
        records[i] = f">{rid} {desc}".rstrip() + "\n" + seq + "\n"
        rows.append(f"{rid}\t{1 + i % 4}\t{1 + (i * 3) % 5}\n")
    (tmp_path / "t.fa").write_text("".join(records))
    (tmp_path / "loc.tsv").write_text("id\tnuc\tcyt\n" + "".join(rows))
    out = tmp_path / "c.h5"
    res = _prepare(runner, "--fasta", tmp_path / "t.fa", "-l", tmp_path / "loc.tsv", "-o", out)
    assert res.exit_code == 0, res.stderr
    assert _summary(res)["without a gene id (own CV group)"] == "6"
    with Cache(out) as c:
        genes, groups, ids = list(c.genes), c.groups, list(c.ids)
    assert genes[:3] == ["G0"] * 3 and genes[-6:] == [""] * 6
    assert len(set(groups[-6:])) == 6
    run_cv(out, tmp_path / "cv", CVOptions(models=["kmer-nn"], folds=3, epochs=1, n_boot=10), fold=1, device="cpu")
    fold_of = dict(line.split("\t") for line in (tmp_path / "cv" / "folds.tsv").read_text().splitlines()[1:])
    for g in range(12):
        assert len({fold_of[f"T{g}_{k}"] for k in range(3)}) == 1
    assert len({fold_of[f"U{i}"] for i in range(6)}) > 1
    for seed in range(5):
        _, val = split_validation(len(ids), 0.25, seed, groups)
        chosen = {ids[i] for i in val}
        for g in range(12):
            assert len({f"T{g}_{k}" in chosen for k in range(3)}) == 1


def test_transcript_longer_than_the_cap_is_refused_unless_truncated(runner, tmp_path):
    (tmp_path / "t.fa").write_text(">a\n" + "ACGT" * 10 + "\n>b\n" + "ACGT" * 30 + "\n")
    (tmp_path / "loc.tsv").write_text("id\tnuc\tcyt\na\t3\t1\nb\t1\t4\n")
    out = tmp_path / "c.h5"
    args = ["--fasta", tmp_path / "t.fa", "-l", tmp_path / "loc.tsv", "-o", out, "--max-transcript-nt", 100]
    res = _prepare(runner, *args)
    assert res.exit_code == 1 and not out.exists()
    assert res.stderr.strip().splitlines() == [
        "error: record b is 120 nt long, more than the 100-nt limit per transcript "
        "(--max-transcript-nt; a forward pass needs about 200 bytes per nt)"]
    res = _prepare(runner, *args, "--max-length", 100)
    assert res.exit_code == 0, res.stderr
    with Cache(out) as c:
        assert c.lengths.tolist() == [40, 100] and c.full_lengths.tolist() == [40, 120]
