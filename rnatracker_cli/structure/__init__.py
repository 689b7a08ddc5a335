"""Secondary structure per nucleotide: RNAplfold → greedy nesting → element codes.

Modules: :mod:`.plfold` (pair probabilities, ViennaRNA API), :mod:`.nesting` (greedy
pseudoknot-free structure), :mod:`.elements` (F T I H M S codes, forgi as reference),
:mod:`.pipeline` (one sequence), :mod:`.fold` (a whole cache, workers, resume),
:mod:`.shards` (part files of ``--shard`` runs). See docs/structure.md.

``fold_sequence(codes) -> uint8 (length,)`` is the entry point for folding on the fly.
"""

from __future__ import annotations

from rnatracker_cli.structure.elements import (
    ELEMENT_LETTERS,
    annotate,
    codes_to_letters,
    dotbracket_to_partner,
    letters_to_codes,
    partner_to_dotbracket,
)
from rnatracker_cli.structure.nesting import nest_pairs
from rnatracker_cli.structure.pipeline import fold_sequence
from rnatracker_cli.structure.plfold import DEFAULT_CUTOFF, DEFAULT_SPAN, DEFAULT_WINDOW, plfold_pairs

__all__ = [
    "DEFAULT_CUTOFF",
    "DEFAULT_SPAN",
    "DEFAULT_WINDOW",
    "ELEMENT_LETTERS",
    "FoldProgress",
    "FoldSummary",
    "annotate",
    "codes_to_letters",
    "dotbracket_to_partner",
    "fold_cache",
    "fold_sequence",
    "letters_to_codes",
    "nest_pairs",
    "partner_to_dotbracket",
    "plfold_pairs",
]


def __getattr__(name: str):
    # The cache-level API pulls in HDF5; worker processes, which import this package, only
    # need fold_sequence, so it is loaded on first use.
    if name in ("fold_cache", "FoldProgress", "FoldSummary"):
        from rnatracker_cli.structure import fold

        return getattr(fold, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
