"""Training: data split, fit loop with early stopping, metrics, checkpoints, run directories."""
