"""Task specifications: the one registry of dense prediction tasks and the task sets of datasets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from dmtl.errors import ConfigError
from dmtl.kinds import IGNORE_INDEX, TaskKind, kind_named

# the keys of dmtl.kinds.KINDS
KindName = Literal["segmentation", "saliency", "depth", "normals", "boundary"]


@dataclass(frozen=True)
class TaskSpec:
    """What the package needs to know of one dense prediction task.

    Attributes:
        name: registry key, also the key of targets and predictions.
        kind: the name of the task's kind in ``dmtl.kinds.KINDS``, which decides the loss, the
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


# Defaults; ``channels`` of segmentation tasks depends on the dataset (see DATASET_TASKS).
TASKS: dict[str, TaskSpec] = {
    "semseg": TaskSpec("semseg", "segmentation", 13, "miou", True, IGNORE_INDEX),
    "human_parts": TaskSpec("human_parts", "segmentation", 7, "miou", True, IGNORE_INDEX),
    "sal": TaskSpec("sal", "saliency", 2, "maxf", True, IGNORE_INDEX),
    "depth": TaskSpec("depth", "depth", 1, "abs_err", False),
    "normals": TaskSpec("normals", "normals", 3, "mean", False),
    "edge": TaskSpec("edge", "boundary", 1, "f1", True, IGNORE_INDEX),
}

# dataset -> (standard tasks in split-file column order, {task: channels} of every available task)
DATASET_TASKS: dict[str, tuple[tuple[str, ...], dict[str, int]]] = {
    "synthetic": (
        ("semseg", "depth", "normals"),
        {"semseg": 13, "depth": 1, "normals": 3, "edge": 1},
    ),
    "nyuv2": (("semseg", "depth", "normals"), {"semseg": 13, "depth": 1, "normals": 3}),
    # depth is inverse depth on Cityscapes; label_7 (default) or label_19 (cityscapes19)
    "cityscapes": (("semseg", "depth"), {"semseg": 7, "depth": 1}),
    "cityscapes19": (("semseg", "depth"), {"semseg": 19, "depth": 1}),
    # NYUD-v2 in the ATRC/InvPT layout: the 40 classes of Gupta et al., depth in metres
    "nyud": (
        ("semseg", "depth", "normals", "edge"),
        {"semseg": 40, "depth": 1, "normals": 3, "edge": 1},
    ),
    "pascal_context": (
        ("semseg", "human_parts", "sal", "normals", "edge"),
        {"semseg": 21, "human_parts": 7, "sal": 2, "normals": 3, "edge": 1},
    ),
}
# The synthetic PASCAL-like and Cityscapes-like scenes (dmtl.data.synthetic.variants) have the task
# sets of the datasets they imitate.
DATASET_TASKS["synthetic_pascal"] = DATASET_TASKS["pascal_context"]
DATASET_TASKS["synthetic_cityscapes"] = DATASET_TASKS["cityscapes"]
# One's own data (dmtl.data.readers.folder): no standard task list, and the class count of semseg
# (0 here) comes from the config's ``num_classes``.
DATASET_TASKS["folder"] = ((), {"semseg": 0, "depth": 1, "normals": 3, "edge": 1, "sal": 2})
# dataset -> the tasks whose class count ``num_classes`` sets
CONFIGURABLE_CLASSES: dict[str, tuple[str, ...]] = {"folder": ("semseg",)}


def dataset_names() -> list[str]:
    """Names of the datasets that have a task set."""
    return sorted(DATASET_TASKS)


def standard_tasks(dataset: str) -> list[str]:
    """The dataset's standard task list, in the column order of its split files."""
    return list(_dataset_entry(dataset)[0])


def resolve_tasks(
    dataset: str,
    names: list[str] | tuple[str, ...] | None = None,
    num_classes: Mapping[str, int] | None = None,
) -> list[TaskSpec]:
    """Turn task names into specs with the dataset's channel counts.

    Args:
        dataset: a key of ``DATASET_TASKS``.
        names: task names; ``None`` means the dataset's standard tasks.
        num_classes: ``{task: classes}`` of the tasks whose class count the dataset leaves to the
            config (``CONFIGURABLE_CLASSES``: semseg of ``folder``); on other datasets only the
            dataset's own counts are accepted.

    Raises:
        ConfigError: unknown dataset, unknown or duplicated task name, a task the dataset lacks,
            no task list where the dataset has no standard one, or a missing or bad class count.
    """
    standard, available = _dataset_entry(dataset)
    available = _with_class_counts(dataset, available, num_classes)
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


def _with_class_counts(
    dataset: str, available: dict[str, int], num_classes: Mapping[str, int] | None
) -> dict[str, int]:
    """``available`` with the class counts of ``num_classes`` (checked) put in."""
    if not num_classes:
        return available
    if not isinstance(num_classes, Mapping):
        raise ConfigError(f"num_classes must map task names to class counts, got {num_classes!r}")
    configurable = CONFIGURABLE_CLASSES.get(dataset, ())
    out = dict(available)
    for task, count in num_classes.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 2:
            raise ConfigError(f"num_classes.{task} must be an integer >= 2, got {count!r}")
        if task not in configurable and available.get(task) != count:
            fixed = f"has {available[task]} classes" if task in available else "lacks it"
            pairs = CONFIGURABLE_CLASSES.items()
            settable = "; ".join(f"{t} of {d!r}" for d, ts in pairs for t in ts)
            raise ConfigError(
                f"num_classes.{task}={count}: dataset {dataset!r} {fixed}; num_classes sets "
                f"the class counts of {settable} only"
            )
        out[task] = count
    return out


def _dataset_entry(dataset: str) -> tuple[tuple[str, ...], dict[str, int]]:
    if dataset not in DATASET_TASKS:
        raise ConfigError(
            f"unknown dataset {dataset!r}; known datasets: {', '.join(dataset_names())}"
        )
    return DATASET_TASKS[dataset]
