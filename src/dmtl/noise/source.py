"""``NoiseSource``: where one forward's diffusion noise comes from, and how it is drawn."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from dmtl.noise.hashed import hashed_normal, stable_seed

NOISE_SEED_STRIDE = 1_000_003  # steps of one noise seed never meet those of the next
MAX_RANKS = 1024  # processes of one step with streams of their own
NOISE_SEED_MODULUS = 1 << 63  # torch seeds are 64-bit; a large run seed wraps

Noise = dict[str, list[torch.Tensor]]


def run_noise_seed(configured: int | None) -> int:
    """The training noise's seed: ``configured``, else the run's seed.

    The run's seed is ``seed_everything``'s (Lightning keeps it in ``PL_GLOBAL_SEED`` and hands it
    to DDP workers and restarts), else torch's initial seed: so runs of different seeds train on
    different noise, and a resumed run draws the noise the uninterrupted run drew.
    """
    if configured is not None:
        return configured
    return int(os.environ.get("PL_GLOBAL_SEED", torch.initial_seed()))


def training_seed(noise_seed: int, step: int, rank: int) -> int:
    """The seed of a training step's noise: a function of (noise seed, step, rank) alone."""
    return ((noise_seed * NOISE_SEED_STRIDE + step) * MAX_RANKS + rank) % NOISE_SEED_MODULUS


@dataclass(frozen=True, eq=False)
class NoiseSource:
    """Where a forward's chain noise comes from; build it with one of the constructors.

    Attributes:
        generator: draws full-shape maps (training); ``None`` with no ``seed``: torch's global
            generator.
        seed: evaluation: maps of a generator seeded with it, shared by every image of the batch,
            or with ``identities`` each image's own maps.
        identities: (B,) int64 image seeds (``identity_seeds``), with ``seed``.
        zero: the chain runs without noise (zeros of the right shapes; nothing is drawn).
    """

    generator: torch.Generator | None = None
    seed: int | None = None
    identities: torch.Tensor | None = None
    zero: bool = False

    def __post_init__(self) -> None:
        if self.generator is not None and self.seed is not None:
            raise ValueError("a NoiseSource takes a generator or a seed, not both")
        if self.identities is not None and self.seed is None:
            raise ValueError("a NoiseSource needs a seed with identities")

    # ------------------------------------------------------------ constructors
    @classmethod
    def training(
        cls, noise_seed: int, step: int, rank: int, device: torch.device | str = "cpu"
    ) -> NoiseSource:
        """A training step's noise: a generator seeded by ``training_seed`` on ``device``."""
        seed = training_seed(noise_seed, step, rank)
        return cls(generator=torch.Generator(device=device).manual_seed(seed))

    @classmethod
    def from_generator(cls, generator: torch.Generator | None) -> NoiseSource:
        """Full-shape maps from ``generator`` (``None``: torch's global generator)."""
        return cls(generator=generator)

    @classmethod
    def evaluation(cls, seed: int | None, identities: torch.Tensor | None = None) -> NoiseSource:
        """Evaluation noise of inference seed ``seed``: each image's own maps with ``identities``,
        else maps shared by the batch; ``seed=None``: the global generator."""
        return cls(seed=seed, identities=None if seed is None else identities)

    @classmethod
    def none(cls) -> NoiseSource:
        """No noise: the chain's zeros."""
        return cls(zero=True)

    # ------------------------------------------------------------------- draw
    def draw(self, like: Mapping[str, torch.Tensor], steps: int) -> Noise:
        """The chain's ``steps`` standard normal tensors per key, shaped like ``like[key]``.

        The order of the stream: key by key in the order of ``like``, ``steps`` tensors each (the
        start noise first). With ``identities`` sample i's map of a key and step is
        ``hashed_normal`` of a key of (seed, identities[i], key, step): each image's own noise,
        whatever its batch, its place in it or its process. With ``seed`` alone a fresh generator
        seeded with it, on the device of the first tensor, draws one map of shape (1, C, h, w) per
        key and step and every sample gets it (expanded). Otherwise every tensor has the full
        shape, from ``generator`` or, when it is ``None``, from the global generator.
        """
        if self.zero:
            return {key: [torch.zeros_like(x)] * steps for key, x in like.items()}
        if self.identities is not None:
            return self._per_image(like, steps)
        generator = self.generator
        shared = self.seed is not None and bool(like)
        if shared:
            device = next(iter(like.values())).device
            generator = torch.Generator(device=device).manual_seed(self.seed)
        noises = {}
        for key, x in like.items():
            shape = (1, *x.shape[1:]) if shared else x.shape
            noises[key] = [
                torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype).expand(
                    x.shape
                )
                for _ in range(steps)
            ]
        return noises

    def _per_image(self, like: Mapping[str, torch.Tensor], steps: int) -> Noise:
        """Each image's maps per key, a function of (seed, identity, key, step) alone."""
        noises = {}
        for key, x in like.items():
            ids = self.identities.to(x.device, torch.long)
            noises[key] = [
                hashed_normal(ids ^ stable_seed(self.seed, key, step), x.shape[1:], x.dtype)
                for step in range(steps)
            ]
        return noises
