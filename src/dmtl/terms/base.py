"""What a method adds to the supervised loss: a training term, and what it is handed each step.

A method of the field (JTR, a consistency term, a teacher's pseudo-labels, ...) is an option of
the one Lightning system, not a fork of its training loop: it is a ``TrainingTerm`` that
``DiffusionMTLModule.training_step`` calls once per step with a ``TermInputs`` and adds its
``TermOutput.total`` to the supervised loss. The module logs each entry of ``TermOutput.logs`` as
``train/loss/<term name>/<key>`` (``total`` as ``train/loss/<term name>``) and calls each term's
``after_optimizer_step`` once the optimiser has stepped (an EMA teacher follows its student there).

A term owns its modules (an auto-encoder, a frozen teacher); their parameters are the module's, so
the optimiser sees those that require gradient. A term that must not be trained keeps
``requires_grad=False`` on its parameters (and ``persistent=False`` buffers where the checkpoint
should not carry them).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from dmtl.models.output import MultiTaskOutput


@dataclass
class TermInputs:
    """One training step as a term sees it.

    Attributes:
        batch: the training batch: ``image`` (B, 3, H, W), ``targets`` task -> labels,
            ``labelled`` (B, K) bool in task order, and whatever else the data module yields.
        out: the network's output for ``batch["image"]`` in this step (the supervised loss's).
        predict: the module's forward for another input (a second view): ``predict(image,
            labelled=None)`` runs the network in training mode with this step's noise generator.
        generator: this step's noise generator (a function of the noise seed, step and rank), for
            the term's own random draws; ``None`` only where a caller has none.
        step: the optimiser step (``global_step``).
        total_steps: the steps of the whole run (``trainer.estimated_stepping_batches``), for ramps.
    """

    batch: dict
    out: MultiTaskOutput
    predict: Callable[..., MultiTaskOutput]
    generator: torch.Generator | None
    step: int
    total_steps: int


@dataclass
class TermOutput:
    """A term's loss (already weighted, added as is) and what to log beside it."""

    total: torch.Tensor
    logs: dict[str, torch.Tensor] = field(default_factory=dict)


class TrainingTerm(nn.Module, ABC):
    """A loss term beside the supervised one; subclasses set ``name`` and implement ``forward``."""

    name: str = ""

    @abstractmethod
    def forward(self, inputs: TermInputs) -> TermOutput:
        """The term's loss of one training step (weighted) and what to log beside it."""

    def on_fit_start(self, module: nn.Module) -> None:
        """Called when a fit starts with the Lightning module (default: nothing)."""

    def after_optimizer_step(self, student: nn.Module) -> None:
        """Called after each optimiser step with the trained network (default: nothing)."""
