"""Neck, per-task initial decoders and prediction heads of the multi-task network."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from dmtl.errors import ConfigError


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    """A conv, batch norm and ReLU block that keeps the spatial size."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class BasicBlock(nn.Module):
    """A ResNet basic block (two 3x3 conv + BN, identity shortcut) at constant width."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + x, inplace=True)


NeckStyle = Literal["conv_bn_relu", "conv", "lateral"]
NECK_STYLES = ("conv_bn_relu", "conv", "lateral")


class FuseNeck(nn.Module):
    """Fuses multi-scale backbone features into one map at a chosen stride.

    Every level is resized (bilinear, align_corners=False) to the output size, the levels are
    concatenated and projected to ``embed_dim`` channels. ``conv_bn_relu``: output size
    ceil(H / out_stride), projection 3x3 conv + BN + ReLU. ``conv`` (the released network,
    docs/released.md): output size = the finest map's size × (finest stride / out_stride),
    floored (half the stride-4 map for stride 8), projection a plain 3x3 conv with bias.
    ``lateral`` (a cheap neck for small CPU jobs): the same output size as ``conv_bn_relu``; each
    level is projected by a 1x1 conv at its own resolution before the resize, the projections are
    summed, then BN + ReLU and a 3x3 conv + BN + ReLU at ``embed_dim``. Resizing and a 1x1 conv
    commute, so the sum equals a 1x1 conv over the concatenated resized levels, computed without
    the wide concatenated map: at 64×80 and stride 4 it costs 13 M multiply-adds an image instead of
    the 3x3 projection's 177 M.

    Args:
        in_channels: channels of each backbone level.
        in_strides: stride of each backbone level.
        embed_dim: output channels.
        out_stride: stride of the fused map (the paper uses 8; smaller images want 4).
        style: ``conv_bn_relu`` or ``conv``.
    """

    def __init__(
        self,
        in_channels: list[int],
        in_strides: list[int],
        embed_dim: int,
        out_stride: int,
        style: NeckStyle = "conv_bn_relu",
    ) -> None:
        super().__init__()
        if out_stride < min(in_strides):
            raise ValueError(
                f"neck out_stride {out_stride} is finer than the finest backbone stride "
                f"{min(in_strides)}"
            )
        if style not in NECK_STYLES:
            raise ConfigError(
                f"unknown neck {style!r}; use one of {', '.join(repr(s) for s in NECK_STYLES)}"
            )
        self.out_stride = out_stride
        self.style = style
        self.finest_stride = min(in_strides)
        if style == "lateral":
            self.lateral = nn.ModuleList(
                nn.Conv2d(c, embed_dim, 1, bias=False) for c in in_channels
            )
            self.proj = nn.Sequential(
                nn.BatchNorm2d(embed_dim), nn.ReLU(inplace=True), conv_bn_relu(embed_dim, embed_dim)
            )
        elif style == "conv_bn_relu":
            self.proj = conv_bn_relu(sum(in_channels), embed_dim)
        else:
            self.proj = nn.Conv2d(sum(in_channels), embed_dim, 3, padding=1)

    def forward(self, feats: list[torch.Tensor], image_size: tuple[int, int]) -> torch.Tensor:
        """Fuse (B, C_i, H_i, W_i) maps (finest first) into (B, embed_dim, h, w) (see the class)."""
        if self.style == "conv":
            ratio = self.finest_stride / self.out_stride
            size = (int(feats[0].shape[-2] * ratio), int(feats[0].shape[-1] * ratio))
        else:
            size = (-(-image_size[0] // self.out_stride), -(-image_size[1] // self.out_stride))
        if self.style == "lateral":
            return self.proj(sum(_resize(conv(f), size) for conv, f in zip(self.lateral, feats)))
        return self.proj(torch.cat([_resize(f, size) for f in feats], dim=1))


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (align_corners=False) of (B, C, h, w) to ``size``; a no-op at that size."""
    if x.shape[-2:] == size:
        return x
    return F.interpolate(x, size, mode="bilinear", align_corners=False)


class TaskDecoder(nn.Module):
    """The initial decoder of one task: residual blocks -> feature, 1x1 conv -> prediction.

    Args:
        embed_dim: width of the input and of the task feature.
        out_channels: channels of the task's prediction.
        num_blocks: number of basic blocks (the paper uses two).
    """

    def __init__(self, embed_dim: int, out_channels: int, num_blocks: int = 2) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[BasicBlock(embed_dim) for _ in range(num_blocks)])
        self.head = nn.Conv2d(embed_dim, out_channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, E, h, w) -> feature (B, E, h, w) and prediction (B, C_task, h, w)."""
        feature = self.blocks(x)
        return feature, self.head(feature)
