"""Evaluation over several inference seeds: which seeds run, and the mean ± std of their results.

The diffusion chain's evaluation noise is a function of (inference seed, image, task, step)
(``dmtl.hashed_noise``); a number measured with one seed is one draw. With
``EvaluationConfig.inference_seeds`` validation and test score the chain once per seed and report
the mean over the seeds, with the sample standard deviation beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from dmtl.config import DiffusionConfig, EvaluationConfig

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
