"""Counter-based Gaussian noise: each image's evaluation noise a function of its key alone.

A key is a 63-bit integer made from text (``stable_seed``: blake2b, the same in every process,
unlike Python's salted ``hash``); ``hashed_normal`` turns (N,) keys into N standard normal maps
with integer hashing (exact on any device) and a Box-Muller transform, vectorised. The
noise source (``dmtl.noise.NoiseSource`` with identities) keys them by (inference seed,
image, task, step), so a prediction depends neither on the batch nor on the process.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import torch

SEED_BITS = 63  # image identities and stream keys: non-negative int64
_U64 = 1 << 64
# splitmix64 (Steele et al., 2014) constants as signed int64: torch's int64 arithmetic wraps.
_GOLDEN, _MIX1, _MIX2 = (
    c - _U64 if c >= 1 << 63 else c
    for c in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)
)
_LOW32 = (1 << 32) - 1


def stable_seed(*parts: object) -> int:
    """A 63-bit seed of the parts' text (blake2b; unlike ``hash``, the same in every process)."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> (64 - SEED_BITS)


def identity_seeds(names: Sequence[object], device: torch.device | str = "cpu") -> torch.Tensor:
    """(N,) int64 seeds of images named ``names``: what per-image evaluation noise is keyed by."""
    return torch.tensor([stable_seed("image", n) for n in names], dtype=torch.long, device=device)


def _shift(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's ``>>`` is arithmetic)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def splitmix64(x: torch.Tensor) -> torch.Tensor:
    """splitmix64's finaliser of x + golden ratio, element-wise on int64 (exact on any device)."""
    x = x + _GOLDEN
    x = (x ^ _shift(x, 30)) * _MIX1
    x = (x ^ _shift(x, 27)) * _MIX2
    return x ^ _shift(x, 31)


def hashed_normal(
    keys: torch.Tensor, shape: Sequence[int], dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Standard normal maps (N, *shape), row i a function of ``keys[i]`` alone.

    Element j of row i is Box-Muller of the two 32-bit halves of splitmix64(splitmix64(key) + j):
    vectorised over samples and pixels; the integer part is exact on any device.
    """
    count = math.prod(shape)
    counter = torch.arange(count, dtype=torch.long, device=keys.device)
    bits = splitmix64(splitmix64(keys)[:, None] + counter)
    work = torch.float64 if dtype == torch.float64 else torch.float32
    u1 = (_shift(bits, 32).to(work) + 0.5) / 2.0**32
    u2 = ((bits & _LOW32).to(work) + 0.5) / 2.0**32
    normal = (-2 * u1.log()).sqrt() * torch.cos(2 * math.pi * u2)
    return normal.to(dtype).view(keys.shape[0], *shape)
