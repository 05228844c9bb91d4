"""The registry of task kinds: one ``TaskKind`` per kind, holding all of its behaviour.

``TaskSpec.kind`` names a kind; ``TaskSpec.behaviour`` is the kind itself. Code that treats
tasks differently by what their maps mean calls the kind (``spec.behaviour.valid_pixels(...)``,
``.postprocess(...)``, ``.build_metric(...)``, ...) instead of comparing kind names.
"""

from __future__ import annotations

from dmtl.errors import ConfigError
from dmtl.tasks.kinds.base import DECODE_EPS, IGNORE_INDEX, MetricOptions, TaskKind
from dmtl.tasks.kinds.boundary import BoundaryKind
from dmtl.tasks.kinds.depth import DepthKind
from dmtl.tasks.kinds.normals import NormalsKind
from dmtl.tasks.kinds.saliency import SaliencyKind
from dmtl.tasks.kinds.segmentation import SegmentationKind

KINDS: dict[str, TaskKind] = {
    kind.name: kind
    for kind in (SegmentationKind(), SaliencyKind(), DepthKind(), NormalsKind(), BoundaryKind())
}


def kind_named(name: str, task: str | None = None) -> TaskKind:
    """The kind registered as ``name``.

    Args:
        name: a key of ``KINDS``.
        task: the task that has this kind, named in the error.

    Raises:
        ConfigError: no kind of that name.
    """
    if name not in KINDS:
        owner = f"task {task!r} has " if task is not None else ""
        raise ConfigError(f"{owner}unknown kind {name!r}; known kinds: {', '.join(KINDS)}")
    return KINDS[name]


__all__ = [
    "DECODE_EPS",
    "IGNORE_INDEX",
    "KINDS",
    "BoundaryKind",
    "DepthKind",
    "MetricOptions",
    "NormalsKind",
    "SaliencyKind",
    "SegmentationKind",
    "TaskKind",
    "kind_named",
]
