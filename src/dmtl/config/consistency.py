"""The consistency baseline's option group ("SS" of MTPSL; JTR's "Consistency Reg.")."""

from __future__ import annotations

from dataclasses import dataclass

import dmtl.config.checks as check
from dmtl.config.views import SCALES, PredictionSource, check_scales, check_source
from dmtl.errors import ConfigError


@dataclass
class ConsistencyConfig:
    """SS: the prediction of a scale-crop x' agrees with the crop of the prediction of x.

    For the tasks a sample does not label, L = Σ_t w_t d_t(ŷ_t(x'), R(ŷ_t(x)))
    (docs/consistency.md): d_t is the task kind's distance (segmentation KL, depth L1, normals
    1 - cos, boundary binary KL), R crops and resizes the full-image prediction to the view
    (depth / s).

    Attributes:
        enabled: add the term.
        weight: its weight λ (FIELD §4.2: 1).
        scales: the scale-crop's scale set (MTPSL: 1, 1.2, 1.5); each at least 1.
        stop_gradient: no gradient through the target side R(ŷ(x)).
        rampup: fraction of the run's optimiser steps over which the weight grows linearly from 0
            (0: the full weight from the start; MTPSL's own ramp is linear over 100 epochs).
        task_weights: task -> w_t (default 1 for every task).
        predictions: with diffusion on, which predictions agree: ``initial`` (the initial
            decoders', no chain on the view) or ``final`` (the chain's, on every pair).
        inverse_depth: the depth maps hold inverse depth (Cityscapes), which a zoom by s
            multiplies instead of dividing; ``None`` (the default): the dataset's units (the
            module resolves it from ``dataset``); ``false`` on inverse depth divides it, as JTR's
            released code does.
    """

    enabled: bool = False
    weight: float = 1.0
    scales: tuple[float, ...] = SCALES
    stop_gradient: bool = True
    rampup: float = 0.0
    task_weights: dict[str, float] | None = None
    predictions: PredictionSource = "initial"
    inverse_depth: bool | None = None

    def __post_init__(self) -> None:
        key = "model.consistency"
        check.non_negative(f"{key}.weight", self.weight)
        check_scales(f"{key}.scales", self.scales)
        self.scales = tuple(self.scales)
        check.non_negative(f"{key}.rampup", self.rampup)
        if self.rampup > 1:
            raise ConfigError(f"{key}.rampup is a fraction of the run, got {self.rampup!r}")
        for task, weight in (self.task_weights or {}).items():
            check.non_negative(f"{key}.task_weights.{task}", weight)
        check_source(f"{key}.predictions", self.predictions)
