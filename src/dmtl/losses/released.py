"""The task losses of the released DiffusionMTL code (docs/released.md), per sample.

Only saliency and boundaries differ from ``dmtl.losses.masked.per_sample_task_loss``: saliency is a
2-class cross-entropy whose class weights [p, 1 − p] come from the sample's own fraction p of
salient pixels, and the boundary BCE (positives weighted 0.95 / 0.05) is scaled by 0.05. The other
tasks (cross-entropy, L1 of the normalised normals) are the package's. Each task kind holds its
released loss (``TaskKind.released_loss``; ``dmtl.tasks.kinds.saliency``,
``dmtl.tasks.kinds.boundary``).
Everything is batched: the per-sample class weights are gathered per pixel, no loop over samples.
"""

from __future__ import annotations

import torch

from dmtl.config import NormalsLoss
from dmtl.tasks import TaskSpec

# The released task weights; a task they do not name (depth) gets 1.
RELEASED_WEIGHTS = {"semseg": 1.0, "human_parts": 2.0, "sal": 5.0, "normals": 10.0, "edge": 50.0}


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

    Raises:
        ConfigError: a task of an unknown kind.
    """
    return spec.behaviour.released_loss(spec, pred, target, use, normals_loss)
