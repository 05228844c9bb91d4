"""JTR's option group: Joint-Task Regularization (Nishi, Kim, Li & Pfister, CVPR 2024)."""

from __future__ import annotations

from dataclasses import dataclass

import dmtl.config.checks as check
from dmtl.config.views import SCALES, PredictionSource, check_scales, check_source
from dmtl.errors import ConfigError

JTR_WIDTHS = (64, 128, 256, 512, 512)  # the auto-encoder's SegNet levels (JTR)
NYU_DEPTH_MEAN = 2.3618  # JTR's depth squashing Φ((d - mean) / std), NYUv2 metres (its code)
NYU_DEPTH_STD = 1.5876


@dataclass
class JTRConfig:
    """JTR: a joint-task auto-encoder's latent distance regularises the unlabelled tasks.

    Defaults are the released code's (``KentoNishi/JTR-CVPR-2024@f6a2279``, docs/jtr.md); the
    three ``*_quirk`` flags reproduce what that code does where it departs from the paper's
    description, and turn into one consistent encoding per task when false.

    Attributes:
        enabled: add the term.
        alpha: α, the weight of the distance terms (``dist_mtl_weight`` = 4).
        recon_weight: λ, the weight of the auto-encoder's view-2 distance (times α) and of its
            reconstruction losses (``recon_weight`` = 2).
        scales: the scale-crop of views 1 and 2 (JTR: 1, 1.2, 1.5).
        randaugment: RandAugment-lite on views 1 and 2 (JTR: on every view).
        widths: the auto-encoder's five level widths (JTR: 64, 128, 256, 512, 512).
        per_sample_ae: normalise each sample alone in the auto-encoder (the released code runs it
            with batch size 1); false: batch statistics.
        depth_mean: mean of the depth squashing Φ((d - mean) / std) (JTR's NYUv2 constant, also
            used on Cityscapes' inverse depth by its code).
        depth_std: its standard deviation.
        soft_view2_segmentation_quirk: view 2's predicted segmentation enters the auto-encoder as
            the softmax, not the hard Gumbel one-hot (the released code).
        double_depth_squash_quirk: the reconstruction target of the predicted depth is squashed
            twice, Φ(Φ(d)) (the released code).
        mixed_normal_targets_quirk: the reconstruction target of the predicted normals is
            (n + 1) / 2 while that of the labels is n (the released code).
        predictions: with diffusion on, which predictions are regularised: ``initial`` (the
            initial decoders') or ``final`` (the chain's, run on every pair of the views).
        input_stride: the auto-encoder reads the stacked maps average-pooled by this factor
            (1: full resolution, as JTR; 2 or 4 bound its cost on large crops, a departure).
        inverse_depth: the depth maps hold inverse depth (Cityscapes), which a zoom by s
            multiplies instead of dividing; ``None`` (the default): the dataset's units (the
            module resolves it from ``dataset``); ``false`` on inverse depth divides it, as JTR's
            released code does.
    """

    enabled: bool = False
    alpha: float = 4.0
    recon_weight: float = 2.0
    scales: tuple[float, ...] = SCALES
    randaugment: bool = True
    widths: tuple[int, ...] = JTR_WIDTHS
    per_sample_ae: bool = False
    depth_mean: float = NYU_DEPTH_MEAN
    depth_std: float = NYU_DEPTH_STD
    soft_view2_segmentation_quirk: bool = True
    double_depth_squash_quirk: bool = True
    mixed_normal_targets_quirk: bool = True
    predictions: PredictionSource = "initial"
    input_stride: int = 1
    inverse_depth: bool | None = None

    def __post_init__(self) -> None:
        key = "model.jtr"
        check.non_negative(f"{key}.alpha", self.alpha)
        check.non_negative(f"{key}.recon_weight", self.recon_weight)
        check_scales(f"{key}.scales", self.scales)
        if not isinstance(self.widths, (list, tuple)) or len(self.widths) != len(JTR_WIDTHS):
            raise ConfigError(f"{key}.widths must list 5 level widths, got {self.widths!r}")
        check.integers_at_least(f"{key}.widths", self.widths, 1)
        self.widths = tuple(self.widths)
        self.scales = tuple(self.scales)
        check.positive(f"{key}.depth_mean", self.depth_mean)
        check.positive(f"{key}.depth_std", self.depth_std)
        check.integer_at_least(f"{key}.input_stride", self.input_stride, 1)
        check_source(f"{key}.predictions", self.predictions)
