"""XTC* in the Lightning system: its mapping network built from the option groups, and its term.

``DiffusionMTLModule`` holds the mapping network (``xtc_net``); this file builds it (checking the
options) and computes a training batch's XTC* loss from the network output, whose ``shared`` neck
feature is what the joint-space embeddings are regularised to (``dmtl.xtc.loss.xtc_loss``;
docs/method.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dmtl.config import DiffusionConfig, NetworkConfig, XTCConfig
from dmtl.errors import ConfigError
from dmtl.models.output import MultiTaskOutput
from dmtl.tasks import TaskSpec
from dmtl.xtc.loss import XTCOutput, xtc_loss
from dmtl.xtc.mapper import CrossTaskMapper, draw_gumbel


def build_xtc(
    specs: Sequence[TaskSpec],
    network: NetworkConfig,
    diffusion: DiffusionConfig,
    xtc: XTCConfig,
) -> CrossTaskMapper:
    """XTC*'s mapping network.

    Raises:
        ConfigError: ``xtc.enabled`` with a diffusion space, or a neck stride that is not a power
            of two (the mapping network halves the resolution per level).
    """
    stride, inner = network.neck_stride, xtc.input_stride
    if diffusion.space != "none":
        raise ConfigError(
            f"xtc.enabled is the MTL baseline plus a loss: it needs diffusion.space: none, "
            f"got {diffusion.space!r}"
        )
    if not _power_of_two(stride) or not _power_of_two(inner) or inner >= stride:
        raise ConfigError(
            f"xtc: network.neck_stride {stride} and xtc.input_stride {inner} must be powers "
            "of two, the input stride the smaller"
        )
    levels = (stride // inner).bit_length() - 1
    return CrossTaskMapper(specs, network.embed_dim, levels, xtc.width, inner)


def xtc_term(
    mapper: CrossTaskMapper,
    specs: Sequence[TaskSpec],
    xtc: XTCConfig,
    out: MultiTaskOutput,
    batch: dict,
    generator: torch.Generator | None,
) -> XTCOutput:
    """XTC*'s consistency loss of a training batch; ``generator`` draws its Gumbel noise."""
    gumbel = draw_gumbel(specs, out.predictions, xtc.input_stride, generator)
    return xtc_loss(
        mapper,
        specs,
        out.predictions,
        batch["targets"],
        batch["labelled"],
        out.shared,
        gumbel=gumbel,
        reg_weight=xtc.reg_weight,
        kind=xtc.distance,
        pairs=xtc.pairs,
    )


def _power_of_two(n: int) -> bool:
    return n >= 1 and not n & (n - 1)
