"""Saliency metrics: the maximal F-measure (β² = 0.3) over thresholds, and the 2-class mIoU.

Definition, as the multi-task literature on PASCAL-Context evaluates saliency (the ATRC / InvPT
line of released evaluation code, whose numbers DiffusionMTL reports): for every threshold t,
a pixel is predicted salient when its saliency probability is ≥ t; true positives, predicted
positives and actual positives are summed over the whole split (NOT averaged per image, which
the older ASTMT / MTI-Net evaluation did, with β² = 1 and other thresholds); then
P(t) = TP/PP, R(t) = TP/AP, F(t) = (1 + β²)·P·R / (β²·P + R), and maxF = max over t.

The released code applies a sigmoid to the saliency *probability* before thresholding (its
input is already softmax × 255 / 255), so it effectively thresholds σ(p) ∈ [0.5, 0.731]: every
threshold ≤ 0.5 marks every pixel salient and only 0.55 … 0.7 discriminate. The published
saliency numbers include this quirk; ``literature_sigmoid=True`` reproduces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from dmtl.errors import ConfigError, DataError
from dmtl.label_values import IGNORE_INDEX
from dmtl.metrics.boundary import DEFAULT_THRESHOLDS, check_thresholds, count_at_or_above
from dmtl.metrics.segmentation import (
    _check_segmentation_inputs,
    _segmentation_compute,
    _segmentation_update,
)

BETA_SQUARED = 0.3  # weights precision over recall, the saliency literature's choice
NUM_CLASSES = 2  # background, salient
SALIENT = 1
PERCENT = 100.0


def _saliency_update(
    logits: Tensor, target: Tensor, thresholds: Tensor, literature_sigmoid: bool, ignore_index: int
) -> dict[str, Tensor]:
    """Per-threshold counts of one batch.

    The counts are ``boundary.count_at_or_above`` (faster than torchmetrics' binned
    precision-recall update for the same numbers, see there) and the 2-class confusion matrix
    is ``segmentation._segmentation_update`` (see there why not torchmetrics' own).

    Args:
        logits: (B, 2, H, W); channel 1 is the salient class.
        target: (B, H, W) in {0, 1, ``ignore_index``}.
        thresholds: (T,) ascending, float64, on the logits' device.
        literature_sigmoid: threshold σ(p) instead of the probability p.
        ignore_index: target value excluded from every count.

    Returns:
        int64 ``tp`` and ``pred_pos`` of shape (T,), scalar ``actual_pos``.
    """
    # float64 so that thresholds compare exactly as a float64 reference would.
    prob = torch.softmax(logits.double(), dim=1)[:, SALIENT].contiguous()
    if literature_sigmoid:
        prob = torch.sigmoid(prob)
    valid = target != ignore_index
    salient = valid & (target == SALIENT)
    return {
        "tp": count_at_or_above(prob, salient, thresholds),
        "pred_pos": count_at_or_above(prob, valid, thresholds),
        "actual_pos": salient.sum(),
    }


def _saliency_compute(
    tp: Tensor, pred_pos: Tensor, actual_pos: Tensor, thresholds: Tensor, beta_squared: float
) -> dict[str, Tensor]:
    """maxF (percent) and its threshold; NaN if no salient pixel was seen.

    A threshold with no predicted positive has precision 0, and F = 0 where P = R = 0 (the
    released code sets its NaNs to 0 in the same places).
    """
    precision = tp.double() / pred_pos.double().clamp(min=1.0)
    recall = tp.double() / actual_pos.double().clamp(min=1.0)
    denominator = (beta_squared * precision + recall).clamp(min=torch.finfo(torch.float64).tiny)
    f_beta = (1.0 + beta_squared) * precision * recall / denominator
    best = f_beta.argmax()  # first maximum: the lowest threshold among ties
    nan = torch.full((), float("nan"), dtype=torch.float64, device=f_beta.device)
    seen = actual_pos > 0
    return {
        "maxf": torch.where(seen, f_beta[best] * PERCENT, nan),
        "threshold": torch.where(seen, thresholds[best], nan),
    }


class SaliencyMetrics(Metric):
    """maxF (β² = 0.3) of salient object detection over a split, plus the 2-class mIoU.

    The prediction is the 2-channel output of a saliency head (logits); the saliency probability
    is softmax channel 1. See the module docstring for the definition and the literature's
    sigmoid quirk. ``miou`` is the confusion-matrix mIoU of the arg-max labels (background and
    salient), computed as for semantic segmentation.

    ``compute()`` returns ``{"maxf", "threshold", "miou"}`` (scalar float64 tensors; maxF and
    mIoU in percent; NaN without a salient / labelled pixel). ``threshold`` is on the
    thresholded quantity (σ(p) under ``literature_sigmoid``).

    Args:
        thresholds: thresholds searched (default 0.05, 0.10, …, 0.95).
        beta_squared: β² of the F-measure.
        literature_sigmoid: apply σ to the probability before thresholding (published numbers).
        ignore_index: target value of unlabelled pixels.
        kwargs: passed to ``torchmetrics.Metric``.
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False
    higher_is_better_by_key = {"maxf": True, "miou": True}

    tp: Tensor
    pred_pos: Tensor
    actual_pos: Tensor
    confmat: Tensor

    def __init__(
        self,
        thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
        beta_squared: float = BETA_SQUARED,
        literature_sigmoid: bool = False,
        ignore_index: int = IGNORE_INDEX,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.thresholds = check_thresholds(thresholds)
        if not beta_squared > 0:
            raise ConfigError(f"beta_squared must be positive, got {beta_squared!r}")
        self.beta_squared = float(beta_squared)
        self.literature_sigmoid = literature_sigmoid
        self.ignore_index = ignore_index
        num_thresholds = len(self.thresholds)
        for name in ("tp", "pred_pos"):
            self.add_state(
                name, default=torch.zeros(num_thresholds, dtype=torch.long), dist_reduce_fx="sum"
            )
        self.add_state(
            "actual_pos", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum"
        )
        self.add_state(
            "confmat",
            default=torch.zeros(NUM_CLASSES, NUM_CLASSES, dtype=torch.long),
            dist_reduce_fx="sum",
        )

    def _threshold_tensor(self, device: torch.device) -> Tensor:
        return torch.tensor(self.thresholds, dtype=torch.float64, device=device)

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch.

        Args:
            preds: logits (B, 2, H, W) at the target's resolution.
            target: (B, H, W), 1 = salient, 0 = background, ``ignore_index`` = unlabelled.

        Raises:
            DataError: wrong shapes, or target values other than 0, 1 and ``ignore_index``.
        """
        if preds.dim() != 4:
            raise DataError(
                f"saliency prediction must be (B, 2, H, W) logits, got {tuple(preds.shape)}"
            )
        _check_segmentation_inputs(preds, target, NUM_CLASSES)
        target = target.long()
        bad = (target != self.ignore_index) & (target != 0) & (target != SALIENT)
        if bool(bad.any()):
            values = torch.unique(target[bad]).tolist()
            raise DataError(
                f"saliency target holds values {values[:10]}; expected 0, 1 or {self.ignore_index}"
            )
        counts = _saliency_update(
            preds,
            target,
            self._threshold_tensor(preds.device),
            self.literature_sigmoid,
            self.ignore_index,
        )
        self.tp += counts["tp"]
        self.pred_pos += counts["pred_pos"]
        self.actual_pos += counts["actual_pos"]
        self.confmat += _segmentation_update(preds, target, NUM_CLASSES, self.ignore_index)

    def compute(self) -> dict[str, Tensor]:
        """Return ``{"maxf", "threshold", "miou"}`` over everything since the last reset."""
        thresholds = self._threshold_tensor(self.tp.device)
        result = _saliency_compute(
            self.tp, self.pred_pos, self.actual_pos, thresholds, self.beta_squared
        )
        result["miou"] = _segmentation_compute(self.confmat)["miou"]
        return result
