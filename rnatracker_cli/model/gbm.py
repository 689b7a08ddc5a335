"""``kmer-gbm``: 3-, 4- and 5-mer composition + log length → gradient-boosted trees (LightGBM).

The method of RNAlight (Yuan et al., 2023), the strongest published nuclear/cytoplasmic
predictor: k-mer frequencies fed to LightGBM. It trains in seconds and, on lncATLAS mRNAs,
beats every deep configuration measured so far (docs/benchmarks.md), so it is the baseline a
deep model has to beat.

Features (``GBMNet.features``), per transcript, from the same one-hot input as the other
models (:func:`rnatracker_cli.model.kmer.kmer_counts`):

* for each k = k_min..k_max (default 3..5), counts of the 4^k k-mers skipping k-mers that
  overlap an N or padding column, divided by the number of counted k-mers of that k (a
  composition summing to 1, or 0 when none): 64 + 256 + 1,024 = 1,344 features, then
* log(transcript length) (1,345 features). Trees need no standardisation.

Objective: LightGBM's ``cross_entropy`` (``xentropy``), which accepts probability labels, so
the model fits the measured fraction distributions rather than thresholded classes. With
F = 2 fractions one booster predicts the second fraction's probability p and the output is
(1 − p, p). With F > 2 one booster per fraction predicts that fraction's probability
(one-vs-rest on probability labels); the F predictions are renormalised to sum to 1.
Probabilities are clipped to [1e-6, 1 − 1e-6] before the log.

Hyper-parameters (defaults, :data:`GBM_DEFAULTS`): conservative settings for ~1,000
transcripts and 1,345 features, more regularised than LightGBM's defaults: 200 trees at
learning rate 0.05, 15 leaves, at least 15 transcripts per leaf, half of the features per
tree (``feature_fraction`` 0.5), 80 % bagging of rows per iteration, L2 penalty 1. Early
stopping on the validation split (``early_stopping_rounds`` > 0) is available but off by
default: measured on lncATLAS mRNAs (10-fold CV, docs/benchmarks.md) the ~100 validation
transcripts of a fold are too few to pick the number of trees (it ranged from 3 to 153
across folds with a 50-round patience) and a fixed 200 trees gave nuclear ROC AUC 0.753
against 0.731 on the same folds. Training is
deterministic for a given seed and thread count (``deterministic=True``, row-wise
histograms, one thread by default).

Checkpoints: each trained booster is stored in the state_dict as a uint8 tensor buffer
holding its ``model_to_string()`` text, so ``model.pt`` stays a plain dict of tensors
(loadable with ``torch.load(weights_only=True)``); the boosters are rebuilt from those
bytes on first use after loading. An empty buffer means "not fitted".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from rnatracker_cli.encoding import get_encoding, make_batch, plan_batches
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.model.kmer import kmer_counts

#: Default hyper-parameters of ``kmer-gbm`` (config keys, see the module docstring).
GBM_DEFAULTS: dict[str, Any] = {
    "k_min": 3, "k_max": 5, "n_estimators": 200, "learning_rate": 0.05, "num_leaves": 15,
    "min_child_samples": 15, "subsample": 0.8, "colsample": 0.5, "reg_lambda": 1.0,
    "early_stopping_rounds": 0, "num_threads": 1,
}
_EPS = 1e-6
#: Rows per feature batch and padded nucleotides per batch when building feature matrices.
_FEATURE_ROWS, _FEATURE_NT = 256, 2_000_000


def _lightgbm():
    try:
        import lightgbm as lgb
    except ImportError:  # pragma: no cover - a declared dependency
        raise RNATrackerError("kmer-gbm needs the lightgbm package (pip install lightgbm)") from None
    return lgb


class GBMNet(nn.Module):
    """k-mer composition + log length → LightGBM → log-probabilities float32 (batch, F).

    n_fractions: F ≥ 2; k_min..k_max: k-mer sizes (1 ≤ k_min ≤ k_max ≤ 6); the other
    arguments are LightGBM's (``subsample`` = bagging fraction, applied every iteration;
    ``colsample`` = feature fraction per tree; ``early_stopping_rounds`` = 0 disables early
    stopping); ``seed`` is the default seed of :meth:`fit_direct`.
    Fit with :meth:`fit_direct` (there are no gradients to train by).
    """

    has_attention = False
    min_length = 1
    needs_normalization = False

    def __init__(self, n_fractions: int, k_min: int = 3, k_max: int = 5, n_estimators: int = 200,
                 learning_rate: float = 0.05, num_leaves: int = 15, min_child_samples: int = 15,
                 subsample: float = 0.8, colsample: float = 0.5, reg_lambda: float = 1.0,
                 early_stopping_rounds: int = 0, num_threads: int = 1, seed: int = 0) -> None:
        super().__init__()
        if n_fractions < 2:
            raise RNATrackerError("kmer-gbm needs at least 2 fractions")
        if not 1 <= k_min <= k_max <= 6:
            raise RNATrackerError(f"kmer-gbm needs 1 <= k_min <= k_max <= 6 (got {k_min}, {k_max})")
        if n_estimators < 1 or num_leaves < 2 or min_child_samples < 1 or num_threads < 1 or early_stopping_rounds < 0:
            raise RNATrackerError("kmer-gbm: n_estimators, min_child_samples and num_threads must be >= 1, "
                                  "num_leaves >= 2, early_stopping_rounds >= 0")
        if not (learning_rate > 0 and 0 < subsample <= 1 and 0 < colsample <= 1 and reg_lambda >= 0):
            raise RNATrackerError("kmer-gbm: learning_rate must be > 0, subsample and colsample in (0, 1], reg_lambda >= 0")
        self.n_fractions, self.k_min, self.k_max = int(n_fractions), int(k_min), int(k_max)
        self.params = {
            "n_estimators": int(n_estimators), "learning_rate": float(learning_rate), "num_leaves": int(num_leaves),
            "min_child_samples": int(min_child_samples), "subsample": float(subsample), "colsample": float(colsample),
            "reg_lambda": float(reg_lambda), "early_stopping_rounds": int(early_stopping_rounds),
            "num_threads": int(num_threads),
        }
        self.seed = int(seed)
        # One booster for F = 2 (the second fraction), else one per fraction.
        self.n_boosters = 1 if n_fractions == 2 else n_fractions
        for i in range(self.n_boosters):
            self.register_buffer(f"booster_{i}", torch.zeros(0, dtype=torch.uint8))
        self._boosters: list | None = None
        self._skip = sum(4**k for k in range(1, k_min))  # counts of k < k_min are dropped
        sizes = torch.tensor([4**k for k in range(k_min, k_max + 1)], dtype=torch.int64)
        self.register_buffer("_block", torch.repeat_interleave(torch.arange(k_max - k_min + 1), sizes), persistent=False)

    @property
    def n_features(self) -> int:
        """k-mer compositions + log length (1,345 for k = 3..5)."""
        return sum(4**k for k in range(self.k_min, self.k_max + 1)) + 1

    @property
    def is_fitted(self) -> bool:
        return all(getattr(self, f"booster_{i}").numel() > 0 for i in range(self.n_boosters))

    # -- features -----------------------------------------------------------------------

    @torch.no_grad()
    def features(self, x: torch.Tensor, lengths: torch.Tensor, nt_lengths: torch.Tensor) -> torch.Tensor:
        """float32 (batch, n_features) on x's device: per-k compositions, then log length.

        x: float32 (batch, 4, width) one-hot; lengths: int64 (batch,) columns to count;
        nt_lengths: int64 (batch,) true transcript lengths.
        """
        counts = kmer_counts(x, lengths, self.k_max)[:, self._skip :]
        block = self._block.to(counts.device)
        totals = torch.zeros(len(counts), self.k_max - self.k_min + 1, device=counts.device).index_add_(1, block, counts)
        comp = counts / totals.clamp(min=1)[:, block]
        log_length = torch.log(nt_lengths.float().clamp(min=1))[:, None]
        return torch.cat([comp, log_length], dim=1)

    def dataset_features(self, data, config: dict | None = None, device: torch.device | str = "cpu") -> np.ndarray:
        """float32 (n, n_features) for a :class:`~rnatracker_cli.training.data.TrainingSet`,
        in its order, batched and padded the way ``config`` (mode/max_len/encoding; default
        full length) feeds the models."""
        config = config or {}
        mode, max_len = config.get("mode", "full"), config.get("max_len")
        encoding = get_encoding(config.get("encoding", "seq"))
        out = np.zeros((len(data), self.n_features), dtype=np.float32)
        lengths = np.fromiter((len(s) for s in data.sequences), dtype=np.int64, count=len(data))
        for idx in plan_batches(lengths, mode, batch_size=_FEATURE_ROWS, batch_nt=_FEATURE_NT,
                                max_len=max_len, min_len=self.min_length):
            batch = make_batch([data.sequences[i] for i in idx], mode, max_len, self.min_length,
                               None if data.structures is None else [data.structures[i] for i in idx])
            batch.nt_lengths = np.asarray(data.nt_lengths)[idx]
            x = encoding.tensors(batch, device)
            f = self.features(x, torch.from_numpy(batch.lengths).to(x.device), torch.from_numpy(batch.nt_lengths).to(x.device))
            out[idx] = f.cpu().numpy()
        return out

    # -- fitting ------------------------------------------------------------------------

    def _lgb_params(self, seed: int) -> dict:
        p = self.params
        return {
            "objective": "cross_entropy", "metric": "cross_entropy", "learning_rate": p["learning_rate"],
            "num_leaves": p["num_leaves"], "min_data_in_leaf": p["min_child_samples"],
            "bagging_fraction": p["subsample"], "bagging_freq": 1 if p["subsample"] < 1 else 0,
            "feature_fraction": p["colsample"], "lambda_l2": p["reg_lambda"],
            "num_threads": p["num_threads"], "seed": seed, "deterministic": True, "force_row_wise": True,
            "verbosity": -1,
        }

    def fit_direct(self, train, val=None, seed: int | None = None, *, config: dict | None = None,
                   device: torch.device | str = "cpu") -> list[int]:
        """Fit the boosters on ``train`` (early stopping on ``val`` when given and non-empty).

        train/val: :class:`~rnatracker_cli.training.data.TrainingSet` (targets float32 (n, F),
        rows summing to 1); seed: LightGBM's seed (default the constructor's); config/device:
        how features are computed (see :meth:`dataset_features`). Returns the number of trees
        kept per booster. Deterministic for a given seed and ``num_threads``.
        """
        lgb = _lightgbm()
        if len(train) == 0:
            raise RNATrackerError("no training transcripts")
        seed = self.seed if seed is None else int(seed)
        y = np.asarray(train.targets, dtype=np.float64)
        if y.ndim != 2 or y.shape[1] != self.n_fractions:
            raise RNATrackerError(f"kmer-gbm was built for {self.n_fractions} fractions, the data has {y.shape[-1]}")
        X = self.dataset_features(train, config, device)
        has_val = val is not None and len(val) > 0
        if has_val:
            Xv, yv = self.dataset_features(val, config, device), np.asarray(val.targets, dtype=np.float64)
        columns = [1] if self.n_boosters == 1 else list(range(self.n_fractions))
        params = self._lgb_params(seed)
        boosters, trees = [], []
        for j in columns:
            label = np.clip(y[:, j], 0.0, 1.0)
            dtrain = lgb.Dataset(X, label=label, params={"verbosity": -1}, free_raw_data=False)
            kwargs: dict[str, Any] = {}
            if has_val and self.params["early_stopping_rounds"] > 0:
                dval = lgb.Dataset(Xv, label=np.clip(yv[:, j], 0.0, 1.0), reference=dtrain)
                kwargs = {"valid_sets": [dval], "valid_names": ["val"],
                          "callbacks": [lgb.early_stopping(self.params["early_stopping_rounds"], verbose=False)]}
            booster = lgb.train(params, dtrain, num_boost_round=self.params["n_estimators"], **kwargs)
            best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
            text = booster.model_to_string(num_iteration=best)
            boosters.append(lgb.Booster(model_str=text))
            trees.append(int(best))
            buf = torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8)
            name = f"booster_{len(boosters) - 1}"
            self._buffers[name] = buf.to(getattr(self, name).device)
        self._boosters = boosters
        return trees

    # -- loading ------------------------------------------------------------------------

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        # A fitted booster's buffer is as long as its text: take the stored length before the
        # default loader copies (it refuses shape mismatches).
        for i in range(self.n_boosters):
            key = f"{prefix}booster_{i}"
            stored = state_dict.get(key)
            if isinstance(stored, torch.Tensor) and stored.dim() == 1 and stored.dtype == torch.uint8:
                self._buffers[f"booster_{i}"] = torch.zeros_like(stored, device=getattr(self, f"booster_{i}").device)
        self._boosters = None
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)

    def _get_boosters(self) -> list:
        if not self.is_fitted:
            raise RNATrackerError("this kmer-gbm model has not been fitted (train it with `rnatracker train --arch kmer-gbm`)")
        if self._boosters is None:
            lgb = _lightgbm()
            boosters = []
            for i in range(self.n_boosters):
                text = bytes(getattr(self, f"booster_{i}").cpu().numpy()).decode("utf-8")
                try:
                    boosters.append(lgb.Booster(model_str=text))
                except Exception as exc:  # LightGBMError on damaged text
                    raise RNATrackerError(f"damaged kmer-gbm booster in the checkpoint ({str(exc).strip()[:120]})") from None
            self._boosters = boosters
        return self._boosters

    def __getstate__(self):  # deepcopy/pickle: boosters are rebuilt from the buffers
        state = self.__dict__.copy()
        state["_boosters"] = None
        return state

    # -- prediction ---------------------------------------------------------------------

    def predict_features(self, X: np.ndarray) -> np.ndarray:
        """Probabilities float64 (n, F) from a feature matrix (n, n_features)."""
        boosters = self._get_boosters()
        X = np.asarray(X, dtype=np.float64)
        nthreads = self.params["num_threads"]
        if self.n_boosters == 1:
            p = np.clip(boosters[0].predict(X, num_threads=nthreads), _EPS, 1 - _EPS)
            return np.stack([1 - p, p], axis=1)
        p = np.stack([np.clip(b.predict(X, num_threads=nthreads), _EPS, 1 - _EPS) for b in boosters], axis=1)
        return p / p.sum(axis=1, keepdims=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, nt_lengths: torch.Tensor | None = None,
                return_attention: bool = False) -> torch.Tensor:
        """x: float32 (batch, 4, width) one-hot; lengths/nt_lengths: int64 (batch,).
        Returns float32 log-probabilities (batch, F) on x's device."""
        if return_attention:
            raise RNATrackerError("a kmer-gbm model has no attention weights")
        if not self.is_fitted:
            self._get_boosters()  # raises the clear error
        if nt_lengths is None:
            nt_lengths = lengths
        f = self.features(x, lengths, nt_lengths)
        p = self.predict_features(f.double().cpu().numpy())
        log_p = np.log(np.clip(p, _EPS, 1.0))
        return torch.from_numpy(log_p.astype(np.float32)).to(x.device)

