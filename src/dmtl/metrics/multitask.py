"""Metrics of several tasks at once, and the multi-task performance Δm against a reference."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch.nn.functional as F
import yaml
from torch import Tensor, nn
from torchmetrics import Metric

from dmtl.errors import ConfigError, DataError, MissingDataError
from dmtl.metrics.boundary import DEFAULT_THRESHOLDS, DEFAULT_TOLERANCE_PX
from dmtl.metrics.boundary_ods import MAX_DIST_PASCAL
from dmtl.metrics.normals import DEFAULT_BINS_PER_DEGREE
from dmtl.metrics.segmentation import AbsentClassRule
from dmtl.tasks import TaskSpec
from dmtl.tasks.kinds import MetricOptions

PERCENT = 100.0
BoundaryMetricName = Literal["dilation", "ods"]
# Tasks whose images without any foreground label are skipped (the human-parts protocol).
DEFAULT_SKIP_BACKGROUND_ONLY: tuple[str, ...] = ("human_parts",)
# torchmetrics warns when compute() precedes update(); here that just means "no data": NaN.
_NO_UPDATE_WARNING = r".*was called before the ``update`` method.*"


def build_metric(
    spec: TaskSpec,
    *,
    normal_bins_per_degree: int = DEFAULT_BINS_PER_DEGREE,
    boundary_thresholds: str | Sequence[float] = DEFAULT_THRESHOLDS,
    boundary_tolerance_px: int = DEFAULT_TOLERANCE_PX,
    boundary_metric: BoundaryMetricName = "dilation",
    boundary_max_dist: float = MAX_DIST_PASCAL,
    saliency_literature_sigmoid: bool = False,
    skip_background_only: Sequence[str] = DEFAULT_SKIP_BACKGROUND_ONLY,
    depth_clamp_min: float | None = None,
    absent_class: AbsentClassRule = "skip",
) -> Metric:
    """The metric that evaluates a task: its kind's (``spec.behaviour.build_metric``).

    Saliency tasks get ``SaliencyMetrics``; segmentation tasks ``SegmentationMetrics``, which
    skips background-only images for the tasks named in ``skip_background_only``. Boundary tasks
    get the dilation approximation (``boundary_metric="dilation"``) or the thinned, matched ODS
    F-measure of the literature (``"ods"``). See ``MultiTaskMetrics`` for the options.

    Raises:
        ConfigError: unknown kind, boundary metric, absent-class rule, grid or a bad clamp.
    """
    options = MetricOptions(
        normal_bins_per_degree=normal_bins_per_degree,
        boundary_thresholds=boundary_thresholds,
        boundary_tolerance_px=boundary_tolerance_px,
        boundary_metric=boundary_metric,
        boundary_max_dist=boundary_max_dist,
        saliency_literature_sigmoid=saliency_literature_sigmoid,
        skip_background_only=skip_background_only,
        depth_clamp_min=depth_clamp_min,
        absent_class=absent_class,
    )
    return spec.behaviour.build_metric(spec, options)


class MultiTaskMetrics(nn.Module):
    """One metric per task, updated and computed together.

    A plain ``nn.Module`` holding the metrics in a ``ModuleDict``: as a child of a
    LightningModule, ``.to(device)`` moves every state and each metric syncs its sum states
    across processes in ``compute()`` under DDP. Every rank must therefore call ``compute()``
    (it computes every task, in a fixed order, even those this rank never updated).

    Args:
        tasks: the task specs; each task's kind picks its metric.
        **options: the keyword options of ``build_metric`` (boundary grid and radius,
            saliency quirk, depth clamp, absent-class rule, ...), the same for every task.

    Raises:
        ConfigError: no task, a task named twice, an unknown kind, or a bad option value.
    """

    def __init__(self, tasks: Sequence[TaskSpec], **options: Any) -> None:
        super().__init__()
        names = [spec.name for spec in tasks]
        if not names:
            raise ConfigError("MultiTaskMetrics needs at least one task")
        if len(set(names)) != len(names):
            raise ConfigError(f"the task list {names} names a task twice")
        self.tasks: dict[str, TaskSpec] = {spec.name: spec for spec in tasks}
        self.metrics = nn.ModuleDict({spec.name: build_metric(spec, **options) for spec in tasks})

    def __getitem__(self, task: str) -> Metric:
        """The metric of one task."""
        return self.metrics[task]

    @property
    def task_names(self) -> list[str]:
        """Task names in construction order."""
        return list(self.tasks)

    def update(self, preds: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> None:
        """Add a batch of every task present in ``targets``.

        Tasks missing from ``targets`` are skipped (no label in this batch); per-pixel or
        per-image missing labels are marked inside the target (255 / 0 / all-zero) instead.
        A prediction whose H, W differ from its target's is resized bilinearly
        (``align_corners=False``) first.

        Args:
            preds: task → prediction, (B, C, H', W') as the task's metric expects.
            targets: task → target, (B, H, W) for segmentation, (B, C, H, W) otherwise.

        Raises:
            ConfigError: a target of a task this object does not evaluate, or without prediction.
            DataError: a prediction of the wrong shape, or one that cannot be resized.
        """
        for name, target in targets.items():
            if name not in self.metrics:
                raise ConfigError(
                    f"target for task {name!r}, which is not evaluated; "
                    f"tasks: {', '.join(self.tasks)}"
                )
            if name not in preds:
                raise ConfigError(f"target for task {name!r} but no prediction for it")
            self.metrics[name].update(_resize_to(preds[name], target, name), target)

    def compute(self) -> dict[str, dict[str, float]]:
        """Task → metric name → value, over everything since the last reset (NaN: no data)."""
        results: dict[str, dict[str, float]] = {}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_NO_UPDATE_WARNING, category=UserWarning)
            for name, metric in self.metrics.items():
                results[name] = {key: float(value) for key, value in metric.compute().items()}
        return results

    def reset(self) -> None:
        """Clear every metric's state."""
        for metric in self.metrics.values():
            metric.reset()


def _resize_to(pred: Tensor, target: Tensor, name: str) -> Tensor:
    """``pred`` resized bilinearly to the target's H, W (unchanged if they already agree)."""
    size = tuple(target.shape[-2:])
    if tuple(pred.shape[-2:]) == size:
        return pred
    if pred.dim() != 4 or not pred.is_floating_point():
        raise DataError(
            f"task {name!r}: prediction {tuple(pred.shape)} ({pred.dtype}) cannot be resized to "
            f"the target's {size}: need float (B, C, H, W)"
        )
    return F.interpolate(pred, size=size, mode="bilinear", align_corners=False)


def delta_m(
    results: Mapping[str, Mapping[str, float]],
    reference: Mapping[str, Mapping[str, float]],
    tasks: Sequence[TaskSpec],
) -> float:
    """Multi-task performance Δm (percent) of ``results`` relative to ``reference``.

    ``Δm = mean over tasks of s · (M − M_ref) / M_ref · 100`` with M each task's
    ``primary_metric`` and s = +1 if ``higher_is_better`` else −1; positive means better than
    the reference.

    Raises:
        ConfigError: no task, a task or its primary metric missing from either side, or a
            reference value of 0.
    """
    if not tasks:
        raise ConfigError("Δm needs at least one task")
    total = 0.0
    for spec in tasks:
        value = _lookup(results, spec, "results")
        ref = _lookup(reference, spec, "reference")
        if ref == 0:
            raise ConfigError(f"reference {spec.name}/{spec.primary_metric} is 0: Δm divides by it")
        sign = 1.0 if spec.higher_is_better else -1.0
        total += sign * (value - ref) / ref * PERCENT
    return total / len(tasks)


def _lookup(table: Mapping[str, Mapping[str, float]], spec: TaskSpec, what: str) -> float:
    if spec.name not in table:
        raise ConfigError(
            f"{what} lack task {spec.name!r}; they have: {', '.join(table) or 'none'}"
        )
    metrics = table[spec.name]
    if spec.primary_metric not in metrics:
        raise ConfigError(
            f"{what} for task {spec.name!r} lack its primary metric {spec.primary_metric!r}; "
            f"they have: {', '.join(metrics) or 'none'}"
        )
    return float(metrics[spec.primary_metric])


def load_reference(
    path: str | Path, tasks: Sequence[TaskSpec] | None = None
) -> dict[str, dict[str, float]]:
    """Read reference results ``{task: {metric: value}}`` from a YAML or JSON file.

    ``.json`` files are read as JSON, anything else as YAML.

    Args:
        path: the file.
        tasks: if given, every task's ``primary_metric`` must be present.

    Raises:
        MissingDataError: the file does not exist.
        ConfigError: it does not parse, is not a mapping of mappings of finite numbers, or
            lacks a task or primary metric of ``tasks``; the message names the file and key.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"reference results file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"reference results file {path} does not parse: {err}") from err
    if not isinstance(data, Mapping) or not data:
        raise ConfigError(
            f"reference results file {path} must hold a mapping {{task: {{metric: value}}}}"
        )
    reference: dict[str, dict[str, float]] = {}
    for task, metrics in data.items():
        if not isinstance(metrics, Mapping):
            raise ConfigError(
                f"reference results file {path}: task {task!r} must map metric names to numbers, "
                f"got {type(metrics).__name__}"
            )
        reference[str(task)] = {}
        for metric, value in metrics.items():
            # bool is an int subclass; "true" is no metric value.
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not math.isfinite(value):
                raise ConfigError(
                    f"reference results file {path}: {task}/{metric} must be a finite number, "
                    f"got {value!r}"
                )
            reference[str(task)][str(metric)] = float(value)
    for spec in tasks or ():
        if spec.name not in reference:
            raise ConfigError(
                f"reference results file {path} lacks task {spec.name!r}; "
                f"it has: {', '.join(reference)}"
            )
        if spec.primary_metric not in reference[spec.name]:
            raise ConfigError(
                f"reference results file {path} lacks metric {spec.primary_metric!r} of task "
                f"{spec.name!r}; it has: {', '.join(reference[spec.name]) or 'none'}"
            )
    return reference
