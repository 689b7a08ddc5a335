import filecmp

import numpy as np
import pandas as pd

from rnatracker_cli.alphabet import decode
from rnatracker_cli.cli.app import app
from rnatracker_cli.io.fasta import read_fasta
from rnatracker_cli.simulate import OUTPUT_FILES, ZIPCODE_GAP, Motif, find_zipcodes, simulate_dataset


def test_same_seed_gives_byte_identical_files(runner, tmp_path):
    for name in ("a", "b", "c"):
        seed = "5" if name != "c" else "6"
        res = runner.invoke(app, ["simulate", "--out", str(tmp_path / name), "--n", "25", "--max-length", "900", "--seed", seed])
        assert res.exit_code == 0, res.output
    for f in OUTPUT_FILES:
        assert filecmp.cmp(tmp_path / "a" / f, tmp_path / "b" / f, shallow=False), f
    assert not filecmp.cmp(tmp_path / "a" / "transcripts.fa", tmp_path / "c" / "transcripts.fa", shallow=False)


def test_refuses_to_overwrite_without_force(runner, tmp_path):
    args = ["simulate", "--out", str(tmp_path), "--n", "5", "--max-length", "500"]
    assert runner.invoke(app, args).exit_code == 0
    res = runner.invoke(app, args)
    assert res.exit_code == 1
    assert "exists; use --force" in res.stderr
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


def test_lengths_segments_and_cds(sim_data):
    lengths = np.array([len(s) for s in sim_data.sequences])
    assert lengths.min() >= 300 and lengths.max() <= 1500
    for seq, u5, cds in zip(sim_data.sequences, sim_data.utr5, sim_data.cds):
        assert cds % 3 == 0 and u5 + cds < len(seq)
        text = decode(seq)
        assert text[u5 : u5 + 3] == "ATG"
        assert text[u5 + cds - 3 : u5 + cds] in {"TAA", "TAG", "TGA"}


def test_human_like_length_distribution():
    data = simulate_dataset(n=3000, seed=0)
    lengths = np.array([len(s) for s in data.sequences])
    assert 2200 <= np.median(lengths) <= 2800
    assert lengths.min() >= 300 and lengths.max() <= 12000
    # a share of transcripts falls below the default expression filter (total <= 1)
    values = data.expression.iloc[:, 2:].to_numpy().reshape(len(lengths), len(data.fractions), 2)
    low = (values.mean(axis=2).sum(axis=1) <= 1).mean()
    assert 0.02 <= low <= 0.2


def _mismatches(seq, start, consensus):
    return int((seq[start : start + len(consensus)] != consensus).sum())


def test_truth_zipcodes_carry_their_motif(sim_data):
    by_id = dict(zip(sim_data.ids, sim_data.sequences))
    motifs = {m.id: m for m in sim_data.motifs}
    assert len(sim_data.zipcodes) > 30
    in_utr3 = 0
    for row in sim_data.zipcodes.itertuples(index=False):
        seq = by_id[row.transcript]
        assert 0 <= row.start < row.end <= len(seq)
        m = motifs[row.motif]
        assert m.fraction == row.fraction and m.effect == row.effect
        width = len(m.consensus)
        # a zipcode starts and ends with a site (≤ 1 mismatch to the consensus)
        assert _mismatches(seq, row.start, m.consensus) <= 1
        assert _mismatches(seq, row.end - width, m.consensus) <= 1
        assert width <= row.end - row.start <= 3 * width + 2 * ZIPCODE_GAP + 20
        i = sim_data.ids.index(row.transcript)
        in_utr3 += row.start >= sim_data.utr5[i] + sim_data.cds[i]
    assert in_utr3 / len(sim_data.zipcodes) > 0.6


def _naive_zipcodes(text, motif):
    """Reference: sites by string comparison, merged while the gap is ≤ ZIPCODE_GAP."""
    cons = decode(motif.consensus)
    w = len(cons)
    sites = [p for p in range(len(text) - w + 1) if sum(a != b for a, b in zip(text[p : p + w], cons)) <= 1]
    regions = []
    for p in sites:
        if regions and p - regions[-1][1] <= ZIPCODE_GAP:
            regions[-1][1] = max(regions[-1][1], p + w)
        else:
            regions.append([p, p + w])
    return [tuple(r) for r in regions]


def test_zipcode_rule_matches_a_naive_reference():
    rng = np.random.default_rng(11)
    for trial in range(60):
        cons = rng.integers(0, 4, size=int(rng.integers(3, 9))).astype(np.uint8)
        motif = Motif("M", "cytosol", 1, cons)
        seq = rng.integers(0, 4, size=int(rng.integers(1, 400))).astype(np.uint8)
        for _ in range(int(rng.integers(0, 6))):  # plant exact / 1-mismatch / 2-mismatch copies
            if len(seq) <= len(cons):
                break
            p = int(rng.integers(0, len(seq) - len(cons)))
            seq[p : p + len(cons)] = cons
            for q in rng.choice(len(cons), size=int(rng.integers(0, 3)), replace=False):
                seq[p + q] = (seq[p + q] + 1) % 4
        got = [(s, e) for s, e, _ in find_zipcodes(seq, [motif])]
        assert got == _naive_zipcodes(decode(seq), motif), trial


def test_truth_is_every_zipcode_the_rule_sees():
    # chance zipcodes in the background are listed too: nothing outside the truth is a site
    data = simulate_dataset(n=300, seed=4, max_length=3000)
    z = data.zipcodes
    for tid, seq in zip(data.ids, data.sequences):
        rows = z[z.transcript == tid]
        for m in data.motifs:
            want = [(r.start, r.end) for r in rows[rows.motif == m.id].itertuples()]
            assert want == _naive_zipcodes(decode(seq), m)
    # planted copies sit at or within one mismatch of the consensus; the MEME PWM says so
    for m in data.motifs:
        assert np.array_equal(m.pwm.argmax(axis=1), m.consensus)
        assert np.allclose(m.pwm.sum(axis=1), 1.0) and 10 <= len(m.consensus) <= 12


def test_planted_effects_shift_targets():
    data = simulate_dataset(n=1500, seed=3, max_length=2000)
    z = data.zipcodes
    for m in data.motifs:
        f = data.fractions.index(m.fraction)
        with_m = data.targets[np.isin(data.ids, z.loc[z.motif == m.id, "transcript"]), f].mean()
        without = data.targets[~np.isin(data.ids, z.loc[z.motif == m.id, "transcript"]), f].mean()
        assert (with_m - without) * m.effect > 0.03, m


def test_files_agree_with_each_other(sim_dir, sim_data):
    recs = list(read_fasta(sim_dir / "transcripts.fa"))
    assert [r.id for r in recs] == sim_data.ids
    assert all(np.array_equal(r.codes, s) for r, s in zip(recs, sim_data.sequences))
    table = pd.read_csv(sim_dir / "localization.tsv", sep="\t")
    assert list(table.columns[:2]) == ["transcript_id", "gene_id"]
    assert [c for c in table.columns[2:]] == [f"{f}_rep{r}" for f in sim_data.fractions for r in (1, 2)]
    bed = pd.read_csv(sim_dir / "zipcodes.bed", sep="\t", header=None)
    assert len(bed) == len(sim_data.zipcodes) and bed.shape[1] == 9
    assert (bed[1] < bed[2]).all()
    meme = (sim_dir / "motifs.meme").read_text()
    assert meme.startswith("MEME version 4") and "ALPHABET= ACGU" in meme
    assert meme.count("MOTIF ") == len(sim_data.motifs)
