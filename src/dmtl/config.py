"""The option groups of the Lightning system: each default written once, passed by keyword.

``DiffusionMTLModule`` takes one instance of each group; LightningCLI shows them as nested YAML
(``model.network.backbone``, ``model.diffusion.steps``, ...). Each layer below the module takes the
groups it needs (or their fields by keyword), never a relayed list of positional options.
A group may also be given as a plain dict (a checkpoint's saved hyper-parameters);
``dmtl.groups.as_group`` turns it back into the dataclass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from dmtl import validation as check
from dmtl.errors import ConfigError
from dmtl.groups import as_group

Space = Literal["none", "prediction", "feature"]
Schedule = Literal["linear", "cosine"]
ConditionMode = Literal["multitask", "single", "none"]
ConditionInput = Literal["encoded", "raw"]
NeckName = Literal["conv_bn_relu", "conv", "lateral"]
DenoiserKind = Literal["unet", "crossattn"]
LossRecipe = Literal["dmtl", "released"]
LossNormalization = Literal["task", "sample"]
NormalsLoss = Literal["l1", "cosine"]
Weighting = Literal["equal", "uncertainty", "dwa", "famo"]
WEIGHTINGS = ("equal", "uncertainty", "dwa", "famo")
OptimizerName = Literal["adam", "adamw", "sgd"]
PolyInterval = Literal["step", "epoch"]
BoundaryMetricName = Literal["dilation", "ods"]
XTCDistance = Literal["cosine", "l1"]
XTCPairs = Literal["unlabelled", "all"]

DEFAULT_DEPTH_SCALE = 10.0  # metres mapped to +1 when depth maps are encoded
MAX_DIST_PASCAL = 0.0075  # boundary match radius, fraction of the image diagonal (PASCAL-Context)


@dataclass
class NetworkConfig:
    """The initial multi-task network: backbone, neck and per-task decoders.

    Attributes:
        backbone: timm model name.
        pretrained: ImageNet weights for the backbone (timm's hub cache or network).
        backbone_weights: a local weights file for the backbone.
        embed_dim: width of the neck and of the task decoders.
        neck: ``conv_bn_relu``, ``conv`` (the released neck) or ``lateral``.
        neck_stride: stride of the fused feature map.
        decoder_blocks: basic blocks per initial task decoder.
        num_classes: output channels of the tasks whose class count the dataset leaves to the
            config (``folder``: ``{semseg: N}``); linked from ``data.num_classes``.
    """

    backbone: str = "resnet18"
    pretrained: bool = False
    backbone_weights: str | None = None
    embed_dim: int = 256
    neck: NeckName = "conv_bn_relu"
    neck_stride: int = 8
    decoder_blocks: int = 2
    num_classes: dict[str, int] | None = None

    def __post_init__(self) -> None:
        check.integer_at_least("model.network.embed_dim", self.embed_dim, 1)
        check.integer_at_least("model.network.neck_stride", self.neck_stride, 1)
        check.integer_at_least("model.network.decoder_blocks", self.decoder_blocks, 0)


@dataclass
class DiffusionConfig:
    """The denoising chain: its space, steps, schedule, condition and noise.

    Attributes:
        space: ``feature`` or ``prediction`` (DiffusionMTL), ``none`` (the MTL baseline).
        steps: S, the number of denoising steps.
        schedule: ``linear`` (the paper's) or ``cosine``.
        refine_only: the ablation "w/o diffusion": the denoiser applied S times with no noise.
        condition: ``multitask`` (the paper), ``single`` (each task conditioned on its own
            initial prediction) or ``none`` (no condition: no condition conv, a denoiser without
            a condition input; the paper's ablation "w/o multi-task conditioning").
        condition_input: the condition conv reads the ``encoded`` or the ``raw`` initial
            predictions (logits, metres, vectors: the release).
        cond_channels: width of the condition feature (default: the network's ``embed_dim``).
        depth_scale: metres mapped to +1 when depth maps are encoded.
        prediction_scale: prediction diffusion runs on this multiple of the encoded maps.
        feature_scale: feature diffusion runs on this multiple of the task features (the heads
            read x̂₀ / feature_scale); below 1 the schedule's noise is a larger share of the signal.
        noise_seed: seed of the training noise (each step's noise a function of this seed, the
            step and the rank); ``None``: the run's seed (``seed_everything``), so runs of
            different seeds draw different noise.
        inference_seed: seed of the evaluation noise (each image's noise a function of this seed,
            the image's name, the task and the step); ``None``: the global generator.
        inference_noise: ``False`` runs the evaluation chain with zero noise.
    """

    space: Space = "feature"
    steps: int = 2
    schedule: Schedule = "linear"
    refine_only: bool = False
    condition: ConditionMode = "multitask"
    condition_input: ConditionInput = "encoded"
    cond_channels: int | None = None
    depth_scale: float = DEFAULT_DEPTH_SCALE
    prediction_scale: float = 1.0
    feature_scale: float = 1.0
    noise_seed: int | None = None
    inference_seed: int | None = 0
    inference_noise: bool = True

    def __post_init__(self) -> None:
        check.integer_at_least("model.diffusion.steps", self.steps, 1)
        check.optional_integer_at_least("model.diffusion.cond_channels", self.cond_channels, 1)
        check.positive("model.diffusion.depth_scale", self.depth_scale)
        check.positive("model.diffusion.prediction_scale", self.prediction_scale)


@dataclass
class DenoiserConfig:
    """The shared denoiser.

    Attributes:
        kind: ``unet`` (the timestep-embedded conv UNet) or ``crossattn`` (the released denoiser).
        width: UNet width at its finest scale.
        mults: UNet width multiplier per scale (its length is the number of scales).
        blocks: UNet residual blocks per scale.
        skip: the UNet learns a correction of its input (zero-initialised heads).
        attn_blocks: cross-attention blocks (``crossattn``).
        attn_heads: attention heads (``crossattn``).
    """

    kind: DenoiserKind = "unet"
    width: int = 32
    mults: tuple[int, ...] = (1, 2)
    blocks: int = 1
    skip: bool = False
    attn_blocks: int = 4
    attn_heads: int = 4

    def __post_init__(self) -> None:
        check.integer_at_least("model.denoiser.width", self.width, 1)
        check.integers_at_least("model.denoiser.mults", self.mults, 1)
        check.integer_at_least("model.denoiser.blocks", self.blocks, 0)
        check.integer_at_least("model.denoiser.attn_blocks", self.attn_blocks, 0)
        check.integer_at_least("model.denoiser.attn_heads", self.attn_heads, 1)


@dataclass
class WeightingOptions:
    """The hyper-parameters of the learned loss weightings (docs/weighting.md; LibMTL's defaults).

    Attributes:
        uncertainty_init: ``uncertainty``'s initial log-variance s_t (weight e^{-s_t} / 2).
        dwa_temperature: ``dwa``'s temperature τ.
        famo_lr: ``famo``'s Adam learning rate of the logits.
        famo_weight_decay: ``famo``'s weight decay γ of the logits.
        famo_eps: ``famo``'s ε in log(L_t + ε).
    """

    uncertainty_init: float = -0.5
    dwa_temperature: float = 2.0
    famo_lr: float = 0.025
    famo_weight_decay: float = 1e-3
    famo_eps: float = 1e-8

    def __post_init__(self) -> None:
        key = "model.loss.weighting_options"
        if not isinstance(self.uncertainty_init, (int, float)) or not math.isfinite(
            self.uncertainty_init
        ):
            raise ConfigError(
                f"{key}.uncertainty_init must be a finite number, got {self.uncertainty_init!r}"
            )
        check.positive(f"{key}.dwa_temperature", self.dwa_temperature)
        check.positive(f"{key}.famo_lr", self.famo_lr)
        check.non_negative(f"{key}.famo_weight_decay", self.famo_weight_decay)
        check.positive(f"{key}.famo_eps", self.famo_eps)


@dataclass
class LossConfig:
    """The masked multi-task loss.

    Attributes:
        recipe: ``dmtl`` (the package's task losses) or ``released`` (the released code's).
        weights: task -> loss weight (default 1, or the released weights with ``released``).
        initial_weight: weight of the initial predictions' loss (the paper: 0.5).
        normalization: ``task`` or ``sample`` (the release); default ``task``, ``sample`` with
            ``recipe: released``.
        normals: ``l1`` or ``cosine``.
        weighting: how the tasks' losses combine: ``equal`` (the fixed ``weights``),
            ``uncertainty``, ``dwa`` or ``famo`` (docs/weighting.md); the learned ones need
            ``task`` normalisation.
        weighting_options: their hyper-parameters.
    """

    recipe: LossRecipe = "dmtl"
    weights: dict[str, float] | None = None
    initial_weight: float = 0.5
    normalization: LossNormalization | None = None
    normals: NormalsLoss = "l1"
    weighting: Weighting = "equal"
    weighting_options: WeightingOptions = field(default_factory=WeightingOptions)

    def __post_init__(self) -> None:
        check.non_negative("model.loss.initial_weight", self.initial_weight)
        for task, weight in (self.weights or {}).items():
            check.non_negative(f"model.loss.weights.{task}", weight)
        if self.weighting not in WEIGHTINGS:
            names = ", ".join(WEIGHTINGS)
            raise ConfigError(
                f"unknown model.loss.weighting {self.weighting!r}; use one of {names}"
            )
        if isinstance(self.weighting_options, Mapping):  # saved hyper-parameters: plain data
            self.weighting_options = as_group(WeightingOptions, self.weighting_options)
        sample = (
            self.normalization or ("sample" if self.recipe == "released" else "task")
        ) == "sample"
        if sample and self.weighting != "equal":
            raise ConfigError(
                f"model.loss.weighting={self.weighting} needs model.loss.normalization=task: it "
                "weighs per-task batch losses, so the per-sample K/|L_i| scaling must be off "
                "(docs/weighting.md)"
            )


@dataclass
class OptimConfig:
    """Optimiser and the poly learning-rate decay.

    Attributes:
        name: ``adam``, ``adamw`` or ``sgd`` (momentum 0.9).
        lr: peak learning rate.
        weight_decay: weight decay.
        poly_power: the rate decays as (1 - step / total) ** poly_power.
        poly_interval: the decay steps per optimiser ``step`` or per ``epoch`` (the release).
    """

    name: OptimizerName = "adam"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    poly_power: float = 0.9
    poly_interval: PolyInterval = "step"

    def __post_init__(self) -> None:
        check.positive("model.optim.lr", self.lr)
        check.non_negative("model.optim.weight_decay", self.weight_decay)
        check.non_negative("model.optim.poly_power", self.poly_power)


@dataclass
class EvaluationConfig:
    """What validation and test measure.

    Attributes:
        reference: a YAML/JSON file {task: {metric: value}} of single-task results; when given,
            ``val/delta_m`` and ``test/delta_m`` are logged.
        boundary_metric: ``dilation`` (fast approximation) or ``ods`` (the literature's).
        boundary_max_dist: ``ods`` match radius, fraction of the image diagonal.
        saliency_literature_sigmoid: saliency maxF thresholds σ(probability), as published.
        log_initial_metrics: DiffusionMTL also scores its initial predictions in validation.
        inference_seeds: validation and test run the chain once per seed and report the mean
            (and std) over them; ``None``: the one seed ``diffusion.inference_seed``.
        depth_clamp_min: depth predictions below it are raised to it before the depth metrics
            (``None``: scored raw; MTPSL and the released code use 1e-9).
        absent_class: what a class absent from the whole split adds to the mIoU: ``skip``
            (nothing), ``zero`` (IoU 0, the released PASCAL-Context code) or ``nan``.
        boundary_thresholds: the boundary F-measure's threshold grid: ``coarse`` (19),
            ``seism`` (SEISM's 101) or a list of probabilities.
    """

    reference: str | None = None
    boundary_metric: BoundaryMetricName = "dilation"
    boundary_max_dist: float = MAX_DIST_PASCAL
    saliency_literature_sigmoid: bool = False
    log_initial_metrics: bool = True
    inference_seeds: list[int] | None = None
    depth_clamp_min: float | None = None
    absent_class: Literal["skip", "zero", "nan"] = "skip"
    boundary_thresholds: str | list[float] = "coarse"

    def __post_init__(self) -> None:
        check.positive("model.evaluation.boundary_max_dist", self.boundary_max_dist)


@dataclass
class SpeedConfig:
    """Execution options that change speed, never the function.

    Attributes:
        channels_last: NHWC memory for the weights and the input images.
        compile: ``torch.compile`` the network's parts.
    """

    channels_last: bool = False
    compile: bool = False


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


# The module's option groups, by argument name, in the order of its signature.
GROUPS: dict[str, type] = {
    "network": NetworkConfig,
    "diffusion": DiffusionConfig,
    "denoiser": DenoiserConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
    "evaluation": EvaluationConfig,
    "speed": SpeedConfig,
    "xtc": XTCConfig,
}
