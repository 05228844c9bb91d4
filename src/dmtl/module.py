"""``DiffusionMTLModule``: the Lightning system around the multi-task network."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import lightning.pytorch as pl
import torch

from dmtl.checkpoint_compat import load_kwargs
from dmtl.config import (
    GROUPS,
    DenoiserConfig,
    DiffusionConfig,
    EvaluationConfig,
    LossConfig,
    NetworkConfig,
    OptimConfig,
    SpeedConfig,
    as_group,
    group_dict,
)
from dmtl.losses import build_criterion
from dmtl.metrics import MultiTaskMetrics, delta_m, load_reference
from dmtl.models.fast_paths import channels_last_input, compile_network, to_channels_last
from dmtl.models.network import DiffusionMTLNet, MultiTaskOutput
from dmtl.optim import configure_optimization, fused_allowed
from dmtl.tasks import TaskSpec, resolve_tasks

NOISE_SEED_STRIDE = 1_000_003  # steps of one noise seed never meet those of the next


def build_network(
    specs: Sequence[TaskSpec],
    network: NetworkConfig,
    diffusion: DiffusionConfig,
    denoiser: DenoiserConfig,
) -> DiffusionMTLNet:
    """The multi-task network of the three architecture groups (the one place that builds it)."""
    return DiffusionMTLNet(specs, network=network, diffusion=diffusion, denoiser=denoiser)


class DiffusionMTLModule(pl.LightningModule):
    """Trains and evaluates DiffusionMTL (or the MTL baseline) from partially labelled batches.

    Each option group (``dmtl.config``, docs/options.md) is one argument, on the command line
    ``--model.network.backbone=...``, ``--model.optim.lr=...``; a dict (saved hyper-parameters)
    is accepted too. The module keeps a copy of each as ``self.network``, ``self.diffusion``, ...
    and saves them as plain dicts; checkpoints of the earlier flat layout load as well.

    Args:
        dataset: dataset whose task set gives the channel counts (linked from the data module).
        tasks: task names (linked from the data module).
        network: backbone, neck and initial decoders.
        diffusion: the denoising chain (``space: none`` is the MTL baseline) and its noise.
        denoiser: the shared denoiser.
        loss: the masked multi-task loss.
        optim: optimiser and poly decay.
        evaluation: what validation and test measure.
        speed: execution options that change speed, not the function.
    """

    def __init__(
        self,
        dataset: str = "synthetic",
        tasks: list[str] | None = None,
        network: NetworkConfig = NetworkConfig(),  # noqa: B008 (copied, never changed)
        diffusion: DiffusionConfig = DiffusionConfig(),  # noqa: B008
        denoiser: DenoiserConfig = DenoiserConfig(),  # noqa: B008
        loss: LossConfig = LossConfig(),  # noqa: B008
        optim: OptimConfig = OptimConfig(),  # noqa: B008
        evaluation: EvaluationConfig = EvaluationConfig(),  # noqa: B008
        speed: SpeedConfig = SpeedConfig(),  # noqa: B008
    ) -> None:
        super().__init__()
        given = dict(locals())
        groups = {n: copy.deepcopy(as_group(cls, given[n])) for n, cls in GROUPS.items()}
        self.save_hyperparameters()
        for name, group in groups.items():  # self.network, self.diffusion, ...: the module's own
            setattr(self, name, group)
            self.hparams[name] = group_dict(group)  # plain data: loads with weights_only=True
        self.task_specs = resolve_tasks(dataset, tasks)
        self.net = build_network(self.task_specs, self.network, self.diffusion, self.denoiser)
        if self.speed.channels_last:
            to_channels_last(self.net)
        if self.speed.compile:
            compile_network(self.net)
        self.criterion = build_criterion(self.task_specs, self.loss)
        ev = self.evaluation
        names = ("boundary_metric", "boundary_max_dist", "saliency_literature_sigmoid")
        metric_options = {name: getattr(ev, name) for name in names}
        self.val_metrics = MultiTaskMetrics(self.task_specs, **metric_options)
        self.test_metrics = MultiTaskMetrics(self.task_specs, **metric_options)
        # What the denoiser starts from: the initial predictions' metrics show what it rectifies.
        self.val_initial_metrics = (
            MultiTaskMetrics(self.task_specs, **metric_options)
            if self.diffusion.space != "none" and ev.log_initial_metrics
            else None
        )
        self.results: dict[str, tuple[dict[str, dict[str, float]], dict[str, float]]] = {}
        self.reference = load_reference(ev.reference) if ev.reference else None

    @classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: str | Path | IO[bytes],
        map_location: Any = None,
        hparams_file: str | Path | None = None,
        strict: bool | None = None,
        weights_only: bool | None = None,
        **kwargs: Any,
    ) -> DiffusionMTLModule:
        """Lightning's ``load_from_checkpoint`` for either layout of options (``load_kwargs``).

        Raises:
            ConfigError: the checkpoint cannot be read, or its hyper-parameters are of no known
                layout (the message says how to convert it).
        """
        if hparams_file is None:
            kwargs = load_kwargs(checkpoint_path, kwargs)
        return super().load_from_checkpoint(
            checkpoint_path, map_location, hparams_file, strict, weights_only, **kwargs
        )

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
        if self.speed.channels_last:
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
    def configure_optimizers(self) -> dict[str, Any]:
        """The optimiser of ``optim`` and its poly decay over the trainer's steps or epochs."""
        params = [p for p in self.parameters() if p.requires_grad]
        trainer = self.trainer
        clip = getattr(trainer, "gradient_clip_val", None)  # absent on a test's stand-in trainer
        fused = fused_allowed(getattr(trainer, "precision", None), clip)
        return configure_optimization(
            params, self.optim, trainer.max_epochs, trainer.estimated_stepping_batches, fused
        )

    # ----------------------------------------------------------------- helpers
    def _training_noise(self, image: torch.Tensor) -> torch.Generator | None:
        """A generator for this step's diffusion noise: a function of (seed, step, rank)."""
        noise_seed = self.diffusion.noise_seed
        if noise_seed is None or self.net.mtd is None:
            return None
        seed = (noise_seed * NOISE_SEED_STRIDE + self.global_step) * 1024
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
