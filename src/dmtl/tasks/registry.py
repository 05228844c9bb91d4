"""Task specifications: the one registry of dense prediction tasks, and a dataset's task specs.

The task sets of the datasets (standard tasks, channels, class counts left to the config) are
facts of the dataset registry, ``dmtl.data.datasets``; ``resolve_tasks`` reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from dmtl.data.datasets import DATASETS, DatasetInfo, dataset_info
from dmtl.data.datasets import dataset_names as _registered
from dmtl.errors import ConfigError
from dmtl.tasks.kinds import IGNORE_INDEX, TaskKind, kind_named

# the keys of dmtl.tasks.kinds.KINDS
KindName = Literal["segmentation", "saliency", "depth", "normals", "boundary"]


@dataclass(frozen=True)
class TaskSpec:
    """What the package needs to know of one dense prediction task.

    Attributes:
        name: registry key, also the key of targets and predictions.
        kind: the name of the task's kind in ``dmtl.tasks.kinds.KINDS``, which decides the loss, the
            metric, the target format and the rest of the task's behaviour (``behaviour``).
        channels: output channels of the network head (classes for segmentation and saliency).
        primary_metric: the metric that enters Δm.
        higher_is_better: direction of ``primary_metric``.
        ignore_index: target value that marks unlabelled pixels (segmentation, saliency,
            boundary).
    """

    name: str
    kind: KindName
    channels: int
    primary_metric: str
    higher_is_better: bool
    ignore_index: int | None = None

    @property
    def behaviour(self) -> TaskKind:
        """The task's kind: the object that holds its loss, metric, encoding, colours, ...

        Raises:
            ConfigError: ``kind`` names no registered kind.
        """
        return kind_named(self.kind, self.name)


# Defaults; ``channels`` of segmentation tasks depends on the dataset (``DatasetInfo.channels``).
TASKS: dict[str, TaskSpec] = {
    "semseg": TaskSpec("semseg", "segmentation", 13, "miou", True, IGNORE_INDEX),
    "human_parts": TaskSpec("human_parts", "segmentation", 7, "miou", True, IGNORE_INDEX),
    "sal": TaskSpec("sal", "saliency", 2, "maxf", True, IGNORE_INDEX),
    "depth": TaskSpec("depth", "depth", 1, "abs_err", False),
    "normals": TaskSpec("normals", "normals", 3, "mean", False),
    "edge": TaskSpec("edge", "boundary", 1, "f1", True, IGNORE_INDEX),
}


def dataset_names() -> list[str]:
    """Names of the datasets that have a task set (every registered dataset), sorted."""
    return _registered()


def standard_tasks(dataset: str) -> list[str]:
    """The dataset's standard task list, in the column order of its split files."""
    return list(dataset_info(dataset).standard_tasks)


def resolve_tasks(
    dataset: str,
    names: list[str] | tuple[str, ...] | None = None,
    num_classes: Mapping[str, int] | None = None,
) -> list[TaskSpec]:
    """Turn task names into specs with the dataset's channel counts.

    Args:
        dataset: a registered dataset (``dmtl.data.datasets``).
        names: task names; ``None`` means the dataset's standard tasks.
        num_classes: ``{task: classes}`` of the tasks whose class count the dataset leaves to the
            config (``DatasetInfo.configurable_classes``: semseg of ``folder``); elsewhere only the
            dataset's own counts are accepted.

    Raises:
        ConfigError: unknown dataset, unknown or duplicated task name, a task the dataset lacks,
            no task list where the dataset has no standard one, or a missing or bad class count.
    """
    info = dataset_info(dataset)
    standard = info.standard_tasks
    available = _with_class_counts(info, num_classes)
    if names is None and not standard:
        raise ConfigError(f"dataset {dataset!r} has no standard task list: name the tasks")
    names = list(standard) if names is None else list(names)
    if not names:
        raise ConfigError("the task list is empty: name at least one task")
    if len(set(names)) != len(names):
        raise ConfigError(f"the task list {names} names a task twice")
    specs = []
    for name in names:
        if name not in TASKS:
            raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
        if name not in available:
            raise ConfigError(
                f"task {name!r} is not available on dataset {dataset!r}; "
                f"available: {', '.join(available)}"
            )
        if available[name] < 1:
            raise ConfigError(
                f"dataset {dataset!r}: task {name!r} needs its class count: give "
                f"--data.num_classes='{{{name}: N}}' (class ids 0 .. N-1; "
                f"`num_classes: {{{name}: N}}` under data: in a config)"
            )
        specs.append(replace(TASKS[name], channels=available[name]))
    return specs


def _with_class_counts(info: DatasetInfo, num_classes: Mapping[str, int] | None) -> dict[str, int]:
    """The dataset's channels with the class counts of ``num_classes`` (checked) put in."""
    dataset, available = info.name, dict(info.channels)
    if not num_classes:
        return available
    if not isinstance(num_classes, Mapping):
        raise ConfigError(f"num_classes must map task names to class counts, got {num_classes!r}")
    configurable = info.configurable_classes
    out = dict(available)
    for task, count in num_classes.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 2:
            raise ConfigError(f"num_classes.{task} must be an integer >= 2, got {count!r}")
        if task not in configurable and available.get(task) != count:
            fixed = f"has {available[task]} classes" if task in available else "lacks it"
            pairs = [(d.name, t) for d in DATASETS.values() for t in d.configurable_classes]
            settable = "; ".join(f"{t} of {d!r}" for d, t in pairs)
            raise ConfigError(
                f"num_classes.{task}={count}: dataset {dataset!r} {fixed}; num_classes sets "
                f"the class counts of {settable} only"
            )
        out[task] = count
    return out
