"""The released DiffusionMTL denoiser: per-task input convs, a two-stream cross-attention trunk
at a quarter of the feature resolution, and per-task conv heads (docs/released.md).

D(z_τ, c, t): h = Conv3x3_τ(z) + MLP(sinusoid(t)); two token streams, the condition feature
(a) and h (b), both resized to ¼ of the map; blocks update b with an MLP and then let a attend to b;
a, resized back and added to h, goes through the task's conv head. Every (sample, task) pair runs
through the shared trunk in one batch; only the input convs and heads loop over tasks.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from dmtl.errors import ConfigError
from dmtl.models.denoisers.embedding import SINUSOID_DIM, timestep_embedding

TOKEN_SCALE = 4  # the trunk runs at ¼ of the feature map (stride 32 for a stride-8 neck)
MLP_RATIO = 4
TIME_INIT_STD = 0.02


class TokenMLP(nn.Module):
    """Linear -> GELU -> Linear over the channel dimension of (N, L, C) tokens."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, C) -> (N, L, C)."""
        return self.fc2(F.gelu(self.fc1(x)))


class CrossAttention(nn.Module):
    """Multi-head attention of query tokens to key/value tokens (q, kv without bias).

    The ``kv`` projection packs the keys, then the values, along its output dimension.
    """

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        if channels % heads:
            raise ConfigError(f"attention width {channels} is not divisible by {heads} heads")
        self.heads = heads
        self.q = nn.Linear(channels, channels, bias=False)
        self.kv = nn.Linear(channels, 2 * channels, bias=False)
        self.proj = nn.Linear(channels, channels)

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """query (N, Lq, C), context (N, Lk, C) -> (N, Lq, C)."""
        n, lq, c = query.shape
        q = self.q(query).view(n, lq, self.heads, c // self.heads).transpose(1, 2)
        k, v = self.kv(context).view(n, -1, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q kᵀ / sqrt(d)) v
        return self.proj(out.transpose(1, 2).reshape(n, lq, c))


class CrossBlock(nn.Module):
    """One block of the two-stream trunk.

    b = b + MLP_b(LN(b)); a = a + Attn(LN(a) -> queries, LN(b) -> keys/values);
    a = a + MLP_a(LN(a)). ``a`` is the condition stream, ``b`` the noisy-feature stream.
    """

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        hidden = MLP_RATIO * channels
        self.norm1 = nn.LayerNorm(channels)
        self.norm_kv = nn.LayerNorm(channels)
        self.attn = CrossAttention(channels, heads)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = TokenMLP(channels, hidden)
        self.norm2_kv = nn.LayerNorm(channels)
        self.mlp_kv = TokenMLP(channels, hidden)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a, b: (N, L, C) -> updated a, b."""
        b = b + self.mlp_kv(self.norm2_kv(b))
        a = a + self.attn(self.norm1(a), self.norm_kv(b))
        a = a + self.mlp(self.norm2(a))
        return a, b


def task_head(channels: int) -> nn.Sequential:
    """Conv1x1, then three Conv3x3 + ReLU, all at ``channels`` (indices 0, 1, 3, 5 hold weights)."""
    layers: list[nn.Module] = [nn.Conv2d(channels, channels, 1)]
    for _ in range(3):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class CrossAttnDenoiser(nn.Module):
    """The released denoiser, over (sample, task) pairs; same call contract as ``UNetDenoiser``.

    Args:
        in_channels: task -> channels of its noisy map (and of its estimate x̂_0).
        cond_channels: channels of the condition feature; also the trunk's width.
        blocks: cross-attention blocks (the release: 4; ``DenoiserConfig.attn_blocks``).
        heads: attention heads (the release: 4; ``DenoiserConfig.attn_heads``).
    """

    def __init__(
        self, in_channels: Mapping[str, int], cond_channels: int, *, blocks: int, heads: int
    ) -> None:
        super().__init__()
        if blocks < 1:
            raise ConfigError(f"the cross-attention denoiser needs a block or more, got {blocks}")
        width = cond_channels
        self.task_names = list(in_channels)
        self.time_mlp = nn.Sequential(
            nn.Linear(SINUSOID_DIM, width), nn.SiLU(), nn.Linear(width, width)
        )
        self.inputs = nn.ModuleDict(
            {n: nn.Conv2d(c, width, 3, padding=1) for n, c in in_channels.items()}
        )
        self.blocks = nn.ModuleList([CrossBlock(width, heads) for _ in range(blocks)])
        self.heads = nn.ModuleDict({n: task_head(width) for n in in_channels})
        # Only when a task's map is not ``width`` wide (prediction diffusion): back to its channels.
        self.outputs = nn.ModuleDict(
            {n: nn.Conv2d(width, c, 1) for n, c in in_channels.items() if c != width}
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Linear: xavier-uniform, zero bias; LayerNorm: 1 and 0; timestep MLP N(0, 0.02)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for layer in (self.time_mlp[0], self.time_mlp[2]):
            nn.init.normal_(layer.weight, std=TIME_INIT_STD)

    def forward(
        self,
        x: Mapping[str, torch.Tensor],
        cond: Mapping[str, torch.Tensor],
        t: Mapping[str, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """Estimate x̂_0 of every given task's pairs in one batched pass of the trunk.

        Args:
            x: task -> (n_τ, C_τ, h, w) noisy maps.
            cond: task -> (n_τ, C_c, h, w) condition feature of the same samples.
            t: task -> (n_τ,) long timesteps.

        Returns:
            task -> (n_τ, C_τ, h, w) estimates, for the tasks of ``x``.
        """
        names = [n for n in self.task_names if n in x]
        sizes = [x[n].shape[0] for n in names]
        h = torch.cat([self.inputs[n](x[n]) for n in names])
        emb = self.time_mlp(timestep_embedding(torch.cat([t[n] for n in names])).to(h.dtype))
        h = h + emb[:, :, None, None]
        c = torch.cat([cond[n] for n in names])
        size = h.shape[-2:]
        small = (max(size[0] // TOKEN_SCALE, 1), max(size[1] // TOKEN_SCALE, 1))
        a = _tokens(c, small)
        b = _tokens(h, small)
        for block in self.blocks:
            a, b = block(a, b)
        a = a.transpose(1, 2).reshape(a.shape[0], -1, *small)
        y = F.interpolate(a, size, mode="bilinear", align_corners=False) + h
        out = {}
        for n, part in zip(names, y.split(sizes)):
            est = self.heads[n](part)
            out[n] = self.outputs[n](est) if n in self.outputs else est
        return out


def _tokens(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, h, w) -> bilinear resize to ``size`` -> (N, size[0] * size[1], C) tokens."""
    x = F.interpolate(x, size, mode="bilinear", align_corners=False)
    return x.flatten(2).transpose(1, 2)
