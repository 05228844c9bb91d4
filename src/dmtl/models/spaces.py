"""The diffusion spaces: what the denoising chain runs on, chosen by name (``SPACES``).

A space answers every question on which DiffusionMTL's two variants differ, so the chain
(``dmtl.models.mtdnet.MTDNet``) asks without branching:

- ``denoiser_channels``: the channels of each task's noisy map (the denoiser's in and out);
- ``start`` and ``noise_like``: the chain's initial estimate of a task (scaled by the space's
  signal scale), and the tensor whose shape the noise takes;
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
    """The chain runs on the task features, scaled by s; a 1x1 head per task turns the final x̂₀ / s
    into the prediction.

    x̂₀ is the denoiser's output itself; with the input skip it is z + correction (the UNet's heads
    start at zero, so the chain starts as the identity and a narrow UNet does not bottleneck a wide
    feature).

    s = ``feature_scale``: the start noise of the paper's schedule at S = 2 has std 0.105, about 8%
    of the RMS of a typical task feature; s < 1 makes the same noise a larger share of the signal
    (the chain's signal-to-noise ratio is s² times the feature's).

    Args:
        tasks: the task specs.
        feature_channels: channels of the task features.
        diffusion: the chain's options (``feature_scale``; ``prediction_scale`` must stay 1 here).
        skip: the input skip (``DenoiserConfig.skip``).

    Raises:
        ConfigError: a ``prediction_scale`` other than 1, or a ``feature_scale`` not positive.
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
        if not diffusion.feature_scale > 0:
            raise ConfigError(f"feature_scale must be positive, got {diffusion.feature_scale}")
        self.skip = skip
        self.scale = float(diffusion.feature_scale)
        self.heads: nn.ModuleDict | None = nn.ModuleDict(
            {t.name: nn.Conv2d(feature_channels, t.channels, 1) for t in tasks}
        )

    @staticmethod
    def denoiser_channels(tasks: Sequence[TaskSpec], feature_channels: int) -> dict[str, int]:
        """Every task's noisy map is a feature, ``feature_channels`` wide."""
        return {t.name: feature_channels for t in tasks}

    def start(self, name: str, feature: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """The task's initial feature, times s."""
        return feature * self.scale if self.scale != 1.0 else feature

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
        """The task's 1x1 head on the final feature x̂₀ / s."""
        return self.heads[name](output / self.scale if self.scale != 1.0 else output)


class PredictionSpace:
    """The chain runs on encoded prediction maps (``dmtl.models.encoding``), scaled by s.

    Without the input skip the denoiser outputs raw task predictions, and x̂₀ = s · encode(output).
    With the skip the denoiser outputs a correction in the chain's own space: x̂₀ = z + correction
    (the UNet's heads start at zero, so the chain starts as the identity on s · encode(initial)),
    and only the final x̂₀ is decoded into raw predictions, decode(x̂₀ / s). Every step is then a
    plain function of its input with its true gradient; the decode's clamp of probabilities to
    [``DECODE_EPS``, 1 - ``DECODE_EPS``] bounds its 1/p factor, and where it clamps the gradient
    is zero, which is the derivative of the clamped function (docs/method.md, a correct chain).

    s = ``prediction_scale``: the noise of a step is 1/s of its size on maps in [-1, 1]. At S = 2
    the paper's schedule starts at √(1 - ᾱ_1) = 0.105, which on depth encoded over 10 m is 0.5 m,
    more than the error of the initial prediction (the "signal scaling" of bit diffusion, Chen et
    al., 2023).

    Args:
        tasks: the task specs.
        feature_channels: not used (the maps have the tasks' channels).
        diffusion: the chain's options (``depth_scale``, ``prediction_scale``; ``feature_scale``
            must stay 1 here).
        skip: the input skip (``DenoiserConfig.skip``).

    Raises:
        ConfigError: a ``prediction_scale`` that is not positive, or a ``feature_scale`` other
            than 1.
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
        if diffusion.feature_scale != 1.0:
            raise ConfigError("feature_scale is an option of feature diffusion")
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
        return self.encode(name, prediction)

    def noise_like(self, feature: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """The noise is shaped like the prediction map."""
        return prediction

    def encode(self, name: str, raw: torch.Tensor) -> torch.Tensor:
        """s · encode(raw predictions): a point of the chain's space."""
        return self.scale * encode_prediction(self.specs[name], raw, self.depth_scale)

    def decode(self, name: str, z: torch.Tensor) -> torch.Tensor:
        """Raw predictions whose scaled encoding is ``z``."""
        return decode_prediction(self.specs[name], z / self.scale, self.depth_scale)

    def correct(self, name: str, z: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """With the skip z + the denoiser's correction (x̂₀); without, its raw output."""
        return z + output if self.skip else output

    def to_x0(self, name: str, output: torch.Tensor) -> torch.Tensor:
        """x̂₀: the corrected output itself with the skip, else s · encode(raw output)."""
        return output if self.skip else self.encode(name, output)

    def predict(self, name: str, output: torch.Tensor) -> torch.Tensor:
        """The raw prediction: decode(x̂₀ / s) with the skip, else the final raw output."""
        return self.decode(name, output) if self.skip else output


ChainSpace = FeatureSpace | PredictionSpace
SPACES: dict[str, type[FeatureSpace] | type[PredictionSpace]] = {
    "feature": FeatureSpace,
    "prediction": PredictionSpace,
}
