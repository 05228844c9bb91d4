"""The released network's neck (``neck: conv``, docs/released.md).

Every backbone level is resized (bilinear, align_corners=False) to the finest map's size times
(finest stride / out_stride), floored: half the stride-4 map for stride 8, which for image sizes not
divisible by 32 differs from ceil(H / 8). The levels are concatenated and projected by one plain
3x3 conv with bias (no normalisation, no activation). The conv is ``proj``, the name the converter
maps the released ``backbone_embed`` onto (``dmtl.released.convert``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ReleasedNeck(nn.Module):
    """Resize to half the stride-4 map (for stride 8), concatenate, one 3x3 conv with bias.

    Args:
        in_channels: channels of each backbone level.
        in_strides: stride of each backbone level.
        embed_dim: output channels.
        out_stride: stride of the fused map, relative to the finest level's.

    Raises:
        ValueError: ``out_stride`` finer than the finest backbone level.
    """

    def __init__(
        self, in_channels: list[int], in_strides: list[int], embed_dim: int, out_stride: int
    ) -> None:
        super().__init__()
        if out_stride < min(in_strides):
            raise ValueError(
                f"neck out_stride {out_stride} is finer than the finest backbone stride "
                f"{min(in_strides)}"
            )
        self.ratio = min(in_strides) / out_stride
        self.proj = nn.Conv2d(sum(in_channels), embed_dim, 3, padding=1)

    def forward(self, feats: list[torch.Tensor], image_size: tuple[int, int]) -> torch.Tensor:
        """Fuse (B, C_i, H_i, W_i) maps (finest first) into (B, embed_dim, h, w).

        ``image_size`` is not used: the size comes from the finest map (the release).
        """
        size = (int(feats[0].shape[-2] * self.ratio), int(feats[0].shape[-1] * self.ratio))
        return self.proj(torch.cat([_resize(f, size) for f in feats], dim=1))


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (align_corners=False) of (B, C, h, w) to ``size``; a no-op at that size."""
    if x.shape[-2:] == size:
        return x
    return F.interpolate(x, size, mode="bilinear", align_corners=False)
