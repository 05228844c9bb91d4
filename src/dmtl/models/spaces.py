"""The diffusion spaces: what the denoising chain runs on, chosen by name (``SPACES``).

A space answers every question on which DiffusionMTL's two variants differ, so the chain
(``dmtl.models.mtdnet.MTDNet``) asks without branching:

- ``denoiser_channels``: the channels of each task's noisy map (the denoiser's in and out);
- ``start`` and ``noise_like``: the chain's initial estimate of a task, and the tensor whose shape
  the noise takes;
- ``correct``: the denoiser's output for a noisy map z, with the input skip when the option is on
  (``DenoiserConfig.skip``: the denoiser learns a correction of its input);
- ``to_x0``: that output as the clean-signal estimate x̂₀ of the posterior step;
- ``predict``: the final output as a raw task prediction (logits, metres, vectors).

A space is a plain object, not a module: its parameters (the feature space's 1x1 heads) are
registered by ``MTDNet`` under ``heads``, the name saved checkpoints use (``mtd.heads.<task>``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dmtl.config import DiffusionConfig
from dmtl.errors import ConfigError
from dmtl.models.encoding import decode_prediction, encode_prediction
from dmtl.tasks import TaskSpec


class FeatureSpace:
    """The chain runs on the task features; a 1x1 head per task turns the final x̂₀ into the
    prediction.

    x̂₀ is the denoiser's output itself; with the input skip it is z + correction (the UNet's heads
    start at zero, so the chain starts as the identity and a narrow UNet does not bottleneck a wide
    feature).

    Args:
        tasks: the task specs.
        feature_channels: channels of the task features.
        diffusion: the chain's options (``prediction_scale`` must stay 1 here).
        skip: the input skip (``DenoiserConfig.skip``).

    Raises:
        ConfigError: a ``prediction_scale`` other than 1.
    """

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        feature_channels: int,
        diffusion: DiffusionConfig,
        skip: bool,
    ) -> None:
        if diffusion.prediction_scale != 1.0:
            raise ConfigError("prediction_scale is an option of prediction diffusion")
        self.skip = skip
        self.heads: nn.ModuleDict | None = nn.ModuleDict(
            {t.name: nn.Conv2d(feature_channels, t.channels, 1) for t in tasks}
        )

    @staticmethod
    def denoiser_channels(tasks: Sequence[TaskSpec], feature_channels: int) -> dict[str, int]:
        """Every task's noisy map is a feature, ``feature_channels`` wide."""
        return {t.name: feature_channels for t in tasks}

    def start(self, name: str, feature: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """The task's initial feature."""
        return feature

    def noise_like(self, feature: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """The noise is shaped like the feature."""
        return feature

    def correct(self, name: str, z: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """The denoiser's output, plus its input z with the skip."""
        return z + output if self.skip else output

    def to_x0(self, name: str, output: torch.Tensor) -> torch.Tensor:
        """The (corrected) output is x̂₀ itself."""
        return output

    def predict(self, name: str, output: torch.Tensor) -> torch.Tensor:
        """The task's 1x1 head on the final feature."""
        return self.heads[name](output)


class PredictionSpace:
    """The chain runs on encoded prediction maps (``dmtl.models.encoding``), scaled by s.

    The denoiser outputs raw task predictions; x̂₀ = s · encode(output). With the input skip the raw
    prediction is decode(z / s) + correction (decode the inverse of the encoding), so x̂₀ =
    s · encode(decode(z / s) + correction). decode(z) enters as a constant (detached: the log of a
    probability near 0 would send 1/p gradients down the chain); the gradient reaches z through the
    denoiser.

    s = ``prediction_scale``: the noise of a step is 1/s of its size on maps in [-1, 1]. At S = 2
    the paper's schedule starts at √(1 - ᾱ_1) = 0.105, which on depth encoded over 10 m is 0.5 m,
    more than the error of the initial prediction (the "signal scaling" of bit diffusion, Chen et
    al., 2023).

    Args:
        tasks: the task specs.
        feature_channels: not used (the maps have the tasks' channels).
        diffusion: the chain's options (``depth_scale``, ``prediction_scale``).
        skip: the input skip (``DenoiserConfig.skip``).

    Raises:
        ConfigError: a ``prediction_scale`` that is not positive.
    """

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        feature_channels: int,
        diffusion: DiffusionConfig,
        skip: bool,
    ) -> None:
        if not diffusion.prediction_scale > 0:
            raise ConfigError(
                f"prediction_scale must be positive, got {diffusion.prediction_scale}"
            )
        self.specs = {t.name: t for t in tasks}
        self.skip = skip
        self.depth_scale = diffusion.depth_scale
        self.scale = float(diffusion.prediction_scale)
        self.heads: nn.ModuleDict | None = None

    @staticmethod
    def denoiser_channels(tasks: Sequence[TaskSpec], feature_channels: int) -> dict[str, int]:
        """Every task's noisy map has the task's own channels."""
        return {t.name: t.channels for t in tasks}

    def start(self, name: str, feature: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """The task's scaled, encoded initial prediction."""
        return self.to_x0(name, prediction)

    def noise_like(self, feature: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """The noise is shaped like the prediction map."""
        return prediction

    def decode(self, name: str, z: torch.Tensor) -> torch.Tensor:
        """Raw predictions whose scaled encoding is ``z``."""
        return decode_prediction(self.specs[name], z / self.scale, self.depth_scale)

    def correct(self, name: str, z: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """The denoiser's raw output, plus decode(z) (detached) with the skip."""
        return self.decode(name, z.detach()) + output if self.skip else output

    def to_x0(self, name: str, output: torch.Tensor) -> torch.Tensor:
        """s · encode(raw output)."""
        return self.scale * encode_prediction(self.specs[name], output, self.depth_scale)

    def predict(self, name: str, output: torch.Tensor) -> torch.Tensor:
        """The final raw output is the prediction."""
        return output


ChainSpace = FeatureSpace | PredictionSpace
SPACES: dict[str, type[FeatureSpace] | type[PredictionSpace]] = {
    "feature": FeatureSpace,
    "prediction": PredictionSpace,
}
