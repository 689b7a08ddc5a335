"""`fold`: the per-sequence pipeline, whole caches (workers, shards, resume) and the CLI."""

import json

import h5py
import numpy as np
import pytest

from rnatracker_cli.cli.app import app
from rnatracker_cli.errors import CacheError, InputError
from rnatracker_cli.io.cache import Cache, write_cache
from rnatracker_cli.structure import fold_sequence
from rnatracker_cli.structure.elements import annotate, forgi_codes, partner_to_dotbracket
from rnatracker_cli.structure.fold import FoldProgress, fold_cache, fold_params, parse_shard
from rnatracker_cli.structure.nesting import nest_pairs
from rnatracker_cli.structure.plfold import plfold_pairs
from rnatracker_cli.structure.shards import find_parts, part_path

N_RECORDS = 12


@pytest.fixture(scope="module")
def records():
    """12 random sequences of 50-400 nt (a few N), seed 4."""
    rng = np.random.default_rng(4)
    seqs = [rng.integers(0, 4, int(n)).astype(np.uint8) for n in rng.integers(50, 401, N_RECORDS)]
    seqs[3][10:20] = 4  # N never pairs
    return seqs


@pytest.fixture(scope="module")
def expected(records):
    """Element codes of each record, folded one by one (the reference for cache runs)."""
    return [fold_sequence(s) for s in records]


def _cache(path, records):
    write_cache(path, ids=[f"tx{i}" for i in range(len(records))], sequences=records,
                targets=np.full((len(records), 2), 0.5, np.float32), fractions=["cytosol", "nuclear"])
    return path


def _structures(path):
    with Cache(path) as c:
        assert c.has_structure
        return [c.structure(i) for i in range(len(c))]


def _assert_equal(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert np.array_equal(g, w)


# -- one sequence ---------------------------------------------------------------------------
def test_plfold_pairs_respect_settings():
    hairpin = np.array([2] * 6 + [0] * 4 + [1] * 6, np.uint8)  # GGGGGGAAAACCCCCC
    i, j, p = plfold_pairs(hairpin)
    assert (i < j).all() and (p >= 0.01).all() and (p <= 1).all()
    assert p[(i == 0) & (j == 15)].item() > 0.5  # the closing pair of the obvious hairpin
    rng = np.random.default_rng(0)
    seq = rng.integers(0, 4, 600).astype(np.uint8)
    i, j, p = plfold_pairs(seq, window=80, span=40, cutoff=0.05)
    assert (j - i <= 40).all() and (p >= 0.05).all() and i.dtype == np.int64


def test_t_is_folded_as_u():
    # Codes store T; ViennaRNA must see U (its tetraloop bonuses match U-sequences).
    import RNA

    from rnatracker_cli.structure.plfold import codes_to_rna

    seq = np.random.default_rng(8).integers(0, 4, 300).astype(np.uint8)
    assert "T" not in codes_to_rna(seq)
    i, j, p = plfold_pairs(seq)
    ref = RNA.pfl_fold(codes_to_rna(seq), 150, 100, 0.01)
    assert len(ref) == i.size
    np.testing.assert_allclose(p, [e.p for e in ref], rtol=1e-12)


def test_fold_sequence_pipeline():
    seq = np.random.default_rng(1).integers(0, 4, 350).astype(np.uint8)
    timings = {}
    codes = fold_sequence(seq, timings=timings)
    assert codes.dtype == np.uint8 and codes.shape == (350,) and codes.max() <= 5
    partner = nest_pairs(*plfold_pairs(seq), 350)
    assert np.array_equal(codes, annotate(partner))
    assert np.array_equal(codes, forgi_codes(partner_to_dotbracket(partner)))
    assert set(timings) == {"plfold", "nesting", "annotation"} and timings["plfold"] > 0
    assert np.array_equal(fold_sequence(seq), codes)  # deterministic
    assert fold_sequence(np.zeros(0, np.uint8)).shape == (0,)
    assert fold_sequence(np.array([0], np.uint8)).tolist() == [0]  # one base: F
    assert fold_sequence(np.full(40, 4, np.uint8)).tolist() == [0] * 40  # all N: unpaired


def test_hairpin_sequence_gets_hairpin_letters():
    seq = np.array([0, 0] + [2] * 6 + [0] * 4 + [1] * 6 + [0, 0], np.uint8)  # AAGGGGGGAAAACCCCCCAA
    from rnatracker_cli.structure.elements import codes_to_letters

    assert codes_to_letters(fold_sequence(seq)) == "FFSSSSSSHHHHSSSSSSTT"


# -- whole caches ---------------------------------------------------------------------------
def test_fold_cache_matches_per_sequence_and_reports_progress(tmp_path, records, expected):
    path = _cache(tmp_path / "c.h5", records)
    events = []
    s = fold_cache(path, progress=events.append, batch_records=5)
    assert s.folded == N_RECORDS and s.folded_nt == sum(map(len, records)) and s.complete
    assert events[0] == FoldProgress(N_RECORDS, s.folded_nt, 0, 0)
    assert events[-1] == FoldProgress(N_RECORDS, s.folded_nt, N_RECORDS, s.folded_nt)
    _assert_equal(_structures(path), expected)
    with Cache(path) as c:
        assert c.structure_params == fold_params() and c.structure_params["window"] == 150
    again = fold_cache(path)
    assert again.folded == 0 and again.already_done == N_RECORDS


def test_workers_do_not_change_results(tmp_path, records, expected):
    path = _cache(tmp_path / "w.h5", records)
    s = fold_cache(path, workers=2, batch_records=3)
    assert s.folded == N_RECORDS and s.workers == 2
    _assert_equal(_structures(path), expected)


def test_shards_then_plain_run_equal_single_run(tmp_path, records, expected):
    path = _cache(tmp_path / "s.h5", records)
    s1 = fold_cache(path, shard=(1, 2))
    s2 = fold_cache(path, shard=(2, 2))
    assert (s1.folded, s2.folded) == (6, 6)  # index % 2 == 0, then == 1
    assert s1.other_shards == 6 and s1.part_file == part_path(path, (1, 2))
    assert find_parts(path) == [part_path(path, (1, 2)), part_path(path, (2, 2))]
    with Cache(path) as c:
        assert c.structure_done is None  # shards never write the cache itself
    final = fold_cache(path)
    assert final.merged == N_RECORDS and final.folded == 0 and final.complete
    assert find_parts(path) == []
    _assert_equal(_structures(path), expected)


def test_shard_then_plain_run_folds_only_the_rest(tmp_path, records, expected):
    path = _cache(tmp_path / "r.h5", records)
    s = fold_cache(path, shard=(2, 3))
    assert s.folded == 4  # indices 1, 4, 7, 10
    again = fold_cache(path, shard=(2, 3))
    assert again.folded == 0 and again.already_done == 4
    final = fold_cache(path)
    assert (final.merged, final.folded, final.already_done) == (4, N_RECORDS - 4, 0)
    _assert_equal(_structures(path), expected)


@pytest.mark.parametrize("workers", [1, 2])
def test_resume_after_interruption(tmp_path, records, expected, workers):
    path = _cache(tmp_path / "i.h5", records)

    def stop_after_five(p):
        if p.records == 5:
            raise KeyboardInterrupt

    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        fold_cache(path, progress=stop_after_five, batch_records=2, workers=workers)
    # The cache is never written while folding: it is byte for byte what it was.
    assert path.read_bytes() == before
    assert find_parts(path) == [part_path(path, (1, 1))]  # finished records are kept beside it
    s = fold_cache(path)
    assert (s.already_done, s.folded) == (5, N_RECORDS - 5) and s.complete
    assert find_parts(path) == []
    _assert_equal(_structures(path), expected)


def test_resume_after_kill_folds_only_missing(tmp_path, records, expected):
    # A killed run leaves flushed batches: simulate by writing three records directly.
    path = _cache(tmp_path / "k.h5", records)
    with Cache(path, "r+") as c:
        c.ensure_structure(fold_params())
        c.write_structure([0, 5, 9], [expected[0], expected[5], expected[9]])
    seen = []
    s = fold_cache(path, progress=lambda p: seen.append(p.records))
    assert s.folded == N_RECORDS - 3 and s.already_done == 3 and seen[-1] == N_RECORDS - 3
    _assert_equal(_structures(path), expected)


def test_shard_resume_after_interruption(tmp_path, records, expected):
    path = _cache(tmp_path / "si.h5", records)

    def stop_after_two(p):
        if p.records == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fold_cache(path, shard=(1, 2), progress=stop_after_two, batch_records=1)
    s = fold_cache(path, shard=(1, 2))
    assert (s.already_done, s.folded) == (2, 4)
    final = fold_cache(path)
    assert (final.merged, final.folded) == (6, 6)
    _assert_equal(_structures(path), expected)


def test_other_settings_refused_unless_force(tmp_path, records):
    path = _cache(tmp_path / "p.h5", records[:3])
    fold_cache(path, window=100, span=60)
    with pytest.raises(CacheError, match="--force"):
        fold_cache(path)
    with pytest.raises(CacheError, match="--force"):
        fold_cache(path, shard=(1, 2))
    s = fold_cache(path, force=True)
    assert s.folded == 3 and s.already_done == 0
    _assert_equal(_structures(path), [fold_sequence(r) for r in records[:3]])


def test_part_file_with_other_settings(tmp_path, records):
    path = _cache(tmp_path / "q.h5", records[:4])
    fold_cache(path, shard=(1, 2), cutoff=0.05)
    with pytest.raises(CacheError, match="fold part file .* was folded with"):
        fold_cache(path)
    s = fold_cache(path, force=True)
    assert s.discarded_parts == [part_path(path, (1, 2))] and s.folded == 4
    assert find_parts(path) == []


def test_part_file_with_same_settings_survives_force(tmp_path, records, expected):
    # Same settings, same cache content: the part file holds what refolding would give.
    path = _cache(tmp_path / "sf.h5", records)
    fold_cache(path, shard=(1, 3))
    s = fold_cache(path, force=True)
    assert (s.merged, s.folded) == (4, N_RECORDS - 4)
    _assert_equal(_structures(path), expected)


def test_bad_settings():
    with pytest.raises(InputError, match="--window"):
        fold_cache("nowhere.h5", window=50, span=100)
    with pytest.raises(InputError, match="--workers"):
        fold_cache("nowhere.h5", workers=0)
    with pytest.raises(InputError, match="--cutoff"):
        fold_cache("nowhere.h5", cutoff=0)
    assert parse_shard("3/4") == (3, 4) and parse_shard(" 1 / 1 ") == (1, 1)
    for bad in ("0/3", "4/3", "abc", "1/0", "1/2/3", "-1/2", ""):
        with pytest.raises(InputError, match="--shard"):
            parse_shard(bad)


def test_crash_while_committing_leaves_the_cache_intact(tmp_path, records, expected, monkeypatch):
    """A failure while the results are written into the cache (disk full, a kill) loses nothing."""
    path = _cache(tmp_path / "crash.h5", records)
    before = path.read_bytes()
    with Cache(path) as c:
        ids, targets, seqs = list(c.ids), c.targets.copy(), [c.sequence(i).copy() for i in range(len(c))]

    def disk_full(self, *args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Cache, "seal_structure", disk_full)
    with pytest.raises(OSError, match="No space"):
        fold_cache(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    with Cache(path) as c:  # readable, same sequences and targets, still unfolded
        assert list(c.ids) == ids and np.array_equal(c.targets, targets) and c.structure_params is None
        _assert_equal([c.sequence(i) for i in range(len(c))], seqs)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert find_parts(path) == [part_path(path, (1, 1))]  # the folding work is kept ...
    s = fold_cache(path)  # ... and committed by the next run without folding again
    assert (s.already_done, s.folded) == (N_RECORDS, 0) and s.complete
    _assert_equal(_structures(path), expected)


def test_structure_identity(tmp_path, records):
    path = _cache(tmp_path / "id.h5", records[:4])
    with Cache(path) as c:
        assert c.structure_sha256 is None and c.identity["structure_sha256"] is None
        data = c.content_sha256
    first = fold_cache(path).structure_sha256
    with Cache(path) as c:
        assert c.structure_sha256 == first and len(first) == 64 and c.content_sha256 == data
    assert fold_cache(path).structure_sha256 == first  # nothing new to fold
    other = fold_cache(path, force=True, span=80).structure_sha256
    assert other != first
    # A cache folded before the hash was stored: computed from /structure (the same value).
    with h5py.File(path, "r+") as f:
        del f["structure"].attrs["sha256"]
    with Cache(path) as c:
        assert c.structure_sha256 == other


def test_cv_refuses_to_extend_a_run_after_the_cache_is_folded_again(runner, tmp_path, records):
    path = _cache(tmp_path / "cv.h5", records)
    fold_cache(path, span=80)
    out = tmp_path / "run"
    base = ["cv", str(path), "--out", str(out), "--models", "kmer-nn", "--folds", "2", "--epochs", "1",
            "--bootstrap", "100", "--device", "cpu", "--fold"]
    res = runner.invoke(app, [*base, "1"])
    assert res.exit_code == 0, res.stderr
    with Cache(path) as c:
        assert json.loads((out / "config.json").read_text())["structure_sha256"] == c.structure_sha256
    fold_cache(path, force=True)  # same sequences and targets, another structure
    res = runner.invoke(app, [*base, "2"])
    assert res.exit_code == 1 and "its structure has changed since" in res.stderr
    assert not (out / "parts" / "kmer-nn" / "fold2.tsv").exists()


# -- CLI ------------------------------------------------------------------------------------
def _fold(runner, *args):
    return runner.invoke(app, ["fold", *map(str, args)])


def _rows(res):
    return {ln.split("│")[1].strip(): ln.split("│")[2].strip() for ln in res.stderr.splitlines()
            if ln.count("│") == 3}


def test_cli_fold_and_resume(runner, tmp_path, records, expected):
    path = _cache(tmp_path / "cli.h5", records)
    res = _fold(runner, path, "--shard", "1/2")
    assert res.exit_code == 0, res.stderr
    assert _rows(res)["left to other shards"] == "6"
    res = _fold(runner, path, "--workers", "2")
    assert res.exit_code == 0, res.stderr
    rows = _rows(res)
    assert rows["merged from part files"].startswith("6 ") and rows["status"] == "complete"
    assert rows["folded now"].startswith("6 transcripts")
    assert res.stdout == ""  # stdout stays clean
    _assert_equal(_structures(path), expected)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--window", "80", "--span", "100"], "--window (80) must be >= --span (100)"),
        (["--workers", "0"], "--workers must be >= 1"),
        (["--shard", "0/3"], "--shard must be K/N"),
        (["--shard", "4/3"], "--shard must be K/N"),
        (["--shard", "abc"], "--shard must be K/N"),
    ],
)
def test_cli_bad_options(runner, tmp_path, records, args, message):
    path = _cache(tmp_path / "b.h5", records[:2])
    res = _fold(runner, path, *args)
    assert res.exit_code == 1
    assert res.stderr.startswith(f"error: {message}") and len(res.stderr.splitlines()) == 1
    assert "Traceback" not in res.stderr


def test_cli_bad_caches(runner, tmp_path, records):
    res = _fold(runner, tmp_path / "missing.h5")
    assert res.exit_code == 1 and "not found" in res.stderr and res.stderr.startswith("error: ")
    text = tmp_path / "text.h5"
    text.write_text("not hdf5\n")
    res = _fold(runner, text)
    assert res.exit_code == 1 and res.stderr.startswith("error: cannot open cache")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3)  # HDF5, but no sequences
    res = _fold(runner, other)
    assert res.exit_code == 1 and "is not an rnatracker cache" in res.stderr


def test_cli_other_settings_need_force(runner, tmp_path, records):
    path = _cache(tmp_path / "f.h5", records[:2])
    assert _fold(runner, path, "--span", "80").exit_code == 0
    res = _fold(runner, path)
    assert res.exit_code == 1 and "use --force" in res.stderr and "Traceback" not in res.stderr
    res = _fold(runner, path, "--force")
    assert res.exit_code == 0, res.stderr
    with Cache(path) as c:
        assert c.structure_params["span"] == 100
        stored = json.loads(h5py.File(path, "r")["structure"].attrs["params"])
        assert stored == fold_params()


def test_busy_part_file_is_never_discarded(tmp_path, records):
    """A part file locked by a running shard job: a plain run stops, even with --force."""
    import subprocess
    import sys

    path = _cache(tmp_path / "busy.h5", records[:4])
    fold_cache(path, shard=(1, 2))
    part = part_path(path, (1, 2))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import h5py, sys, time; f = h5py.File(sys.argv[1], 'r+'); "
         "print('open', flush=True); time.sleep(60)", str(part)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        for force in (False, True):
            with pytest.raises(CacheError, match="in use"):
                fold_cache(path, force=force)
            assert part.exists()
    finally:
        holder.kill()
        holder.wait()
    assert fold_cache(path).merged == 2


def test_interrupt_stops_workers_without_waiting_for_long_records(tmp_path):
    """Ctrl-C/SIGTERM with workers: transcripts still being folded are abandoned at once (a long
    one can take minutes, more than a cluster's grace period), and the cache is untouched."""
    import time

    rng = np.random.default_rng(9)
    seqs = [rng.integers(0, 4, 15000).astype(np.uint8)] + [rng.integers(0, 4, 80).astype(np.uint8) for _ in range(2)]
    path = _cache(tmp_path / "long.h5", seqs)
    before = path.read_bytes()
    raised = {}

    def stop_at_first_short(p):
        if p.records == 1:  # a short record came back while the long one is still folding
            raised["at"] = time.monotonic()
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fold_cache(path, workers=2, progress=stop_at_first_short)
    stopped_after = time.monotonic() - raised["at"]
    assert stopped_after < 3.0, f"waited {stopped_after:.1f} s for the long record"
    assert path.read_bytes() == before
