"""The necks: multi-scale backbone features fused into one map at a chosen stride, by name.

``NECKS`` maps ``NetworkConfig.neck`` to a class; every neck takes (in_channels, in_strides,
embed_dim, out_stride) and maps the backbone's levels (finest first) and the image size to
(B, embed_dim, h, w). ``conv`` is the released network's neck (``dmtl.released.neck``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dmtl.errors import ConfigError
from dmtl.released.neck import ReleasedNeck


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    """A conv, batch norm and ReLU block that keeps the spatial size."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def _check_stride(in_strides: list[int], out_stride: int) -> None:
    if out_stride < min(in_strides):
        raise ValueError(
            f"neck out_stride {out_stride} is finer than the finest backbone stride "
            f"{min(in_strides)}"
        )


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (align_corners=False) of (B, C, h, w) to ``size``; a no-op at that size."""
    if x.shape[-2:] == size:
        return x
    return F.interpolate(x, size, mode="bilinear", align_corners=False)


def _output_size(image_size: tuple[int, int], out_stride: int) -> tuple[int, int]:
    """ceil(H / out_stride), ceil(W / out_stride)."""
    return (-(-image_size[0] // out_stride), -(-image_size[1] // out_stride))


class ConvBNReLUNeck(nn.Module):
    """Resize every level to ceil(H / out_stride), concatenate, 3x3 conv + BN + ReLU.

    Args:
        in_channels: channels of each backbone level.
        in_strides: stride of each backbone level.
        embed_dim: output channels.
        out_stride: stride of the fused map (the paper uses 8; smaller images want 4).
    """

    def __init__(
        self, in_channels: list[int], in_strides: list[int], embed_dim: int, out_stride: int
    ) -> None:
        super().__init__()
        _check_stride(in_strides, out_stride)
        self.out_stride = out_stride
        self.proj = conv_bn_relu(sum(in_channels), embed_dim)

    def forward(self, feats: list[torch.Tensor], image_size: tuple[int, int]) -> torch.Tensor:
        """Fuse (B, C_i, H_i, W_i) maps (finest first) into (B, embed_dim, h, w)."""
        size = _output_size(image_size, self.out_stride)
        return self.proj(torch.cat([_resize(f, size) for f in feats], dim=1))


class LateralNeck(nn.Module):
    """A cheap neck for small CPU jobs: per-level 1x1 convs, summed, then BN + ReLU and a 3x3 block.

    The output size is ceil(H / out_stride) as ``ConvBNReLUNeck``'s. Each level is projected by a
    1x1 conv at its own resolution before the resize; the projections are summed, then BN + ReLU
    and a 3x3 conv + BN + ReLU at ``embed_dim``. Resizing and a 1x1 conv commute, so the sum equals
    a 1x1 conv over the concatenated resized levels, computed without the wide concatenated map: at
    64×80 and stride 4 it costs 13 M multiply-adds an image instead of the 3x3 projection's 177 M.

    Args:
        in_channels: channels of each backbone level.
        in_strides: stride of each backbone level.
        embed_dim: output channels.
        out_stride: stride of the fused map.
    """

    def __init__(
        self, in_channels: list[int], in_strides: list[int], embed_dim: int, out_stride: int
    ) -> None:
        super().__init__()
        _check_stride(in_strides, out_stride)
        self.out_stride = out_stride
        self.lateral = nn.ModuleList(nn.Conv2d(c, embed_dim, 1, bias=False) for c in in_channels)
        self.proj = nn.Sequential(
            nn.BatchNorm2d(embed_dim), nn.ReLU(inplace=True), conv_bn_relu(embed_dim, embed_dim)
        )

    def forward(self, feats: list[torch.Tensor], image_size: tuple[int, int]) -> torch.Tensor:
        """Fuse (B, C_i, H_i, W_i) maps (finest first) into (B, embed_dim, h, w)."""
        size = _output_size(image_size, self.out_stride)
        return self.proj(sum(_resize(conv(f), size) for conv, f in zip(self.lateral, feats)))


NECKS: dict[str, type[nn.Module]] = {
    "conv_bn_relu": ConvBNReLUNeck,
    "conv": ReleasedNeck,
    "lateral": LateralNeck,
}


def build_neck(
    name: str, in_channels: list[int], in_strides: list[int], embed_dim: int, out_stride: int
) -> nn.Module:
    """The neck registered under ``name`` (``NetworkConfig.neck``).

    Raises:
        ConfigError: an unknown name (the message lists the choices).
        ValueError: ``out_stride`` finer than the finest backbone level.
    """
    if name not in NECKS:
        choices = ", ".join(repr(n) for n in NECKS)
        raise ConfigError(f"unknown neck {name!r} (network.neck); use one of {choices}")
    return NECKS[name](in_channels, in_strides, embed_dim, out_stride)
