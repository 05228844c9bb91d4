"""MTDNet: the multi-task denoising network, a diffusion process driving a shared denoiser.

MTDNet is the product of three choices made by name: the process (``GaussianDiffusion``, its
steps and schedule), the denoiser (``dmtl.models.denoisers``, ``DenoiserConfig.kind``) and the
space the chain runs on (``dmtl.models.spaces``, ``DiffusionConfig.space``). It asks the space
everything that depends on the space, so it has no branch on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from dmtl.config import DenoiserConfig, DiffusionConfig
from dmtl.diffusion import GaussianDiffusion, Trace
from dmtl.errors import ConfigError
from dmtl.models.denoisers import build_denoiser
from dmtl.models.spaces import SPACES
from dmtl.tasks import TaskSpec

Denoise = Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], dict[str, torch.Tensor]]


class MTDNet(nn.Module):
    """Rectifies initial task estimates by S denoising steps conditioned on a condition feature.

    With ``refine_only`` (the ablation "w/o diffusion") the same denoiser is applied S times to its
    own output, with no noise and no posterior.

    Submodules (the names of saved checkpoints): ``process`` (buffers only), ``denoiser`` and
    ``heads`` (the feature space's 1x1 heads; ``None`` in prediction space).

    Args:
        tasks: the task specs.
        feature_channels: channels of the task features.
        cond_channels: channels of the condition feature.
        diffusion: the chain's options (``space``, ``steps``, ``schedule``, ``refine_only``, ...).
        denoiser: the denoiser's options.

    Raises:
        ConfigError: an unknown space or denoiser, or options the space or denoiser refuses.
    """

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        *,
        feature_channels: int,
        cond_channels: int,
        diffusion: DiffusionConfig,
        denoiser: DenoiserConfig,
    ) -> None:
        super().__init__()
        if diffusion.space not in SPACES:
            choices = " or ".join(repr(s) for s in SPACES)
            raise ConfigError(
                f"unknown diffusion space {diffusion.space!r} (diffusion.space); use {choices}"
            )
        space = SPACES[diffusion.space]
        self.specs = {t.name: t for t in tasks}
        self.refine_only = diffusion.refine_only
        self.process = GaussianDiffusion(diffusion.steps, diffusion.schedule)
        channels = space.denoiser_channels(tasks, feature_channels)
        self.denoiser = build_denoiser(denoiser, channels, cond_channels)
        # Built after the denoiser: the heads' initial weights are those of the previous layout.
        self.space = space(tasks, feature_channels, diffusion, denoiser.skip)
        self.heads = self.space.heads

    @property
    def steps(self) -> int:
        """S, the number of denoising steps."""
        return self.process.steps

    def start(self, name: str, feature: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """The chain's initial estimate of a task (its feature, or its encoded prediction)."""
        return self.space.start(name, feature, prediction)

    def to_x0(self, name: str, output: torch.Tensor) -> torch.Tensor:
        """The denoiser's (corrected) output as the clean-signal estimate x̂₀."""
        return self.space.to_x0(name, output)

    def forward(
        self,
        starts: Mapping[str, torch.Tensor],
        cond: Mapping[str, torch.Tensor],
        noises: Mapping[str, Sequence[torch.Tensor]],
        trace: Trace | None = None,
    ) -> dict[str, torch.Tensor]:
        """Denoise every given task's samples; return raw predictions at the feature resolution.

        Args:
            starts: task -> (n_τ, C, h, w) initial estimates (from ``start``).
            cond: task -> (n_τ, C_c, h, w) condition feature of the same samples.
            noises: task -> S tensors shaped like the start (ignored with ``refine_only``; see
                ``GaussianDiffusion.draw_noise``).
            trace: filled with detached statistics of the chain per task when given
                (``GaussianDiffusion.sample_loop``; with ``refine_only`` only ``x0_error``).

        Returns:
            task -> (n_τ, C_τ, h, w) raw predictions (logits, metres, vectors).
        """

        def denoise(z: Mapping[str, torch.Tensor], t: Mapping[str, torch.Tensor]):
            out = self.denoiser(z, {n: cond[n] for n in z}, t)
            return {n: self.space.correct(n, z[n], o) for n, o in out.items()}

        if self.refine_only:
            out = self._refine(starts, denoise, trace)
        else:
            out = self.process.sample_loop(starts, denoise, noises, self.space.to_x0, trace)
        return {n: self.space.predict(n, x) for n, x in out.items()}

    def _refine(
        self, starts: Mapping[str, torch.Tensor], denoise: Denoise, trace: Trace | None = None
    ) -> dict[str, torch.Tensor]:
        """The ablation "w/o diffusion": S applications of the denoiser, each on x̂₀ of the last."""
        z = dict(starts)
        out: dict[str, torch.Tensor] = {}
        for step in range(self.steps - 1, -1, -1):
            t = {
                n: torch.full((x.shape[0],), step, dtype=torch.long, device=x.device)
                for n, x in z.items()
            }
            out = denoise(z, t)
            z = {n: self.space.to_x0(n, o) for n, o in out.items()}
            self.process.trace_step(trace, starts, z, step)
        return out
