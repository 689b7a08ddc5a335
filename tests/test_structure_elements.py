"""Element annotation: hand-checked structures, and the fast annotator == forgi (the reference)."""

import subprocess
import sys

import numpy as np
import pytest

from rnatracker_cli.structure.elements import (
    ELEMENT_LETTERS,
    annotate,
    annotate_dotbracket,
    codes_to_letters,
    dotbracket_to_partner,
    forgi_codes,
    letters_to_codes,
    partner_to_dotbracket,
)
from rnatracker_cli.structure.nesting import nest_pairs
from rnatracker_cli.structure.plfold import codes_to_rna, plfold_pairs

# Hand-checked letters (forgi's, upper-cased).
HAND = {
    # hairpin with dangling ends
    "..((((...))))..": "FFSSSSHHHSSSSTT",
    # interior loop 2x1 and a one-sided bulge
    "((..((...)).))": "SSIISSHHHSSISS",
    "((((...))..))": "SSSSHHHSSIISS",
    # multiloop closed by a 2-bp stem, three branches... two inner stems
    "((..((...))..((...))..))": "SSMMSSHHHSSMMSSHHHSSMMSS",
    # exterior-loop bases between top-level stems are 'm' in forgi
    "((...))..((...))": "SSHHHSSMMSSHHHSS",
    ".((...))((...)).": "FSSHHHSSSSHHHSST",
    # stems of one pair, an interior loop between them
    "(.(...).)": "SISHHHSIS",
    # a multiloop whose branches touch (no unpaired base in one segment)
    "((.((...))((...))))": "SSMSSHHHSSSSHHHSSSS",
    # degenerate cases
    "": "",
    ".": "F",
    "....": "FFFF",
    "()": "SS",
    "(())": "SSSS",
    "()()": "SSSS",
    "..()": "FFSS",
}


@pytest.mark.parametrize("db", list(HAND))
def test_hand_checked_letters(db):
    assert codes_to_letters(annotate_dotbracket(db)) == HAND[db]


@pytest.mark.parametrize("db", [d for d in HAND if d])
def test_hand_checked_letters_are_forgis(db):
    assert codes_to_letters(forgi_codes(db)) == HAND[db]


def test_codes_and_letters():
    assert ELEMENT_LETTERS == "FTIHMS"
    codes = letters_to_codes("FTIHMSftihms")
    assert codes.dtype == np.uint8 and codes.tolist() == [0, 1, 2, 3, 4, 5] * 2
    assert codes_to_letters(np.array([5, 4, 3, 2, 1, 0], np.uint8)) == "SMHITF"
    with pytest.raises(ValueError, match="not an element letter"):
        letters_to_codes("FX")


def test_dotbracket_round_trip_and_errors():
    db = "..((.((...)).))..(...)"
    partner = dotbracket_to_partner(db)
    assert partner.dtype == np.int32 and partner[2] == 14 and partner[14] == 2 and partner[0] == -1
    assert partner_to_dotbracket(partner) == db
    for bad, msg in (("(()", "unbalanced '\\('"), ("())", "unbalanced '\\)'"), ("(x)", "unexpected")):
        with pytest.raises(ValueError, match=msg):
            dotbracket_to_partner(bad)


def test_stems_are_exactly_the_paired_bases():
    rng = np.random.default_rng(3)
    for _ in range(50):
        partner = _random_structure(rng, int(rng.integers(1, 200)))
        codes = annotate(partner)
        assert codes.dtype == np.uint8 and codes.shape == partner.shape
        assert np.array_equal(codes == 5, partner >= 0)


# -- fast annotator == forgi on >= 1,000 structures ------------------------------------------
def _random_structure(rng, n):
    """Greedy nesting of a random pair list: any nested shape, incl. 1-bp stems, 0-nt loops."""
    k = int(rng.integers(0, 2 * n + 1))
    i, j = rng.integers(0, n, k), rng.integers(0, n, k)
    keep = i < j
    return nest_pairs(i[keep], j[keep], rng.random(int(keep.sum())), n)


def _stacked_structure(rng, n):
    """Greedy nesting of random helices (runs of stacked pairs): realistic stems and loops."""
    i, j = [], []
    for _ in range(int(rng.integers(1, max(2, n // 3)))):
        a = int(rng.integers(0, n))
        b = int(rng.integers(a, n))
        length = int(rng.integers(1, 8))
        for s in range(length):
            if a + s < b - s - 1:
                i.append(a + s)
                j.append(b - s)
    p = np.repeat(rng.random(len(i)), 1)
    return nest_pairs(np.array(i, int), np.array(j, int), p, n)


def _structure_corpus():
    import RNA

    rng = np.random.default_rng(2024)
    corpus = [d for d in HAND if d]
    corpus += ["(" * k + "." * m + ")" * k for k in range(1, 5) for m in range(0, 4)]
    corpus += [partner_to_dotbracket(_random_structure(rng, int(rng.integers(1, 90)))) for _ in range(420)]
    corpus += [partner_to_dotbracket(_stacked_structure(rng, int(rng.integers(2, 120)))) for _ in range(250)]
    # RNAfold MFE structures of random sequences
    for _ in range(250):
        seq = codes_to_rna(rng.integers(0, 4, int(rng.integers(10, 130))).astype(np.uint8))
        corpus.append(RNA.fold(seq)[0])
    # RNAplfold + greedy nesting of random sequences (what `fold` produces)
    for _ in range(110):
        codes = rng.integers(0, 4, int(rng.integers(20, 160))).astype(np.uint8)
        corpus.append(partner_to_dotbracket(nest_pairs(*plfold_pairs(codes), codes.size)))
    # a few long ones, at the length of real transcripts
    for n in (700, 1200, 1800):
        codes = rng.integers(0, 4, n).astype(np.uint8)
        corpus.append(partner_to_dotbracket(nest_pairs(*plfold_pairs(codes), n)))
    return corpus


def _shapes(db):
    """Which tricky shapes a structure contains (a plain stack walk: test helper)."""
    partner = dotbracket_to_partner(db)
    n = len(db)
    one_bp = any(
        0 <= i < partner[i]
        and not (i + 1 < n and partner[i + 1] == partner[i] - 1)
        and not (i > 0 and partner[i - 1] == partner[i] + 1)
        for i in range(n)
    )
    children, stack = {}, [-1]
    for k, ch in enumerate(db):
        if ch == "(":
            children[stack[-1]] = children.get(stack[-1], 0) + 1
            stack.append(k)
        elif ch == ")":
            stack.pop()
    multiloop = any(count >= 2 for opener, count in children.items() if opener >= 0)
    return {"all unpaired": "(" not in db, "adjacent stems": ")(" in db, "1-bp stem": one_bp,
            "multiloop": multiloop}


def test_fast_annotator_equals_forgi_on_1000_structures():
    corpus = _structure_corpus()
    assert len(corpus) >= 1000
    kinds = {"all unpaired": 0, "adjacent stems": 0, "1-bp stem": 0, "multiloop": 0}
    mismatches = []
    for db in corpus:
        ours, ref = annotate_dotbracket(db), forgi_codes(db)
        if not np.array_equal(ours, ref):
            mismatches.append((db, codes_to_letters(ours), codes_to_letters(ref)))
        for kind, present in _shapes(db).items():
            kinds[kind] += present
    assert not mismatches, mismatches[:3]
    # the corpus exercises the tricky shapes, not just hairpins
    assert all(count >= 10 for count in kinds.values()), kinds


def test_forgi_import_is_silent_and_lazy():
    code = (
        "import sys\n"
        "from rnatracker_cli.structure import fold_sequence\n"
        "import numpy as np\n"
        "fold_sequence(np.array([2,2,2,2,0,0,0,1,1,1,1], np.uint8))\n"
        "assert 'forgi' not in sys.modules\n"
        "from rnatracker_cli.structure.elements import forgi_codes\n"
        "print(''.join('FTIHMS'[c] for c in forgi_codes('((...))')))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "SSHHHSS"
    assert res.stderr == ""  # no NumPy ABI warning, no traceback
