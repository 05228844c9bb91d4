"""Jacobian descent's training steps (``model.loss.weighting=upgrad`` ...): a mixin of the module.

An aggregator combines the tasks' gradients instead of their losses (``dmtl.losses.aggregation``),
which replaces ``loss.backward()``: ``DiffusionMTLModule`` then trains by manual optimisation and
steps here. What a batch gives to minimise (``StepObjectives``) is the module's
``training_objectives``, shared by both ways of stepping.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dmtl.losses.aggregation import check_trainer
from dmtl.losses.masked import LossOutput
from dmtl.models.output import MultiTaskOutput


@dataclass
class StepObjectives:
    """What a training batch gives to minimise, before it is combined into one step.

    Attributes:
        out: the network's output.
        loss: the masked supervised loss, per task (``MultiTaskLoss``).
        xtc: XTC*'s weighted loss, or ``None`` without it.
        terms: each method term's loss (``dmtl.terms``), in the registry's order.
        trace: the chain's noise statistics (``train/noise/...``).
    """

    out: MultiTaskOutput
    loss: LossOutput
    xtc: torch.Tensor | None
    terms: dict[str, torch.Tensor]
    trace: dict


class JacobianDescentSteps:
    """The manual optimisation steps of ``DiffusionMTLModule`` under a Jacobian aggregator (a
    mixin). The module provides ``jacobian`` (``None`` without an aggregator), ``criterion``,
    ``loss``, ``optim`` and ``speed``.
    """

    def jacobian_rows(self, objectives: StepObjectives) -> dict[str, torch.Tensor]:
        """The objectives of Jacobian descent: each present task's w_t · L_t, XTC*, each term."""
        rows = {
            name: self.criterion.weights[name] * value
            for name, value in objectives.loss.per_task.items()
            if bool(objectives.loss.counts[name] > 0)
        }
        if objectives.xtc is not None:
            rows["xtc"] = objectives.xtc
        rows.update(objectives.terms)
        return rows

    def _jacobian_step(self, objectives: StepObjectives, bsz: int) -> torch.Tensor:
        """One optimiser step of Jacobian descent (``dmtl.losses.aggregation``).

        The logged ``train/loss`` is the sum of the rows (the ``equal`` weighting's total). The
        trainer's hooks run as in an automatic step: the loss guard sees the loss before the
        backward and the gradients before the optimiser step; a non-finite loss is not
        differentiated (the guard stops the run, or skips the step).
        """
        assert self.jacobian is not None
        rows = self.jacobian_rows(objectives)
        # a batch that labels no task and has no term: no row, nothing to step
        total = torch.stack(list(rows.values())).sum() if rows else objectives.loss.total.detach()
        self.log("train/loss", total, prog_bar=True, batch_size=bsz)
        opt = self.optimizers()
        precision = self.trainer.strategy.precision_plugin
        opt.zero_grad(set_to_none=True)
        precision.pre_backward(total, self)  # on_before_backward: the loss guard
        if bool(torch.isfinite(total.detach())):
            params = [p for p in self.parameters() if p.requires_grad]
            weights = self.jacobian.backward(rows, params)
            for name, value in weights.items():
                self.log(f"train/weight/{name}", value, batch_size=bsz)
        precision.post_backward(total, self)
        opt.step()  # on_before_optimizer_step: the loss guard's gradient check
        self.after_optimizer_step()  # the terms' updates (dmtl.step_followup)
        if self.optim.poly_interval == "step":
            self.lr_schedulers().step()
        return total.detach()

    def on_train_epoch_end(self) -> None:
        """Step a per-epoch decay under manual optimisation (Lightning steps it otherwise)."""
        if self.jacobian is not None and self.optim.poly_interval == "epoch":
            self.lr_schedulers().step()

    def _check_jacobian_descent(self) -> None:
        """Refuse, before training, the trainer settings the aggregator cannot honour.

        Raises:
            ConfigError: fp16, gradient clipping or accumulation, compile, several processes.
        """
        trainer = self._trainer
        if self.jacobian is None or trainer is None:
            return
        check_trainer(
            self.loss.weighting,
            precision=trainer.precision,
            gradient_clip_val=trainer.gradient_clip_val,
            accumulate_grad_batches=trainer.accumulate_grad_batches,
            compile=self.speed.compile,
            world_size=trainer.world_size,
        )
