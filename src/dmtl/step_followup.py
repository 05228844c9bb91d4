"""What follows each optimiser step of ``DiffusionMTLModule`` (a mixin).

Two things learn from a step once it is taken: a method term (an EMA teacher follows the network,
``TrainingTerm.after_optimizer_step``) and a loss weighting that ``reevaluates`` (FAMO: the losses
of the batch just stepped on, computed again by the stepped network). Both run inside the
module's ``optimizer_step`` (automatic optimisation) or right after the manual step of Jacobian
descent, so before any hook of the batch's end: the stop checkpoint that the fault-tolerance
callback writes there already holds them, and a run stopped mid-epoch resumes exactly. Under
gradient accumulation they run once per optimiser step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch
from torch import nn

from dmtl.losses.masked import LossOutput


@contextmanager
def running_stats_kept(net: nn.Module) -> Iterator[None]:
    """Restore the running statistics of ``net``'s normalisation layers on the way out: a
    train-mode forward inside normalises by the batch's statistics but leaves no trace."""
    layers = [m for m in net.modules() if getattr(m, "track_running_stats", False)]
    saved = [{k: b.clone() for k, b in m.named_buffers(recurse=False)} for m in layers]
    try:
        yield
    finally:
        for layer, buffers in zip(layers, saved, strict=True):
            for name, value in buffers.items():
                getattr(layer, name).copy_(value)


class StepFollowUp:
    """The optimiser step's follow-up of ``DiffusionMTLModule`` (a mixin). The module provides
    ``terms``, ``weighting``, ``criterion``, ``net`` and ``_training_noise``, and calls
    ``remember_step_batch`` from its training step."""

    _stepped: tuple[dict, int] | None = None  # the batch of the step under way, and its step

    def optimizer_step(
        self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None
    ) -> None:
        """Lightning's optimiser step (the closure runs the training step), then its follow-up."""
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)  # type: ignore[misc]
        self.after_optimizer_step()

    def remember_step_batch(self, batch: dict, step: int) -> None:
        """Keep the training batch of step ``step`` for a weighting that re-evaluates it."""
        self._stepped = (batch, step) if self.weighting.reevaluates else None

    def after_optimizer_step(self) -> None:
        """Tell the terms of the step, then give a re-evaluating weighting its batch's losses."""
        for term in self.terms.values():
            term.after_optimizer_step(self.net)
        stepped, self._stepped = self._stepped, None
        if stepped is not None:
            self.weighting.after_step(self.reevaluated_loss(*stepped), self.criterion.weights)

    @torch.no_grad()
    def reevaluated_loss(self, batch: dict, step: int) -> LossOutput:
        """The supervised loss of a training batch by the network as it is now: in train mode
        with the chain noise of step ``step`` and the training step's precision (autocast under
        ``bf16-mixed``), as that step computed it, without gradient and without changing the
        normalisation statistics or the global random streams."""
        devices = [self.device] if self.device.type == "cuda" else []
        with running_stats_kept(self.net), torch.random.fork_rng(devices=devices):
            with self._training_precision():
                noise = self._training_noise(batch["image"], step)
                out = self(batch["image"], batch["labelled"], noise)
                return self.criterion(out, batch["targets"], batch["labelled"])

    def _training_precision(self) -> AbstractContextManager:
        """The trainer's context of a training step (its autocast); none without a trainer."""
        trainer = self._trainer
        return nullcontext() if trainer is None else trainer.precision_plugin.train_step_context()
