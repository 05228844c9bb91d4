"""The mean teacher: an exponential moving average of the student gives pseudo-labels online.

A dmtl baseline with no published number (docs/teachers.md): the teacher θ′
follows the student θ after every optimiser step, θ′ ← α θ′ + (1 − α) θ with
α = min(1 − 1 / (n + 1), ``ema_max``) at the n-th update (n = 0, 1, ...: the first update copies
the student). The teacher predicts the weak view (the batch image) in evaluation mode without
gradient; the student predicts a strong view of it (RandAugment-lite on the de-normalised image,
normalised again; photometric only, so the labels stay aligned) through the module's forward
(``TermInputs.predict``); the pseudo-label loss L_p (``dmtl.terms.pseudo_labels``) on the
unlabelled pairs is weighted λ_p · r(step), r = exp(−5 (1 − s)²) rising over the first
``ramp`` of the run's steps.

The teacher is a submodule (``terms.mean_teacher.teacher.*``) with ``requires_grad=False``: the
optimiser never sees it and checkpoints save it, with the update count, so a resumed run continues
the average exactly. BatchNorm buffers (running mean and variance, batch count) are copied from
the student at each update, not averaged: the teacher never runs in training mode, so it has no
statistics of its own, and the student's running statistics are already an average over recent
steps (momentum 0.1); averaging them again would make them lag the weights they normalise.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from dmtl.config.mean_teacher import MeanTeacherConfig
from dmtl.data.augment import IMAGENET_MEAN, IMAGENET_STD
from dmtl.losses import build_criterion
from dmtl.tasks import TaskSpec
from dmtl.terms.base import TermInputs, TermOutput, TrainingTerm
from dmtl.terms.pseudo_labels import every_sample, pseudo_label_loss, resolve_thresholds
from dmtl.terms.randaugment import denormalise, normalise, randaugment_lite

RAMP_SHARPNESS = 5.0  # r = exp(-5 (1 - s)^2): Laine & Aila's sigmoid-shaped ramp-up


def ema_rate(updates: int, cap: float) -> float:
    """α of the update that follows ``updates`` earlier ones: min(1 − 1 / (n + 1), cap)."""
    return min(1.0 - 1.0 / (updates + 1), cap)


def sigmoid_ramp(step: int, length: float) -> float:
    """exp(−5 (1 − s)²) with s = step / length clipped to [0, 1]; 1 when ``length`` is 0."""
    if length <= 0:
        return 1.0
    s = min(max(step / length, 0.0), 1.0)
    return math.exp(-RAMP_SHARPNESS * (1.0 - s) ** 2)


class MeanTeacher(TrainingTerm):
    """λ_p r(step) L_p from an EMA teacher of ``net`` (``MeanTeacherConfig``).

    Args:
        specs: the tasks.
        config: the ``mean_teacher`` group.
        weights: task -> supervised loss weight (w_t of L_p).
        net: the student network; the teacher starts as its copy.
        normals_loss: the normals' pixel loss of the supervised loss.
    """

    name = "mean_teacher"

    def __init__(
        self,
        specs: Sequence[TaskSpec],
        config: MeanTeacherConfig,
        weights: Mapping[str, float],
        net: nn.Module,
        normals_loss: str = "l1",
    ) -> None:
        super().__init__()
        self.specs = list(specs)
        self.config = config
        self.weights = dict(weights)
        self.normals_loss = normals_loss
        key = "model.mean_teacher.thresholds"
        self.thresholds = resolve_thresholds(specs, config.thresholds, key)
        self.teacher = copy.deepcopy(net).requires_grad_(False).eval()
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def train(self, mode: bool = True) -> MeanTeacher:
        """Training mode for the term; the teacher stays in evaluation mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    @torch.no_grad()
    def after_optimizer_step(self, student: nn.Module) -> None:
        """θ′ ← α θ′ + (1 − α) θ for the parameters; the buffers copied (module docstring)."""
        alpha = ema_rate(int(self.updates), self.config.ema_max)
        pairs = zip(self.teacher.parameters(), student.parameters(), strict=True)
        for mine, theirs in pairs:
            mine.mul_(alpha).add_(theirs.detach().to(mine.dtype), alpha=1.0 - alpha)
        for mine, theirs in zip(self.teacher.buffers(), student.buffers(), strict=True):
            mine.copy_(theirs)
        self.updates += 1

    def forward(self, inputs: TermInputs) -> TermOutput:
        """L_p of the student's strong view against the teacher's weak view, ramped."""
        batch = inputs.batch
        labelled = batch["labelled"]
        ramp = sigmoid_ramp(inputs.step, self.config.ramp * inputs.total_steps)
        logs = {"ramp": torch.tensor(ramp)}
        if bool(labelled.all()):  # nothing to pseudo-label: no strong view, no teacher forward
            zero = next(iter(inputs.out.predictions.values())).sum() * 0
            return TermOutput(zero, logs)
        image = batch["image"]
        with torch.no_grad():
            taught = self.teacher(image).predictions
            flipped = (
                self.teacher(image.flip(-1)).predictions
                if self.config.confidence == "flip"
                else None
            )
        strong = normalise(
            randaugment_lite(denormalise(image, IMAGENET_MEAN, IMAGENET_STD), inputs.generator),
            IMAGENET_MEAN,
            IMAGENET_STD,
        )
        student = every_sample(inputs.predict(strong))
        loss, terms = pseudo_label_loss(
            self.specs, student, taught, labelled, self.thresholds, self.weights,
            self.normals_loss, flipped, self.config.flip_sigma,
        )  # fmt: skip
        logs.update({f"pseudo/{k}": v for k, v in terms.items()})
        logs["pseudo"] = loss.detach()
        return TermOutput(self.config.weight * ramp * loss, logs)


def build_mean_teacher(
    specs: Sequence[TaskSpec], groups: Mapping[str, Any], net: nn.Module
) -> MeanTeacher | None:
    """The term when ``mean_teacher.enabled``."""
    config: MeanTeacherConfig = groups["mean_teacher"]
    if not config.enabled:
        return None
    criterion = build_criterion(specs, groups["loss"])
    return MeanTeacher(specs, config, criterion.weights, net, criterion.normals_loss)
