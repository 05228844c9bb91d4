"""The training terms of the field, by option group: which group enables which term.

Each entry maps an option group of ``DiffusionMTLModule`` (``--model.<group>.*``) to a builder
``(task_specs, groups, net) -> TrainingTerm | None``: the term when the group enables it, ``None``
otherwise. ``build_terms`` calls every builder in table order; that order is the order in which the
terms are added to the loss and the order of their state-dict entries (``terms.<name>.*``).
Adding a method is one builder here plus its option group in ``dmtl.config.GROUPS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from dmtl.tasks import TaskSpec
from dmtl.terms.base import TrainingTerm
from dmtl.terms.consistency import build_consistency
from dmtl.terms.jtr import build_jtr
from dmtl.terms.mean_teacher import build_mean_teacher
from dmtl.terms.teacher import build_teacher

TermBuilder = Callable[[Sequence[TaskSpec], Mapping[str, Any], nn.Module], TrainingTerm | None]

TERMS: dict[str, TermBuilder] = {
    "consistency": build_consistency,
    "jtr": build_jtr,
    "teacher": build_teacher,
    "mean_teacher": build_mean_teacher,
}


def build_terms(
    specs: Sequence[TaskSpec], groups: Mapping[str, Any], net: nn.Module
) -> nn.ModuleDict:
    """The enabled terms, by name, in ``TERMS`` order (an empty dict for a plain method)."""
    terms = nn.ModuleDict()
    for builder in TERMS.values():
        term = builder(specs, groups, net)
        if term is not None:
            terms[term.name] = term
    return terms
