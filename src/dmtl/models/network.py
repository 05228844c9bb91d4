"""The multi-task networks (plain ``nn.Module``): the baseline and DiffusionMTL.

Both take the option groups of ``dmtl.config`` by keyword (a dict is accepted too, e.g. saved
hyper-parameters): ``MultiTaskNet(tasks, network=...)`` and ``DiffusionMTLNet(tasks, network=...,
diffusion=..., denoiser=...)``. Every default lives in ``dmtl.config``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dmtl.config import DenoiserConfig, DiffusionConfig, NetworkConfig
from dmtl.config.groups import as_group
from dmtl.diffusion import Trace
from dmtl.errors import ConfigError
from dmtl.models.backbone import TimmBackbone
from dmtl.models.condition import CONDITION_INPUTS, ConditionFusion
from dmtl.models.decoders import TaskDecoder
from dmtl.models.mtdnet import MTDNet
from dmtl.models.necks import build_neck
from dmtl.models.output import MultiTaskOutput
from dmtl.models.spaces import SPACES
from dmtl.noise import NoiseSource
from dmtl.tasks import TaskSpec

__all__ = ["DiffusionMTLNet", "MultiTaskNet", "MultiTaskOutput", "upsample"]

Group = Mapping[str, Any] | None


class MultiTaskNet(nn.Module):
    """The multi-task baseline: shared backbone and neck, one initial decoder and head per task.

    With a single task this is the single-task reference model that Δm compares against.

    Args:
        tasks: the task specs (name and output channels).
        network: backbone, neck and decoders (``NetworkConfig``, or a dict of its fields).
    """

    def __init__(self, tasks: Sequence[TaskSpec], *, network: NetworkConfig | Group = None) -> None:
        super().__init__()
        network = as_group(NetworkConfig, network)
        self.task_names = [t.name for t in tasks]
        self.backbone = TimmBackbone(
            network.backbone, pretrained=network.pretrained, weights=network.backbone_weights
        )
        self.neck = build_neck(
            network.neck,
            self.backbone.channels,
            self.backbone.strides,
            network.embed_dim,
            network.neck_stride,
        )
        self.decoders = nn.ModuleDict(
            {
                t.name: TaskDecoder(network.embed_dim, t.channels, network.decoder_blocks)
                for t in tasks
            }
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
        return self.decode(self.trunk(image))

    def trunk(self, image: torch.Tensor) -> torch.Tensor:
        """The shared feature (B, E, h, w): the backbone's maps fused by the neck."""
        return self.neck(self.backbone(image), (image.shape[-2], image.shape[-1]))

    def decode(
        self, shared: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Each task decoder on the shared feature: features and predictions per task."""
        features, predictions = {}, {}
        for name, decoder in self.decoders.items():
            features[name], predictions[name] = decoder(shared)
        return features, predictions

    def forward(self, image: torch.Tensor) -> MultiTaskOutput:
        """Predict every task.

        Args:
            image: (B, 3, H, W), normalised.

        Returns:
            ``MultiTaskOutput`` with predictions (B, C_task, H, W) per task, every sample.
        """
        shared = self.trunk(image)
        features, predictions = self.decode(shared)
        return _baseline_output(shared, features, predictions, image.shape[-2:])


def upsample(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (B, C, h, w) to ``size`` (align_corners=False, as the paper)."""
    return F.interpolate(x, size, mode="bilinear", align_corners=False)


def _baseline_output(
    shared: torch.Tensor,
    features: dict[str, torch.Tensor],
    predictions: dict[str, torch.Tensor],
    size: torch.Size | tuple[int, int],
) -> MultiTaskOutput:
    """Every task for every sample, upsampled to ``size``; no initial predictions."""
    return MultiTaskOutput(
        predictions={n: upsample(p, size) for n, p in predictions.items()},
        rows=dict.fromkeys(predictions),
        features=features,
        shared=shared,
    )


class DiffusionMTLNet(MultiTaskNet):
    """DiffusionMTL: the multi-task baseline whose initial outputs a denoising chain rectifies.

    The baseline (backbone, neck, initial decoders) makes initial features and predictions; their
    detached predictions (encoded, or raw: ``diffusion.condition_input``) make the condition
    feature; MTDNet noises the initial estimates (prediction maps or task features) and denoises
    them over S steps. ``diffusion.space='none'`` is the plain baseline with the same parameter
    names, so a baseline checkpoint loads into it.

    In training (``labelled`` given) only the labelled (sample, task) pairs are denoised, batched
    per task by index selection, and the output holds those rows alone (see ``MultiTaskOutput``).
    In evaluation every task of every sample is denoised. The chain's noise comes from the
    ``dmtl.noise.NoiseSource`` the caller hands over (the Lightning module builds one per training
    step and one per inference seed); without one, a forward in training draws from torch's global
    generator and one in evaluation takes ``diffusion.inference_seed``'s maps shared by the batch
    (none with ``diffusion.inference_noise: false``). The ablation without diffusion draws nothing.

    Args:
        tasks: the task specs.
        network: backbone, neck and decoders (``NetworkConfig`` or a dict).
        diffusion: the chain (``DiffusionConfig`` or a dict).
        denoiser: the shared denoiser (``DenoiserConfig`` or a dict).

    Raises:
        ConfigError: an unknown space, condition, condition input or denoiser, or options the
            space or denoiser refuses.
    """

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        *,
        network: NetworkConfig | Group = None,
        diffusion: DiffusionConfig | Group = None,
        denoiser: DenoiserConfig | Group = None,
    ) -> None:
        network = as_group(NetworkConfig, network)
        diffusion = as_group(DiffusionConfig, diffusion)
        denoiser = as_group(DenoiserConfig, denoiser)
        if diffusion.space != "none" and diffusion.space not in SPACES:
            choices = ", ".join(repr(s) for s in ("none", *SPACES))
            raise ConfigError(
                f"unknown diffusion space {diffusion.space!r} (diffusion.space); use {choices}"
            )
        if diffusion.condition_input not in CONDITION_INPUTS:
            choices = " or ".join(repr(c) for c in CONDITION_INPUTS)
            raise ConfigError(
                f"unknown condition_input {diffusion.condition_input!r} "
                f"(diffusion.condition_input); use {choices}"
            )
        if diffusion.condition == "none" and denoiser.kind != "unet":
            raise ConfigError(
                "diffusion.condition: none needs denoiser.kind: unet (the crossattn denoiser "
                "attends from its condition)"
            )
        super().__init__(tasks, network=network)
        self.specs = list(tasks)
        self.depth_scale = diffusion.depth_scale
        self.condition_map = CONDITION_INPUTS[diffusion.condition_input]
        # evaluation noise of a forward given no source (fixed at construction, never changed)
        self.default_noise = (
            NoiseSource.evaluation(diffusion.inference_seed)
            if diffusion.inference_noise
            else NoiseSource.none()
        )
        self.refine_only = diffusion.refine_only  # the chain ignores noise: none is drawn
        if diffusion.space == "none":
            self.condition, self.mtd = None, None
            return
        cond_channels = (
            0 if diffusion.condition == "none" else diffusion.cond_channels or network.embed_dim
        )
        self.condition = ConditionFusion(tasks, cond_channels, diffusion.condition)
        self.mtd = MTDNet(
            tasks,
            feature_channels=network.embed_dim,
            cond_channels=cond_channels,
            diffusion=diffusion,
            denoiser=denoiser,
        )

    def forward(
        self,
        image: torch.Tensor,
        labelled: torch.Tensor | None = None,
        noise: NoiseSource | None = None,
        trace: Trace | None = None,
    ) -> MultiTaskOutput:
        """Predict every task; in training denoise only the labelled pairs.

        Args:
            image: (B, 3, H, W), normalised.
            labelled: bool (B, K) in task order: the (sample, task) pairs to denoise; ``None``
                denoises every task of every sample.
            noise: where the chain's noise comes from (``dmtl.noise.NoiseSource``); ``None``:
                the global generator in training, ``default_noise`` in evaluation.
            trace: filled with the chain's statistics per task (``MTDNet.forward``) when given.

        Returns:
            ``MultiTaskOutput``: the final predictions (H, W) of the denoised pairs with their row
            indices, the initial predictions of every sample at the same size (empty for
            ``space='none'``) and the initial features.
        """
        shared = self.trunk(image)
        features, initial = self.decode(shared)
        size = image.shape[-2:]
        if self.mtd is None:
            return _baseline_output(shared, features, initial, size)
        cond = self.condition(
            {
                s.name: self.condition_map(s, initial[s.name].detach(), self.depth_scale)
                for s in self.specs
            }
        )
        like = {n: self.mtd.space.noise_like(features[n], initial[n]) for n in self.task_names}
        noises = self._noise(like, noise)
        rows = self._rows(labelled)
        starts, conds, eps = {}, {}, {}
        for name, idx in rows.items():
            start = self.mtd.start(name, features[name], initial[name])
            starts[name] = start if idx is None else start[idx]
            conds[name] = cond[name] if idx is None else cond[name][idx]
            eps[name] = [e if idx is None else e[idx] for e in noises[name]]
        final = self.mtd(starts, conds, eps, trace) if starts else {}
        return MultiTaskOutput(
            predictions={n: upsample(p, size) for n, p in final.items()},
            initial={n: upsample(p, size) for n, p in initial.items()},
            rows={n: rows[n] for n in final},
            features=features,
            shared=shared,
        )

    def _noise(
        self, like: dict[str, torch.Tensor], noise: NoiseSource | None
    ) -> dict[str, list[torch.Tensor]]:
        """The chain's noise for the whole batch, every task in task order, from ``noise``.

        Drawn for every sample (not only the denoised ones), so a sample's noise does not depend on
        which other samples are labelled; zeros without drawing for ``refine_only``.
        """
        if self.refine_only:
            noise = NoiseSource.none()
        elif noise is None:
            noise = NoiseSource.from_generator(None) if self.training else self.default_noise
        return noise.draw(like, self.mtd.process.steps)

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
