"""`motifs` library: filter sites, MEME I/O, Tomtom matching, enrichment, influence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import fisher_exact

from rnatracker_cli.alphabet import decode, encode
from rnatracker_cli.errors import InputError, RNATrackerError
from rnatracker_cli.inference import Predictor
from rnatracker_cli.interpret.motifs.enrichment import Zipcodes, background_windows, enrichment_table, read_zipcodes
from rnatracker_cli.interpret.motifs.filters import first_layer, filter_sites
from rnatracker_cli.interpret.motifs.influence import filter_influence, kl_rows
from rnatracker_cli.interpret.motifs.matching import TOMTOM_COLUMNS, bh_qvalues, run_tomtom, tomtom_table
from rnatracker_cli.interpret.motifs.workflow import load_database, resolve_model
from rnatracker_cli.io.meme import MemeMotif, format_meme, read_meme
from rnatracker_cli.model import build_model, default_config


def _codes(text: str) -> np.ndarray:
    return encode(text)[0]


def _onehot_filter(consensus: str, bias: float) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.zeros(1, 4, len(consensus))
    for k, letter in enumerate(consensus):
        w[0, "ACGT".index(letter), k] = 1.0
    return w, torch.tensor([bias])


# -- filters → sites -----------------------------------------------------------------------------

def test_hand_set_filter_sites_and_matrix():
    # +1 per matching letter, bias -2.5: a perfect ACGT scores 1.5, one mismatch 0.5, the
    # all-A background at most -0.5. Threshold 0.3 × 1.5 = 0.45 keeps exact and one-mismatch
    # copies; an ACGT holding an N and a copy cut by the transcript's end are not windows.
    w, b = _onehot_filter("ACGT", -2.5)
    seqs = [_codes("AAAAACGTAAAAAAACCTAAAA"), _codes("AAAACGTAAAANCGTAAA"), _codes("AAAAAAAAAAACG")]
    sites = filter_sites(seqs, w, b, threshold=0.3)
    assert sites.max_activation[0] == pytest.approx(1.5)
    assert sites.threshold[0] == pytest.approx(0.45)
    assert sites.n_sites.tolist() == [3]
    expected = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 1, 2, 0], [0, 0, 0, 3]], dtype=float)
    np.testing.assert_array_equal(sites.counts[0], expected)
    np.testing.assert_allclose(sites.pfm(0), expected / 3)
    # the default threshold (half the maximum) keeps only the exact copies
    strict = filter_sites(seqs, w, b)
    assert strict.n_sites.tolist() == [2]
    np.testing.assert_array_equal(strict.counts[0], np.eye(4) * 2)


def test_sites_do_not_depend_on_batching():
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 4, size=n).astype(np.uint8) for n in (15, 400, 37, 1200, 90)]
    torch.manual_seed(0)
    w, b = torch.randn(3, 4, 6), torch.randn(3)
    one = filter_sites(seqs, w, b, batch_nt=10)  # one transcript per batch
    many = filter_sites(seqs, w, b)
    np.testing.assert_allclose(one.counts, many.counts)
    np.testing.assert_array_equal(one.n_sites, many.n_sites)


def test_filter_that_never_fires_has_no_sites():
    w, b = _onehot_filter("ACGT", -10.0)
    sites = filter_sites([_codes("ACGTACGTACGT")], w, b)
    assert sites.n_sites.tolist() == [0] and np.isinf(sites.threshold[0])


def test_threshold_out_of_range():
    w, b = _onehot_filter("ACGT", 0.0)
    with pytest.raises(RNATrackerError, match="threshold"):
        filter_sites([_codes("ACGTACGT")], w, b, threshold=1.5)


@pytest.mark.parametrize("arch", ["kmer-dnn", "kmer-nn", "length"])
def test_models_without_filters_are_refused(arch):
    config = default_config(arch, 2)
    with pytest.raises(RNATrackerError, match="no convolution filters"):
        first_layer(build_model(config), config)


def test_structure_models_use_sequence_channels():
    torch.manual_seed(0)
    config = default_config("rnatracker", 2, encoding="seqxstruct", filters=3)
    model = build_model(config)
    layer = first_layer(model, config)
    full = model.convs[0].body[0].weight.detach()  # (3, 24, 10), channel = base * 6 + element
    assert layer.weight.shape == (3, 4, 10)
    for base in range(4):
        np.testing.assert_allclose(layer.weight[:, base], full[:, base * 6 : base * 6 + 6].mean(dim=1), rtol=1e-6)
    config = default_config("rnatracker", 2, encoding="seq+struct", filters=3)
    model = build_model(config)
    layer = first_layer(model, config)
    assert torch.equal(layer.weight, model.convs[0].body[0].weight.detach())
    assert layer.conv is model.convs[0].body[0]


# -- MEME files ------------------------------------------------------------------------------------

def test_meme_round_trip_with_memelite(tmp_path):
    from memelite.io import read_meme as memelite_read

    rng = np.random.default_rng(1)
    motifs = [MemeMotif(f"filter{i:02d}", "", rng.dirichlet(np.ones(4), size=w), nsites=10 * i)
              for i, w in ((1, 10), (2, 7), (3, 12))]
    path = tmp_path / "f.meme"
    path.write_text(format_meme(motifs))
    theirs = memelite_read(str(path))
    assert list(theirs) == ["filter01", "filter02", "filter03"]
    for m in motifs:
        np.testing.assert_allclose(theirs[m.id].T, m.pwm, atol=1e-6)
    ours = read_meme(path)
    assert [m.nsites for m in ours] == [10, 20, 30]
    for a, b in zip(ours, motifs):
        np.testing.assert_allclose(a.pwm, b.pwm, atol=1e-6)


@pytest.mark.parametrize("text, message", [
    ("id\tvalue\nx\t1\n", "not a MEME motif file"),
    ("MEME version 4\n\nALPHABET= ACGT\n", "no motifs found"),
    ("MEME version 4\n\nALPHABET= ACDEFGHIKLMNPQRSTVWY\n", "alphabet"),
    ("MEME version 4\nMOTIF a\nletter-probability matrix: alength= 4 w= 2\n0.25 0.25 0.25 0.25\n1 0 x 0\n", "line 5"),
    ("MEME version 4\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n1 0 0 0\n"
     "MOTIF a\nletter-probability matrix: alength= 4 w= 1\n1 0 0 0\n", "duplicate motif id a"),
])
def test_bad_meme_files(tmp_path, text, message):
    path = tmp_path / "db.meme"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_meme(path)


def test_a_database_must_be_named(tmp_path):
    with pytest.raises(RNATrackerError, match="--db is required"):
        load_database(None)
    path = tmp_path / "db.meme"
    path.write_text(format_meme(_random_database(3)))
    motifs, label = load_database(path)
    assert [m.id for m in motifs] == ["RBP001", "RBP002", "RBP003"] and label == str(path)


def _random_database(n: int, seed: int = 1) -> list[MemeMotif]:
    """``n`` RNAcompete-like motifs (widths 7–12, peaked columns), ids RBP001…"""
    rng = np.random.default_rng(seed)
    return [MemeMotif(f"RBP{i + 1:03d}", f"protein{i + 1}", rng.dirichlet(np.full(4, 0.3), size=int(rng.integers(7, 13))))
            for i in range(n)]


def test_resolve_model_goes_through_the_shared_resolver(tmp_path):
    """motifs reads --model like predict and scan-zipcodes: a run directory, a model.pt, a
    built-in name; a missing path that is no built-in name is an error."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.pt").write_bytes(b"x")
    assert resolve_model(tmp_path / "run") == str(tmp_path / "run" / "model.pt")
    assert resolve_model(tmp_path / "run" / "model.pt") == str(tmp_path / "run" / "model.pt")
    with pytest.raises(RNATrackerError, match="not found"):
        resolve_model(tmp_path / "absent")


# -- Tomtom ----------------------------------------------------------------------------------------

def test_filter_equal_to_database_motif_is_its_top_match():
    database = _random_database(102)
    rng = np.random.default_rng(2)
    picks = [10, 40, 77]
    queries = [MemeMotif(f"filter{k}", "", database[i].pwm.copy()) for k, i in enumerate(picks)]
    queries.append(MemeMotif("noise", "", rng.dirichlet(np.ones(4) * 5, size=10)))
    result = run_tomtom(queries, database)
    assert result.p_values.shape == (4, 102)
    table = tomtom_table(result, queries, database, max_q=0.5)
    assert tuple(table.columns) == TOMTOM_COLUMNS
    for k, i in enumerate(picks):
        assert result.best(k) == i
        assert result.q_values[k, i] < 0.05
        top = table[table["Query_ID"] == f"filter{k}"].iloc[0]
        assert top["Target_ID"] == database[i].id
        assert top["Optimal_offset"] == 0 and top["Overlap"] == database[i].width
        assert top["Orientation"] == "+"
        assert top["E-value"] == pytest.approx(top["p-value"] * 102)
        assert top["Query_consensus"] == database[i].consensus()
    assert (table["q-value"] <= 0.5).all()


def test_bh_qvalues_match_reference():
    p = np.array([0.01, 0.04, 0.03, 0.2, np.nan, 0.5])
    q = bh_qvalues(p)
    # by hand: sorted 0.01 0.03 0.04 0.2 0.5 (m = 5) → p·m/rank 0.05 0.075 0.0667 0.25 0.5,
    # then the running minimum from the top: 0.05 0.0667 0.0667 0.25 0.5
    np.testing.assert_allclose(q[[0, 2, 1, 3, 5]], [0.05, 0.2 / 3, 0.2 / 3, 0.25, 0.5])
    assert np.isnan(q[4])
    scipy_stats = pytest.importorskip("scipy.stats")
    if hasattr(scipy_stats, "false_discovery_control"):
        ok = ~np.isnan(p)
        np.testing.assert_allclose(q[ok], scipy_stats.false_discovery_control(p[ok]))


# -- enrichment ----------------------------------------------------------------------------------

def _sharp(consensus: str) -> np.ndarray:
    pwm = np.full((len(consensus), 4), 0.01)
    for k, letter in enumerate(consensus):
        pwm[k, "ACGU".index(letter)] = 0.97
    return pwm


def _occurrences(text: str, word: str, lo: int, hi: int) -> int:
    return sum(1 for p in range(lo, hi - len(word) + 1) if text[p : p + len(word)] == word)


def test_enrichment_finds_planted_sites_not_shuffled_ones():
    rng = np.random.default_rng(5)
    planted, shuffled = "GCAUGCUA", "UCGAAGCU"  # same letters, shuffled
    texts, zips = {}, []
    for t in range(40):
        seq = list(decode(rng.integers(0, 4, size=800).astype(np.uint8)))
        for start in (100, 500):
            if t % 4 != 3:  # most zipcodes carry a copy
                seq[start + 20 : start + 28] = list(planted.replace("U", "T"))
            zips.append((f"t{t}", start, start + 60))
        texts[f"t{t}"] = "".join(seq)
    zipcodes = Zipcodes(np.array([z[0] for z in zips], dtype=object), np.array([z[1] for z in zips]),
                        np.array([z[2] for z in zips]), np.array(["nuclear"] * len(zips), dtype=object),
                        np.array(["enhancing"] * len(zips), dtype=object))
    motifs = [MemeMotif("PLANTED", "p", _sharp(planted)), MemeMotif("SHUFFLED", "s", _sharp(shuffled))]
    table = enrichment_table(motifs, {k: _codes(v) for k, v in texts.items()}, zipcodes).set_index("motif_id")
    for motif_id, word in (("PLANTED", "GCATGCTA"), ("SHUFFLED", "TCGAAGCT")):
        row = table.loc[motif_id]
        # A near-deterministic 8-nt PWM at p < 1e-4: exact copies only (one mismatch is ~4e-4).
        z_counts = [_occurrences(texts[c], word, s, e) for c, s, e in zips]
        back = set()
        for c, s, e in zips:
            territory = [(100, 160), (500, 560)]
            back |= {(c, a, b) for a, b in background_windows(s, e, territory, len(texts[c]))}
        b_counts = [_occurrences(texts[c], word, a, b) for c, a, b in back]
        assert row["zipcodes"] == len(zips) and row["background_windows"] == len(back)
        assert row["zipcodes_with_site"] == sum(c > 0 for c in z_counts)
        assert row["background_with_site"] == sum(c > 0 for c in b_counts)
        assert row["zipcode_sites"] == sum(z_counts) and row["background_sites"] == sum(b_counts)
        cells = [[row["zipcodes_with_site"], row["zipcodes"] - row["zipcodes_with_site"]],
                 [row["background_with_site"], row["background_windows"] - row["background_with_site"]]]
        odds, p = fisher_exact(cells)
        assert row["p_value"] == pytest.approx(p, rel=1e-12)
        assert row["odds_ratio"] == pytest.approx(odds) or (np.isinf(odds) and np.isinf(row["odds_ratio"]))
    assert table.loc["PLANTED", "zipcodes_with_site"] == 60
    assert table.loc["PLANTED", "q_value"] < 1e-10
    assert table.loc["SHUFFLED", "p_value"] > 0.05


def test_background_windows_tile_outside_zipcodes():
    assert background_windows(10, 20, [(10, 20), (45, 50)], 80) == [(0, 10), (20, 30), (30, 40), (50, 60), (60, 70), (70, 80)]
    assert background_windows(0, 30, [(0, 30)], 50) == []


def test_zipcodes_on_unknown_transcripts_or_past_the_end():
    zipcodes = Zipcodes(np.array(["t1", "nope"], dtype=object), np.array([0, 0]), np.array([10, 10]),
                        np.array(["a", "a"], dtype=object), np.array(["enhancing"] * 2, dtype=object))
    motifs = [MemeMotif("M", "", _sharp("ACGUACGU"))]
    with pytest.raises(InputError, match="not among the sequences, e.g. nope"):
        enrichment_table(motifs, {"t1": _codes("ACGT" * 10)}, zipcodes)
    zipcodes.chrom[1] = "t1"
    zipcodes.end[1] = 41
    with pytest.raises(InputError, match="past the end of t1"):
        enrichment_table(motifs, {"t1": _codes("ACGT" * 10)}, zipcodes)


@pytest.mark.parametrize("line, message", [
    ("t1\t0\t10\tn\t0\t+\n", "expected the 10 columns"),
    ("t1\t5\t5\tn\t0\t+\t0.1\tnuc\tenhancing\t0,0\n", "bad region"),
    ("t1\t0\t10\tn\t0\t+\t0.1\tnuc\tup\t0,0\n", "direction"),
    ("chr1\t0\t10\tn\t0\t+\t0\t10\t0\t1\t10,\t0,\t0.1\tnuc\tenhancing\t0,0\n", "run scan-zipcodes without --gtf"),
    ("# only a comment\n", "no zipcode regions"),
])
def test_bad_zipcode_beds(tmp_path, line, message):
    path = tmp_path / "z.bed"
    path.write_text(line)
    with pytest.raises(InputError, match=message):
        read_zipcodes(path)


# -- influence -------------------------------------------------------------------------------------

def test_influence_of_a_dead_filter_is_zero_and_weights_are_restored():
    torch.manual_seed(4)
    config = default_config("rnatracker", 3, filters=4)
    model = build_model(config).eval()
    with torch.no_grad():
        model.dense.weight.mul_(10.0)
        model.convs[0].body[0].weight[2].zero_()
        model.convs[0].body[0].bias[2].zero_()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 4, size=n).astype(np.uint8) for n in (200, 350, 120)]
    predictor = Predictor(model, config)
    layer = first_layer(model, config)
    result = filter_influence(predictor, layer, seqs)
    assert result.kl_mean[2] == 0 and np.all(result.delta_mean[2] == 0)
    assert result.kl_mean[[0, 1, 3]].max() > 0
    np.testing.assert_allclose(result.delta_mean.sum(axis=1), 0, atol=1e-6)  # shares still sum to 1
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    # by hand for one filter
    base = predictor.predict(seqs)
    with torch.no_grad():
        model.convs[0].body[0].weight[0].zero_()
        model.convs[0].body[0].bias[0].zero_()
    zeroed = predictor.predict(seqs)
    assert result.kl_mean[0] == pytest.approx(kl_rows(base, zeroed).mean(), rel=1e-6)
    np.testing.assert_allclose(result.delta_mean[0], (zeroed - base).mean(axis=0), atol=1e-7)
