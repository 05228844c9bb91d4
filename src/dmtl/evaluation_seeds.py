"""Evaluation over several inference seeds: which seeds run, and the mean ± std of their results.

The diffusion chain's evaluation noise is a function of (inference seed, image, task, step)
(``dmtl.noise``); a number measured with one seed is one draw. With
``EvaluationConfig.inference_seeds`` validation and test score the chain once per seed and report
the mean over the seeds, with the sample standard deviation beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from dmtl.config import DiffusionConfig, EvaluationConfig
from dmtl.metrics.multitask import MultiTaskMetrics, load_reference
from dmtl.models.output import MultiTaskOutput
from dmtl.noise import NoiseSource, identity_seeds

Results = dict[str, dict[str, float]]


def evaluation_seeds(diffusion: DiffusionConfig, evaluation: EvaluationConfig) -> list[int | None]:
    """The inference seeds evaluation runs: ``evaluation.inference_seeds`` when the chain draws
    noise in evaluation, else the one ``diffusion.inference_seed`` (a chain without noise gives
    the same numbers for every seed)."""
    seeds = evaluation.inference_seeds
    noisy = diffusion.space != "none" and not diffusion.refine_only and diffusion.inference_noise
    return list(seeds) if seeds and noisy else [diffusion.inference_seed]


def mean_std(runs: Sequence[Mapping[str, Mapping[str, float]]]) -> tuple[Results, Results]:
    """Mean and sample std (ddof 1; 0 for one run) of each task's metrics over runs."""
    mean: Results = {}
    std: Results = {}
    for task, metrics in runs[0].items():
        for name in metrics:
            values = torch.tensor([r[task][name] for r in runs], dtype=torch.float64)
            mean.setdefault(task, {})[name] = float(values.mean())
            std.setdefault(task, {})[name] = float(values.std()) if len(runs) > 1 else 0.0
    return mean, std


def seed_spread(
    runs: Sequence[Mapping[str, Mapping[str, float]]],
    extras: Sequence[Mapping[str, float]],
) -> tuple[Results, Results, dict[str, float]]:
    """Per-task mean and std over the seeds' runs, and the scalar extras (``delta_m``) as their
    mean with ``<name>_std`` beside it."""
    mean, std = mean_std(runs)
    extra_mean, extra_std = mean_std([{"": dict(e)} for e in extras])
    extra = dict(extra_mean.get("", {}))
    extra.update({f"{k}_std": v for k, v in extra_std.get("", {}).items()})
    return mean, std, extra


class MultiSeedEvaluation:
    """The evaluation steps of ``DiffusionMTLModule`` over its inference seeds (a mixin).

    ``_build_metrics`` makes the metric attributes from the module's ``task_specs``,
    ``evaluation`` and ``diffusion``; the module provides ``_log_results`` and ``_delta``.
    """

    def _build_metrics(self) -> None:
        """The metrics of validation and test: one set per inference seed of each stage, the
        initial predictions' (DiffusionMTL), the results kept for the callbacks, the reference."""
        ev = self.evaluation
        names = ("boundary_metric", "boundary_max_dist", "saliency_literature_sigmoid")
        names += ("depth_clamp_min", "absent_class", "boundary_thresholds")
        options = {name: getattr(ev, name) for name in names}
        self.val_metrics = MultiTaskMetrics(self.task_specs, **options)
        self.test_metrics = MultiTaskMetrics(self.task_specs, **options)
        # One more set per further inference seed (val_metrics/test_metrics score the first).
        self.inference_seeds = evaluation_seeds(self.diffusion, ev)
        extra_seeds = len(self.inference_seeds) - 1
        self.seed_metrics = nn.ModuleDict(
            {
                stage: nn.ModuleList(
                    MultiTaskMetrics(self.task_specs, **options) for _ in range(extra_seeds)
                )
                for stage in ("val", "test")
            }
        )
        self.results_spread: dict[str, dict[str, Any]] = {}
        # What the denoiser starts from: the initial predictions' metrics show what it rectifies.
        self.val_initial_metrics = (
            MultiTaskMetrics(self.task_specs, **options)
            if self.diffusion.space != "none" and ev.log_initial_metrics
            else None
        )
        self.results: dict[str, tuple[Results, dict[str, float]]] = {}
        self.reference = load_reference(ev.reference) if ev.reference else None

    def _evaluate(self, batch: dict, first: MultiTaskMetrics, stage: str) -> MultiTaskOutput:
        """Score a batch once per inference seed, each image with its own noise; return the
        output of the first seed."""
        names = batch.get("meta", {}).get("name")
        identity = identity_seeds(names, batch["image"].device) if names is not None else None
        metrics = [first, *self.seed_metrics[stage]]
        outputs = []
        for seed, seed_metrics in zip(self.inference_seeds, metrics):
            noise = (
                NoiseSource.evaluation(seed, identity)
                if self.diffusion.inference_noise
                else NoiseSource.none()
            )
            out = self(batch["image"], noise=noise)
            seed_metrics.update(out.predictions, batch["targets"])
            outputs.append(out)
        return outputs[0]

    def _log_seeds(self, stage: str, first: MultiTaskMetrics) -> None:
        """Log a stage's metrics: the mean over the inference seeds, and their std when several."""
        if len(self.inference_seeds) == 1:
            self._log_results(stage, first)
            return
        runs = [first.compute()] + [m.compute() for m in self.seed_metrics[stage]]
        for metrics in (first, *self.seed_metrics[stage]):
            metrics.reset()
        mean, std, extra = seed_spread(runs, [self._delta(r) for r in runs])
        flat = {f"{stage}/{t}/{m}": v for t, ms in mean.items() for m, v in ms.items()}
        flat.update({f"{stage}/{t}/{m}_std": v for t, ms in std.items() for m, v in ms.items()})
        flat.update({f"{stage}/{k}": v for k, v in extra.items()})
        self.log_dict({k: v for k, v in flat.items() if math.isfinite(v)}, sync_dist=False)
        self.results[stage] = (mean, extra)
        self.results_spread[stage] = {"std": std, "inference_seeds": list(self.inference_seeds)}
