"""The released DiffusionMTL recipe (docs/released.md), as the option groups of the module.

The one place the paper-exact hyper-parameters are written: the converter
(``dmtl.released.convert``) declares them for a released checkpoint, and
``experiments/pascal_context/paper_feature_*.yaml`` must equal them (a test reads both).
The trainer part of the recipe (100 epochs, batch 6, grad-norm clip 10, SyncBN) is in
``experiments/pascal_context/base.yaml``.
"""

from __future__ import annotations

from typing import Any

from dmtl.config import (
    MAX_DIST_PASCAL,
    DenoiserConfig,
    DiffusionConfig,
    EvaluationConfig,
    LossConfig,
    NetworkConfig,
    OptimConfig,
)
from dmtl.losses.released import RELEASED_WEIGHTS

DATASET = "pascal_context"


def released_recipe() -> dict[str, Any]:
    """The released network and training recipe, one new instance of each group.

    ``network``: ResNet-18 with ImageNet weights, the ``conv`` neck (a 3x3 conv with bias over the
    four levels at half the stride-4 size) 512 wide at stride 8, two blocks per initial decoder.
    ``diffusion``: feature diffusion, S = 2 linear steps, multi-task conditioning on the raw initial
    predictions. ``denoiser``: four two-stream cross-attention blocks with four heads.
    ``loss``: the released task losses and weights, per-sample normalisation, initial weight 0.5.
    ``optim``: Adam, lr 2e-5, weight decay 1e-6, poly 0.9 decayed per epoch.
    ``evaluation``: the literature's PASCAL-Context protocol (matched boundary odsF at 0.0075 of
    the diagonal, saliency maxF with the published sigmoid).
    """
    return {
        "network": NetworkConfig(
            backbone="resnet18",
            pretrained=True,
            embed_dim=512,
            neck="conv",
            neck_stride=8,
            decoder_blocks=2,
        ),
        "diffusion": DiffusionConfig(
            space="feature",
            steps=2,
            schedule="linear",
            refine_only=False,
            condition="multitask",
            condition_input="raw",
        ),
        "denoiser": DenoiserConfig(kind="crossattn", attn_blocks=4, attn_heads=4),
        "loss": LossConfig(
            recipe="released",
            weights=dict(RELEASED_WEIGHTS),
            initial_weight=0.5,
            normalization="sample",
            normals="l1",
        ),
        "optim": OptimConfig(
            name="adam", lr=2e-5, weight_decay=1e-6, poly_power=0.9, poly_interval="epoch"
        ),
        "evaluation": EvaluationConfig(
            boundary_metric="ods",
            boundary_max_dist=MAX_DIST_PASCAL,
            saliency_literature_sigmoid=True,
            absent_class="zero",  # the released evaluation's IoU of an absent class
            boundary_thresholds="seism",
        ),
    }
