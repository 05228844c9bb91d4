"""The released network's golden outputs (tests/fixtures) and its weights, rebuilt by recipe."""

from __future__ import annotations

import math
import zlib

import torch

from dmtl.diffusion import make_betas
from support import REPO

GOLDEN = REPO / "tests" / "fixtures" / "released_pascal_r18_64px.pt"
PARAMETERS = 132_913_284


def released_schedule(steps: int = 2) -> dict[str, torch.Tensor]:
    """The 12 released schedule buffers, written out from the DDPM formulas (float64)."""
    betas = make_betas(steps, "linear")
    ac = torch.cumprod(1 - betas, 0)
    prev = torch.cat([torch.ones(1, dtype=ac.dtype), ac[:-1]])
    var = betas * (1 - prev) / (1 - ac)
    return {
        "betas": betas,
        "alphas_cumprod": ac,
        "alphas_cumprod_prev": prev,
        "sqrt_alphas_cumprod": ac.sqrt(),
        "sqrt_one_minus_alphas_cumprod": (1 - ac).sqrt(),
        "log_one_minus_alphas_cumprod": (1 - ac).log(),
        "sqrt_recip_alphas_cumprod": (1 / ac).sqrt(),
        "sqrt_recipm1_alphas_cumprod": (1 / ac - 1).sqrt(),
        "posterior_variance": var,
        "posterior_log_variance_clipped": var.clamp(min=1e-20).log(),
        "posterior_mean_coef1": betas * prev.sqrt() / (1 - ac),
        "posterior_mean_coef2": (1 - prev) * (1 - betas).sqrt() / (1 - ac),
    }


def rebuild(shapes: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
    """The released state dict from its key names, by the golden README's recipe."""
    schedule = released_schedule()
    state = {}
    for key in sorted(shapes):
        shape = tuple(shapes[key])
        name = key.removeprefix("diffusion_model.")
        if key.startswith("diffusion_model.") and name in schedule:
            state[key] = schedule[name].float()
        elif key.endswith("running_mean"):
            state[key] = torch.zeros(shape)
        elif key.endswith("running_var"):
            state[key] = torch.ones(shape)
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.zeros(shape, dtype=torch.long)
        else:
            g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
            if len(shape) == 1:
                scale, offset = 0.1, (1.0 if key.endswith("weight") else 0.0)
                state[key] = offset + scale * torch.randn(shape, generator=g)
            else:
                state[key] = torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
    return state
