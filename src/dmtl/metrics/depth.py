"""Depth estimation metrics: absolute and relative error, RMSE and the δ < 1.25 accuracy."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from dmtl.errors import ConfigError, DataError

# Threshold of the δ1 accuracy: max(p/g, g/p) < 1.25.
DELTA1_THRESHOLD = 1.25
PERCENT = 100.0
# MTPSL's floor for predictions before the errors (the released DiffusionMTL code keeps it).
MTPSL_CLAMP_MIN = 1e-9


def _check_dense_pair(preds: Tensor, target: Tensor, channels: int, what: str) -> None:
    """Raise DataError unless ``preds`` and ``target`` are both (B, channels, H, W) of one shape."""
    if preds.dim() != 4 or preds.shape[1] != channels:
        raise DataError(
            f"{what} prediction must be (B, {channels}, H, W), got {tuple(preds.shape)}"
        )
    if preds.shape != target.shape:
        raise DataError(
            f"{what} prediction {tuple(preds.shape)} does not match target {tuple(target.shape)}"
        )


def _depth_update(
    preds: Tensor, target: Tensor, clamp_min: float | None = None
) -> dict[str, Tensor]:
    """Sums of one batch over the valid pixels (target > 0).

    Args:
        preds: depth in metres (B, 1, H, W).
        target: depth in metres (B, 1, H, W); 0 (or any value not > 0, NaN included) is invalid.
        clamp_min: if given, predictions below it are raised to it before every error.

    Returns:
        float64 scalars ``sum_abs``, ``sum_rel``, ``sum_sq`` and int64 scalars ``n_valid``,
        ``n_delta1``.
    """
    # float64 so that sums over millions of pixels stay exact to well under 1e-6 relative.
    pred = preds.double()
    if clamp_min is not None:
        pred = pred.clamp(min=clamp_min)
    gt = target.double()
    valid = gt > 0
    safe_gt = torch.where(valid, gt, torch.ones_like(gt))
    diff = torch.where(valid, pred - gt, torch.zeros_like(gt))
    abs_diff = diff.abs()
    # A non-positive prediction has no defined ratio: it never counts as within δ1.
    positive = pred > 0
    safe_pred = torch.where(positive, pred, torch.ones_like(pred))
    ratio = torch.maximum(safe_pred / safe_gt, safe_gt / safe_pred)
    within = valid & positive & (ratio < DELTA1_THRESHOLD)
    return {
        "sum_abs": abs_diff.sum(),
        "sum_rel": (abs_diff / safe_gt).sum(),
        "sum_sq": (diff * diff).sum(),
        "n_valid": valid.sum(),
        "n_delta1": within.sum(),
    }


def _depth_compute(
    sum_abs: Tensor, sum_rel: Tensor, sum_sq: Tensor, n_valid: Tensor, n_delta1: Tensor
) -> dict[str, Tensor]:
    """Final depth metrics from the sums; NaN when no valid pixel was seen."""
    n = n_valid.double()
    nan = torch.full_like(n, float("nan"))
    safe_n = n.clamp(min=1.0)

    def mean_or_nan(total: Tensor) -> Tensor:
        return torch.where(n > 0, total.double() / safe_n, nan)

    return {
        "abs_err": mean_or_nan(sum_abs),
        "rel_err": mean_or_nan(sum_rel),
        "rmse": mean_or_nan(sum_sq).sqrt(),
        "delta1": mean_or_nan(n_delta1) * PERCENT,
    }


class DepthMetrics(Metric):
    """Depth errors over all valid pixels of a split (target > 0).

    With n valid pixels, prediction p and target g (metres):
    ``abs_err = Σ|p−g|/n``, ``rel_err = Σ(|p−g|/g)/n``, ``rmse = sqrt(Σ(p−g)²/n)`` and
    ``delta1`` = percent of pixels with ``max(p/g, g/p) < 1.25`` (a prediction ≤ 0 never counts).
    Pixels are pooled over the whole split, not averaged per image.

    ``clamp_min`` is a protocol option: ``None`` (the default) scores the raw prediction, a
    number raises every prediction below it to it before all four metrics are computed. MTPSL's
    evaluation, and the released DiffusionMTL code after it, clamp at ``MTPSL_CLAMP_MIN``
    (1e-9), which turns a negative prediction's error |p − g| into about g.

    ``compute()`` returns ``{"abs_err", "rel_err", "rmse", "delta1"}`` (scalar float64 tensors,
    NaN if no valid pixel was seen). The first three are lower-is-better, ``delta1`` is
    higher-is-better (see ``higher_is_better_by_key``).

    Args:
        clamp_min: floor applied to predictions before the errors; ``None`` applies none.
        kwargs: passed to ``torchmetrics.Metric``.

    Raises:
        ConfigError: ``clamp_min`` is neither ``None`` nor a finite number.
    """

    full_state_update = False
    higher_is_better = False
    is_differentiable = False
    higher_is_better_by_key = {"abs_err": False, "rel_err": False, "rmse": False, "delta1": True}

    sum_abs: Tensor
    sum_rel: Tensor
    sum_sq: Tensor
    n_valid: Tensor
    n_delta1: Tensor

    def __init__(self, clamp_min: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        valid_number = isinstance(clamp_min, (int, float)) and not isinstance(clamp_min, bool)
        if clamp_min is not None and not (valid_number and math.isfinite(clamp_min)):
            raise ConfigError(f"clamp_min must be None or a finite number, got {clamp_min!r}")
        self.clamp_min = None if clamp_min is None else float(clamp_min)
        for name in ("sum_abs", "sum_rel", "sum_sq"):
            self.add_state(name, default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        for name in ("n_valid", "n_delta1"):
            self.add_state(name, default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch.

        Args:
            preds: depth (B, 1, H, W) at the target's resolution.
            target: depth (B, 1, H, W), 0 where invalid.
        """
        _check_dense_pair(preds, target, 1, "depth")
        sums = _depth_update(preds, target, self.clamp_min)
        self.sum_abs += sums["sum_abs"]
        self.sum_rel += sums["sum_rel"]
        self.sum_sq += sums["sum_sq"]
        self.n_valid += sums["n_valid"]
        self.n_delta1 += sums["n_delta1"]

    def compute(self) -> dict[str, Tensor]:
        """Return ``{"abs_err", "rel_err", "rmse", "delta1"}`` since the last reset."""
        return _depth_compute(self.sum_abs, self.sum_rel, self.sum_sq, self.n_valid, self.n_delta1)
