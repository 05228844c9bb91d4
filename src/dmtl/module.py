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
    ConsistencyConfig,
    DenoiserConfig,
    DiffusionConfig,
    EvaluationConfig,
    JTRConfig,
    LossConfig,
    MeanTeacherConfig,
    NetworkConfig,
    OptimConfig,
    SpeedConfig,
    TeacherConfig,
    XTCConfig,
)
from dmtl.config.groups import as_group, group_dict
from dmtl.data.datasets import has_inverse_depth
from dmtl.data.widening import check_widened
from dmtl.evaluation_seeds import MultiSeedEvaluation
from dmtl.jacobian_steps import JacobianDescentSteps, StepObjectives
from dmtl.losses import build_criterion
from dmtl.losses.aggregation import JacobianDescent, is_aggregator
from dmtl.losses.weighting import WeightedLoss, build_weighting
from dmtl.metrics.multitask import MultiTaskMetrics, delta_m
from dmtl.models.fast_paths import channels_last_input, compile_network, to_channels_last
from dmtl.models.network import DiffusionMTLNet, MultiTaskOutput
from dmtl.noise import NoiseSource, run_noise_seed
from dmtl.optim import configure_optimization, fused_allowed
from dmtl.step_followup import StepFollowUp
from dmtl.tasks import TaskSpec, resolve_tasks
from dmtl.terms import TermInputs, build_terms
from dmtl.xtc.loss import XTCOutput
from dmtl.xtc.term import build_xtc, xtc_term

# the option groups of the method terms whose scale-crop views zoom the depth maps
VIEW_TERM_GROUPS = ("consistency", "jtr")


def build_network(
    specs: Sequence[TaskSpec],
    network: NetworkConfig,
    diffusion: DiffusionConfig,
    denoiser: DenoiserConfig,
) -> DiffusionMTLNet:
    """The multi-task network of the three architecture groups (the one place that builds it)."""
    return DiffusionMTLNet(specs, network=network, diffusion=diffusion, denoiser=denoiser)


class DiffusionMTLModule(
    MultiSeedEvaluation, JacobianDescentSteps, StepFollowUp, pl.LightningModule
):
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
        xtc: XTC*'s cross-task consistency.
        consistency: the consistency baseline SS (docs/consistency.md).
        jtr: JTR's joint-task regularisation (docs/jtr.md).
        teacher: the offline teacher's pseudo-labels (docs/teachers.md).
        mean_teacher: the EMA mean teacher's pseudo-labels (docs/teachers.md).
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
        xtc: XTCConfig = XTCConfig(),  # noqa: B008
        consistency: ConsistencyConfig = ConsistencyConfig(),  # noqa: B008
        jtr: JTRConfig = JTRConfig(),  # noqa: B008
        teacher: TeacherConfig = TeacherConfig(),  # noqa: B008
        mean_teacher: MeanTeacherConfig = MeanTeacherConfig(),  # noqa: B008
    ) -> None:
        super().__init__()
        given = dict(locals())
        groups = {n: copy.deepcopy(as_group(cls, given[n])) for n, cls in GROUPS.items()}
        self.save_hyperparameters()
        for name, group in groups.items():  # self.network, self.diffusion, ...: the module's own
            setattr(self, name, group)
            self.hparams[name] = group_dict(group)  # plain data: loads with weights_only=True
        self.task_specs = resolve_tasks(dataset, tasks, self.network.num_classes)
        self._build_models()
        self._build_losses(groups)
        self._build_metrics()  # dmtl.evaluation_seeds: the stages' metrics, one set per seed

    def _build_models(self) -> None:
        """The network (and its execution options)."""
        self.net = build_network(self.task_specs, self.network, self.diffusion, self.denoiser)
        if self.speed.channels_last:
            to_channels_last(self.net)
        if self.speed.compile:
            compile_network(self.net)

    def _build_losses(self, groups: dict[str, Any]) -> None:
        """The supervised loss, its weighting, and each method's term beside it."""
        self.criterion = build_criterion(self.task_specs, self.loss)
        self.weighting = build_weighting([t.name for t in self.task_specs], self.loss)
        self.jacobian = (  # the tasks' gradients combined by torchjd: manual optimisation
            JacobianDescent(self.loss.weighting, self.loss.weighting_options.jacobian_chunk_size)
            if is_aggregator(self.loss.weighting)
            else None
        )
        self.automatic_optimization = self.jacobian is None
        self.xtc_net = (
            build_xtc(self.task_specs, self.network, self.diffusion, self.xtc)
            if self.xtc.enabled
            else None
        )
        # The field's methods beside the supervised loss (dmtl.terms): empty for a plain method.
        self._resolve_depth_units(groups)
        self.terms = build_terms(self.task_specs, groups, self.net)

    def _resolve_depth_units(self, groups: dict[str, Any]) -> None:
        """An enabled view term's ``inverse_depth: null`` becomes the dataset's units.

        Their scale-crop views zoom the depth maps, which divides metric depth by s and multiplies
        inverse depth (Cityscapes) by s; the data pipeline takes that from the dataset, and so do
        the terms unless their option says otherwise. The saved hyper-parameters keep ``null``.
        """
        inverse = has_inverse_depth(self.hparams["dataset"])
        for name in VIEW_TERM_GROUPS:
            if groups[name].enabled and groups[name].inverse_depth is None:
                groups[name].inverse_depth = inverse

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
        noise: NoiseSource | None = None,
        trace: dict | None = None,
    ) -> MultiTaskOutput:
        """Predict every task for normalised images (B, 3, H, W).

        ``labelled`` (B, K) restricts the denoising to the labelled pairs (training); ``noise``
        is where the chain's noise comes from (``dmtl.noise``; the training step and evaluation
        build theirs), ``trace`` collects the chain's statistics (see ``DiffusionMTLNet.forward``).
        """
        if self.speed.channels_last:
            image = channels_last_input(image)
        return self.net(image, labelled, noise, trace=trace)

    # ---------------------------------------------------------------- training
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        check_widened(batch["targets"], self.task_specs)  # no uint8 class ids into a loss
        self.remember_step_batch(batch, self.global_step)
        objectives = self.training_objectives(batch)
        bsz = batch["image"].shape[0]
        for name, stats in objectives.trace.items():  # the chain's noise level and each step's
            for stat, value in stats.items():
                self.log(f"train/noise/{name}/{stat}", value, batch_size=bsz)
        for name, value in objectives.loss.per_task.items():
            self.log(f"train/loss/{name}", value, batch_size=bsz)
        if self.jacobian is not None:  # the gradients combined by an aggregator: a manual step
            return self._jacobian_step(objectives, bsz)
        weighted = self.combined_loss(objectives)
        self.log("train/loss", weighted.total, prog_bar=True, batch_size=bsz)
        if weighted.weights is not None:  # None: ``equal``, nothing learnt
            for name, value in zip(self.weighting.tasks, weighted.weights, strict=True):
                self.log(f"train/weight/{name}", value, batch_size=bsz)
        return weighted.total

    def combined_loss(self, objectives: StepObjectives) -> WeightedLoss:
        """The scalar an automatic step minimises: the weighted supervised loss, then XTC*'s, then
        the terms' sum; ``weights`` are the weighting's (``None`` for ``equal``)."""
        weighted = self.weighting(objectives.loss, self.criterion.weights)
        total = weighted.total
        if objectives.xtc is not None:
            total = total + objectives.xtc
        if objectives.terms:
            total = total + torch.stack(list(objectives.terms.values())).sum()
        return WeightedLoss(total, weighted.weights)

    def training_objectives(self, batch: dict) -> StepObjectives:
        """The forward of a training batch and every loss to minimise, before they are combined.

        The chain's noise is this step's (``_training_noise``); XTC*'s and each method term's
        losses are logged here (``train/loss/xtc``, ``train/loss/<term>``).
        """
        trace: dict = {}
        noise = self._training_noise(batch["image"])
        out = self(batch["image"], batch["labelled"], noise, trace=trace)
        loss = self.criterion(out, batch["targets"], batch["labelled"])
        xtc = None
        if self.xtc_net is not None:
            xtc = self.xtc.weight * self._xtc_term(out, batch, noise).total
        terms = self._term_totals(out, batch, noise) if len(self.terms) else {}
        return StepObjectives(out=out, loss=loss, xtc=xtc, terms=terms, trace=trace)

    def on_fit_start(self) -> None:
        """Let the terms prepare for the fit (an offline teacher loads its checkpoint here).

        Raises:
            ConfigError: a Jacobian aggregator with settings it cannot honour.
        """
        self._check_jacobian_descent()
        for term in self.terms.values():
            term.on_fit_start(self)

    def on_train_epoch_start(self) -> None:
        """Hand the epoch to the loss weighting (``dwa`` records the finished epoch's means)."""
        reduce = self.trainer.strategy.reduce  # sums over processes under DDP
        self.weighting.start_epoch(self.current_epoch, lambda t: reduce(t, reduce_op="sum"))

    # -------------------------------------------------------------- validation
    def validation_step(self, batch: dict, batch_idx: int) -> MultiTaskOutput:
        """Score a batch; return the network output (the panel callback draws from it)."""
        check_widened(batch["targets"], self.task_specs)
        out = self._evaluate(batch, self.val_metrics, "val")
        if self.val_initial_metrics is not None:
            self.val_initial_metrics.update(out.initial, batch["targets"])
        return out

    def on_validation_epoch_end(self) -> None:
        self._log_seeds("val", self.val_metrics)
        if self.val_initial_metrics is not None:
            self._log_results("val_initial", self.val_initial_metrics)

    # -------------------------------------------------------------------- test
    def test_step(self, batch: dict, batch_idx: int) -> None:
        check_widened(batch["targets"], self.task_specs)
        self._evaluate(batch, self.test_metrics, "test")

    def on_test_epoch_end(self) -> None:
        self._log_seeds("test", self.test_metrics)

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
        learned = {id(p) for p in self.weighting.parameters()}  # a loss weighting's: no decay
        params = [p for p in self.parameters() if p.requires_grad and id(p) not in learned]
        undecayed = [p for p in self.weighting.parameters() if p.requires_grad]
        trainer = self.trainer
        clip = getattr(trainer, "gradient_clip_val", None)  # absent on a test's stand-in trainer
        fused = fused_allowed(getattr(trainer, "precision", None), clip)
        steps = trainer.estimated_stepping_batches
        return configure_optimization(
            params, self.optim, trainer.max_epochs, steps, fused, undecayed=undecayed
        )

    # ----------------------------------------------------------------- helpers
    def _xtc_term(self, out: MultiTaskOutput, batch: dict, noise: NoiseSource) -> XTCOutput:
        """XTC*'s consistency loss of a training batch, logged (``train/loss/xtc*``); its Gumbel
        noise comes from the step's source (XTC* runs on the baseline, which draws none of it)."""
        term = xtc_term(self.xtc_net, self.task_specs, self.xtc, out, batch, noise.generator)
        bsz = batch["image"].shape[0]
        self.log("train/loss/xtc", term.total, batch_size=bsz)
        self.log("train/loss/xtc_consistency", term.consistency, batch_size=bsz)
        return term

    def _term_totals(
        self, out: MultiTaskOutput, batch: dict, noise: NoiseSource
    ) -> dict[str, torch.Tensor]:
        """Each term's loss of a training batch; each logged as ``train/loss/<name>``."""
        trainer = self._trainer
        inputs = TermInputs(
            batch=batch,
            out=out,
            predict=lambda image, labelled=None: self(image, labelled, noise),
            generator=noise.generator,
            step=self.global_step,
            total_steps=int(trainer.estimated_stepping_batches) if trainer is not None else 1,
        )
        bsz = batch["image"].shape[0]
        totals = {}
        for name, term in self.terms.items():
            result = term(inputs)
            self.log(f"train/loss/{name}", result.total, batch_size=bsz)
            for key, value in result.logs.items():
                self.log(f"train/loss/{name}/{key}", value, batch_size=bsz)
            totals[name] = result.total
        return totals

    def _training_noise(self, image: torch.Tensor, step: int | None = None) -> NoiseSource:
        """A step's noise (this one's by default): a generator of (noise seed, step, rank), also
        the terms' source."""
        seed = run_noise_seed(self.diffusion.noise_seed)
        step = self.global_step if step is None else step
        return NoiseSource.training(seed, step, self.global_rank, image.device)

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
        # The values are already reduced over processes by the metrics' own sync, the same on
        # every process: sync_dist=True says so (Lightning warns once per key otherwise under
        # DDP) and rank_zero_only=True makes its reduction a no-op, so no value changes and no
        # collective runs. Every process still logs them, so callbacks can monitor them.
        finite = {k: v for k, v in flat.items() if math.isfinite(v)}
        self.log_dict(finite, sync_dist=True, rank_zero_only=True)
        self.results[stage] = (results, extra)
        return results, extra

    def _delta(self, results: dict[str, dict[str, float]]) -> dict[str, float]:
        if self.reference is None:
            return {}
        return {"delta_m": delta_m(results, self.reference, self.task_specs)}
