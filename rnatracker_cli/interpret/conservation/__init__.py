"""Conservation of zipcodes: project regions to the genome, draw a matched background, score
both on a phyloP bigWig and test the difference (``rnatracker conserve``)."""

from rnatracker_cli.interpret.conservation.pipeline import ConserveOptions, ConserveResult, conserve, parse_cutoffs

__all__ = ["ConserveOptions", "ConserveResult", "conserve", "parse_cutoffs"]
