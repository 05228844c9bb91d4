"""The shared denoisers of DiffusionMTL, built by name (``DenoiserConfig.kind``).

Every denoiser has one call contract: ``denoiser(x, cond, t)`` with task -> (n_τ, C_τ, h, w) noisy
maps, task -> (n_τ, C_c, h, w) condition features of the same samples and task -> (n_τ,) long
timesteps, returning task -> (n_τ, C_τ, h, w) outputs for the tasks of ``x``; every (sample, task)
pair runs through the shared trunk in one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import nn

from dmtl.config import DenoiserConfig
from dmtl.errors import ConfigError
from dmtl.models.denoisers.crossattn import CrossAttnDenoiser
from dmtl.models.denoisers.unet import UNetDenoiser


def _unet(channels: Mapping[str, int], cond_channels: int, config: DenoiserConfig) -> nn.Module:
    unet = UNetDenoiser(
        channels,
        cond_channels,
        width=config.width,
        channel_mults=config.mults,
        blocks_per_scale=config.blocks,
    )
    if config.skip:  # the chain starts as the identity on its input (see dmtl.models.spaces)
        unet.zero_heads()
    return unet


def _crossattn(
    channels: Mapping[str, int], cond_channels: int, config: DenoiserConfig
) -> nn.Module:
    if config.skip:
        raise ConfigError(
            "denoiser_skip is an option of the 'unet' denoiser (denoiser.skip needs "
            "denoiser.kind: unet)"
        )
    return CrossAttnDenoiser(
        channels, cond_channels, blocks=config.attn_blocks, heads=config.attn_heads
    )


DENOISERS: dict[str, Callable[[Mapping[str, int], int, DenoiserConfig], nn.Module]] = {
    "unet": _unet,
    "crossattn": _crossattn,
}


def build_denoiser(
    config: DenoiserConfig, channels: Mapping[str, int], cond_channels: int
) -> nn.Module:
    """The denoiser named by ``config.kind``.

    Args:
        config: the denoiser's options.
        channels: task -> channels of its noisy map (and of the denoiser's output).
        cond_channels: channels of the condition feature (the ``crossattn`` trunk's width).

    Raises:
        ConfigError: an unknown kind, or ``skip`` with a denoiser other than ``unet``.
    """
    if config.kind not in DENOISERS:
        choices = " or ".join(repr(k) for k in DENOISERS)
        raise ConfigError(f"unknown denoiser {config.kind!r} (denoiser.kind); use {choices}")
    return DENOISERS[config.kind](channels, cond_channels, config)
