"""`rnatracker conserve` and simulate's conservation track through the CLI."""

from __future__ import annotations

import filecmp

import numpy as np
import pandas as pd
import pytest

from rnatracker_cli.cli.app import app
from rnatracker_cli.interpret.conservation.regions import TranscriptLookup, read_regions
from rnatracker_cli.io.bigwig import BigWig
from rnatracker_cli.io.gtf import read_gtf
from rnatracker_cli.simulate import CONSERVATION_LEVELS, OUTPUT_FILES


def _args(sim_dir, bed, out, *extra):
    return ["conserve", str(bed), "--bigwig", str(sim_dir / "conservation.bw"), "--out", str(out), *extra]


def _one_error_line(res, expected):
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], res.stderr
    assert "Traceback" not in res.output


def test_bad_inputs_give_one_error_line(runner, sim_dir, tmp_path):
    gtf = ["--gtf", str(sim_dir / "annotation.gtf")]
    out = tmp_path / "o"
    empty = tmp_path / "empty.bed"
    empty.write_text("# nothing\n\n")
    _one_error_line(runner.invoke(app, _args(sim_dir, empty, out, *gtf)), "has no regions")
    _one_error_line(runner.invoke(app, _args(sim_dir, sim_dir / "zipcodes.bed", out)), "needs --gtf")
    missing = tmp_path / "missing.bed"
    missing.write_text("NOPE0001\t10\t30\tx\t0\t+\n")
    _one_error_line(runner.invoke(app, _args(sim_dir, missing, out, *gtf)), "transcript NOPE0001 is not in the GTF")
    chrom = tmp_path / "chrom.bed"
    chrom.write_text("chrZ\t100\t200\tz\t0\t+\t100\t200\t0\t2\t20,30,\t0,70,\n")
    _one_error_line(runner.invoke(app, _args(sim_dir, chrom, out)), "chromosome chrZ is not in the bigWig")
    _one_error_line(runner.invoke(app, _args(sim_dir, tmp_path / "absent.bed", out, *gtf)), "not found")
    _one_error_line(runner.invoke(app, _args(sim_dir, sim_dir / "zipcodes.bed", out, *gtf, "--min-kl", "x")), "--min-kl")
    _one_error_line(runner.invoke(app, ["conserve", str(sim_dir / "zipcodes.bed"), "--bigwig", str(sim_dir / "genome.fa"),
                                        "--out", str(out), *gtf]), "not a bigWig")
    _one_error_line(runner.invoke(app, _args(sim_dir, sim_dir / "zipcodes.bed", out, *gtf, "--background-per-region", "0")),
                    "--background-per-region")
    _one_error_line(runner.invoke(app, _args(sim_dir, sim_dir / "zipcodes.bed", out, *gtf, "--extra", str(empty))),
                    "goes with a genomic BED12")
    bad12 = tmp_path / "bad12.bed"
    bad12.write_text("chr1\t100\t200\tz\t0\t+\t100\t200\t0\t1\t100,\t0,\nchr1\t300\t400\tz\t0\t+\n")
    _one_error_line(runner.invoke(app, _args(sim_dir, bad12, out)), "row 2 is not a BED12 row")
    assert not out.exists() or not any(out.iterdir())


def test_genomic_bed12_with_sidecar_matches_transcript_input(runner, sim_dir, tmp_path):
    # scan-zipcodes-style input: transcript BED6+4 and its genomic BED12 + sidecar TSV
    truth = pd.read_csv(sim_dir / "zipcodes.bed", sep="\t", header=None).head(40)
    kl = np.linspace(0.005, 0.2, len(truth))
    direction = ["enhancing" if x > 0 else "repressive" for x in truth[8]]
    names = [f"{t}:{f}:{d}" for t, f, d in zip(truth[0], truth[7], direction)]
    tx = tmp_path / "tx.bed"
    tx.write_text("".join(f"{t}\t{s}\t{e}\t{n}\t0\t+\t{k:.6g}\t{f}\t{d}\t0,0,0,0\n"
                          for t, s, e, n, k, f, d in zip(truth[0], truth[1], truth[2], names, kl, truth[7], direction)))
    lookup = TranscriptLookup(read_gtf(sim_dir / "annotation.gtf"))
    with BigWig(sim_dir / "conservation.bw") as track:
        regions = read_regions(tx, lookup, track.chroms)
    genomic = tmp_path / "g.bed"
    genomic.write_text("".join(
        f"{r.chrom}\t{r.start}\t{r.end}\t{r.name}\t0\t{r.strand}\t{r.start}\t{r.end}\t0\t{len(r.blocks)}\t"
        f"{','.join(str(e - s) for s, e in r.blocks)}\t{','.join(str(s - r.start) for s, _ in r.blocks)}\n"
        for r in regions))
    (tmp_path / "g.extra.tsv").write_text("name\tchrom\tstart\tend\tkl_peak\tfraction\tdirection\tdeltas\n" + "".join(
        f"{r.name}\t{r.chrom}\t{r.start}\t{r.end}\t{r.kl_peak:.6g}\tx\t{r.direction}\t0\n" for r in regions))
    # the older BED12+4 layout: the four extra columns after the twelve
    bed16 = tmp_path / "g16.bed"
    bed16.write_text("".join(line + f"\t{r.kl_peak:.6g}\tx\t{r.direction}\t0\n"
                             for line, r in zip(genomic.read_text().splitlines(), regions)))
    gtf = ["--gtf", str(sim_dir / "annotation.gtf"), "--min-kl", "0,0.1", "--no-plot"]
    for bed, out in ((tx, "a"), (genomic, "b"), (bed16, "d")):
        res = runner.invoke(app, _args(sim_dir, bed, tmp_path / out, *gtf))
        assert res.exit_code == 0, res.output
    a, b, d = (pd.read_csv(tmp_path / o / "regions.tsv", sep="\t") for o in "abd")
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, d)
    assert set(a.region_type[a.kind == "zipcode"]) <= {"utr5", "cds", "utr3"}
    summary = pd.read_csv(tmp_path / "a" / "summary.tsv", sep="\t")
    assert list(zip(summary.group, summary.min_kl)) == [(g, c) for g in ("all", "enhancing", "repressive") for c in (0, 0.1)]
    assert summary.n_zipcodes[1] == (kl >= 0.1).sum()
    assert not (tmp_path / "a" / "ecdf.png").exists()
    # a plain BED12 without sidecar: direction from the name, no KL sweep
    (tmp_path / "g.extra.tsv").unlink()
    res = runner.invoke(app, _args(sim_dir, genomic, tmp_path / "c", *gtf))
    assert res.exit_code == 0 and "no kl_peak" in res.stderr
    # refuses to overwrite without --force
    res = runner.invoke(app, _args(sim_dir, genomic, tmp_path / "c", *gtf))
    assert res.exit_code == 1 and "exists" in res.stderr


def test_user_background_bed(runner, sim_dir, tmp_path):
    bg = tmp_path / "bg.bed"
    bg.write_text("chr1\t0\t50\nchr1\t1000\t1100\n")
    res = runner.invoke(app, _args(sim_dir, sim_dir / "zipcodes.bed", tmp_path / "o", "--gtf",
                                   str(sim_dir / "annotation.gtf"), "--background", str(bg), "--no-plot"))
    assert res.exit_code == 0, res.output
    regions = pd.read_csv(tmp_path / "o" / "regions.tsv", sep="\t")
    assert list(regions[regions.kind == "background"]["length"]) == [50, 100]
    summary = pd.read_csv(tmp_path / "o" / "summary.tsv", sep="\t")
    assert (summary.n_background <= 2).all()


def test_simulated_track_levels_and_signal_leave_other_files_unchanged(runner, tmp_path):
    for name, signal in (("a", "1.5"), ("b", "0")):
        res = runner.invoke(app, ["simulate", "--out", str(tmp_path / name), "--n", "30", "--max-length", "1200",
                                  "--seed", "4", "--conservation-signal", signal])
        assert res.exit_code == 0, res.output
    for f in OUTPUT_FILES:
        same = filecmp.cmp(tmp_path / "a" / f, tmp_path / "b" / f, shallow=False)
        assert same == (f != "conservation.bw"), f
    lookup = TranscriptLookup(read_gtf(tmp_path / "b" / "annotation.gtf"))
    means = {}
    with BigWig(tmp_path / "b" / "conservation.bw") as track:
        for model in lookup.models.values():
            if not model.transcript_id.endswith(".1"):
                continue
            layout = lookup.layout(model)
            values = track.blocks_values(model.chrom, [(int(p), int(p) + 1) for p in layout.genomic])
            for code, kind in enumerate(("utr5", "cds", "utr3")):
                means.setdefault(kind, []).extend(values[layout.types == code].tolist())
    got = {k: np.nanmean(v) for k, v in means.items()}
    for kind, value in got.items():
        assert value == pytest.approx(CONSERVATION_LEVELS[kind], abs=0.25), got
    assert got["cds"] > got["utr5"] > got["utr3"]
