"""`scan-zipcodes` end to end: BED/bedGraph validity, genomic projection, stdin, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnatracker_cli.alphabet import reverse_complement
from rnatracker_cli.cli.app import app
from rnatracker_cli.io.fasta import read_fasta
from rnatracker_cli.io.gtf import read_gtf
from rnatracker_cli.io.writers import format_fasta
from rnatracker_cli.alphabet import decode
from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.model.checkpoint import save_checkpoint

FRACTIONS = ["cytosol", "nuclear", "membrane", "insoluble"]
MIN_KL = "0.0001"


def _checkpoint(folder, arch="rnatracker", **kw):
    torch.manual_seed(3)
    config = default_config(arch, len(FRACTIONS), **kw)
    model = build_model(config)
    if hasattr(model, "dense"):
        with torch.no_grad():
            model.dense.weight.mul_(10.0)  # visible effects on a random network
            for stack in model.convs:
                stack.body[0].weight.mul_(2.0)
            if model.attention is not None:
                model.attention.score.weight.mul_(5.0)
    path = folder / "model.pt"
    training = {"seed": 3}
    if config["encoding"] != "seq":  # the default fold settings
        training["structure_params"] = {}
    save_checkpoint(path, model, config, FRACTIONS, training)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("scan_model"))


@pytest.fixture(scope="module")
def records(sim_dir):
    return {r.id: r.codes for r in read_fasta(sim_dir / "transcripts.fa")}


@pytest.fixture(scope="module")
def strands(sim_dir):
    return {tid.rsplit(".", 1)[0]: m.strand for tid, m in read_gtf(sim_dir / "annotation.gtf").items()
            if tid.endswith(".1")}


def _bed_rows(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


def _scan(runner, *args, input=None):
    """Run scan-zipcodes; with the zero mask unless the call names a mask or preset: the test
    network (random weights, scaled up) reacts clearly to all-zero windows, and these tests are
    about the outputs, not the mask (random masks: test_random_mask_is_seeded, the presets)."""
    args = [*map(str, args)]
    if "--mask" not in args and "--preset" not in args:
        args += ["--mask", "zero"]
    return runner.invoke(app, ["scan-zipcodes", *args], input=input)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, sim_dir, model_path):
    """One transcript-coordinate scan of every simulated transcript (stride 5) with a track."""
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("scan_out")
    res = _scan(CliRunner(), model_path, sim_dir / "transcripts.fa", "--out", out / "z.bed", "--track", out / "z.bg",
                "--stride", 5, "--min-kl", MIN_KL)
    assert res.exit_code == 0, res.output
    return res, (out / "z.bed").read_text(), (out / "z.bg").read_text()


def test_bed_is_valid_bed6_plus_4(scanned, records):
    res, bed, _ = scanned
    lines = bed.splitlines()
    assert lines[0].startswith("#rnatracker ") and "fractions=cytosol,nuclear,membrane,insoluble" in lines[0]
    assert "window=100 stride=5" in lines[0]
    rows = _bed_rows(bed)
    assert len(rows) > 15
    keys = []
    for row in rows:
        assert len(row) == 10
        chrom, start, end, name, score, strand, kl, fraction, direction, deltas = row
        start, end, score, kl = int(start), int(end), int(score), float(kl)
        deltas = np.array([float(v) for v in deltas.split(",")])
        assert 0 <= start < end <= len(records[chrom])
        assert end - start >= 100 and (end - start - 100) % 5 == 0  # union of stride-5 windows
        assert name == f"{chrom}:{fraction}:{direction}" and strand == "+"
        assert kl > float(MIN_KL) and score == min(1000, int(np.floor(1000 * kl / (10 * float(MIN_KL)) + 0.5)))
        assert len(deltas) == 4 and fraction in FRACTIONS
        f = FRACTIONS.index(fraction)
        assert abs(deltas[f]) == pytest.approx(np.abs(deltas).max())
        assert direction == ("enhancing" if deltas[f] < 0 else "repressive")
        assert abs(deltas.sum()) < 1e-4  # both distributions sum to 1
        keys.append((chrom, start))
    assert keys == sorted(keys)
    # One transcript's regions never overlap (they are merged).
    for (c1, s1), (c2, s2), row in zip(keys, keys[1:], rows):
        if c1 == c2:
            assert s2 >= int(row[2])
    summary = res.stderr
    assert "scanned 60 transcripts" in summary and "fast path" in summary and f"{len(rows)} regions" in summary


def test_track_is_valid_bedgraph_and_matches_regions(scanned, records):
    _, bed, track = scanned
    per: dict[str, np.ndarray] = {}
    last: dict[str, int] = {}
    chroms = []
    for line in track.splitlines():
        chrom, start, end, value = line.split("\t")
        start, end, value = int(start), int(end), float(value)
        assert 0 <= start < end <= len(records[chrom]) and value >= 0
        assert start >= last.get(chrom, 0)  # sorted, disjoint
        last[chrom] = end
        if not chroms or chroms[-1] != chrom:
            chroms.append(chrom)
        per.setdefault(chrom, np.full(len(records[chrom]), np.nan))[start:end] = value
    assert chroms == sorted(set(chroms))  # each transcript in one sorted block
    for row in _bed_rows(bed):
        chrom, start, end = row[0], int(row[1]), int(row[2])
        values = per[chrom][start:end]
        assert (values > float(MIN_KL)).all()  # regions are runs above the threshold
        # the peak is the best supported window; the track also shows lone windows
        assert values.max() >= float(row[6]) * (1 - 1e-5)


def test_stdin_gives_the_same_output(runner, sim_dir, model_path, records, tmp_path):
    ids = list(records)[:3]
    fasta = "".join(format_fasta(i, decode(records[i])) for i in ids)
    path = tmp_path / "three.fa"
    path.write_text(fasta)
    a = _scan(runner, model_path, path, "--stride", 7, "--min-kl", MIN_KL)
    b = _scan(runner, model_path, "-", "--stride", 7, "--min-kl", MIN_KL, input=fasta)
    assert a.exit_code == 0 and b.exit_code == 0, b.output
    assert a.stdout == b.stdout and len(_bed_rows(a.stdout)) > 0
    assert "scanned 3 transcripts" in b.stderr


def test_gtf_projection_on_both_strands(runner, sim_dir, model_path, records, strands, tmp_path):
    plus = [i for i in records if strands[i] == "+"][:2]
    minus = [i for i in records if strands[i] == "-"][:2]
    ids = ",".join(plus + minus)
    args = ("--ids", ids, "--stride", 3, "--min-kl", MIN_KL)
    tx = _scan(runner, model_path, sim_dir / "transcripts.fa", *args, "--track", tmp_path / "tx.bg")
    gen = _scan(runner, model_path, sim_dir / "transcripts.fa", *args, "--gtf", sim_dir / "annotation.gtf",
                "--track", tmp_path / "genome.bg", "--sidecar", tmp_path / "genome.extra.tsv")
    assert tx.exit_code == 0 and gen.exit_code == 0, gen.output
    assert "coordinates=genome" in gen.stdout.splitlines()[0]
    genome = {r.id: r.codes for r in read_fasta(sim_dir / "genome.fa")}
    models = read_gtf(sim_dir / "annotation.gtf")
    tx_rows = {(r[3], r[6], r[9]): r for r in _bed_rows(tx.stdout)}
    g_rows = _bed_rows(gen.stdout)
    side = [line.split("\t") for line in (tmp_path / "genome.extra.tsv").read_text().splitlines()]
    assert side[0] == ["name", "chrom", "start", "end", "kl_peak", "fraction", "direction", "deltas"]
    assert [r[:4] for r in side[1:]] == [[r[3], r[0], r[1], r[2]] for r in g_rows]
    assert len(g_rows) == len(tx_rows) and {r[5] for r in g_rows} == {"+", "-"}
    spliced = 0
    keys = [(r[0], int(r[1])) for r in g_rows]
    assert keys == sorted(keys)
    for row, extra in zip(g_rows, side[1:]):
        assert len(row) == 12  # standard BED12: bedtools reads the blocks only without extra columns
        chrom, start, end, name, score, strand, thick_s, thick_e, rgb, count, sizes, offsets = row
        t = tx_rows[(name, extra[4], extra[7])]  # same region in transcript coordinates
        tid = t[0]
        model = models[f"{tid}.1"]
        start, end, count = int(start), int(end), int(count)
        sizes = [int(v) for v in sizes.split(",")]
        offsets = [int(v) for v in offsets.split(",")]
        assert (chrom, strand) == (model.chrom, model.strand) and strand == strands[tid]
        assert (int(thick_s), int(thick_e), rgb) == (start, end, "0") and count == len(sizes) == len(offsets)
        assert sum(sizes) == int(t[2]) - int(t[1])
        assert offsets[0] == 0 and start + offsets[-1] + sizes[-1] == end
        blocks = [(start + o, start + o + s) for o, s in zip(offsets, sizes)]
        for s, e in blocks:
            assert any(a <= s and e <= b for a, b in model.exons)
        spliced += count > 1
        seq = np.concatenate([genome[chrom][s:e] for s, e in blocks])
        if strand == "-":
            seq = reverse_complement(seq)
        np.testing.assert_array_equal(seq, records[tid][int(t[1]) : int(t[2])])
    assert spliced > 0
    # The genomic track covers the same nucleotides with the same values.
    tx_track = [line.split("\t") for line in (tmp_path / "tx.bg").read_text().splitlines()]
    g_track = [line.split("\t") for line in (tmp_path / "genome.bg").read_text().splitlines()]
    for tid in plus + minus:
        model = models[f"{tid}.1"]
        covered = sum(int(e) - int(s) for c, s, e, _ in tx_track if c == tid)
        inside = [(int(s), int(e), float(v)) for c, s, e, v in g_track
                  if c == model.chrom and model.exons[0][0] <= int(s) and int(e) <= model.exons[-1][1]]
        assert sum(e - s for s, e, _ in inside) == covered
        values = sorted({float(v) for c, _, _, v in tx_track if c == tid})
        assert sorted({v for _, _, v in inside}) == values


def test_gtf_output_file_gets_default_sidecar_and_stdout_gets_none(runner, sim_dir, model_path, records, tmp_path):
    ids = ",".join(sorted(records)[:3])
    args = ("--ids", ids, "--stride", 5, "--min-kl", MIN_KL, "--gtf", sim_dir / "annotation.gtf")
    res = _scan(runner, model_path, sim_dir / "transcripts.fa", *args, "--out", tmp_path / "g.bed")
    assert res.exit_code == 0, res.output
    rows = _bed_rows((tmp_path / "g.bed").read_text())
    side = (tmp_path / "g.extra.tsv").read_text().splitlines()
    assert rows and len(side) == len(rows) + 1 and "g.extra.tsv" in res.output
    piped = _scan(runner, model_path, sim_dir / "transcripts.fa", *args)
    assert piped.exit_code == 0 and "--sidecar" in piped.stderr
    assert _bed_rows(piped.stdout) == rows
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.bed", "g.extra.tsv"]
    # An existing sidecar is an output like the BED: refused without --force, before scanning.
    again = _scan(runner, model_path, sim_dir / "transcripts.fa", *args, "--out", tmp_path / "h.bed",
                  "--sidecar", tmp_path / "g.extra.tsv")
    assert again.exit_code == 1 and "g.extra.tsv exists" in again.stderr and not (tmp_path / "h.bed").exists()
    alone = _scan(runner, model_path, sim_dir / "transcripts.fa", "--sidecar", tmp_path / "x.tsv")
    assert alone.exit_code == 1 and "--sidecar is for genomic output" in alone.stderr


def test_window_longer_than_transcript_is_reported_not_fatal(runner, model_path, tmp_path):
    rng = np.random.default_rng(0)
    fasta = "".join(format_fasta(name, decode(rng.integers(0, 4, size=n).astype(np.uint8)))
                    for name, n in (("short1", 50), ("long", 300), ("short2", 99)))
    res = _scan(runner, model_path, "-", "--window", 100, "--stride", 10, "--min-kl", 0, "--score-cap", 1,
                input=fasta)
    assert res.exit_code == 0, res.output
    assert "skipped short1: window (100 nt) longer than the transcript" in res.stderr
    assert "skipped short2" in res.stderr and "scanned 1 transcripts" in res.stderr
    assert {r[0] for r in _bed_rows(res.stdout)} == {"long"}


def test_ids_select_and_unknown_ids_fail(runner, sim_dir, model_path, records, tmp_path):
    first, second = list(records)[:2]
    res = _scan(runner, model_path, sim_dir / "transcripts.fa", "--ids", f"{first}.1", "--stride", 50,
                "--min-kl", 0, "--score-cap", 1)
    assert res.exit_code == 0, res.output
    assert {r[0] for r in _bed_rows(res.stdout)} == {first} and "scanned 1 transcripts" in res.stderr
    listing = tmp_path / "ids.txt"
    listing.write_text(f"# wanted\n{second}\n")
    res = _scan(runner, model_path, sim_dir / "transcripts.fa", "--ids-file", listing, "--stride", 50,
                "--min-kl", 0, "--score-cap", 1)
    assert res.exit_code == 0 and {r[0] for r in _bed_rows(res.stdout)} == {second}
    out = tmp_path / "never.bed"
    res = _scan(runner, model_path, sim_dir / "transcripts.fa", "--ids", f"{first},NOPE1,NOPE2", "--out", out)
    assert res.exit_code == 1 and res.stderr.startswith("error: ") and "NOPE1, NOPE2" in res.stderr
    assert "Traceback" not in res.output and not out.exists()
    res = _scan(runner, model_path, "-", "--ids", "NOPE1", input=format_fasta("a", "ACGT" * 30))
    assert res.exit_code == 1 and "NOPE1" in res.stderr


@pytest.mark.parametrize("args,message", [
    (["--stride", "0"], "--stride must be at least 1"),
    (["--window", "0"], "--window must be at least 1"),
    (["--mask", "random", "--repeats", "0"], "--repeats must be at least 1"),
    (["--mask", "blur"], "--mask blur"),
    (["--merge-gap", "-1"], "--merge-gap"),
    (["--min-support", "0"], "--min-support must be at least 1"),
    (["--min-kl", "-0.1"], "--min-kl"),
    (["--score-cap", "0"], "--score-cap"),
    (["--batch-size", "0"], "--batch-size"),
    (["--method", "quick"], "method"),
])
def test_bad_options(runner, model_path, args, message):
    res = _scan(runner, model_path, "-", *args, input=format_fasta("a", "ACGT" * 50))
    assert res.exit_code == 1, res.output
    assert res.stderr.startswith("error: ") and message in res.stderr and "Traceback" not in res.output


def test_bad_model_and_existing_output(runner, sim_dir, model_path, tmp_path):
    fake = tmp_path / "fake.pt"
    fake.write_text("not a model\n")
    res = _scan(runner, fake, sim_dir / "transcripts.fa")
    assert res.exit_code == 1 and "not an rnatracker model checkpoint" in res.stderr
    res = _scan(runner, tmp_path / "missing.pt", sim_dir / "transcripts.fa")
    assert res.exit_code == 1 and "not found" in res.stderr
    existing = tmp_path / "z.bed"
    existing.write_text("keep me\n")
    small = tmp_path / "one.fa"
    small.write_text(format_fasta("one", "ACGU" * 40))
    res = _scan(runner, model_path, small, "--out", existing)
    assert res.exit_code == 1 and "--force" in res.stderr and existing.read_text() == "keep me\n"
    res = _scan(runner, model_path, small, "--out", existing, "--force", "--min-kl", 0, "--score-cap", 1)
    assert res.exit_code == 0 and existing.read_text().startswith("#rnatracker")
    res = _scan(runner, model_path, small, "--out", tmp_path / "same", "--track", tmp_path / "same")
    assert res.exit_code == 1 and "different files" in res.stderr
    res = _scan(runner, model_path, small, "--track", "-")
    assert res.exit_code == 1 and "stdout" in res.stderr
    res = _scan(runner, model_path, small, "--gtf", tmp_path / "none.gtf")
    assert res.exit_code == 1 and "not found" in res.stderr


def test_gtf_without_the_transcript_fails(runner, sim_dir, model_path, tmp_path):
    res = _scan(runner, model_path, "-", "--gtf", sim_dir / "annotation.gtf", input=format_fasta("ghost", "ACGT" * 40))
    assert res.exit_code == 1 and "transcript ghost not found" in res.stderr


def test_kmer_model_scans_with_the_naive_path(runner, tmp_path):
    path = _checkpoint(tmp_path, "kmer-nn")
    rng = np.random.default_rng(1)
    fasta = "".join(format_fasta(f"t{i}", decode(rng.integers(0, 4, size=160).astype(np.uint8))) for i in range(2))
    res = _scan(runner, path, "-", "--window", 30, "--stride", 13, "--min-kl", 0, "--score-cap", 1, input=fasta)
    assert res.exit_code == 0, res.output
    assert "naive path" in res.stderr and {r[0] for r in _bed_rows(res.stdout)} == {"t0", "t1"}


def test_fixed_mode_reports_unscanned_5prime_ends(runner, tmp_path):
    path = _checkpoint(tmp_path, "rnatracker", mode="fixed", max_len=300)
    rng = np.random.default_rng(2)
    fasta = "".join(format_fasta(f"t{i}", decode(rng.integers(0, 4, size=n).astype(np.uint8)))
                    for i, n in enumerate((500, 250, 420)))
    res = _scan(runner, path, "-", "--window", 40, "--stride", 4, "--min-kl", 0, "--score-cap", 1,
                "--track", tmp_path / "t.bg", input=fasta)
    assert res.exit_code == 0, res.output
    assert "not scanned: the 5' ends of 2 transcripts longer than the model's 300-nt input (320 nt in all)" in \
        " ".join(res.stderr.split())
    lo = {"t0": 200, "t1": 0, "t2": 120}
    for row in _bed_rows(res.stdout):
        assert int(row[1]) >= lo[row[0]]
    for line in (tmp_path / "t.bg").read_text().splitlines():
        chrom, start, _, _ = line.split("\t")
        assert int(start) >= lo[chrom]


def test_random_mask_is_seeded(runner, model_path, tmp_path):
    fasta = format_fasta("a", decode(np.random.default_rng(4).integers(0, 4, size=200).astype(np.uint8)))
    args = ["--mask", "random", "--repeats", 3, "--window", 40, "--stride", 20, "--min-kl", 0, "--score-cap", 1]
    a = _scan(runner, model_path, "-", *args, "--seed", 5, input=fasta)
    b = _scan(runner, model_path, "-", *args, "--seed", 5, input=fasta)
    c = _scan(runner, model_path, "-", *args, "--seed", 6, input=fasta)
    assert a.exit_code == 0, a.output
    assert a.stdout == b.stdout and a.stdout != c.stdout
    assert "mask=random repeats=3 seed=5" in a.stdout.splitlines()[0]


def test_structure_model_folds_each_transcript(runner, tmp_path):
    """seq+struct models: transcripts are folded on the fly (the model's fold settings)."""
    from rnatracker_cli.interpret.zipcodes import ScanSettings, scan_transcript
    from rnatracker_cli.structure import fold_sequence
    from rnatracker_cli.model.checkpoint import load_model

    path = _checkpoint(tmp_path, "rnatracker", encoding="seq+struct")
    codes = np.random.default_rng(5).integers(0, 4, size=150).astype(np.uint8)
    res = _scan(runner, path, "-", "--window", 20, "--stride", 10, "--min-kl", 0, "--score-cap", 1,
                "--track", tmp_path / "t.bg", input=format_fasta("s", decode(codes)))
    assert res.exit_code == 0, res.output
    loaded = load_model(path)
    expected = scan_transcript(loaded.model, loaded.config, codes, ScanSettings(window=20, stride=10, method="naive"),
                               structure=fold_sequence(codes))
    rows = _bed_rows(res.stdout)
    assert len(rows) == 1 and float(rows[0][6]) == pytest.approx(expected.kl.max(), rel=1e-4)


def test_interrupted_scan_resumes_to_identical_output(sim_dir, model_path, tmp_path):
    from rnatracker_cli.workflows.scan import ScanOptions, scan_fasta

    options = ScanOptions(stride=25, min_kl=float(MIN_KL))
    ids = sorted(read_fasta_ids(sim_dir))[:6]
    ref = scan_fasta(str(model_path), str(sim_dir / "transcripts.fa"), str(tmp_path / "ref.bed"),
                     track=str(tmp_path / "ref.bg"), ids=ids, options=options)
    assert not (tmp_path / "ref.bed.part").exists()
    seen = []

    def stop_after_three(result):
        seen.append(result.id)
        if len(seen) == 3:
            raise KeyboardInterrupt

    out = tmp_path / "z.bed"
    with pytest.raises(KeyboardInterrupt):
        scan_fasta(str(model_path), str(sim_dir / "transcripts.fa"), str(out), track=str(tmp_path / "z.bg"),
                   ids=ids, options=options, on_transcript=stop_after_three)
    assert not out.exists() and (tmp_path / "z.bed.part").exists()
    # Other settings: refused without --force.
    with pytest.raises(Exception, match="other settings"):
        scan_fasta(str(model_path), str(sim_dir / "transcripts.fa"), str(out), track=str(tmp_path / "z.bg"),
                   ids=ids, options=ScanOptions(stride=30, min_kl=float(MIN_KL)))
    again = scan_fasta(str(model_path), str(sim_dir / "transcripts.fa"), str(out), track=str(tmp_path / "z.bg"),
                       ids=ids, options=options)
    assert again.resumed == 3 and again.transcripts == ref.transcripts == 6
    assert out.read_text() == (tmp_path / "ref.bed").read_text()
    assert (tmp_path / "z.bg").read_text() == (tmp_path / "ref.bg").read_text()
    assert not (tmp_path / "z.bed.part").exists()


def read_fasta_ids(sim_dir):
    return [r.id for r in read_fasta(sim_dir / "transcripts.fa")]


def test_progress_file_drops_uncommitted_blocks(tmp_path):
    import json

    from rnatracker_cli.interpret.progress import HEADER, VERSION, Progress, read_part

    signature = {"model_sha256": "x", "settings": "s", "fractions": "a,b", "track": True}
    part = tmp_path / "z.bed.part"
    part.write_text(
        f"{HEADER}\t{VERSION}\t{json.dumps(signature, sort_keys=True)}\n"
        "R\tt1\t0\t120\t10\t0.5\t1\tenhancing\t0.25,-0.25\nK\tt1\t0\t120\t0.5\nD\tt1\t300\tab12\t201\t0\tfast\n"
        "S\tt2\t40\tcd34\twindow (100 nt) longer than the transcript\n"
        "R\tt3\t5\t150\t7\t0.1\t0\trepressive\t0.1,-0.1\nK\tt3\t5\t15"  # interrupted
    )
    done = read_part(part, signature)
    assert sorted(done) == ["t1", "t2"]
    (r,) = done["t1"].regions
    assert (r.start, r.end, r.peak, r.kl_peak, r.fraction, r.direction) == (0, 120, 10, 0.5, 1, "enhancing")
    assert done["t1"].windows == 201 and done["t1"].track.values.tolist() == [0.5]
    assert done["t2"].skipped.startswith("window")
    assert (done["t1"].sha256, done["t2"].sha256) == ("ab12", "cd34")
    assert read_part(part, {**signature, "settings": "other"}) is None
    progress = Progress(tmp_path / "z.bed", signature, force=False)
    progress.close(finished=False)
    assert "t3" not in part.read_text() and sorted(read_part(part, signature)) == ["t1", "t2"]


def test_cli_defaults_match_the_library():
    import inspect

    from rnatracker_cli.cli.scan import scan_zipcodes
    from rnatracker_cli.workflows.scan import ScanOptions

    from rnatracker_cli.presets import resolve_scan_preset

    params = inspect.signature(scan_zipcodes).parameters
    from rnatracker_cli.api import scan_sequences

    params = inspect.signature(scan_zipcodes).parameters
    api = inspect.signature(scan_sequences).parameters
    lib = ScanOptions()
    for name in ("window", "min_kl", "merge_gap"):
        assert params[name].default == getattr(lib, name) == api[name].default, name
    # mask, stride, repeats and min-support come from the preset (default: the library's defaults)
    assert params["preset"].default == "default"
    for name, value in resolve_scan_preset("default").items():
        assert params[name].default is None and getattr(lib, name) == value == api[name].default, name
    assert (lib.mask, lib.repeats, lib.stride, lib.min_support, lib.min_kl) == ("random", 10, 10, 10, 0.0075)
    assert resolve_scan_preset("paper") == {"mask": "zero", "stride": 1, "repeats": 10, "min_support": 1}
    assert resolve_scan_preset("paper", stride=5)["stride"] == 5
    assert resolve_scan_preset("default", mask="zero") == {"mask": "zero", "stride": 10, "repeats": 10, "min_support": 10}


def test_scan_preset_paper_reaches_the_settings_and_bad_presets_are_refused(model_path, sim_dir, runner, tmp_path):
    from rnatracker_cli.cli.app import app

    fasta = tmp_path / "one.fa"
    fasta.write_text(">x\n" + "ACGUACGGAUCCAUGGCAUCGAUCGGCAUGCAUGCCGAUCGAUGCAUGCAGCUAGCUAGCAUCGAUCGAUCGAUGCAUGCAUGCUAGC" * 2 + "\n")
    res = runner.invoke(app, ["scan-zipcodes", "--model", str(model_path), str(fasta), "--preset", "paper", "--stride", "20",
                              "--window", "50", "-q"])
    assert res.exit_code == 0, res.output
    header = res.stdout.splitlines()[0]
    assert "min_support=1" in header and "stride=20" in header and "mask=zero" in header, header
    # no preset, no mask: random masks, 10 per window, every 10 nt — the same as naming them
    plain = runner.invoke(app, ["scan-zipcodes", "--model", str(model_path), str(fasta), "--window", "50", "-q",
                                "--min-kl", "0", "--score-cap", "1"])
    named = runner.invoke(app, ["scan-zipcodes", "--model", str(model_path), str(fasta), "--window", "50", "-q",
                                "--min-kl", "0", "--score-cap", "1", "--mask", "random", "--repeats", "10",
                                "--stride", "10", "--min-support", "10", "--seed", "0"])
    assert plain.exit_code == 0 and named.exit_code == 0, plain.output
    header = plain.stdout.splitlines()[0]
    assert "stride=10" in header and "min_support=10" in header and "mask=random repeats=10 seed=0" in header, header
    assert plain.stdout == named.stdout and len(_bed_rows(plain.stdout)) == 1
    res = runner.invoke(app, ["scan-zipcodes", "--model", str(model_path), str(fasta), "--preset", "fast"])
    assert res.exit_code == 1 and "error: unknown preset 'fast'" in res.output


def test_resume_rescans_a_changed_sequence_with_the_same_id_and_length(model_path, tmp_path):
    """Finished work is keyed by the sequence's hash: an edited record (same id, same length)
    is scanned again, an unchanged one is taken from the progress file."""
    from rnatracker_cli.workflows.scan import ScanOptions, scan_fasta

    rng = np.random.default_rng(12)
    a, b = (decode(rng.integers(0, 4, size=240).astype(np.uint8)) for _ in range(2))
    edited = decode(rng.integers(0, 4, size=240).astype(np.uint8))
    options = ScanOptions(window=40, stride=20, min_kl=0.0, min_support=1, score_cap=1.0)
    fasta = tmp_path / "in.fa"
    out = tmp_path / "z.bed"

    def interrupted(first: str) -> None:
        fasta.write_text(format_fasta("a", first) + format_fasta("b", b))
        out.unlink(missing_ok=True)

        def stop(result):
            if result.id == "a":  # committed, then interrupted
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            scan_fasta(str(model_path), str(fasta), str(out), options=options, on_transcript=stop)
        assert "\ta\t240\t" in (tmp_path / "z.bed.part").read_text()

    interrupted(a)
    fasta.write_text(format_fasta("a", edited) + format_fasta("b", b))
    resumed = scan_fasta(str(model_path), str(fasta), str(out), options=options)
    assert resumed.resumed == 0
    scan_fasta(str(model_path), str(fasta), str(tmp_path / "ref.bed"), options=options)
    assert out.read_text() == (tmp_path / "ref.bed").read_text()
    interrupted(a)
    assert scan_fasta(str(model_path), str(fasta), str(out), options=options).resumed == 1


@pytest.mark.parametrize("genomic", [False, True])
def test_outputs_identical_when_rows_spill_to_disk(runner, sim_dir, model_path, records, tmp_path, monkeypatch, genomic):
    """BED rows and track intervals are sorted on disk past a memory limit (bounded memory on
    any number of transcripts): the files are byte-identical to an in-memory sort."""
    from rnatracker_cli.io import spool

    ids = ",".join(list(records)[:8])
    extra = ("--gtf", sim_dir / "annotation.gtf") if genomic else ()

    def run(name):
        out = tmp_path / name
        out.mkdir()
        args = ["--ids", ids, "--stride", 7, "--min-kl", MIN_KL, "--out", out / "z.bed", "--track", out / "z.bg", *extra]
        res = _scan(runner, model_path, sim_dir / "transcripts.fa", *args)
        assert res.exit_code == 0, res.output
        return {p.name: p.read_bytes() for p in out.iterdir()}

    memory = run("memory")
    spills = []
    spill = spool.SortedSpool._spill
    monkeypatch.setattr(spool, "DEFAULT_SPOOL_ITEMS", 3)
    monkeypatch.setattr(spool, "MAX_OPEN_RUNS", 2)
    monkeypatch.setattr(spool.SortedSpool, "_spill", lambda self: (spills.append(1), spill(self)))
    disk = run("disk")
    assert sorted(memory) == sorted(disk) == sorted(["z.bed", "z.bg"] + (["z.extra.tsv"] if genomic else []))
    assert len(spills) > 10
    assert len(_bed_rows(memory["z.bed"].decode())) >= 3
    for name in memory:
        assert disk[name] == memory[name], name
