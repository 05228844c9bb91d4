"""The per-task initial decoders of the multi-task network (residual blocks and a 1x1 head)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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


class TaskDecoder(nn.Module):
    """The initial decoder of one task: residual blocks -> feature, 1x1 conv -> prediction.

    Args:
        embed_dim: width of the input and of the task feature.
        out_channels: channels of the task's prediction.
        num_blocks: number of basic blocks (the paper uses two; ``NetworkConfig.decoder_blocks``).
    """

    def __init__(self, embed_dim: int, out_channels: int, num_blocks: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[BasicBlock(embed_dim) for _ in range(num_blocks)])
        self.head = nn.Conv2d(embed_dim, out_channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, E, h, w) -> feature (B, E, h, w) and prediction (B, C_task, h, w)."""
        feature = self.blocks(x)
        return feature, self.head(feature)
