"""Evaluation: cross-validation folds, reports, paired model comparisons and plots."""
