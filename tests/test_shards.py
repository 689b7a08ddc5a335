"""`--shard K/N` on predict and scan-zipcodes, and `rnatracker merge`: the merged shard
outputs are the single run's files byte for byte, for any N; bad specs and bad parts fail
with one `error:` line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnatracker_cli.cli.app import app
from rnatracker_cli.inference import Predictor
from rnatracker_cli.io.fasta import fasta_ids, read_fasta
from rnatracker_cli.io.writers import format_fasta
from rnatracker_cli.alphabet import decode
from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.model.checkpoint import save_checkpoint
from rnatracker_cli.utils.shard import parse_shard, shard_bounds

FRACTIONS = ["cytosol", "nuclear", "membrane", "insoluble"]
#: zero masks: the random test network reacts clearly to all-zero windows (regions to merge)
SCAN = ("--stride", "50", "--min-kl", "0.0001", "--mask", "zero")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A random attention model with visible effects (hand-scaled weights), seed 3."""
    torch.manual_seed(3)
    config = default_config("rnatracker", len(FRACTIONS))
    model = build_model(config)
    with torch.no_grad():
        model.dense.weight.mul_(10.0)
        model.convs[0].body[0].weight.mul_(2.0)
        model.attention.score.weight.mul_(5.0)
    path = tmp_path_factory.mktemp("shard_model") / "model.pt"
    save_checkpoint(path, model, config, FRACTIONS, {"seed": 3})
    return path


@pytest.fixture(scope="module")
def records(sim_dir):
    return [(r.id, r.codes) for r in read_fasta(sim_dir / "transcripts.fa")]


@pytest.fixture(scope="module")
def shuffled(tmp_path_factory, records):
    """All 60 simulated transcripts in a seeded random order: ids out of byte order, so that
    the sorted outputs (BED, track) cannot be merged by concatenation, nor the FASTA-order
    ones (predictions, attention) by sorting."""
    order = np.random.default_rng(5).permutation(len(records))
    path = tmp_path_factory.mktemp("shuffled") / "shuffled.fa"
    path.write_text("".join(format_fasta(records[i][0], decode(records[i][1])) for i in order))
    return path


@pytest.fixture(scope="module")
def five(tmp_path_factory, records):
    """The first five simulated transcripts (for N larger than the number of records)."""
    path = tmp_path_factory.mktemp("five") / "five.fa"
    path.write_text("".join(format_fasta(rid, decode(codes)) for rid, codes in records[:5]))
    return path


def _ok(res):
    assert res.exit_code == 0, res.output
    return res


def _one_error(res, *needles):
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), res.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _merge(runner, out, parts, *extra):
    return runner.invoke(app, ["merge", "--out", str(out), *extra, *map(str, parts)])


# -- the split --------------------------------------------------------------------------------------

def test_shard_bounds_cover_every_record_once_in_contiguous_blocks():
    for count in (0, 1, 5, 60, 61):
        for n in (1, 2, 3, 7, 64):
            blocks = [shard_bounds((k, n), count) for k in range(1, n + 1)]
            assert blocks[0][0] == 0 and blocks[-1][1] == count
            assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))  # contiguous, in order
            sizes = [hi - lo for lo, hi in blocks]
            assert max(sizes) - min(sizes) <= 1
    assert shard_bounds((2, 3), 60) == (20, 40) and shard_bounds((3, 8), 5) == (1, 1)
    assert parse_shard("2/3") == (2, 3) and parse_shard(" 1 / 1 ") == (1, 1)


def test_fasta_ids_reads_headers_like_read_fasta(sim_dir, records):
    assert list(fasta_ids(sim_dir / "transcripts.fa")) == [rid for rid, _ in records]


def test_predictions_do_not_depend_on_batch_composition(records):
    """What makes shards exact: alone, in contiguous blocks of the input, in big or small
    batches (other rows, other padded widths), a transcript gets the same bits
    (probabilities and attention weights)."""
    torch.manual_seed(3)
    config = default_config("rnatracker", len(FRACTIONS))
    model = build_model(config).eval()
    codes = [c for _, c in records]
    ref_probs, ref_tracks = Predictor(model, config, batch_nt=10**8).predict(codes, attention=True)
    one = Predictor(model, config)
    runs = [(i, i + 1, one) for i in range(8)]  # one-row batches
    for batch_nt in (None, 3000):
        predictor = Predictor(model, config, batch_nt=batch_nt)
        runs += [(*shard_bounds((k, n), len(codes)), predictor) for n in (1, 2, 3, 13) for k in range(1, n + 1)]
    for lo, hi, predictor in runs:
        probs, tracks = predictor.predict(codes[lo:hi], attention=True)
        assert np.array_equal(probs, ref_probs[lo:hi]), (lo, hi, predictor.batch_nt)
        for t, ref in zip(tracks, ref_tracks[lo:hi]):
            assert np.array_equal(t.starts, ref.starts) and np.array_equal(t.values, ref.values), (lo, hi)


# -- predict -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_shards, which, batch_nt", [(1, "all", None), (2, "all", None), (3, "all", "4000"),
                                                       (8, "five", None)])
def test_predict_shards_merge_to_the_single_run(runner, shuffled, five, model_path, tmp_path, n_shards, which,
                                                 batch_nt):
    fasta = shuffled if which == "all" else five
    opts = ["--model", str(model_path)] + (["--batch-nt", batch_nt] if batch_nt else [])
    _ok(runner.invoke(app, ["predict", *opts, str(fasta), "--out", str(tmp_path / "one.tsv"),
                            "--attention", str(tmp_path / "one.bedgraph")]))
    tables, tracks = [], []
    for k in range(1, n_shards + 1):
        tables.append(tmp_path / f"part{k}.tsv")
        tracks.append(tmp_path / f"part{k}.bedgraph")
        res = _ok(runner.invoke(app, ["predict", *opts, str(fasta), "--shard", f"{k}/{n_shards}",
                                      "--out", str(tables[-1]), "--attention", str(tracks[-1])]))
        assert f"shard {k}/{n_shards}: " in res.stderr
    single = (tmp_path / "one.tsv").read_bytes()
    if which == "five":  # N > n: some shards are empty and still write valid files
        header = single.splitlines(keepends=True)[0]
        comment = (tmp_path / "one.bedgraph").read_bytes().splitlines(keepends=True)[0]
        empty = [k for k in range(n_shards) if tables[k].read_bytes() == header]
        assert len(empty) == 3 and all(tracks[k].read_bytes() == comment for k in empty)
        assert comment.startswith(b"#rnatracker ") and b" predict --attention model=" in comment
    _ok(_merge(runner, tmp_path / "merged.tsv", tables))
    _ok(_merge(runner, tmp_path / "merged.bedgraph", tracks))
    assert (tmp_path / "merged.tsv").read_bytes() == single
    assert (tmp_path / "merged.bedgraph").read_bytes() == (tmp_path / "one.bedgraph").read_bytes()


# -- scan-zipcodes --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def selected(records):
    """Six transcripts, given to --ids in an order of their own."""
    return [records[i][0] for i in (40, 3, 17, 58, 9, 30)]


def _scan_parts(runner, tmp_path, model_path, fasta, n_shards, args, genomic=False):
    outs, tracks = [], []
    for k in range(1, n_shards + 1):
        outs.append(tmp_path / f"part{k}.bed")
        tracks.append(tmp_path / f"part{k}.bedgraph")
        res = _ok(runner.invoke(app, ["scan-zipcodes", "--model", str(model_path), str(fasta), *args,
                                      "--shard", f"{k}/{n_shards}", "--out", str(outs[-1]), "--track", str(tracks[-1])]))
        assert f"shard {k}/{n_shards}: " in res.stderr
        assert (tmp_path / f"part{k}.extra.tsv").exists() == genomic
        assert not (tmp_path / f"part{k}.bed.part").exists()
    return outs, tracks


@pytest.mark.parametrize("n_shards", [1, 2, 3, 8])
def test_scan_shards_merge_to_the_single_run(runner, shuffled, model_path, selected, tmp_path, n_shards):
    fasta = shuffled
    args = [*SCAN, "--ids", ",".join(selected)]
    _ok(runner.invoke(app, ["scan-zipcodes", "--model", str(model_path), str(fasta), *args,
                            "--out", str(tmp_path / "one.bed"), "--track", str(tmp_path / "one.bedgraph")]))
    outs, tracks = _scan_parts(runner, tmp_path, model_path, fasta, n_shards, args)
    # --ids applies first, then the split: shard K holds a block of the selected records in FASTA order.
    in_order = [rid for rid in fasta_ids(fasta) if rid in set(selected)]
    for k, out in enumerate(outs, 1):
        lo, hi = shard_bounds((k, n_shards), len(in_order))
        chroms = {line.split("\t")[0] for line in out.read_text().splitlines() if not line.startswith("#")}
        assert chroms <= set(in_order[lo:hi])
    single = (tmp_path / "one.bed").read_bytes()
    assert len(single.splitlines()) > 4  # regions to merge
    _ok(_merge(runner, tmp_path / "merged.bed", outs))
    _ok(_merge(runner, tmp_path / "merged.bedgraph", tracks))
    assert (tmp_path / "merged.bed").read_bytes() == single
    assert (tmp_path / "merged.bedgraph").read_bytes() == (tmp_path / "one.bedgraph").read_bytes()


@pytest.mark.parametrize("n_shards", [2, 7])
def test_genomic_scan_shards_merge_with_their_sidecars(runner, sim_dir, shuffled, model_path, selected, tmp_path,
                                                       n_shards):
    fasta = shuffled
    args = [*SCAN, "--ids", ",".join(selected), "--gtf", str(sim_dir / "annotation.gtf")]
    _ok(runner.invoke(app, ["scan-zipcodes", "--model", str(model_path), str(fasta), *args,
                            "--out", str(tmp_path / "one.bed"), "--track", str(tmp_path / "one.bedgraph")]))
    outs, tracks = _scan_parts(runner, tmp_path, model_path, fasta, n_shards, args, genomic=True)
    res = _ok(_merge(runner, tmp_path / "merged.bed", outs))
    assert "merged.extra.tsv" in res.stderr
    _ok(_merge(runner, tmp_path / "merged.bedgraph", tracks))
    for name in ("bed", "extra.tsv", "bedgraph"):
        assert (tmp_path / f"merged.{name}").read_bytes() == (tmp_path / f"one.{name}").read_bytes(), name
    assert len((tmp_path / "one.extra.tsv").read_text().splitlines()) > 4
    # sidecars alone (as written with --sidecar elsewhere) merge the same way
    sidecars = [tmp_path / f"part{k}.extra.tsv" for k in range(1, n_shards + 1)]
    _ok(_merge(runner, tmp_path / "alone.tsv", sidecars))
    assert (tmp_path / "alone.tsv").read_bytes() == (tmp_path / "one.extra.tsv").read_bytes()
    # to stdout: the BED alone, like `scan-zipcodes --gtf --out -`
    res = _ok(_merge(runner, "-", outs))
    assert res.stdout.encode() == (tmp_path / "one.bed").read_bytes() and "without its extra columns" in res.stderr
    # a missing sidecar is refused
    (tmp_path / "part2.extra.tsv").unlink()
    _one_error(_merge(runner, tmp_path / "again.bed", outs), "part2.extra.tsv not found")
    assert not (tmp_path / "again.bed").exists()


def test_interrupted_shard_resumes_from_its_own_part_file(sim_dir, model_path, selected, tmp_path):
    from rnatracker_cli.workflows.scan import ScanOptions, scan_fasta

    options = ScanOptions(stride=50, min_kl=0.0001)
    fasta = str(sim_dir / "transcripts.fa")
    ref = scan_fasta(str(model_path), fasta, str(tmp_path / "ref.bed"), track=str(tmp_path / "ref.bg"),
                     ids=selected, options=options, shard=(2, 2))
    assert ref.records == 3 and ref.first == 3

    seen = []

    def stop_after_two(result):
        seen.append(result.id)
        if len(seen) == 2:
            raise KeyboardInterrupt

    out = tmp_path / "z.bed"
    with pytest.raises(KeyboardInterrupt):
        scan_fasta(str(model_path), fasta, str(out), track=str(tmp_path / "z.bg"), ids=selected, options=options,
                   shard=(2, 2), on_transcript=stop_after_two)
    assert not out.exists() and (tmp_path / "z.bed.part").exists()
    again = scan_fasta(str(model_path), fasta, str(out), track=str(tmp_path / "z.bg"), ids=selected,
                       options=options, shard=(2, 2))
    assert again.resumed == 2 and again.records == 3
    assert out.read_bytes() == (tmp_path / "ref.bed").read_bytes()
    assert (tmp_path / "z.bg").read_bytes() == (tmp_path / "ref.bg").read_bytes()
    assert not (tmp_path / "z.bed.part").exists()


# -- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["0/2", "3/2", "a/b", "1/0", "1", "-1/2", "1/2/3", ""])
@pytest.mark.parametrize("command", ["predict", "scan-zipcodes"])
def test_bad_shard_specs_fail_with_one_error_line(runner, five, model_path, tmp_path, command, spec):
    res = runner.invoke(app, [command, "--model", str(model_path), str(five), "--shard", spec,
                              "--out", str(tmp_path / "x.out")])
    _one_error(res, "--shard must be K/N with 1 <= K <= N", repr(spec))
    assert not (tmp_path / "x.out").exists()


@pytest.mark.parametrize("command", ["predict", "scan-zipcodes"])
def test_shard_of_stdin_is_refused(runner, five, model_path, tmp_path, command):
    res = runner.invoke(app, [command, "--model", str(model_path), "-", "--shard", "1/2",
                              "--out", str(tmp_path / "x.out")], input=five.read_text())
    _one_error(res, "--shard needs a FASTA file, not stdin")
    assert not (tmp_path / "x.out").exists()


def test_shards_fail_on_a_bad_file_exactly_when_the_single_run_does(runner, five, model_path, tmp_path):
    """Records before a shard's block are parsed and checked too: a bad record fails its own
    shard and every later one, so the series fails exactly when the single run would."""
    lines = five.read_text().splitlines(keepends=True)
    second = [i for i, line in enumerate(lines) if line.startswith(">")][1] + 1
    lines[second] = "ACGTX" + lines[second][5:]
    bad = tmp_path / "bad.fa"
    bad.write_text("".join(lines))
    single = runner.invoke(app, ["predict", "--model", str(model_path), str(bad)])
    message = _one_error(single, "invalid character 'X'")
    for k in range(1, 6):
        res = runner.invoke(app, ["predict", "--model", str(model_path), str(bad), "--shard", f"{k}/5",
                                  "--out", str(tmp_path / f"p{k}.tsv")])
        if k == 1:
            _ok(res)
        else:
            assert _one_error(res) == message and not (tmp_path / f"p{k}.tsv").exists()


@pytest.fixture(scope="module")
def parts(tmp_path_factory, five, model_path):
    """predict and scan shard outputs of the five transcripts, N = 2."""
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("parts")
    runner = CliRunner()
    for k in (1, 2):
        _ok(runner.invoke(app, ["predict", "--model", str(model_path), str(five), "--shard", f"{k}/2",
                                "--out", str(out / f"p{k}.tsv"), "--attention", str(out / f"a{k}.bedgraph")]))
        _ok(runner.invoke(app, ["scan-zipcodes", "--model", str(model_path), str(five), *SCAN, "--shard", f"{k}/2",
                                "--out", str(out / f"z{k}.bed"), "--track", str(out / f"t{k}.bedgraph")]))
    return out


def test_merge_refuses_mixed_kinds(runner, parts, tmp_path):
    for pair, needle in [(("p1.tsv", "z2.bed"), "zipcode BED"), (("a1.bedgraph", "t2.bedgraph"), "bedGraph track"),
                         (("z1.bed", "p2.tsv"), "predictions TSV")]:
        res = _merge(runner, tmp_path / "m.out", [parts / p for p in pair])
        _one_error(res, needle, "merge the parts of one output at a time")
    assert not (tmp_path / "m.out").exists()


def test_merge_refuses_mismatched_headers(runner, parts, tmp_path):
    other = tmp_path / "p2.tsv"
    other.write_text((parts / "p2.tsv").read_text().replace("membrane", "membranes", 1))
    _one_error(_merge(runner, tmp_path / "m.tsv", [parts / "p1.tsv", other]), "header differs")
    bed = tmp_path / "z2.bed"
    bed.write_text((parts / "z2.bed").read_text().replace("stride=50", "stride=25", 1))
    _one_error(_merge(runner, tmp_path / "m.bed", [parts / "z1.bed", bed]), "comment line differs")
    assert not (tmp_path / "m.tsv").exists() and not (tmp_path / "m.bed").exists()


def test_merge_refuses_missing_duplicate_or_unsorted_parts(runner, parts, tmp_path):
    _one_error(_merge(runner, tmp_path / "m.tsv", [parts / "p1.tsv", tmp_path / "nope.tsv"]), "nope.tsv: file not found")
    _one_error(_merge(runner, tmp_path / "m.tsv", [parts / "p1.tsv", parts / "p1.tsv"]), "given twice")
    copy = tmp_path / "copy.tsv"
    copy.write_bytes((parts / "p1.tsv").read_bytes())
    _one_error(_merge(runner, tmp_path / "m.tsv", [parts / "p1.tsv", copy]), "is in", "too")
    rows = (parts / "t1.bedgraph").read_text().splitlines(keepends=True)
    shuffled = tmp_path / "t1.bedgraph"
    shuffled.write_text("".join(rows[::-1]))
    _one_error(_merge(runner, tmp_path / "m.bedgraph", [shuffled, parts / "t2.bedgraph"]), "not sorted")
    assert not any((tmp_path / f"m.{ext}").exists() for ext in ("tsv", "bedgraph"))
    _one_error(_merge(runner, parts / "p1.tsv", [parts / "p1.tsv", parts / "p2.tsv"], "--force"), "is one of the parts")


def test_merge_never_overwrites_without_force(runner, parts, tmp_path):
    out = tmp_path / "m.tsv"
    out.write_text("keep\n")
    _one_error(_merge(runner, out, [parts / "p1.tsv", parts / "p2.tsv"]), "m.tsv")
    assert out.read_text() == "keep\n"
    _ok(_merge(runner, out, [parts / "p1.tsv", parts / "p2.tsv"], "--force"))
    assert out.read_text().startswith("id\tlength\tcytosol")
