"""``DiffusionMTLModule``: the Lightning system around the multi-task network."""

from __future__ import annotations

import math
from typing import Literal

import lightning.pytorch as pl
import torch

from dmtl.diffusion import Schedule
from dmtl.errors import ConfigError
from dmtl.losses.masked import LossNormalization, NormalsLoss
from dmtl.losses.released import LossRecipe, build_criterion
from dmtl.metrics import MAX_DIST_PASCAL, MultiTaskMetrics, delta_m, load_reference
from dmtl.metrics.multitask import BoundaryMetricName
from dmtl.models.condition import ConditionMode
from dmtl.models.decoders import NeckStyle
from dmtl.models.encoding import DEFAULT_DEPTH_SCALE
from dmtl.models.fast_paths import channels_last_input, compile_network, to_channels_last
from dmtl.models.mtdnet import DenoiserKind
from dmtl.models.network import ConditionInput, Diffusion, DiffusionMTLNet, MultiTaskOutput
from dmtl.optim import OptimizerName, build_optimizer
from dmtl.tasks import resolve_tasks

PolyInterval = Literal["step", "epoch"]
NOISE_SEED_STRIDE = 1_000_003  # steps of one noise seed never meet those of the next


class DiffusionMTLModule(pl.LightningModule):
    """Trains and evaluates DiffusionMTL (or the MTL baseline) from partially labelled batches.

    Args:
        dataset: dataset whose task set gives the channel counts (linked from the data module).
        tasks: task names (linked from the data module).
        backbone: timm backbone name.
        pretrained: ImageNet weights for the backbone (needs network or the timm cache).
        backbone_weights: a local weights file for the backbone.
        embed_dim: width of the neck and of the task decoders.
        neck_stride: stride of the fused feature map.
        decoder_blocks: basic blocks per initial task decoder.
        diffusion: ``feature`` or ``prediction`` (DiffusionMTL), or ``none`` (the MTL baseline).
        condition: ``multitask`` (the paper) or ``single`` (ablation: each task conditioned on its
            own initial prediction only).
        refine_only: ablation "w/o diffusion": the denoiser applied S times with no noise.
        steps: S, the number of denoising steps.
        schedule: noise schedule, ``linear`` (the paper's) or ``cosine``.
        cond_channels: width of the condition feature (default ``embed_dim``).
        denoiser_width: width of the denoiser UNet at its finest scale.
        denoiser_mults: width multiplier per UNet scale.
        denoiser_blocks: residual blocks per UNet scale.
        denoiser_skip: the denoiser learns a correction of its input instead of rebuilding it
            through its width: of the noisy task feature (feature diffusion), or of the raw
            prediction decoded from the noisy map (prediction diffusion; see ``MTDNet``).
        depth_scale: metres mapped to +1 when depth maps are encoded (prediction diffusion and the
            condition feature).
        prediction_scale: prediction diffusion runs on prediction_scale x the encoded maps, so the
            schedule's noise is 1/prediction_scale of what it is on maps in [-1, 1] (the signal
            scaling of bit diffusion; see ``MTDNet``).
        inference_seed: seed of the denoising noise in evaluation (``null``: global generator).
        noise_seed: the training noise of a step is drawn from a generator seeded with (noise_seed,
            global step, process rank), so it does not depend on what else drew from the global
            generator, and a resumed run draws the same noise; ``null``: the global generator.
        loss_weights: task -> loss weight (default: 1, or the released weights with
            ``loss_recipe=released``).
        initial_weight: weight of the initial predictions' loss (the paper: 0.5).
        loss_normalization: ``task`` (each task's loss is the mean over its labelled samples) or
            ``sample`` (the released code: per sample, K / |labelled tasks| times the sum of its
            labelled tasks' losses, averaged over the batch); default: ``task``, or ``sample``
            with ``loss_recipe=released``.
        normals_loss: ``l1`` or ``cosine``.
        optimizer: ``adam``, ``adamw`` or ``sgd`` (momentum 0.9); Adam/AdamW use the fused
            kernel when the parameters are on CUDA.
        lr: peak learning rate.
        weight_decay: weight decay.
        poly_power: the learning rate decays as (1 - step / total) ** poly_power.
        poly_interval: the decay steps per optimiser ``step`` or per ``epoch`` (the release).
        reference: a YAML/JSON file {task: {metric: value}} of single-task results; when given,
            ``val/delta_m`` and ``test/delta_m`` are logged.
        panel_samples: validation samples drawn in the panel PNG saved each validation run.
        boundary_metric: ``dilation`` (fast approximation) or ``ods`` (thinned, one-to-one
            matched boundary F of the literature; for benchmark numbers).
        boundary_max_dist: ``ods`` match radius as a fraction of the image diagonal (0.0075
            PASCAL-Context, 0.011 NYUD-v2).
        saliency_literature_sigmoid: saliency maxF thresholds σ(probability), the quirk of the
            published evaluation.
        neck: ``conv_bn_relu``, ``conv`` (the released neck: a 3x3 conv with bias over the
            levels resized to half the stride-4 map) or ``lateral`` (1x1 convs per level summed,
            then a 3x3 conv; the cheap neck of the synthetic default job).
        denoiser: ``unet`` (conv UNet) or ``crossattn`` (the released cross-attention denoiser).
        condition_input: the condition conv reads ``encoded`` or ``raw`` (the release) initial
            predictions.
        attn_blocks: cross-attention blocks of the ``crossattn`` denoiser.
        attn_heads: attention heads of the ``crossattn`` denoiser.
        inference_noise: ``False``: evaluation runs the chain with zero noise.
        loss_recipe: ``dmtl`` (the package's task losses) or ``released`` (the released code's:
            class-balanced saliency CE, boundary BCE × 0.05; ``dmtl.losses.released``).
        log_initial_metrics: DiffusionMTL: also evaluate the initial predictions in validation
            (logged as ``val_initial/...``, and ``val_initial_metrics.json`` at the end of fit), to
            show what the denoiser rectifies; costs one more metric update per batch.
        channels_last: NHWC memory for the network's weights and input images (faster
            convolutions with bf16 on tensor-core GPUs; the same function).
        compile: ``torch.compile`` the network's parts (see ``dmtl.models.fast_paths``; the
            first steps are slow while it compiles).
    """

    def __init__(
        self,
        dataset: str = "synthetic",
        tasks: list[str] | None = None,
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
        denoiser_width: int = 32,
        denoiser_mults: tuple[int, ...] = (1, 2),
        denoiser_blocks: int = 1,
        denoiser_skip: bool = False,
        depth_scale: float = DEFAULT_DEPTH_SCALE,
        prediction_scale: float = 1.0,
        inference_seed: int | None = 0,
        noise_seed: int | None = 0,
        loss_weights: dict[str, float] | None = None,
        initial_weight: float = 0.5,
        loss_normalization: LossNormalization | None = None,
        normals_loss: NormalsLoss = "l1",
        optimizer: OptimizerName = "adam",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        poly_power: float = 0.9,
        reference: str | None = None,
        panel_samples: int = 4,
        boundary_metric: BoundaryMetricName = "dilation",
        boundary_max_dist: float = MAX_DIST_PASCAL,
        saliency_literature_sigmoid: bool = False,
        neck: NeckStyle = "conv_bn_relu",
        denoiser: DenoiserKind = "unet",
        condition_input: ConditionInput = "encoded",
        attn_blocks: int = 4,
        attn_heads: int = 4,
        inference_noise: bool = True,
        loss_recipe: LossRecipe = "dmtl",
        poly_interval: PolyInterval = "step",
        log_initial_metrics: bool = True,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.task_specs = resolve_tasks(dataset, tasks)
        self.net = DiffusionMTLNet(
            self.task_specs,
            backbone,
            pretrained,
            backbone_weights,
            embed_dim,
            neck_stride,
            decoder_blocks,
            diffusion,
            condition,
            refine_only,
            steps,
            schedule,
            cond_channels,
            denoiser_width,
            denoiser_mults,
            denoiser_blocks,
            depth_scale,
            inference_seed,
            neck,
            denoiser,
            condition_input,
            attn_blocks,
            attn_heads,
            inference_noise,
            denoiser_skip=denoiser_skip,
            prediction_scale=prediction_scale,
        )
        if channels_last:
            to_channels_last(self.net)
        if compile:
            compile_network(self.net)
        self.criterion = build_criterion(
            self.task_specs,
            loss_recipe,
            loss_weights,
            initial_weight,
            loss_normalization,
            normals_loss,
        )
        metric_options = dict(
            boundary_metric=boundary_metric,
            boundary_max_dist=boundary_max_dist,
            saliency_literature_sigmoid=saliency_literature_sigmoid,
        )
        self.val_metrics = MultiTaskMetrics(self.task_specs, **metric_options)
        self.test_metrics = MultiTaskMetrics(self.task_specs, **metric_options)
        # What the denoiser starts from: the initial predictions' metrics show what it rectifies.
        self.val_initial_metrics = (
            MultiTaskMetrics(self.task_specs, **metric_options)
            if diffusion != "none" and log_initial_metrics
            else None
        )
        self.results: dict[str, tuple[dict[str, dict[str, float]], dict[str, float]]] = {}
        self.reference = load_reference(reference) if reference else None

    def forward(
        self,
        image: torch.Tensor,
        labelled: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> MultiTaskOutput:
        """Predict every task for normalised images (B, 3, H, W).

        ``labelled`` (B, K) restricts the denoising to the labelled pairs (training); ``generator``
        is the source of the diffusion noise (see ``DiffusionMTLNet.forward``).
        """
        if self.hparams.channels_last:
            image = channels_last_input(image)
        return self.net(image, labelled, generator)

    # ---------------------------------------------------------------- training
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        out = self(batch["image"], batch["labelled"], self._training_noise(batch["image"]))
        loss = self.criterion(out, batch["targets"], batch["labelled"])
        bsz = batch["image"].shape[0]
        self.log("train/loss", loss.total, prog_bar=True, batch_size=bsz)
        for name, value in loss.per_task.items():
            self.log(f"train/loss/{name}", value, batch_size=bsz)
        return loss.total

    # -------------------------------------------------------------- validation
    def validation_step(self, batch: dict, batch_idx: int) -> MultiTaskOutput:
        """Score a batch; return the network output (the panel callback draws from it)."""
        out = self(batch["image"])
        self.val_metrics.update(out.predictions, batch["targets"])
        if self.val_initial_metrics is not None:
            self.val_initial_metrics.update(out.initial, batch["targets"])
        return out

    def on_validation_epoch_end(self) -> None:
        self._log_results("val", self.val_metrics)
        if self.val_initial_metrics is not None:
            self._log_results("val_initial", self.val_initial_metrics)

    # -------------------------------------------------------------------- test
    def test_step(self, batch: dict, batch_idx: int) -> None:
        out = self(batch["image"])
        self.test_metrics.update(out.predictions, batch["targets"])

    def on_test_epoch_end(self) -> None:
        self._log_results("test", self.test_metrics)

    # ----------------------------------------------------------------- predict
    def predict_step(self, batch: dict, batch_idx: int) -> dict:
        """Post-processed predictions: class ids, depth (m), unit normals, edge probabilities."""
        out = self(batch["image"])
        processed = {}
        for spec in self.task_specs:
            processed[spec.name] = spec.behaviour.postprocess(out.predictions[spec.name])
        return {"predictions": processed, "meta": batch["meta"]}

    # -------------------------------------------------------------- optimisers
    def configure_optimizers(self):
        hp = self.hparams
        params = [p for p in self.parameters() if p.requires_grad]
        opt = build_optimizer(hp.optimizer, params, hp.lr, hp.weight_decay)
        if hp.poly_interval not in ("step", "epoch"):
            raise ConfigError(f"unknown poly_interval {hp.poly_interval!r}; use 'step' or 'epoch'")
        if hp.poly_interval == "epoch":
            total = max(int(self.trainer.max_epochs or 1), 1)
        else:
            total = max(int(self.trainer.estimated_stepping_batches), 1)
        power = hp.poly_power

        def poly(step: int) -> float:
            return (1.0 - min(step, total - 1) / total) ** power

        sched = torch.optim.lr_scheduler.LambdaLR(opt, poly)
        return {
            "optimizer": opt,
            "lr_scheduler": {"scheduler": sched, "interval": hp.poly_interval},
        }

    # ----------------------------------------------------------------- helpers
    def _training_noise(self, image: torch.Tensor) -> torch.Generator | None:
        """A generator for this step's diffusion noise: a function of (seed, step, rank)."""
        if self.hparams.noise_seed is None or self.net.mtd is None:
            return None
        seed = (self.hparams.noise_seed * NOISE_SEED_STRIDE + self.global_step) * 1024
        return torch.Generator(device=image.device).manual_seed(seed + self.global_rank)

    def _log_results(
        self, stage: str, metrics: MultiTaskMetrics
    ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        """Compute, reset and log a stage's metrics; keep them in ``self.results[stage]``.

        Returns:
            task -> metric -> value, and the scalar extras (``delta_m`` with a reference). The
            printed tables and result files are ``dmtl.callbacks.results``'s.
        """
        results = metrics.compute()
        metrics.reset()
        flat = {f"{stage}/{t}/{m}": v for t, ms in results.items() for m, v in ms.items()}
        extra = self._delta(results)
        flat.update({f"{stage}/{k}": v for k, v in extra.items()})
        # Values are already reduced over processes by the metrics' own sync.
        self.log_dict({k: v for k, v in flat.items() if math.isfinite(v)}, sync_dist=False)
        self.results[stage] = (results, extra)
        return results, extra

    def _delta(self, results: dict[str, dict[str, float]]) -> dict[str, float]:
        if self.reference is None:
            return {}
        return {"delta_m": delta_m(results, self.reference, self.task_specs)}
