"""The multi-task network (plain ``nn.Module``): backbone, neck, per-task decoders and heads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from dmtl.diffusion import Schedule
from dmtl.errors import ConfigError
from dmtl.models.backbone import TimmBackbone
from dmtl.models.condition import ConditionFusion, ConditionMode
from dmtl.models.decoders import FuseNeck, NeckStyle, TaskDecoder
from dmtl.models.encoding import DEFAULT_DEPTH_SCALE, encode_prediction
from dmtl.models.mtdnet import DenoiserKind, MTDNet
from dmtl.tasks import TaskSpec

Diffusion = Literal["none", "prediction", "feature"]
ConditionInput = Literal["encoded", "raw"]


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
        neck: ``conv_bn_relu`` or ``conv`` (the released neck; see ``FuseNeck``).
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
        neck: NeckStyle = "conv_bn_relu",
    ) -> None:
        super().__init__()
        self.task_names = [t.name for t in tasks]
        self.backbone = TimmBackbone(backbone, pretrained=pretrained, weights=backbone_weights)
        self.neck = FuseNeck(
            self.backbone.channels, self.backbone.strides, embed_dim, neck_stride, neck
        )
        self.decoders = nn.ModuleDict(
            {t.name: TaskDecoder(embed_dim, t.channels, decoder_blocks) for t in tasks}
        )

    def initial(
        self, image: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Initial task features and predictions at the neck stride.

        Args:
            image: (B, 3, H, W), normalised.

        Returns:
            features (B, E, h, w) and predictions (B, C_task, h, w) per task.
        """
        shared = self.neck(self.backbone(image), (image.shape[-2], image.shape[-1]))
        features, predictions = {}, {}
        for name, decoder in self.decoders.items():
            features[name], predictions[name] = decoder(shared)
        return features, predictions

    def forward(self, image: torch.Tensor) -> MultiTaskOutput:
        """Predict every task.

        Args:
            image: (B, 3, H, W), normalised.

        Returns:
            ``MultiTaskOutput`` with predictions (B, C_task, H, W) per task.
        """
        features, predictions = self.initial(image)
        size = image.shape[-2:]
        return MultiTaskOutput(
            predictions={n: upsample(p, size) for n, p in predictions.items()}, features=features
        )


def upsample(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (B, C, h, w) to ``size`` (align_corners=False, as the paper)."""
    return F.interpolate(x, size, mode="bilinear", align_corners=False)


class DiffusionMTLNet(MultiTaskNet):
    """DiffusionMTL: the multi-task baseline whose initial outputs a denoising chain rectifies.

    The baseline (backbone, neck, initial decoders) makes initial features and predictions; their
    detached, encoded predictions make the condition feature; MTDNet noises the initial estimates
    (prediction maps or task features) and denoises them over S steps. ``diffusion='none'`` is the
    plain baseline with the same parameter names, so a baseline checkpoint loads into it.

    In training (``labelled`` given) only the labelled (sample, task) pairs are denoised, batched
    per task by index selection; the other samples' final predictions are their initial ones (the
    loss never reads them). In evaluation every task of every sample is denoised, with noise from
    ``torch.Generator`` seeded by ``inference_seed`` on each call, so predictions are reproducible.

    Args:
        tasks, backbone, pretrained, backbone_weights, embed_dim, neck_stride, decoder_blocks, neck:
            as ``MultiTaskNet``.
        diffusion: ``none``, ``prediction`` or ``feature``.
        condition: ``multitask`` or ``single`` (the ablation "w/o multi-task conditioning").
        refine_only: apply the denoiser S times without noise (the ablation "w/o diffusion").
        steps: S.
        schedule: ``linear`` (the paper's) or ``cosine``.
        cond_channels: width of the condition feature (default ``embed_dim``).
        denoiser_width: width of the denoiser UNet at its finest scale.
        denoiser_mults: width multiplier per UNet scale (its length is the number of scales).
        denoiser_blocks: residual blocks per UNet scale.
        depth_scale: metres mapped to +1 when depth maps are encoded.
        inference_seed: seed of the noise in evaluation; ``None`` draws from the global generator.
        neck: see ``MultiTaskNet``.
        denoiser: ``unet`` (the conv UNet) or ``crossattn`` (the released cross-attention
            denoiser, ``dmtl.models.denoisers.crossattn``; its width is ``cond_channels``).
        condition_input: the condition conv reads the ``encoded`` initial predictions or the
            ``raw`` ones (logits, metres, vectors; the released network).
        attn_blocks, attn_heads: cross-attention blocks and heads of the ``crossattn`` denoiser.
        inference_noise: ``False`` runs the evaluation chain with zero noise (deterministic,
            seed-free; used to compare with the released network's golden outputs).
        denoiser_skip: the denoiser learns a correction of its input: of the noisy feature, or
            of the raw prediction decoded from the noisy map (see ``MTDNet``).
        prediction_scale: prediction diffusion runs on prediction_scale x the encoded maps
            (see ``MTDNet``).
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
        diffusion: Diffusion = "feature",
        condition: ConditionMode = "multitask",
        refine_only: bool = False,
        steps: int = 2,
        schedule: Schedule = "linear",
        cond_channels: int | None = None,
        denoiser_width: int = 64,
        denoiser_mults: Sequence[int] = (1, 2),
        denoiser_blocks: int = 1,
        depth_scale: float = DEFAULT_DEPTH_SCALE,
        inference_seed: int | None = 0,
        neck: NeckStyle = "conv_bn_relu",
        denoiser: DenoiserKind = "unet",
        condition_input: ConditionInput = "encoded",
        attn_blocks: int = 4,
        attn_heads: int = 4,
        inference_noise: bool = True,
        denoiser_skip: bool = False,
        prediction_scale: float = 1.0,
    ) -> None:
        super().__init__(
            tasks,
            backbone,
            pretrained,
            backbone_weights,
            embed_dim,
            neck_stride,
            decoder_blocks,
            neck,
        )
        if condition_input not in ("encoded", "raw"):
            raise ConfigError(
                f"unknown condition_input {condition_input!r}; use 'encoded' or 'raw'"
            )
        self.condition_input = condition_input
        self.inference_noise = inference_noise
        if diffusion not in ("none", "prediction", "feature"):
            raise ConfigError(
                f"unknown diffusion {diffusion!r}; use 'none', 'prediction' or 'feature'"
            )
        self.specs = list(tasks)
        self.diffusion = diffusion
        self.depth_scale = depth_scale
        self.inference_seed = inference_seed
        if diffusion == "none":
            self.condition, self.mtd = None, None
            return
        cond_channels = cond_channels or embed_dim
        self.condition = ConditionFusion(tasks, cond_channels, condition)
        self.mtd = MTDNet(
            tasks,
            diffusion,
            embed_dim,
            cond_channels,
            steps,
            schedule,
            refine_only,
            denoiser_width,
            denoiser_mults,
            denoiser_blocks,
            depth_scale,
            denoiser,
            attn_blocks,
            attn_heads,
            input_skip=denoiser_skip,
            prediction_scale=prediction_scale,
        )

    def forward(
        self,
        image: torch.Tensor,
        labelled: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> MultiTaskOutput:
        """Predict every task; in training denoise only the labelled pairs.

        Args:
            image: (B, 3, H, W), normalised.
            labelled: bool (B, K) in task order; ``None`` denoises every task of every sample.
            generator: source of the diffusion noise (on the image's device); ``None``: in
                evaluation a generator seeded with ``inference_seed``, else the global one.

        Returns:
            ``MultiTaskOutput``: final predictions (B, C_task, H, W), the initial predictions at the
            same size (empty for ``diffusion='none'``) and the initial features.
        """
        features, initial = self.initial(image)
        size = image.shape[-2:]
        if self.mtd is None:
            return MultiTaskOutput(
                predictions={n: upsample(p, size) for n, p in initial.items()}, features=features
            )
        cond = self.condition(
            {
                s.name: initial[s.name].detach()
                if self.condition_input == "raw"
                else encode_prediction(s, initial[s.name].detach(), self.depth_scale)
                for s in self.specs
            }
        )
        noises = self._draw_noise(features, initial, generator)
        rows = self._rows(labelled)
        starts, conds, eps = {}, {}, {}
        for name, idx in rows.items():
            start = self.mtd.start(name, features[name], initial[name])
            starts[name] = start if idx is None else start[idx]
            conds[name] = cond[name] if idx is None else cond[name][idx]
            eps[name] = [e if idx is None else e[idx] for e in noises[name]]
        final = self.mtd(starts, conds, eps) if starts else {}
        # Each initial map is upsampled once; the denoised rows are upsampled alone and copied
        # over it (bilinear resizing treats samples independently, so this equals upsampling the
        # merged low-resolution map).
        initial_up = {n: upsample(p, size) for n, p in initial.items()}
        predictions = {}
        for name, pred in initial_up.items():
            if name in final:
                idx = rows[name]
                refined = upsample(final[name], size)
                pred = refined if idx is None else pred.index_copy(0, idx, refined.to(pred.dtype))
            predictions[name] = pred
        return MultiTaskOutput(predictions=predictions, initial=initial_up, features=features)

    def _rows(self, labelled: torch.Tensor | None) -> dict[str, torch.Tensor | None]:
        """task -> indices of the samples to denoise (None: all); tasks with none are left out.

        The (B, K) mask is read on the host once (one device sync per step instead of one
        ``nonzero`` sync per task); the indices go back to the device without blocking.
        """
        if labelled is None:
            return dict.fromkeys(self.task_names)
        host = labelled.detach().to("cpu", torch.bool)
        rows = {}
        for k, name in enumerate(self.task_names):
            idx = host[:, k].nonzero().squeeze(1)
            if idx.numel():
                rows[name] = idx.to(labelled.device, non_blocking=True)
        return rows

    def _draw_noise(
        self,
        features: dict[str, torch.Tensor],
        initial: dict[str, torch.Tensor],
        generator: torch.Generator | None = None,
    ) -> dict[str, list[torch.Tensor]]:
        """S standard normal tensors per task, for the whole batch, in a fixed order.

        Drawn for every sample (not only the denoised ones), so a sample's noise does not depend on
        which other samples are labelled; zeros when the chain has no noise (``refine_only``, or
        evaluation with ``inference_noise=False``). Seeded evaluation
        draws one map and gives it to every sample, so a prediction is a function of the image and
        the seed alone, whatever batch or process (DDP shard) the image lands in.
        """
        noises = {}
        shared = generator is None and not self.training and self.inference_seed is not None
        if shared:
            device = next(iter(features.values())).device
            generator = torch.Generator(device=device).manual_seed(self.inference_seed)
        for name in self.task_names:
            like = features[name] if self.diffusion == "feature" else initial[name]
            if self.mtd.refine_only or not (self.training or self.inference_noise):
                noises[name] = [torch.zeros_like(like)] * self.mtd.steps
                continue
            shape = (1, *like.shape[1:]) if shared else like.shape
            noises[name] = [
                torch.randn(
                    shape, generator=generator, device=like.device, dtype=like.dtype
                ).expand(like.shape)
                for _ in range(self.mtd.steps)
            ]
        return noises
