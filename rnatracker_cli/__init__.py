"""rnatracker: learn and explain mRNA subcellular localization from sequence."""

__version__ = "0.1.0"
