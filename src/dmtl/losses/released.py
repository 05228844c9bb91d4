"""The task losses of the released DiffusionMTL code (docs/released.md), per sample.

Only saliency and boundaries differ from ``dmtl.losses.masked.per_sample_task_loss``: saliency is a
2-class cross-entropy whose class weights [p, 1 − p] come from the sample's own fraction p of
salient pixels, and the boundary BCE (positives weighted 0.95 / 0.05) is scaled by 0.05. The other
tasks (cross-entropy, L1 of the normalised normals) are the package's. Everything is batched: the
per-sample class weights are gathered per pixel, no loop over samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dmtl.losses.masked import NormalsLoss, _valid_pixels, per_sample_task_loss
from dmtl.tasks import TaskSpec

# The released task weights; a task they do not name (depth) gets 1.
RELEASED_WEIGHTS = {"semseg": 1.0, "human_parts": 2.0, "sal": 5.0, "normals": 10.0, "edge": 50.0}
RELEASED_EDGE_SCALE = 0.05
SALIENCY_TASK = "sal"


def released_task_loss(
    spec: TaskSpec,
    pred: torch.Tensor,
    target: torch.Tensor,
    use: torch.Tensor,
    normals_loss: NormalsLoss = "l1",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The released loss of one task for every sample (same contract as ``per_sample_task_loss``).

    Args:
        spec: the task.
        pred: (B, C, H, W) raw output at the target resolution.
        target: (B, H, W) long for segmentation, (B, 1|3, H, W) float otherwise.
        use: bool (B,); samples with False contribute nothing.
        normals_loss: passed on for the tasks the release shares with the package.

    Returns:
        loss (B,) and has_pixels bool (B,).
    """
    if spec.name == SALIENCY_TASK and spec.kind == "segmentation":
        return _balanced_saliency(spec, pred, target, use)
    loss, has = per_sample_task_loss(spec, pred, target, use, normals_loss)
    if spec.kind == "boundary":
        loss = loss * RELEASED_EDGE_SCALE
    return loss, has


def _balanced_saliency(
    spec: TaskSpec, pred: torch.Tensor, target: torch.Tensor, use: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ_valid w[y] · CE / #valid with w = [p, 1 − p], p = the sample's salient fraction."""
    valid = _valid_pixels(spec, target) & use.view(-1, 1, 1)
    labels = torch.where(valid, target, torch.zeros_like(target)).long()
    count = valid.flatten(1).sum(dim=1)
    positive = ((labels == 1) & valid).flatten(1).sum(dim=1)
    p = positive.to(pred.dtype) / count.clamp(min=1).to(pred.dtype)  # (B,)
    weight = torch.where(labels == 1, (1 - p).view(-1, 1, 1), p.view(-1, 1, 1))
    pixel = F.cross_entropy(pred, labels, reduction="none") * weight
    pixel = torch.where(valid, pixel, torch.zeros((), dtype=pixel.dtype, device=pixel.device))
    return pixel.flatten(1).sum(dim=1) / count.clamp(min=1), count > 0
