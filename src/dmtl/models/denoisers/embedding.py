"""The sinusoidal timestep code that both denoisers embed with a small MLP."""

from __future__ import annotations

import math

import torch

SINUSOID_DIM = 256  # width of the sinusoidal timestep code, as in the released network
MAX_PERIOD = 10000.0


def timestep_embedding(t: torch.Tensor, dim: int = SINUSOID_DIM) -> torch.Tensor:
    """Sinusoidal code of integer timesteps: [cos(t f_i), sin(t f_i)], f_i = 10000^(-i / (dim/2)).

    Args:
        t: (N,) timesteps.
        dim: even code width.

    Returns:
        (N, dim) float32, the cosine half first.
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(MAX_PERIOD) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)
