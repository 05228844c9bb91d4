"""The offline teacher's option group (a trained dmtl checkpoint gives pseudo-labels).

The pseudo-label options (``weight``, ``thresholds``, ``confidence``, ``flip_sigma``) have the same
meaning in ``mean_teacher`` (``dmtl.config.mean_teacher``); ``check_pseudo_label_options`` checks
them for both groups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import dmtl.config.checks as check
from dmtl.errors import ConfigError

Confidence = Literal["one", "flip"]
CONFIDENCES = ("one", "flip")


@dataclass
class TeacherConfig:
    """An offline teacher: a frozen trained checkpoint whose predictions supervise the unlabelled
    (sample, task) pairs (HiTTs' second stage without its tokens; docs/teachers.md).

    Attributes:
        checkpoint: a dmtl checkpoint of any method with the student's tasks (``None``: off). It is
            loaded when fit starts, frozen, and never saved in the student's checkpoints.
        weight: weight λ_p of the pseudo-label loss L_p.
        thresholds: task -> confidence threshold θ (a pixel counts where its confidence > θ);
            a task not named takes its kind's default (HiTTs' values, docs/teachers.md).
        confidence: of depth and normals (no bins): ``one`` (c = 1, no mask) or ``flip``
            (c = exp(-d / flip_sigma), d the teacher's disagreement with its own prediction of
            the flipped image, flipped back; one more teacher forward).
        flip_sigma: σ of the ``flip`` confidence, in the units of the kind's loss (m, L1 of
            unit vectors).
        feature_weight: weight λ_f of the feature target L_f (mean squared difference of the
            student's and the teacher's task features); 0: off. Needs equal feature shapes.
    """

    checkpoint: str | None = None
    weight: float = 1.0
    thresholds: dict[str, float] | None = None
    confidence: Confidence = "one"
    flip_sigma: float = 0.1
    feature_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.checkpoint is not None and (
            not isinstance(self.checkpoint, str) or not self.checkpoint
        ):
            raise ConfigError(
                f"model.teacher.checkpoint must be a path or null, got {self.checkpoint!r}"
            )
        check_pseudo_label_options("model.teacher", self)
        check.non_negative("model.teacher.feature_weight", self.feature_weight)


def check_pseudo_label_options(key: str, group: object) -> None:
    """``weight``, ``thresholds``, ``confidence`` and ``flip_sigma`` of a teacher group.

    Raises:
        ConfigError: a value out of range, naming ``<key>.<field>`` and the value.
    """
    check.non_negative(f"{key}.weight", group.weight)
    thresholds = group.thresholds
    if thresholds is not None:
        if not isinstance(thresholds, Mapping):
            raise ConfigError(f"{key}.thresholds must map task -> threshold, got {thresholds!r}")
        for task, value in thresholds.items():
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or not 0 <= value <= 1:
                raise ConfigError(f"{key}.thresholds.{task} must lie in [0, 1], got {value!r}")
    check.one_of(f"{key}.confidence", group.confidence, CONFIDENCES)
    check.positive(f"{key}.flip_sigma", group.flip_sigma)
