"""Tasks: the registry of dense prediction tasks and the kinds that give each its behaviour.

``registry`` holds ``TaskSpec`` (a task's name, kind and channels), ``TASKS`` and
``resolve_tasks`` (a dataset's task specs, from the dataset registry ``dmtl.data.datasets``);
``kinds`` one class per task kind (segmentation, saliency, depth, normals, boundary) with its loss,
valid pixels, encoding, metric, colours and post-processing. A new task of a known kind is one
``TaskSpec``; a new kind is one class in ``kinds`` (docs/method.md, "Adding a task kind").
"""

from dmtl.tasks.registry import (
    IGNORE_INDEX,
    TASKS,
    TaskSpec,
    dataset_names,
    resolve_tasks,
    standard_tasks,
)

__all__ = ["IGNORE_INDEX", "TASKS", "TaskSpec", "dataset_names", "resolve_tasks", "standard_tasks"]
