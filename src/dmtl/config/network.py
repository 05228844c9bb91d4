"""The network's option groups: the initial network, the denoising chain and its denoiser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import dmtl.config.checks as check

Space = Literal["none", "prediction", "feature"]
Schedule = Literal["linear", "cosine"]
ConditionMode = Literal["multitask", "single", "none"]
ConditionInput = Literal["encoded", "raw"]
NeckName = Literal["conv_bn_relu", "conv", "lateral"]
DenoiserKind = Literal["unet", "crossattn"]

DEFAULT_DEPTH_SCALE = 10.0  # metres mapped to +1 when depth maps are encoded


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
