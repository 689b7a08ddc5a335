"""Evaluation: cross-validation folds, metrics, paired model comparisons and plots."""
