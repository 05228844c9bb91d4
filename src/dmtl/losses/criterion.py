"""The multi-task loss of the Lightning system, built from its ``LossConfig``."""

from __future__ import annotations

from collections.abc import Sequence

from dmtl.config import LossConfig
from dmtl.errors import ConfigError
from dmtl.losses.masked import MultiTaskLoss
from dmtl.losses.released import RELEASED_WEIGHTS, released_task_loss
from dmtl.tasks import TaskSpec


def build_criterion(tasks: Sequence[TaskSpec], loss: LossConfig | None = None) -> MultiTaskLoss:
    """The multi-task loss of ``loss``; its ``None`` weights or normalisation take the recipe's.

    ``dmtl``: the package's task losses, weight 1 and ``task`` normalisation by default.
    ``released``: ``released_task_loss``, ``RELEASED_WEIGHTS`` (of the tasks present) and
    ``sample`` normalisation (docs/released.md).

    Raises:
        ConfigError: an unknown recipe (or whatever ``MultiTaskLoss`` refuses).
    """
    loss = loss or LossConfig()
    if loss.recipe not in ("dmtl", "released"):
        raise ConfigError(f"unknown loss.recipe {loss.recipe!r}; use 'dmtl' or 'released'")
    released = loss.recipe == "released"
    weights = loss.weights
    if weights is None and released:
        names = {t.name for t in tasks}
        weights = {n: w for n, w in RELEASED_WEIGHTS.items() if n in names}
    return MultiTaskLoss(
        tasks,
        weights,
        initial_weight=loss.initial_weight,
        normalization=loss.normalization or ("sample" if released else "task"),
        normals_loss=loss.normals,
        task_loss=released_task_loss if released else None,
    )
