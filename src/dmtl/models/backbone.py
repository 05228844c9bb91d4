"""Backbone: any timm model with ``features_only``, channels and strides read from timm."""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn

from dmtl.errors import ConfigError, MissingDataError

DEFAULT_NUM_SCALES = 4  # the last four feature levels (strides 4..32 for CNNs)


class TimmBackbone(nn.Module):
    """A timm feature extractor returning a list of NCHW maps, finest first.

    Args:
        name: any timm model name that supports ``features_only``.
        pretrained: load ImageNet weights (needs network access or the timm cache).
        weights: a local weights file (timm/torchvision state dict) to load instead of downloading.
        out_indices: feature levels to return; default: the last four.
        img_size: for transformer backbones that need a fixed input size.
    """

    def __init__(
        self,
        name: str = "resnet18",
        pretrained: bool = False,
        weights: str | None = None,
        out_indices: tuple[int, ...] | None = None,
        img_size: int | None = None,
    ) -> None:
        super().__init__()
        kwargs: dict = {"features_only": True}
        if img_size is not None:
            kwargs["img_size"] = img_size
        if weights is not None:
            if not Path(weights).is_file():
                raise MissingDataError(f"backbone weights file {weights} does not exist")
            # timm loads local files through the pretrained path; checkpoint_path fails with
            # features_only.
            kwargs["pretrained_cfg_overlay"] = {"file": str(weights)}
            pretrained = True
        if out_indices is not None:
            kwargs["out_indices"] = tuple(out_indices)
        self.model = _create(name, pretrained, weights, kwargs)
        levels = len(self.model.feature_info.channels())
        # Without out_indices timm returns every level (the stride-2 stem too); keep the last
        # four. Selecting in forward costs nothing: the earlier levels are computed anyway.
        self._keep = (
            list(range(levels))
            if out_indices is not None
            else list(range(max(levels - DEFAULT_NUM_SCALES, 0), levels))
        )
        self.channels: list[int] = [self.model.feature_info.channels()[i] for i in self._keep]
        self.strides: list[int] = [self.model.feature_info.reduction()[i] for i in self._keep]
        self._nhwc = str(getattr(self.model, "output_fmt", "NCHW")).endswith("NHWC")

    @property
    def max_stride(self) -> int:
        """The coarsest stride of the returned features."""
        return max(self.strides)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Features of an image batch.

        Args:
            image: (B, 3, H, W), H and W at least ``max_stride``.

        Returns:
            One (B, C_i, H / s_i, W / s_i) map per level, ``channels[i]`` and ``strides[i]``.
        """
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(
                f"backbone expects images of shape (B, 3, H, W), got {tuple(image.shape)}"
            )
        if min(image.shape[-2:]) < self.max_stride:
            raise ValueError(
                f"image size {tuple(image.shape[-2:])} is smaller than the backbone's coarsest "
                f"stride {self.max_stride}; use images of at least that size"
            )
        feats = self.model(image)
        feats = [feats[i] for i in self._keep]
        if self._nhwc:
            feats = [f.permute(0, 3, 1, 2) for f in feats]
        return [f.contiguous() for f in feats]


def _create(name: str, pretrained: bool, weights: str | None, kwargs: dict) -> nn.Module:
    if not timm.is_model(name):
        raise ConfigError(f"unknown timm backbone {name!r}; see timm.list_models()")
    try:
        return timm.create_model(name, pretrained=pretrained, **kwargs)
    except (OSError, RuntimeError) as err:
        if pretrained and weights is None:
            raise ConfigError(
                f"could not get pretrained weights for backbone {name!r} ({type(err).__name__}). "
                "Without network access, download them elsewhere and pass the file as "
                "model.backbone_weights=/path/to/weights, or use pretrained=False"
            ) from err
        raise
