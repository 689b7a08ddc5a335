"""Training: data split, fit loop with early stopping, the loss, run directories."""
