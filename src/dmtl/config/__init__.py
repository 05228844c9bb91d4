"""The option groups of the Lightning system: each default written once, passed by keyword.

``DiffusionMTLModule`` takes one instance of each group; LightningCLI shows them as nested YAML
(``model.network.backbone``, ``model.diffusion.steps``, ...). Each layer below the module takes the
groups it needs (or their fields by keyword), never a relayed list of positional options.
A group may also be given as a plain dict (a checkpoint's saved hyper-parameters);
``dmtl.config.groups.as_group`` turns it back into the dataclass.

One file per concern: ``network`` (the initial network, the chain, the denoiser), ``training``
(the loss, its weighting, the optimiser), ``evaluation`` (what is measured; speed options), and
one file per method of the field that adds a training term (``xtc``, ``jtr``, ...); ``checks``
holds the one-line checks of single values, ``groups`` turns saved dicts back into groups. A new
method's group is one file here and one entry in ``GROUPS``.
"""

from __future__ import annotations

from dmtl.config.consistency import ConsistencyConfig
from dmtl.config.evaluation import (
    MAX_DIST_PASCAL,
    BoundaryMetricName,
    EvaluationConfig,
    SpeedConfig,
)
from dmtl.config.jtr import JTRConfig
from dmtl.config.mean_teacher import MeanTeacherConfig
from dmtl.config.network import (
    DEFAULT_DEPTH_SCALE,
    ConditionInput,
    ConditionMode,
    DenoiserConfig,
    DenoiserKind,
    DiffusionConfig,
    NeckName,
    NetworkConfig,
    Schedule,
    Space,
)
from dmtl.config.teacher import TeacherConfig
from dmtl.config.training import (
    FAMO_UPDATES,
    JACOBIAN_AGGREGATORS,
    LOSS_WEIGHTINGS,
    WEIGHTINGS,
    LossConfig,
    LossNormalization,
    LossRecipe,
    NormalsLoss,
    OptimConfig,
    OptimizerName,
    PolyInterval,
    Weighting,
    WeightingOptions,
)
from dmtl.config.xtc import XTCConfig, XTCDistance, XTCPairs

# The module's option groups, by argument name, in the order of its signature.
GROUPS: dict[str, type] = {
    "network": NetworkConfig,
    "diffusion": DiffusionConfig,
    "denoiser": DenoiserConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
    "evaluation": EvaluationConfig,
    "speed": SpeedConfig,
    "xtc": XTCConfig,
    "consistency": ConsistencyConfig,
    "jtr": JTRConfig,
    "teacher": TeacherConfig,
    "mean_teacher": MeanTeacherConfig,
}

__all__ = [
    "DEFAULT_DEPTH_SCALE",
    "GROUPS",
    "JTRConfig",
    "MAX_DIST_PASCAL",
    "WEIGHTINGS",
    "FAMO_UPDATES",
    "JACOBIAN_AGGREGATORS",
    "LOSS_WEIGHTINGS",
    "BoundaryMetricName",
    "ConsistencyConfig",
    "ConditionInput",
    "ConditionMode",
    "DenoiserConfig",
    "DenoiserKind",
    "DiffusionConfig",
    "EvaluationConfig",
    "LossConfig",
    "LossNormalization",
    "LossRecipe",
    "MeanTeacherConfig",
    "NeckName",
    "NetworkConfig",
    "NormalsLoss",
    "OptimConfig",
    "OptimizerName",
    "PolyInterval",
    "Schedule",
    "Space",
    "SpeedConfig",
    "TeacherConfig",
    "Weighting",
    "WeightingOptions",
    "XTCConfig",
    "XTCDistance",
    "XTCPairs",
]
