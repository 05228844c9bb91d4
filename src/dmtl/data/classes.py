"""The class names and colours of a dataset's class-id tasks, read from its label set.

Name and colour ``i`` are those of class id ``i`` in the targets and in the predictions; the
facts are the label sets of ``dmtl.data.datasets.labelsets``, which each registry entry names. A
task or dataset without a list gets ``class 0``, ``class 1``, ... (and the fallback palette of
``dmtl.viz.class_palette``).
"""

from __future__ import annotations

from dmtl.data.datasets import ClassList, find_dataset
from dmtl.data.datasets.labelsets import Colour


def label_set(dataset: str | None) -> str | None:
    """The name of the label set ``dataset`` uses, ``None`` for an unknown dataset."""
    info = find_dataset(dataset)
    return info.label_set.name if info is not None and info.label_set is not None else None


def _classes(dataset: str | None, task: str) -> ClassList | None:
    info = find_dataset(dataset)
    return info.label_set.tasks.get(task) if info is not None and info.label_set else None


def known_class_names(dataset: str | None, task: str) -> tuple[str, ...] | None:
    """The class names of ``task`` on ``dataset``, ``None`` where dmtl has no list for them."""
    classes = _classes(dataset, task)
    return classes.names if classes is not None else None


def known_class_colours(dataset: str | None, task: str) -> tuple[Colour, ...] | None:
    """The class colours of ``task`` on ``dataset``, ``None`` where the dataset has none."""
    classes = _classes(dataset, task)
    return classes.colours if classes is not None else None


def class_names(dataset: str | None, task: str, num_classes: int) -> tuple[str, ...]:
    """The names of the ``num_classes`` classes of ``task`` on ``dataset``.

    Args:
        dataset: a ``data.dataset`` value, or ``None``.
        task: the task name (``semseg``, ``human_parts``, ``sal``).
        num_classes: the task's channel count; a list of another length is not used.

    Returns:
        the dataset's names, or ``class 0``, ``class 1``, ... where none are known.
    """
    names = known_class_names(dataset, task)
    if names is not None and len(names) == num_classes:
        return names
    return tuple(f"class {i}" for i in range(num_classes))
