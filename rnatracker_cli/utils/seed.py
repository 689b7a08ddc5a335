"""Explicit seeding: one seed in, local generators out (no global side effects on import)."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy's legacy state and torch (CPU and CUDA) with ``seed``.

    Torch's layer initialisation and dropout draw from its global generator, so it has to be
    seeded; NumPy work should use the returned local ``Generator`` instead of global state.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return np.random.default_rng(seed)

