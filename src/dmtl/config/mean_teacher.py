"""The online mean teacher's option group (an EMA of the student gives pseudo-labels)."""

from __future__ import annotations

from dataclasses import dataclass

import dmtl.config.checks as check
from dmtl.config.teacher import Confidence, check_pseudo_label_options
from dmtl.errors import ConfigError


@dataclass
class MeanTeacherConfig:
    """A mean teacher: an exponential moving average of the student, fed the weak view (the
    batch), supervises the student's strong view (RandAugment-lite) on the unlabelled pairs
    (docs/teachers.md). Its weights are saved in checkpoints.

    Attributes:
        enabled: add the mean teacher's pseudo-label loss.
        weight: weight λ_p of the pseudo-label loss, reached after the ramp.
        ema_max: the cap of the EMA rate: α = min(1 - 1 / (n + 1), ema_max) at the n-th update.
        ramp: fraction of the run's steps over which λ_p rises as exp(-5 (1 - s)^2) (0: none).
        thresholds: task -> confidence threshold, as ``model.teacher.thresholds``.
        confidence: of depth and normals, as ``model.teacher.confidence``.
        flip_sigma: as ``model.teacher.flip_sigma``.
    """

    enabled: bool = False
    weight: float = 1.0
    ema_max: float = 0.999
    ramp: float = 0.1
    thresholds: dict[str, float] | None = None
    confidence: Confidence = "one"
    flip_sigma: float = 0.1

    def __post_init__(self) -> None:
        check_pseudo_label_options("model.mean_teacher", self)
        if not isinstance(self.ema_max, (int, float)) or not 0 <= self.ema_max < 1:
            raise ConfigError(
                f"model.mean_teacher.ema_max must lie in [0, 1), got {self.ema_max!r}"
            )
        check.non_negative("model.mean_teacher.ramp", self.ramp)
        if self.ramp > 1:
            raise ConfigError(f"model.mean_teacher.ramp must lie in [0, 1], got {self.ramp!r}")
