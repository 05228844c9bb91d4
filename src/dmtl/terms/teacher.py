"""The offline teacher: a trained, frozen dmtl model whose predictions supervise unlabelled pairs.

HiTTs' second stage without its tokens (docs/teachers.md; "pl_offline"): stage 1 trains any
dmtl model; stage 2 trains a fresh student of any method with
``--model.teacher.checkpoint=<stage-1 checkpoint>``. The teacher sees the same augmented batch as
the student, in evaluation mode, without gradient; it gives the pseudo-label loss L_p
(``dmtl.terms.pseudo_labels``) and, optionally, the feature target L_f.

The teacher is not a submodule: its parameters are neither trained nor saved in the student's
checkpoints (a resumed run loads it again from the path, which the saved options hold). It is
loaded when fit starts (``on_fit_start``), so testing or predicting with the student never needs
the teacher's file; a missing or unreadable file, or a teacher of other tasks, stops the fit
there with one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from dmtl.config.teacher import TeacherConfig
from dmtl.errors import ConfigError
from dmtl.losses import build_criterion
from dmtl.tasks import TaskSpec
from dmtl.terms.base import TermInputs, TermOutput, TrainingTerm
from dmtl.terms.pseudo_labels import every_sample, pseudo_label_loss, resolve_thresholds

KEY = "model.teacher.checkpoint"


class OfflineTeacher(TrainingTerm):
    """λ_p L_p + λ_f L_f from a frozen teacher loaded from a checkpoint (``TeacherConfig``).

    Args:
        specs: the student's tasks.
        config: the ``teacher`` group.
        weights: task -> supervised loss weight (w_t of L_p).
        normals_loss: the normals' pixel loss of the supervised loss.
    """

    name = "teacher"

    def __init__(
        self,
        specs: Sequence[TaskSpec],
        config: TeacherConfig,
        weights: Mapping[str, float],
        normals_loss: str = "l1",
    ) -> None:
        super().__init__()
        self.specs = list(specs)
        self.config = config
        self.weights = dict(weights)
        self.normals_loss = normals_loss
        self.thresholds = resolve_thresholds(specs, config.thresholds, "model.teacher.thresholds")
        self._held: list[nn.Module] = []  # a list: not a submodule, not in the state dict

    @property
    def teacher(self) -> nn.Module:
        """The loaded teacher (``on_fit_start`` loads it)."""
        if not self._held:
            raise RuntimeError("the offline teacher is loaded when fit starts (on_fit_start)")
        return self._held[0]

    def on_fit_start(self, module: Any) -> None:
        """Load the teacher with ``type(module).load_from_checkpoint``, frozen, on its device."""
        self._held[:] = [load_teacher(self.config.checkpoint, type(module), self.specs)]
        self._held[0].to(module.device)

    def forward(self, inputs: TermInputs) -> TermOutput:
        """L_p on the pairs the batch does not label, L_f on every pair."""
        image = inputs.batch["image"]
        teacher = self.teacher
        if next(teacher.parameters()).device != image.device:
            teacher.to(image.device)
        with torch.no_grad():
            taught = teacher(image)
            flipped = (
                teacher(image.flip(-1)).predictions if self.config.confidence == "flip" else None
            )
        loss, logs = pseudo_label_loss(
            self.specs, every_sample(inputs.out), taught.predictions, inputs.batch["labelled"],
            self.thresholds, self.weights, self.normals_loss, flipped, self.config.flip_sigma,
        )  # fmt: skip
        logs = {f"pseudo/{k}": v for k, v in logs.items()}
        logs["pseudo"] = loss.detach()
        total = self.config.weight * loss
        if self.config.feature_weight > 0:
            features = feature_loss(inputs.out.features, taught.features)
            logs["feature"] = features.detach()
            total = total + self.config.feature_weight * features
        return TermOutput(total, logs)


def feature_loss(student: Mapping[str, torch.Tensor], teacher: Mapping[str, torch.Tensor]):
    """L_f = T · Σ_t mean((H_t − H^𝒯_t)²): HiTTs' T / B per (sample, task) mean, c^F = 1.

    Raises:
        ConfigError: the two models' features differ in shape (another ``embed_dim`` or stride).
    """
    total = 0
    for name, h in student.items():
        target = teacher[name].detach()
        if h.shape != target.shape:
            raise ConfigError(
                f"model.teacher.feature_weight needs the teacher's features of the student's "
                f"shape: {name} {tuple(target.shape)} vs {tuple(h.shape)}; set it to 0"
            )
        total = total + (h - target.to(h.dtype)).pow(2).mean()
    return total * len(student)


def load_teacher(path: str, module_class: Any, specs: Sequence[TaskSpec]) -> nn.Module:
    """The checkpoint's module in evaluation mode with no parameter requiring gradient.

    Raises:
        ConfigError: the file is missing or unreadable, or its tasks (names, kinds, channels)
            differ from ``specs``.
    """
    try:
        teacher = module_class.load_from_checkpoint(path, map_location="cpu")
    except ConfigError as err:
        raise ConfigError(f"{KEY}={path}: {err}") from err
    except (OSError, RuntimeError, KeyError, ValueError) as err:
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"{KEY}={path}: cannot load it as a dmtl checkpoint ({why})") from err
    theirs = [(s.name, s.kind, s.channels) for s in teacher.task_specs]
    ours = [(s.name, s.kind, s.channels) for s in specs]
    if sorted(theirs) != sorted(ours):
        raise ConfigError(
            f"{KEY}={path}: the teacher's tasks {sorted(theirs)} differ from the student's "
            f"{sorted(ours)} (name, kind, channels)"
        )
    teacher.eval()
    teacher.requires_grad_(False)
    return teacher


def build_teacher(
    specs: Sequence[TaskSpec], groups: Mapping[str, Any], net: nn.Module
) -> OfflineTeacher | None:
    """The term when ``teacher.checkpoint`` is set."""
    config: TeacherConfig = groups["teacher"]
    if config.checkpoint is None:
        return None
    criterion = build_criterion(specs, groups["loss"])
    return OfflineTeacher(specs, config, criterion.weights, criterion.normals_loss)
