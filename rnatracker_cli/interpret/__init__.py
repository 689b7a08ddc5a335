"""Explaining trained models: zipcode scans (sliding-window masking).

* :mod:`.zipcodes`: one transcript → window KL scores, called regions, per-nucleotide track;
* :mod:`.fastscan`: the fast exact path for the CNN models (reuses unmasked conv/LSTM work);
* :mod:`.perturb`: masks and the naive full-recomputation path;
* :mod:`.scan`: FASTA → BED/bedGraph, what `rnatracker scan-zipcodes` runs;
* :mod:`.progress`: the progress file that lets an interrupted scan resume;
* :mod:`.conservation`: zipcodes vs a matched background on a phyloP bigWig (`rnatracker conserve`).
"""
