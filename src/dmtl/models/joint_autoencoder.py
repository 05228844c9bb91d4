"""JTR's joint-task auto-encoder: a SegNet encoder-decoder over all tasks stacked along channels.

JTR (Nishi et al., CVPR 2024) encodes the stacked task maps (C_in = Σ_t C_t channels: NYUv2
13 + 1 + 3) with a SegNet encoder (conv3x3 + BN + ReLU blocks of widths 64, 128, 256, 512, 512;
2, 2, 3, 3, 3 blocks; a 2x2 max-pool after each level) whose last pool's output is the latent
(512 x H/32 x W/32). The mirrored decoder unpools with the pool's indices and runs each level's
blocks, the first narrowing the width; a head conv3x3(64 -> 64), conv1x1(64 -> C_in) without
activation gives the reconstruction logits. Xavier-normal convs, zero biases, BN weight 1 and
bias 0. With the published widths it has 24.99 M parameters (a test counts them).

``per_sample``: the released code runs the auto-encoder on one sample at a time, so its batch
norm normalises each sample over its own pixels. That is instance normalisation with the batch
norm's affine parameters, computed here for the whole batch at once (``SampleNorm``). The running
statistics are then not updated: the auto-encoder is a training device only, never evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dmtl.errors import ConfigError

SEGNET_WIDTHS = (64, 128, 256, 512, 512)
SEGNET_BLOCKS = (2, 2, 3, 3, 3)  # conv blocks per level (VGG-16's)


class SampleNorm(nn.BatchNorm2d):
    """Batch norm, or per sample (batch-1 batch norm, i.e. instance norm) when ``per_sample``."""

    def __init__(self, channels: int, per_sample: bool = False) -> None:
        super().__init__(channels)
        self.per_sample = per_sample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_sample and self.training:
            return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)
        return super().forward(x)


class ConvBlock(nn.Sequential):
    """conv3x3 + norm + ReLU."""

    def __init__(self, cin: int, cout: int, per_sample: bool) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1), SampleNorm(cout, per_sample), nn.ReLU(inplace=True)
        )


class JointTaskAE(nn.Module):
    """The auto-encoder g = (g_θ1 encoder, g_θ2 decoder) over ``channels`` stacked task channels.

    Args:
        channels: C_in, the stacked task channels.
        widths: channels of the five levels (JTR: 64, 128, 256, 512, 512).
        per_sample: normalise each sample alone (the released code's batch size 1).
    """

    def __init__(
        self, channels: int, widths: Sequence[int] = SEGNET_WIDTHS, per_sample: bool = False
    ) -> None:
        super().__init__()
        if len(widths) != len(SEGNET_BLOCKS):
            raise ValueError(f"the auto-encoder has {len(SEGNET_BLOCKS)} levels, got {widths}")
        self.encoder = nn.ModuleList()
        cin = channels
        for width, blocks in zip(widths, SEGNET_BLOCKS, strict=True):
            level = [ConvBlock(cin if b == 0 else width, width, per_sample) for b in range(blocks)]
            self.encoder.append(nn.Sequential(*level))
            cin = width
        self.decoder = nn.ModuleList()
        for k in reversed(range(len(widths))):
            out = widths[max(k - 1, 0)]
            # SegNet's decoder changes the width first, then refines at the narrower width
            level = [
                ConvBlock(widths[k] if b == 0 else out, out, per_sample)
                for b in range(SEGNET_BLOCKS[k])
            ]
            self.decoder.append(nn.Sequential(*level))
        self.head = nn.Sequential(
            nn.Conv2d(widths[0], widths[0], 3, padding=1), nn.Conv2d(widths[0], channels, 1)
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list]:
        """The latent (B, widths[-1], H/32, W/32) and what the decoder needs to unpool.

        Raises:
            ConfigError: maps under 32 pixels a side, which the fifth pool would empty.
        """
        smallest = 2 ** len(self.encoder)
        if min(x.shape[-2:]) < smallest:
            height, width = x.shape[-2:]
            raise ConfigError(
                f"jtr: the auto-encoder halves its input {len(self.encoder)} times, so the maps it "
                f"reads (the crop average-pooled by model.jtr.input_stride) must be at least "
                f"{smallest} pixels a side, got {height}×{width}: lower model.jtr.input_stride "
                "or enlarge the crop"
            )
        unpool = []
        for level in self.encoder:
            x = level(x)
            size = x.shape[-2:]
            x, indices = F.max_pool2d(x, 2, 2, return_indices=True)
            unpool.append((indices, size))
        return x, unpool

    def decode(self, latent: torch.Tensor, unpool: list) -> torch.Tensor:
        """Reconstruction logits (B, C_in, H, W) of a latent."""
        x = latent
        for level, (indices, size) in zip(self.decoder, reversed(unpool), strict=True):
            x = level(max_unpool(x, indices, size))
        return self.head(x)

    def forward(
        self, x: torch.Tensor, reconstruct: bool = True
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The latent of stacked task maps (B, C_in, H, W) and, with ``reconstruct``, the
        reconstruction logits (B, C_in, H, W): (latent, logits)."""
        latent, unpool = self.encode(x)
        return (latent, self.decode(latent, unpool)) if reconstruct else latent


def max_unpool(x: torch.Tensor, indices: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """``F.max_unpool2d(x, indices, 2, 2, output_size=size)`` as a scatter into zeros.

    Each pooled value goes back to the flat position (within its map of ``size``) its maximum came
    from. Unlike ``max_unpool2d``, a scatter has a deterministic implementation on every device, so
    JTR runs under ``trainer.deterministic=true`` (``torch.use_deterministic_algorithms``).
    """
    b, c = x.shape[:2]
    flat = x.new_zeros(b, c, size[0] * size[1])
    return flat.scatter(2, indices.flatten(2), x.flatten(2)).view(b, c, *size)
