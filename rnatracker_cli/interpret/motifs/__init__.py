"""Learned filters as motifs: sites → MEME, Tomtom matches, influence, logos/report, and
known-motif enrichment in zipcodes (what `rnatracker motifs` runs).

* :mod:`.filters`: first-layer filters → sites → position frequency matrices;
* :mod:`.matching`: Tomtom (memelite) against a motif database → ``tomtom.tsv``;
* :mod:`.influence`: change in predictions when a filter is zeroed;
* :mod:`.enrichment`: FIMO sites of database motifs in zipcodes vs background windows;
* :mod:`.report`: logos (logomaker) and the HTML report;
* :mod:`.workflow`: :func:`run_motifs`, the whole command as a function.
"""

from rnatracker_cli.interpret.motifs.workflow import MotifsSummary, resolve_model, run_motifs

__all__ = ["MotifsSummary", "resolve_model", "run_motifs"]
