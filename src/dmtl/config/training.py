"""The training's option groups: the masked multi-task loss, its weighting, the optimiser."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import dmtl.config.checks as check
from dmtl.config.groups import as_group
from dmtl.errors import ConfigError

LossRecipe = Literal["dmtl", "released"]
LossNormalization = Literal["task", "sample"]
NormalsLoss = Literal["l1", "cosine"]
Weighting = Literal[
    "equal", "uncertainty", "dwa", "famo",
    "upgrad", "dualproj", "mgda", "pcgrad", "imtl_g", "aligned_mtl",
]  # fmt: skip
LOSS_WEIGHTINGS = ("equal", "uncertainty", "dwa", "famo")  # a scalar loss
JACOBIAN_AGGREGATORS = ("upgrad", "dualproj", "mgda", "pcgrad", "imtl_g", "aligned_mtl")  # torchjd
WEIGHTINGS = LOSS_WEIGHTINGS + JACOBIAN_AGGREGATORS
OptimizerName = Literal["adam", "adamw", "sgd"]
PolyInterval = Literal["step", "epoch"]
FamoUpdate = Literal["same_batch", "previous_batch"]
FAMO_UPDATES = ("same_batch", "previous_batch")


@dataclass
class WeightingOptions:
    """The hyper-parameters of the learned loss weightings (docs/weighting.md; LibMTL's defaults).

    Attributes:
        uncertainty_init: ``uncertainty``'s initial log-variance s_t (weight e^{-s_t} / 2).
        dwa_temperature: ``dwa``'s temperature τ.
        famo_lr: ``famo``'s Adam learning rate of the logits.
        famo_weight_decay: ``famo``'s weight decay γ of the logits.
        famo_eps: ``famo``'s ε in log(L_t + ε).
        famo_update: where ``famo``'s logits learn the fall of each task's log loss:
            ``same_batch`` (the reference: the batch re-evaluated after the optimiser step, one
            forward without gradient) or ``previous_batch`` (against the previous step's batch,
            no extra forward).
        jacobian_chunk_size: the Jacobian aggregators' rows differentiated at once (torchjd's
            ``parallel_chunk_size``): ``null`` all at once through ``torch.vmap``, 1 one after
            the other (for a network that ``torch.vmap`` cannot run through).
    """

    uncertainty_init: float = -0.5
    dwa_temperature: float = 2.0
    famo_lr: float = 0.025
    famo_weight_decay: float = 1e-3
    famo_eps: float = 1e-8
    famo_update: FamoUpdate = "same_batch"
    jacobian_chunk_size: int | None = None

    def __post_init__(self) -> None:
        key = "model.loss.weighting_options"
        if not isinstance(self.uncertainty_init, (int, float)) or not math.isfinite(
            self.uncertainty_init
        ):
            raise ConfigError(
                f"{key}.uncertainty_init must be a finite number, got {self.uncertainty_init!r}"
            )
        check.positive(f"{key}.dwa_temperature", self.dwa_temperature)
        check.positive(f"{key}.famo_lr", self.famo_lr)
        check.non_negative(f"{key}.famo_weight_decay", self.famo_weight_decay)
        check.positive(f"{key}.famo_eps", self.famo_eps)
        check.one_of(f"{key}.famo_update", self.famo_update, FAMO_UPDATES)
        check.optional_integer_at_least(f"{key}.jacobian_chunk_size", self.jacobian_chunk_size, 1)


@dataclass
class LossConfig:
    """The masked multi-task loss.

    Attributes:
        recipe: ``dmtl`` (the package's task losses) or ``released`` (the released code's).
        weights: task -> loss weight (default 1, or the released weights with ``released``).
        initial_weight: weight of the initial predictions' loss (the paper: 0.5).
        normalization: ``task`` or ``sample`` (the release); default ``task``, ``sample`` with
            ``recipe: released``.
        normals: ``l1`` or ``cosine``.
        weighting: how the tasks' losses combine: ``equal`` (the fixed ``weights``),
            ``uncertainty``, ``dwa`` or ``famo``; or how their gradients combine, by a Jacobian
            aggregator of torchjd: ``upgrad``, ``dualproj``, ``mgda``, ``pcgrad``, ``imtl_g``,
            ``aligned_mtl`` (docs/weighting.md; ``pip install 'dmtl[jd]'``). All but ``equal``
            need ``task`` normalisation.
        weighting_options: their hyper-parameters.
    """

    recipe: LossRecipe = "dmtl"
    weights: dict[str, float] | None = None
    initial_weight: float = 0.5
    normalization: LossNormalization | None = None
    normals: NormalsLoss = "l1"
    weighting: Weighting = "equal"
    weighting_options: WeightingOptions = field(default_factory=WeightingOptions)

    def __post_init__(self) -> None:
        check.non_negative("model.loss.initial_weight", self.initial_weight)
        for task, weight in (self.weights or {}).items():
            check.non_negative(f"model.loss.weights.{task}", weight)
        if self.weighting not in WEIGHTINGS:
            names = ", ".join(WEIGHTINGS)
            raise ConfigError(
                f"unknown model.loss.weighting {self.weighting!r}; use one of {names}"
            )
        if isinstance(self.weighting_options, Mapping):  # saved hyper-parameters: plain data
            self.weighting_options = as_group(WeightingOptions, self.weighting_options)
        sample = (
            self.normalization or ("sample" if self.recipe == "released" else "task")
        ) == "sample"
        if sample and self.weighting != "equal":
            raise ConfigError(
                f"model.loss.weighting={self.weighting} needs model.loss.normalization=task: it "
                "weighs per-task batch losses, so the per-sample K/|L_i| scaling must be off "
                "(docs/weighting.md)"
            )


@dataclass
class OptimConfig:
    """Optimiser and the poly learning-rate decay.

    Attributes:
        name: ``adam``, ``adamw`` or ``sgd`` (momentum 0.9).
        lr: peak learning rate.
        weight_decay: weight decay.
        poly_power: the rate decays as (1 - step / total) ** poly_power.
        poly_interval: the decay steps per optimiser ``step`` or per ``epoch`` (the release).
    """

    name: OptimizerName = "adam"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    poly_power: float = 0.9
    poly_interval: PolyInterval = "step"

    def __post_init__(self) -> None:
        check.positive("model.optim.lr", self.lr)
        check.non_negative("model.optim.weight_decay", self.weight_decay)
        check.non_negative("model.optim.poly_power", self.poly_power)
