"""What a command does over files, callable from Python: one layer above the core.

- :mod:`rnatracker_cli.workflows.predict`: a FASTA through a model into the predict TSV (and
  attention bedGraph), streamed.
- :mod:`rnatracker_cli.workflows.scan`: a FASTA through the zipcode scan into BED (+ track),
  resumable.
- :mod:`rnatracker_cli.workflows.cv`: k-fold cross-validation run directories, resumable.
- :mod:`rnatracker_cli.workflows.scaffold`: the shipped Snakemake workflow's files, copied
  into a folder (`rnatracker workflow init`).

Training a run (:func:`rnatracker_cli.training.run.train_run`) is still in ``training/``.
The in-memory counterparts are in :mod:`rnatracker_cli.api`.
"""
