"""MTDNet: the multi-task denoising network, a diffusion process driving a shared denoiser."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import nn

from dmtl.diffusion import GaussianDiffusion, Schedule
from dmtl.errors import ConfigError
from dmtl.models.denoisers.crossattn import CrossAttnDenoiser
from dmtl.models.denoisers.unet import UNetDenoiser
from dmtl.models.encoding import DEFAULT_DEPTH_SCALE, decode_prediction, encode_prediction
from dmtl.tasks import TaskSpec

DiffusionSpace = Literal["prediction", "feature"]
DenoiserKind = Literal["unet", "crossattn"]


class MTDNet(nn.Module):
    """Rectifies initial task estimates by S denoising steps conditioned on a condition feature.

    ``prediction`` space: the chain runs on encoded prediction maps (see ``dmtl.models.encoding``);
    the denoiser's heads output raw task predictions, whose encoding is x̂_0. ``feature`` space: the
    chain runs on the task features; a 1x1 head per task turns the final x̂_0 into the prediction.
    With ``refine_only`` (the ablation "w/o diffusion") the same denoiser is applied S times to its
    own output, with no noise and no posterior.

    Args:
        tasks: the task specs.
        space: ``prediction`` or ``feature``.
        feature_channels: channels of the task features (feature space).
        cond_channels: channels of the condition feature.
        steps: S.
        schedule: the noise schedule.
        refine_only: no noise, plain iterative refinement.
        width: denoiser width.
        channel_mults: denoiser width multiplier per scale.
        blocks_per_scale: residual blocks per scale.
        depth_scale: metres that map to +1 in the depth encoding.
        denoiser: ``unet`` or ``crossattn`` (the released denoiser, ``cond_channels`` wide).
        attn_blocks: cross-attention blocks (``crossattn``).
        attn_heads: attention heads (``crossattn``).
        input_skip: the denoiser learns a correction of its input (``unet`` only). Feature space:
            x̂_0 = z + correction (see ``UNetDenoiser``). Prediction space: the raw prediction is
            decode(z) + correction, decode the inverse of the encoding
            (``dmtl.models.encoding.decode_prediction``), so x̂_0 = encode(decode(z) + correction);
            decode(z) enters as a constant (detached: the log of a probability near 0 would send
            1/p gradients down the chain), the gradient reaches z through the UNet. Zero-initialised
            heads make the chain start as the identity on its input.
        prediction_scale: prediction space: the chain runs on s x the encoded maps (s =
            prediction_scale), x̂_0 = s x encode(output) and the skip decodes z / s. The noise of a
            step is then 1/s of its size on maps in [-1, 1]: at S = 2 the paper's schedule starts
            at √(1 - ᾱ_1) = 0.105, which on depth encoded over 10 m is 0.5 m, more than the error
            of the initial prediction (the "signal scaling" of bit diffusion, Chen et al., 2023).
    """

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        space: DiffusionSpace,
        feature_channels: int,
        cond_channels: int,
        steps: int = 2,
        schedule: Schedule = "linear",
        refine_only: bool = False,
        width: int = 64,
        channel_mults: Sequence[int] = (1, 2),
        blocks_per_scale: int = 1,
        depth_scale: float = DEFAULT_DEPTH_SCALE,
        denoiser: DenoiserKind = "unet",
        attn_blocks: int = 4,
        attn_heads: int = 4,
        input_skip: bool = False,
        prediction_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if not prediction_scale > 0:
            raise ConfigError(f"prediction_scale must be positive, got {prediction_scale}")
        if prediction_scale != 1.0 and space != "prediction":
            raise ConfigError("prediction_scale is an option of prediction diffusion")
        if space not in ("prediction", "feature"):
            raise ConfigError(f"unknown diffusion space {space!r}; use 'prediction' or 'feature'")
        if input_skip and denoiser != "unet":
            raise ConfigError("denoiser_skip is an option of the 'unet' denoiser")
        self.specs = {t.name: t for t in tasks}
        self.space = space
        self.prediction_skip = input_skip and space == "prediction"
        self.refine_only = refine_only
        self.depth_scale = depth_scale
        self.prediction_scale = float(prediction_scale)
        self.process = GaussianDiffusion(steps, schedule)
        channels = {
            t.name: (t.channels if space == "prediction" else feature_channels) for t in tasks
        }
        if denoiser == "unet":
            self.denoiser: nn.Module = UNetDenoiser(
                channels,
                cond_channels,
                width,
                channel_mults,
                blocks_per_scale,
                input_skip=input_skip and space == "feature",
            )
            if self.prediction_skip:
                self.denoiser.zero_heads()
        elif denoiser == "crossattn":
            self.denoiser = CrossAttnDenoiser(channels, cond_channels, attn_blocks, attn_heads)
        else:
            raise ConfigError(f"unknown denoiser {denoiser!r}; use 'unet' or 'crossattn'")
        self.heads = (
            nn.ModuleDict({t.name: nn.Conv2d(feature_channels, t.channels, 1) for t in tasks})
            if space == "feature"
            else None
        )

    @property
    def steps(self) -> int:
        """S, the number of denoising steps."""
        return self.process.steps

    def start(self, name: str, feature: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """The chain's initial estimate of a task: its feature, or its encoded prediction."""
        return feature if self.space == "feature" else self.to_x0(name, prediction)

    def to_x0(self, name: str, output: torch.Tensor) -> torch.Tensor:
        """The denoiser's output as the clean-signal estimate (its encoding in prediction space)."""
        if self.space == "feature":
            return output
        return self.prediction_scale * encode_prediction(self.specs[name], output, self.depth_scale)

    def decode(self, name: str, z: torch.Tensor) -> torch.Tensor:
        """Raw predictions whose (scaled) encoding is ``z`` (prediction space)."""
        return decode_prediction(self.specs[name], z / self.prediction_scale, self.depth_scale)

    def forward(
        self,
        starts: Mapping[str, torch.Tensor],
        cond: Mapping[str, torch.Tensor],
        noises: Mapping[str, Sequence[torch.Tensor]],
    ) -> dict[str, torch.Tensor]:
        """Denoise every given task's samples; return raw predictions at the feature resolution.

        Args:
            starts: task -> (n_τ, C, h, w) initial estimates (from ``start``).
            cond: task -> (n_τ, C_c, h, w) condition feature of the same samples.
            noises: task -> S tensors shaped like the start (ignored with ``refine_only``).

        Returns:
            task -> (n_τ, C_τ, h, w) raw predictions (logits, metres, vectors).
        """

        def denoise(z: Mapping[str, torch.Tensor], t: Mapping[str, torch.Tensor]):
            out = self.denoiser(z, {n: cond[n] for n in z}, t)
            if self.prediction_skip:
                out = {n: self.decode(n, z[n].detach()) + o for n, o in out.items()}
            return out

        if self.refine_only:
            out = self._refine(starts, denoise)
        else:
            out = self.process.sample_loop(starts, denoise, noises, self.to_x0)
        if self.heads is None:
            return dict(out)
        return {n: self.heads[n](x) for n, x in out.items()}

    def _refine(self, starts: Mapping[str, torch.Tensor], denoise) -> dict[str, torch.Tensor]:
        z = dict(starts)
        out: dict[str, torch.Tensor] = {}
        for step in range(self.steps - 1, -1, -1):
            t = {
                n: torch.full((x.shape[0],), step, dtype=torch.long, device=x.device)
                for n, x in z.items()
            }
            out = denoise(z, t)
            z = {n: self.to_x0(n, o) for n, o in out.items()}
        return out
