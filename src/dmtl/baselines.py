"""The best constant predictions of a dataset: the floor a trained model must clear."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F

from dmtl.metrics import MultiTaskMetrics
from dmtl.tasks import TaskSpec

SPHERE_SAMPLES = 4096  # candidate directions for the best constant normal
MAX_NORMAL_PIXELS = 200_000  # pixels used to pick that direction (all are used to evaluate it)
CONSTANT_LOGIT = 10.0


def fibonacci_sphere(n: int) -> torch.Tensor:
    """n nearly uniform unit vectors (n, 3)."""
    i = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1 - 2 * i / n
    phi = torch.pi * (1 + 5**0.5) * i
    r = (1 - z**2).sqrt()
    return torch.stack([r * phi.cos(), r * phi.sin(), z], dim=1).float()


def best_constants(targets: Mapping[str, torch.Tensor], tasks: Sequence[TaskSpec]) -> dict:
    """The constant that is best for each task's primary metric, chosen on ``targets``.

    Segmentation: the most frequent class. Depth: the median of valid depths (minimises the
    absolute error). Normals: the unit vector with the least mean angle to the valid normals,
    searched over a dense set of directions.
    """
    constants = {}
    for spec in tasks:
        t = targets[spec.name]
        if spec.kind == "segmentation":
            valid = t[t != spec.ignore_index]
            constants[spec.name] = int(
                torch.bincount(valid.flatten(), minlength=spec.channels).argmax()
            )
        elif spec.kind == "depth":
            constants[spec.name] = float(t[t > 0].median())
        elif spec.kind == "normals":
            vectors = t.permute(0, 2, 3, 1).reshape(-1, 3)
            vectors = vectors[vectors.abs().sum(1) > 0]
            step = max(1, vectors.shape[0] // MAX_NORMAL_PIXELS)
            candidates = fibonacci_sphere(SPHERE_SAMPLES)
            cos = (vectors[::step] @ candidates.T).clamp(-1, 1)
            constants[spec.name] = candidates[cos.acos().mean(0).argmin()]
        elif spec.kind == "boundary":
            constants[spec.name] = 0.0
    return constants


def constant_prediction(spec: TaskSpec, constant, like: torch.Tensor) -> torch.Tensor:
    """A prediction (B, C, H, W) that is ``constant`` everywhere, shaped for ``like``'s batch."""
    b, h, w = like.shape[0], like.shape[-2], like.shape[-1]
    if spec.kind == "segmentation":
        logits = F.one_hot(torch.tensor(constant), spec.channels).float() * CONSTANT_LOGIT
        return logits.view(1, -1, 1, 1).expand(b, -1, h, w)
    if spec.kind == "normals":
        return constant.view(1, 3, 1, 1).expand(b, -1, h, w)
    return torch.full((b, 1, h, w), float(constant))


def evaluate_constants(
    batches: Iterable[Mapping], tasks: Sequence[TaskSpec]
) -> dict[str, dict[str, float]]:
    """Metrics of the best constant predictions over an evaluation split.

    Args:
        batches: batches in the package's batch contract (only ``targets`` is read).
        tasks: the tasks to evaluate.

    Returns:
        task -> metric -> value, as ``MultiTaskMetrics.compute`` returns them.
    """
    collected: dict[str, list[torch.Tensor]] = {t.name: [] for t in tasks}
    for batch in batches:
        for spec in tasks:
            collected[spec.name].append(batch["targets"][spec.name])
    targets = {name: torch.cat(parts) for name, parts in collected.items()}
    constants = best_constants(targets, tasks)
    metrics = MultiTaskMetrics(tasks)
    preds = {s.name: constant_prediction(s, constants[s.name], targets[s.name]) for s in tasks}
    metrics.update(preds, targets)
    return metrics.compute()
