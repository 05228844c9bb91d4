"""The denoiser of DiffusionMTL: a timestep-embedded conv UNet shared by every task.

D(z_τ, c, t) -> x̂_0 for every (sample, task) pair at once: per-task input projections map each
task's noisy map to a common width, one shared UNet (conditioned on the timestep, a task embedding
and the multi-task condition feature) runs on all pairs in one batch, and per-task output heads map
back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dmtl.errors import ConfigError
from dmtl.models.denoisers.embedding import SINUSOID_DIM, timestep_embedding

GROUPS = 8  # GroupNorm groups: per-sample statistics, so batching pairs changes nothing


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(GROUPS, channels), channels)


class ResBlock(nn.Module):
    """Residual conv block with GroupNorm, scale-shift from an embedding and a spatial condition.

    h = conv(SiLU(GN(x))) + proj(cond); h = conv(SiLU(GN(h) * (1 + scale) + shift));
    out = skip(x) + h.
    The last conv starts at zero, so every block starts as the identity.

    Args:
        in_channels: input width.
        out_channels: output width.
        emb_dim: width of the timestep (+ task) embedding.
        cond_channels: width of the condition feature added after the first conv (0: none).
    """

    def __init__(
        self, in_channels: int, out_channels: int, emb_dim: int, cond_channels: int = 0
    ) -> None:
        super().__init__()
        self.norm1 = _norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.cond = nn.Conv2d(cond_channels, out_channels, 1) if cond_channels else None
        self.emb = nn.Linear(emb_dim, 2 * out_channels)
        self.norm2 = _norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Conv2d(in_channels, out_channels, 1)
        )

    def forward(
        self, x: torch.Tensor, emb: torch.Tensor, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x (N, C_in, h, w), emb (N, E), cond (N, C_c, h, w) -> (N, C_out, h, w)."""
        h = self.conv1(F.silu(self.norm1(x)))
        if self.cond is not None and cond is not None:
            h = h + self.cond(cond)
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift))
        return self.skip(x) + h


class UNetDenoiser(nn.Module):
    """Timestep-embedded conv UNet over (sample, task) pairs, conditioned on a condition feature.

    The condition feature enters at the input (concatenated with the projected noisy map) and in the
    first block of every scale (resized to that scale). A task embedding is added to the timestep
    embedding so that the shared weights know which task they denoise.

    The sizes have no defaults here: ``dmtl.config.DenoiserConfig`` holds them (see
    ``dmtl.models.denoisers.build_denoiser``). The input skip (a learnt correction of the input) is
    not the UNet's: the diffusion space adds it (``dmtl.models.spaces``), with the heads
    zero-initialised by ``zero_heads``.

    Args:
        in_channels: task -> channels of its noisy map (and of its estimate x̂_0).
        cond_channels: channels of the condition feature.
        width: channels at the finest scale.
        channel_mults: width multiplier of each scale; its length is the number of scales.
        blocks_per_scale: residual blocks per scale on the down path (the up path has one more).
    """

    def __init__(
        self,
        in_channels: Mapping[str, int],
        cond_channels: int,
        *,
        width: int,
        channel_mults: Sequence[int],
        blocks_per_scale: int,
    ) -> None:
        super().__init__()
        if not channel_mults or blocks_per_scale < 1 or width < 1:
            raise ConfigError(
                "the denoiser needs at least one scale, one block per scale and a positive width; "
                f"got channel_mults={list(channel_mults)}, blocks_per_scale={blocks_per_scale}, "
                f"width={width}"
            )
        self.task_names = list(in_channels)
        emb_dim = 4 * width
        self.time_mlp = nn.Sequential(
            nn.Linear(SINUSOID_DIM, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.task_embed = nn.Embedding(len(self.task_names), emb_dim)
        self.inputs = nn.ModuleDict(
            {name: nn.Conv2d(c, width, 3, padding=1) for name, c in in_channels.items()}
        )
        self.stem = nn.Conv2d(width + cond_channels, width, 3, padding=1)

        widths = [width * m for m in channel_mults]
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skip_widths, current = [width], width
        for level, w in enumerate(widths):
            blocks = nn.ModuleList()
            for b in range(blocks_per_scale):
                blocks.append(ResBlock(current, w, emb_dim, cond_channels if b == 0 else 0))
                current = w
                skip_widths.append(current)
            self.down.append(blocks)
            last = level == len(widths) - 1
            self.downsample.append(
                nn.Identity() if last else nn.Conv2d(current, current, 3, stride=2, padding=1)
            )
            if not last:
                skip_widths.append(current)
        self.mid = ResBlock(current, current, emb_dim, cond_channels)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level, w in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for b in range(blocks_per_scale + 1):
                blocks.append(
                    ResBlock(
                        current + skip_widths.pop(), w, emb_dim, cond_channels if b == 0 else 0
                    )
                )
                current = w
            self.up.append(blocks)
            self.upsample.append(
                nn.Identity() if level == 0 else nn.Conv2d(current, current, 3, padding=1)
            )
        self.out_norm = _norm(current)
        self.heads = nn.ModuleDict(
            {name: nn.Conv2d(current, c, 3, padding=1) for name, c in in_channels.items()}
        )

    def zero_heads(self) -> None:
        """Zero-initialise the output heads: the UNet's output starts at exactly 0."""
        for head in self.heads.values():
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(
        self,
        x: Mapping[str, torch.Tensor],
        cond: Mapping[str, torch.Tensor],
        t: Mapping[str, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """Estimate x̂_0 of every given task's pairs in one batched pass.

        Args:
            x: task -> (n_τ, C_τ, h, w) noisy maps (tasks may be missing or have n_τ = 0).
            cond: task -> (n_τ, C_c, h, w) condition feature of the same samples.
            t: task -> (n_τ,) long timesteps.

        Returns:
            task -> (n_τ, C_τ, h, w) estimates, for the tasks of ``x``.
        """
        names = [n for n in self.task_names if n in x]
        sizes = [x[n].shape[0] for n in names]
        h = torch.cat([self.inputs[n](x[n]) for n in names])
        c = torch.cat([cond[n] for n in names])
        # Built from Python ints: no host-to-device copy, and a shape torch.compile can follow.
        task_ids = torch.cat(
            [
                torch.full((size,), self.task_names.index(n), dtype=torch.long, device=h.device)
                for n, size in zip(names, sizes)
            ]
        )
        emb = self.time_mlp(timestep_embedding(torch.cat([t[n] for n in names])).to(h.dtype))
        emb = emb + self.task_embed(task_ids)
        y = self._unet(self.stem(torch.cat([h, c], dim=1)), emb, c)
        y = F.silu(self.out_norm(y))
        return {n: self.heads[n](part) for n, part in zip(names, y.split(sizes))}

    def _unet(self, h: torch.Tensor, emb: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        skips = [h]
        for blocks, down in zip(self.down, self.downsample):
            c_level = _resize(c, h.shape[-2:])
            for block in blocks:
                h = block(h, emb, c_level)
                skips.append(h)
            if not isinstance(down, nn.Identity):
                h = down(h)
                skips.append(h)
        h = self.mid(h, emb, _resize(c, h.shape[-2:]))
        for blocks, up in zip(self.up, self.upsample):
            c_level = _resize(c, h.shape[-2:])
            for block in blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), emb, c_level)
            if not isinstance(up, nn.Identity):
                h = up(F.interpolate(h, size=skips[-1].shape[-2:], mode="nearest"))
        return h


def _resize(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    """Area-average a condition map down to ``size`` (no-op at the same size)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.adaptive_avg_pool2d(x, size)
