"""Per-nucleotide secondary-structure element codes (forgi's element string, fast).

Every nucleotide of a nested (pseudoknot-free) structure gets one of six letters, the
letters of forgi's ``BulgeGraph.from_dotbracket(db).to_element_string()`` (upper-cased),
stored as uint8 codes:

====  ====  =====================================================================
code  letter  element
====  ====  =====================================================================
0     F     5' dangling end: unpaired bases before the first paired base
1     T     3' dangling end: unpaired bases after the last paired base
2     I     interior loop (bulges included): loop closed by a pair with exactly one
            inner pair
3     H     hairpin loop: loop closed by a pair with no inner pair
4     M     multiloop: loop closed by a pair with two or more inner pairs, *and* the
            exterior-loop bases between two top-level stems (forgi calls them ``m``)
5     S     stem: any paired base
====  ====  =====================================================================

A structure without any pair is all ``F`` (forgi's choice); an empty one is empty.

:func:`annotate` computes these codes from a partner array in O(n log n) NumPy operations
(no Python loop over nucleotides); forgi builds a graph in pure Python and costs seconds
per kilobase, so it is kept only as the reference (:func:`forgi_codes`), used by the tests
that prove both identical and by the benchmark.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator

import numpy as np

ELEMENT_LETTERS = "FTIHMS"
F, T, I, H, M, S = range(6)  # noqa: E741 (I is the paper's letter for interior loops)

_LETTER_CODES = np.full(256, 255, dtype=np.uint8)
for _code, _letter in enumerate(ELEMENT_LETTERS):
    _LETTER_CODES[ord(_letter)] = _code
    _LETTER_CODES[ord(_letter.lower())] = _code
_LETTERS = np.frombuffer(ELEMENT_LETTERS.encode(), dtype=np.uint8)


# -- dot-bracket <-> partner arrays ------------------------------------------------------
def dotbracket_to_partner(dotbracket: str) -> np.ndarray:
    """Partner array of a nested dot-bracket string.

    Returns int32 (length,): the 0-based partner of each base, -1 when unpaired. Only
    ``(``, ``)`` and ``.`` are accepted; unbalanced brackets raise ``ValueError``. Parsing
    a string is not on the folding path (which never builds dot-brackets), hence the
    simple stack.
    """
    partner = np.full(len(dotbracket), -1, dtype=np.int32)
    stack: list[int] = []
    for k, ch in enumerate(dotbracket):
        if ch == "(":
            stack.append(k)
        elif ch == ")":
            if not stack:
                raise ValueError(f"unbalanced ')' at position {k + 1}")
            o = stack.pop()
            partner[o], partner[k] = k, o
        elif ch != ".":
            raise ValueError(f"unexpected character {ch!r} at position {k + 1}")
    if stack:
        raise ValueError(f"unbalanced '(' at position {stack[-1] + 1}")
    return partner


def partner_to_dotbracket(partner: np.ndarray) -> str:
    """Dot-bracket string of a nested partner array (int (length,), -1 = unpaired)."""
    partner = np.asarray(partner)
    pos = np.arange(len(partner))
    out = np.full(len(partner), ord("."), dtype=np.uint8)
    out[(partner >= 0) & (partner > pos)] = ord("(")
    out[(partner >= 0) & (partner < pos)] = ord(")")
    return out.tobytes().decode()


def codes_to_letters(codes: np.ndarray) -> str:
    """uint8 element codes (length,) → ``FTIHMS`` string."""
    return _LETTERS[np.asarray(codes, dtype=np.uint8)].tobytes().decode()


def letters_to_codes(letters: str) -> np.ndarray:
    """``FTIHMS`` (either case) string → uint8 codes (length,); other letters raise."""
    codes = _LETTER_CODES[np.frombuffer(letters.encode(), dtype=np.uint8)]
    if (codes == 255).any():
        bad = letters[int(np.flatnonzero(codes == 255)[0])]
        raise ValueError(f"not an element letter: {bad!r}")
    return codes


# -- the fast annotator ------------------------------------------------------------------
def annotate(partner: np.ndarray) -> np.ndarray:
    """Element codes of a nested structure.

    partner: int array (length,), 0-based partner of each base or -1 (must be nested and
    symmetric, as :func:`rnatracker_cli.structure.nesting.nest_pairs` returns).
    Returns uint8 (length,) with F T I H M S = 0..5, identical to forgi's element string.

    How: with +1 at each opening and -1 at each closing base, the running sum gives the
    depth of every unpaired base (pairs enclosing it). The pair that closes the loop a base
    lies in is the last opening base before it at that depth, and a pair's parent is the
    last opening base one level up; both are found with one ``searchsorted`` on
    (depth, position) keys. Counting children per pair then tells hairpin (0), interior
    loop (1) and multiloop (>= 2).
    """
    partner = np.asarray(partner, dtype=np.int64)
    n = len(partner)
    codes = np.full(n, S, dtype=np.uint8)
    if n == 0:
        return codes
    pos = np.arange(n, dtype=np.int64)
    paired = partner >= 0
    if not paired.any():
        codes[:] = F
        return codes
    opener = paired & (partner > pos)
    closer = paired & (partner < pos)
    depth = np.cumsum(opener.astype(np.int64) - closer.astype(np.int64))

    # Openers sorted by (depth, position): the last one at depth d before position k is
    # the element just left of searchsorted(key(d, k)).
    op = np.flatnonzero(opener)
    op_key = depth[op] * (n + 1) + op
    order = np.argsort(op_key, kind="stable")
    keys, op_sorted = op_key[order], op[order]

    # Children per pair (indexed by the opener's position).
    nested = op[depth[op] > 1]
    parents = op_sorted[np.searchsorted(keys, (depth[nested] - 1) * (n + 1) + nested) - 1]
    children = np.bincount(parents, minlength=n)

    unp = np.flatnonzero(~paired)
    d = depth[unp]
    inner = unp[d > 0]
    closing = op_sorted[np.searchsorted(keys, depth[inner] * (n + 1) + inner) - 1]
    nchild = children[closing]
    codes[inner] = np.where(nchild == 0, H, np.where(nchild == 1, I, M))

    outer = unp[d == 0]
    first, last = op[0], int(np.flatnonzero(closer)[-1])
    codes[outer] = np.where(outer < first, F, np.where(outer > last, T, M))
    return codes


def annotate_dotbracket(dotbracket: str) -> np.ndarray:
    """Element codes (uint8 (length,)) of a dot-bracket string, with the fast annotator."""
    return annotate(dotbracket_to_partner(dotbracket))


# -- the reference: forgi ----------------------------------------------------------------
@contextlib.contextmanager
def _silenced_stderr() -> Iterator[None]:
    """Silence stderr at the file-descriptor level (C code included) and in Python."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            with contextlib.redirect_stderr(io.StringIO()):
                yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _forgi_bulge_graph():
    """forgi's BulgeGraph class, imported lazily and silently.

    forgi 2.2.3's wheel ships a Cython extension built against NumPy 1.x; under NumPy 2 the
    import prints an ABI warning and a traceback (from C and Python) before forgi falls back
    to pure Python. Users must not see that, so the import runs with stderr closed.
    """
    module = sys.modules.get("forgi.graph.bulge_graph")
    if module is None:
        import logging

        with _silenced_stderr():
            import forgi.graph.bulge_graph as module
        # forgi logs graph-construction details at INFO ("No name given ...").
        logging.getLogger("forgi").setLevel(logging.WARNING)
    return module.BulgeGraph


def forgi_element_string(dotbracket: str) -> str:
    """forgi's element string (lower-case f t i h m s) of a dot-bracket; '' when empty."""
    if not dotbracket:
        return ""  # forgi refuses empty structures
    return _forgi_bulge_graph().from_dotbracket(dotbracket).to_element_string()


def forgi_codes(dotbracket: str) -> np.ndarray:
    """Element codes (uint8 (length,)) computed by forgi: the reference for :func:`annotate`.

    Slow (pure Python graph construction, super-linear in length); tests and benchmarks only.
    """
    letters = forgi_element_string(dotbracket)
    if len(letters) != len(dotbracket):
        raise RuntimeError(f"forgi returned {len(letters)} letters for {len(dotbracket)} bases")
    return letters_to_codes(letters)
