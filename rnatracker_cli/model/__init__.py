"""Localization models: the RNATracker network, its ablations and the k-mer baselines.

Every model maps ``(x float32 (batch, channels, width), lengths int64 (batch,),
nt_lengths int64 (batch,))`` to log-probabilities float32 (batch, n_fractions); build one
from a JSON-able config with :func:`build_model`.
"""

from rnatracker_cli.model.registry import ARCHITECTURES, FIXED_MAX_LEN, build_model, default_config

__all__ = ["ARCHITECTURES", "FIXED_MAX_LEN", "build_model", "default_config"]
