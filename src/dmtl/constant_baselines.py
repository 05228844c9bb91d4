"""The best constant predictions of a dataset: the floor a trained model must clear."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch

from dmtl.data.widening import widen_targets
from dmtl.metrics.multitask import MultiTaskMetrics
from dmtl.tasks import TaskSpec
from dmtl.tasks.kinds.normals import fibonacci_sphere as fibonacci_sphere  # re-exported


def best_constants(targets: Mapping[str, torch.Tensor], tasks: Sequence[TaskSpec]) -> dict:
    """The constant that is best for each task's primary metric, chosen on ``targets``.

    Each task's kind chooses (``spec.behaviour.best_constant``). Segmentation: the most frequent
    class. Depth: the median of valid depths (minimises the absolute error). Normals: the unit
    vector with the least mean angle to the valid normals, searched over a dense set of
    directions. Boundary: 0.
    """
    return {spec.name: spec.behaviour.best_constant(spec, targets[spec.name]) for spec in tasks}


def constant_prediction(spec: TaskSpec, constant, like: torch.Tensor) -> torch.Tensor:
    """A prediction (B, C, H, W) that is ``constant`` everywhere, shaped for ``like``'s batch."""
    return spec.behaviour.constant_prediction(spec, constant, like)


def evaluate_constants(
    batches: Iterable[Mapping], tasks: Sequence[TaskSpec]
) -> dict[str, dict[str, float]]:
    """Metrics of the best constant predictions over an evaluation split.

    Args:
        batches: batches in the package's batch contract (only ``targets`` is read), straight
            from a loader (compact class ids are widened here, ``dmtl.data.widening``) or widened.
        tasks: the tasks to evaluate.

    Returns:
        task -> metric -> value, as ``MultiTaskMetrics.compute`` returns them.
    """
    collected: dict[str, list[torch.Tensor]] = {t.name: [] for t in tasks}
    for batch in batches:
        targets = widen_targets(batch["targets"], tasks)
        for spec in tasks:
            collected[spec.name].append(targets[spec.name])
    targets = {name: torch.cat(parts) for name, parts in collected.items()}
    constants = best_constants(targets, tasks)
    metrics = MultiTaskMetrics(tasks)
    preds = {s.name: constant_prediction(s, constants[s.name], targets[s.name]) for s in tasks}
    metrics.update(preds, targets)
    return metrics.compute()
