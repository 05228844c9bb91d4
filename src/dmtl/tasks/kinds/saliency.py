"""Saliency: a two-class segmentation (background, salient) evaluated by maxF."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from dmtl.tasks.kinds.base import MetricOptions, ignore_index_of
from dmtl.tasks.kinds.segmentation import SegmentationKind

if TYPE_CHECKING:
    from torchmetrics import Metric

    from dmtl.losses.masked import NormalsLoss
    from dmtl.tasks.registry import TaskSpec

SALIENT = 1  # class id of salient pixels


class SaliencyKind(SegmentationKind):
    """A segmentation with classes background (0) and salient (1).

    Targets, the package's loss (cross-entropy), the encoding, the colours and ``predict`` (the
    class id) are those of segmentation; the metric is maxF (``SaliencyMetrics``) and the released
    loss is the class-balanced cross-entropy.
    """

    name = "saliency"
    units = {"maxf": "%", "miou": "%"}

    def build_metric(self, spec: TaskSpec, options: MetricOptions) -> Metric:
        """``SaliencyMetrics`` (maxF over thresholds of the salient probability)."""
        # dmtl.metrics imports dmtl.tasks, which imports the kinds: import it when first needed.
        from dmtl.metrics.saliency import SaliencyMetrics

        return SaliencyMetrics(
            literature_sigmoid=options.saliency_literature_sigmoid,
            ignore_index=ignore_index_of(spec),
        )

    def released_loss(
        self,
        spec: TaskSpec,
        pred: torch.Tensor,
        target: torch.Tensor,
        use: torch.Tensor,
        normals_loss: NormalsLoss = "l1",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Σ_valid w[y] · CE / #valid with w = [p, 1 − p], p = the sample's salient fraction.

        Returns:
            loss (B,) and has_pixels bool (B,), as ``per_sample_loss``.
        """
        valid = self.valid_pixels(spec, target) & use.view(-1, 1, 1)
        labels = torch.where(valid, target, torch.zeros_like(target)).long()
        count = valid.flatten(1).sum(dim=1)
        positive = ((labels == SALIENT) & valid).flatten(1).sum(dim=1)
        p = positive.to(pred.dtype) / count.clamp(min=1).to(pred.dtype)  # (B,)
        weight = torch.where(labels == SALIENT, (1 - p).view(-1, 1, 1), p.view(-1, 1, 1))
        pixel = F.cross_entropy(pred, labels, reduction="none") * weight
        pixel = torch.where(valid, pixel, torch.zeros((), dtype=pixel.dtype, device=pixel.device))
        return pixel.flatten(1).sum(dim=1) / count.clamp(min=1), count > 0
