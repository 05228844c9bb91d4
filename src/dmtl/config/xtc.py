"""XTC*'s option group (MTPSL's cross-task consistency on the MTL baseline)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

XTCDistance = Literal["cosine", "l1"]
XTCPairs = Literal["unlabelled", "all"]


@dataclass
class XTCConfig:
    """XTC*: MTPSL's cross-task consistency added to the MTL baseline (docs/method.md).

    Attributes:
        enabled: add the consistency loss (needs ``diffusion.space: none``).
        weight: weight of the consistency loss (MTPSL's NYUv2 script: 2; Cityscapes: 1).
        reg_weight: weight of the regularisation of the joint-space embeddings to the detached
            shared feature (MTPSL: 0.5).
        distance: ``cosine`` (1 - cos over channels, MTPSL) or ``l1``.
        pairs: ``unlabelled`` (source tasks unlabelled, target tasks labelled: MTPSL's partial
            settings) or ``all`` (any source task, MTPSL's full setting).
        width: channels of the mapping network's first level (doubled per level).
        input_stride: the maps enter the mapping network average-pooled by this factor (a power
            of two below ``network.neck_stride``; MTPSL: 1, at full resolution; the predictions
            are made at ``neck_stride`` and upsampled).
    """

    enabled: bool = False
    weight: float = 2.0
    reg_weight: float = 0.5
    distance: XTCDistance = "cosine"
    pairs: XTCPairs = "unlabelled"
    width: int = 16
    input_stride: int = 4
