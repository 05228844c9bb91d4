"""The multi-task network (plain ``nn.Module``): backbone, neck, per-task decoders and heads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from dmtl.models.backbone import TimmBackbone
from dmtl.models.decoders import FuseNeck, TaskDecoder
from dmtl.tasks import TaskSpec


@dataclass
class MultiTaskOutput:
    """What the network returns.

    Attributes:
        predictions: final prediction per task, (B, C_task, H, W) at the input image size.
        initial: initial predictions per task at the image size, when a later stage refines them
            (supervised with a smaller weight); empty for the plain multi-task baseline.
        features: task features per task, (B, E, H / s, W / s) at the neck stride.
    """

    predictions: dict[str, torch.Tensor]
    initial: dict[str, torch.Tensor] = field(default_factory=dict)
    features: dict[str, torch.Tensor] = field(default_factory=dict)


class MultiTaskNet(nn.Module):
    """The multi-task baseline: shared backbone and neck, one initial decoder and head per task.

    With a single task this is the single-task reference model that Δm compares against.

    Args:
        tasks: the task specs (name and output channels).
        backbone: timm model name.
        pretrained: load ImageNet weights for the backbone.
        backbone_weights: local weights file for the backbone.
        embed_dim: width of the neck and of the task decoders.
        neck_stride: stride of the fused feature map.
        decoder_blocks: basic blocks per task decoder.
    """

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        backbone: str = "resnet18",
        pretrained: bool = False,
        backbone_weights: str | None = None,
        embed_dim: int = 256,
        neck_stride: int = 8,
        decoder_blocks: int = 2,
    ) -> None:
        super().__init__()
        self.task_names = [t.name for t in tasks]
        self.backbone = TimmBackbone(backbone, pretrained=pretrained, weights=backbone_weights)
        self.neck = FuseNeck(self.backbone.channels, self.backbone.strides, embed_dim, neck_stride)
        self.decoders = nn.ModuleDict(
            {t.name: TaskDecoder(embed_dim, t.channels, decoder_blocks) for t in tasks}
        )

    def forward(self, image: torch.Tensor) -> MultiTaskOutput:
        """Predict every task.

        Args:
            image: (B, 3, H, W), normalised.

        Returns:
            ``MultiTaskOutput`` with predictions (B, C_task, H, W) per task.
        """
        size = (image.shape[-2], image.shape[-1])
        shared = self.neck(self.backbone(image), size)
        features, predictions = {}, {}
        for name, decoder in self.decoders.items():
            features[name], low_res = decoder(shared)
            predictions[name] = F.interpolate(low_res, size, mode="bilinear", align_corners=False)
        return MultiTaskOutput(predictions=predictions, features=features)
