"""Surface normal metrics: angular error statistics, with a histogram-based median."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from dmtl.errors import ConfigError
from dmtl.metrics.depth import _check_dense_pair

# Angle thresholds (degrees) of the "within" accuracies reported in the literature.
WITHIN_THRESHOLDS_DEG = (11.25, 22.5, 30.0)
MAX_ANGLE_DEG = 180.0
# Median histogram resolution: 100 bins per degree puts the median within 0.005° of the exact one.
DEFAULT_BINS_PER_DEGREE = 100
# Norms below this count as zero: such a prediction is compared as the zero vector (error 90°).
NORM_EPS = 1e-12
PERCENT = 100.0


def _num_bins(bins_per_degree: int) -> int:
    """Number of histogram bins covering [0°, 180°]."""
    return int(MAX_ANGLE_DEG) * bins_per_degree


def median_error_bound(bins_per_degree: int) -> float:
    """Largest gap (degrees) between the histogram median and the exact median: half a bin."""
    return 0.5 / bins_per_degree


def _normals_update(preds: Tensor, target: Tensor, bins_per_degree: int) -> dict[str, Tensor]:
    """Angular error sums and histogram of one batch.

    Args:
        preds: predicted normals (B, 3, H, W), any length; normalised here (zero stays zero).
        target: unit normals (B, 3, H, W); an all-zero vector marks an invalid pixel.
        bins_per_degree: histogram resolution over [0°, 180°].

    Returns:
        float64 scalars ``sum_angle``, ``sum_sq``; int64 scalar ``count``, int64 ``within``
        (len(WITHIN_THRESHOLDS_DEG),) and int64 ``hist`` (180 * bins_per_degree,).
    """
    # float64: acos is ill-conditioned near cos = 1, float32 would err by ~0.02° at small angles.
    pred = preds.double()
    gt = target.double()
    valid = (gt != 0).any(dim=1)
    pred_unit = pred / pred.norm(dim=1, keepdim=True).clamp(min=NORM_EPS)
    # Targets should be unit already; normalising again absorbs resampling/rounding drift.
    gt_unit = gt / gt.norm(dim=1, keepdim=True).clamp(min=NORM_EPS)
    cosine = (pred_unit * gt_unit).sum(dim=1).clamp(-1.0, 1.0)
    angle = torch.rad2deg(torch.acos(cosine))
    angle = torch.where(valid, angle, torch.zeros_like(angle))

    num_bins = _num_bins(bins_per_degree)
    # 180° exactly would index one past the end; it belongs to the last bin.
    bins = (angle * bins_per_degree).floor().long().clamp(0, num_bins - 1)
    # Invalid pixels go to an overflow bin that is dropped (no boolean indexing: no host sync).
    bins = torch.where(valid, bins, num_bins)
    hist = torch.bincount(bins.reshape(-1), minlength=num_bins + 1)[:num_bins]

    thresholds = torch.tensor(WITHIN_THRESHOLDS_DEG, dtype=angle.dtype, device=angle.device)
    below = (angle.unsqueeze(-1) < thresholds) & valid.unsqueeze(-1)
    return {
        "sum_angle": angle.sum(),
        "sum_sq": (angle * angle).sum(),
        "count": valid.sum(),
        "within": below.reshape(-1, len(WITHIN_THRESHOLDS_DEG)).sum(dim=0),
        "hist": hist,
    }


def _histogram_median(hist: Tensor, bins_per_degree: int) -> Tensor:
    """Median angle (degrees) read from a histogram of angles; NaN for an empty histogram.

    The two middle order statistics (the same one for an odd count) are located in their bins
    and replaced by the bin centres; their mean is within half a bin of numpy's median.
    """
    cumulative = hist.cumsum(dim=0)
    n = cumulative[-1]
    ranks = torch.stack([(n + 1) // 2, n // 2 + 1])  # 1-based ranks of the middle values
    index = torch.searchsorted(cumulative, ranks).clamp(max=hist.numel() - 1)
    centres = (index.double() + 0.5) / bins_per_degree
    nan = torch.full((), float("nan"), dtype=torch.float64, device=hist.device)
    return torch.where(n > 0, centres.mean(), nan)


def _normals_compute(
    sum_angle: Tensor,
    sum_sq: Tensor,
    count: Tensor,
    within: Tensor,
    hist: Tensor,
    bins_per_degree: int,
) -> dict[str, Tensor]:
    """Final normal metrics; NaN when no valid pixel was seen."""
    n = count.double()
    nan = torch.full_like(n, float("nan"))
    safe_n = n.clamp(min=1.0)
    result = {
        "mean": torch.where(n > 0, sum_angle / safe_n, nan),
        "median": _histogram_median(hist, bins_per_degree),
        "rmse": torch.where(n > 0, sum_sq / safe_n, nan).sqrt(),
    }
    for i, threshold in enumerate(WITHIN_THRESHOLDS_DEG):
        result[f"within_{threshold:g}"] = torch.where(n > 0, within[i] / safe_n, nan) * PERCENT
    return result


class NormalMetrics(Metric):
    """Angular error of surface normals over all valid pixels of a split.

    The error of a pixel is the angle (degrees) between the normalised prediction and the
    target, from ``acos`` of the cosine clamped to [−1, 1]. A zero-length prediction has
    error 90° (it is orthogonal to everything). Invalid pixels (all-zero target) are skipped.

    The median is read from a fixed histogram state over [0°, 180°] with ``bins_per_degree``
    bins per degree (a sum state, so it syncs under DDP without gathering pixels): it is
    within ``0.5 / bins_per_degree`` degrees of ``numpy.median`` of the same angles, i.e.
    within 0.005° at the default of 100 (18 000 int64 bins).

    ``compute()`` returns ``{"mean", "median", "rmse", "within_11.25", "within_22.5",
    "within_30"}``: angles in degrees, ``within_*`` in percent of pixels with error strictly
    below the threshold (scalar float64 tensors, NaN if no valid pixel was seen).

    Args:
        bins_per_degree: median histogram resolution.
        kwargs: passed to ``torchmetrics.Metric``.
    """

    full_state_update = False
    higher_is_better = False
    is_differentiable = False
    higher_is_better_by_key = {
        "mean": False,
        "median": False,
        "rmse": False,
        **{f"within_{t:g}": True for t in WITHIN_THRESHOLDS_DEG},
    }

    sum_angle: Tensor
    sum_sq: Tensor
    count: Tensor
    within: Tensor
    hist: Tensor

    def __init__(self, bins_per_degree: int = DEFAULT_BINS_PER_DEGREE, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(bins_per_degree, int) or bins_per_degree < 1:
            raise ConfigError(
                f"bins_per_degree must be a positive integer, got {bins_per_degree!r}"
            )
        self.bins_per_degree = bins_per_degree
        self.median_bound_deg = median_error_bound(bins_per_degree)
        num_bins = _num_bins(bins_per_degree)
        for name in ("sum_angle", "sum_sq"):
            self.add_state(name, default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state(
            "within",
            default=torch.zeros(len(WITHIN_THRESHOLDS_DEG), dtype=torch.long),
            dist_reduce_fx="sum",
        )
        self.add_state(
            "hist", default=torch.zeros(num_bins, dtype=torch.long), dist_reduce_fx="sum"
        )

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch.

        Args:
            preds: normals (B, 3, H, W) at the target's resolution, not necessarily unit.
            target: unit normals (B, 3, H, W), all-zero where invalid.
        """
        _check_dense_pair(preds, target, 3, "normals")
        sums = _normals_update(preds, target, self.bins_per_degree)
        self.sum_angle += sums["sum_angle"]
        self.sum_sq += sums["sum_sq"]
        self.count += sums["count"]
        self.within += sums["within"]
        self.hist += sums["hist"]

    def compute(self) -> dict[str, Tensor]:
        """Return the angular error statistics over everything since the last reset."""
        return _normals_compute(
            self.sum_angle, self.sum_sq, self.count, self.within, self.hist, self.bins_per_degree
        )
