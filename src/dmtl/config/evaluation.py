"""What validation and test measure, and how fast the network runs (never what it computes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import dmtl.config.checks as check

BoundaryMetricName = Literal["dilation", "ods"]

MAX_DIST_PASCAL = 0.0075  # boundary match radius, fraction of the image diagonal (PASCAL-Context)


@dataclass
class EvaluationConfig:
    """What validation and test measure.

    Attributes:
        reference: a YAML/JSON file {task: {metric: value}} of single-task results; when given,
            ``val/delta_m`` and ``test/delta_m`` are logged.
        boundary_metric: ``dilation`` (fast approximation) or ``ods`` (the literature's).
        boundary_max_dist: ``ods`` match radius, fraction of the image diagonal.
        saliency_literature_sigmoid: saliency maxF thresholds σ(probability), as published.
        log_initial_metrics: DiffusionMTL also scores its initial predictions in validation.
        inference_seeds: validation and test run the chain once per seed and report the mean
            (and std) over them; ``None``: the one seed ``diffusion.inference_seed``.
        depth_clamp_min: depth predictions below it are raised to it before the depth metrics
            (``None``: scored raw; MTPSL and the released code use 1e-9).
        absent_class: what a class absent from the whole split adds to the mIoU: ``skip``
            (nothing), ``zero`` (IoU 0, the released PASCAL-Context code) or ``nan``.
        boundary_thresholds: the boundary F-measure's threshold grid: ``coarse`` (19),
            ``seism`` (SEISM's 101) or a list of probabilities.
    """

    reference: str | None = None
    boundary_metric: BoundaryMetricName = "dilation"
    boundary_max_dist: float = MAX_DIST_PASCAL
    saliency_literature_sigmoid: bool = False
    log_initial_metrics: bool = True
    inference_seeds: list[int] | None = None
    depth_clamp_min: float | None = None
    absent_class: Literal["skip", "zero", "nan"] = "skip"
    boundary_thresholds: str | list[float] = "coarse"

    def __post_init__(self) -> None:
        check.positive("model.evaluation.boundary_max_dist", self.boundary_max_dist)


@dataclass
class SpeedConfig:
    """Execution options that change speed, never the function.

    Attributes:
        channels_last: NHWC memory for the weights and the input images.
        compile: ``torch.compile`` the network's parts.
    """

    channels_last: bool = False
    compile: bool = False
