"""``NonFiniteLossGuard``: stop (or skip the step) on a non-finite loss, gradient or weight.

Always on in the ``dmtl`` command line (``--loss_guard.action=stop|skip``). It reads the loss that
``training_step`` returns and the per-task losses it logs (``train/loss/<task>``), so the model
needs no change. ``stop`` ends the run with a ``TrainingError`` naming the step, the task(s) whose
loss is not finite and the batch's sample names; ``skip`` warns with the same facts and drops the
step: the gradients are cleared before the optimiser runs, so the weights and the optimiser state
(moments, step count) stay as they were. The learning-rate schedule still advances by one step.

A finite loss can still give non-finite gradients (checked before the optimiser step, except in
fp16 where the gradient scaler skips such steps itself; ``stop`` or ``skip`` as for the loss) or,
through the update, non-finite weights (checked after every step). Non-finite weights always stop
the run, before any checkpoint of them is written, so the last good checkpoint stays the newest.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn

from dmtl.errors import TrainingError
from dmtl.optim import FP16_PRECISIONS

GuardAction = Literal["stop", "skip"]
TASK_LOSS_PREFIX = "train/loss/"
MAX_NAMES = 8  # sample names quoted in the message


class NonFiniteLossGuard(Callback):
    """Stops or skips a training step whose loss is NaN or infinite.

    Args:
        action: ``stop`` (raise ``TrainingError``) or ``skip`` (warn, no weight update).
    """

    def __init__(self, action: GuardAction = "stop") -> None:
        self.action = action
        self._names: list[str] = []
        self._skip_step = False
        self.skipped = 0  # steps skipped so far in this run

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        meta = batch.get("meta", {}) if isinstance(batch, dict) else {}
        self._names = [str(n) for n in meta.get("name", [])]
        self._skip_step = False

    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor
    ) -> None:
        finite = bool(torch.isfinite(loss.detach()).all())
        if trainer.world_size > 1:  # every rank must skip or stop together
            finite = trainer.strategy.reduce_boolean_decision(finite, all=True)
        if finite:
            return
        message = self._describe(trainer, loss, "non-finite training loss")
        if self.action == "stop":
            raise TrainingError(message + "; use --loss_guard.action=skip to skip such steps")
        rank_zero_warn(message + "; step skipped")
        self._skip_step = True
        self.skipped += 1

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        # fp16's gradient scaler skips steps with inf/NaN gradients by itself
        if not self._skip_step and str(trainer.precision) not in FP16_PRECISIONS:
            grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
            if not self._all_finite(trainer, grads):
                message = self._describe(trainer, None, "non-finite gradients")
                if self.action == "stop":
                    raise TrainingError(
                        message + "; use --loss_guard.action=skip to skip such steps"
                    )
                rank_zero_warn(message + "; step skipped")
                self._skip_step = True
                self.skipped += 1
        if self._skip_step:
            # Parameters without a gradient are left alone by every torch optimiser.
            optimizer.zero_grad(set_to_none=True)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:  # fmt: skip
        if not self._all_finite(trainer, list(pl_module.parameters())):
            message = self._describe(trainer, None, "non-finite weights after the optimiser step")
            raise TrainingError(
                message + "; the run stops before they are checkpointed (lower --model.optim.lr, "
                "or clip gradients with --trainer.gradient_clip_val)"
            )

    @staticmethod
    def _all_finite(trainer: pl.Trainer, tensors: list[torch.Tensor]) -> bool:
        """Whether every element of ``tensors`` is finite: one device sync, all ranks agree."""
        finite = (
            bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()) if tensors else True
        )
        if trainer.world_size > 1:
            finite = trainer.strategy.reduce_boolean_decision(finite, all=True)
        return finite

    def _describe(self, trainer: pl.Trainer, loss: torch.Tensor | None, what: str) -> str:
        tasks = []
        for key, value in trainer.callback_metrics.items():
            if key.startswith(TASK_LOSS_PREFIX) and not math.isfinite(float(value)):
                tasks.append(key[len(TASK_LOSS_PREFIX) :])
        names = self._names[:MAX_NAMES] + (["..."] if len(self._names) > MAX_NAMES else [])
        value = f" {float(loss.detach()):g}" if loss is not None else ""
        return (
            f"{what}{value} at step {trainer.global_step} "
            f"(epoch {trainer.current_epoch}); tasks with a non-finite loss: "
            f"{', '.join(sorted(tasks)) or 'none logged'}; batch samples: {', '.join(names)}"
        )
