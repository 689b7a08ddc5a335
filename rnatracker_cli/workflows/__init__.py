"""What a command does over files, callable from Python (one layer above the core).

:mod:`rnatracker_cli.workflows.predict`: a FASTA through a model into the predict TSV (and
attention bedGraph). The other commands' file-level functions are
:func:`rnatracker_cli.training.run.train_run`, :func:`rnatracker_cli.evaluation.cv.run_cv` and
:func:`rnatracker_cli.interpret.scan.scan_fasta`.
"""
