"""Loss weightings of the per-task batch losses, masked for partial labels (docs/weighting.md).

A weighting combines the tasks' batch losses L_t (K,) into the total to minimise. L_t is the
task's fixed weight times the mean of its loss over the batch's samples labelled for it
(``MultiTaskLoss`` with ``task`` normalisation), and n_t (K,) counts those samples. A task with
n_t = 0 is absent from the batch: its L_t is 0 and carries no information, so every weighting
leaves it out of its terms and of its state updates (each class says how).

- ``equal``: the multi-task loss's own total, unchanged (Σ_t L_t).
- ``uncertainty`` (Kendall et al.): Σ_{t present} [L_t / (2 e^{s_t}) + s_t / 2], s_t learnable.
- ``dwa`` (Liu et al.): Σ_t λ_t L_t, λ = K · softmax(r / τ) of the last two epochs' loss ratios.
- ``famo`` (Liu et al., 2023): Σ_{t present} z_t log(L_t + ε) / Σ_{t present} z_t / (L_t + ε)
  (the denominator detached), z = softmax of learnt logits over the present tasks, the logits
  stepped from the change of the batch's log losses over the optimiser step (the batch
  re-evaluated after it, as the reference) or between consecutive steps (no extra forward).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

import dmtl.config.checks as check
from dmtl.config import FAMO_UPDATES, JACOBIAN_AGGREGATORS, LossConfig
from dmtl.errors import ConfigError
from dmtl.losses.masked import LossOutput

ADAM_BETAS = (0.9, 0.999)  # FAMO's logits: torch's Adam defaults, as the reference
ADAM_EPS = 1e-8

Reduce = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class WeightedLoss:
    """The weighted loss of one batch.

    Attributes:
        total: the scalar to minimise.
        weights: (K,) the task weights, detached (logged as ``train/weight/<task>``); ``None``
            for ``equal`` (nothing learnt, nothing logged).
    """

    total: torch.Tensor
    weights: torch.Tensor | None


def _same(values: torch.Tensor) -> torch.Tensor:
    """The reduction over processes of a single process: the values themselves."""
    return values


class LossWeighting(nn.Module, abc.ABC):
    """The base: the batch losses of a ``LossOutput`` as tensors, handed to ``combine``.

    A weighting with ``reevaluates`` set also wants, after each optimiser step, the losses of the
    batch it stepped on as the stepped network computes them (``after_step``).

    Args:
        tasks: task names, in the order of the weights.
    """

    reevaluates: bool = False

    def __init__(self, tasks: Sequence[str]) -> None:
        super().__init__()
        self.tasks = list(tasks)

    def forward(self, loss: LossOutput, task_weights: Mapping[str, float]) -> WeightedLoss:
        """The weighted total of ``loss`` (its ``per_task`` times ``task_weights``)."""
        return self.combine(*self._stack(loss, task_weights))

    def after_step(self, loss: LossOutput, task_weights: Mapping[str, float]) -> None:
        """The stepped batch's ``loss``, re-evaluated after the optimiser step (``reevaluates``)."""
        self.update(*self._stack(loss, task_weights))

    def _stack(
        self, loss: LossOutput, task_weights: Mapping[str, float]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        losses = torch.stack([task_weights[n] * loss.per_task[n] for n in self.tasks]).float()
        counts = torch.stack([loss.counts[n] for n in self.tasks])
        return losses, counts

    def update(self, losses: torch.Tensor, counts: torch.Tensor) -> None:
        """Learn from the re-evaluated batch losses (only a weighting that ``reevaluates``)."""

    @abc.abstractmethod
    def combine(self, losses: torch.Tensor, counts: torch.Tensor) -> WeightedLoss:
        """The total of the batch losses ``losses`` (K,) with labelled counts ``counts`` (K,).

        A task is present in the batch where ``counts > 0``.
        """

    def start_epoch(self, epoch: int, reduce: Reduce = _same) -> None:
        """Called at the start of every training epoch; ``reduce`` sums a tensor over processes."""


class EqualWeighting(LossWeighting):
    """Every task weight 1: the multi-task loss's total, bit for bit (the default)."""

    def forward(self, loss: LossOutput, task_weights: Mapping[str, float]) -> WeightedLoss:
        return WeightedLoss(loss.total, None)

    def combine(self, losses: torch.Tensor, counts: torch.Tensor) -> WeightedLoss:
        return WeightedLoss(losses.sum(), None)


class UncertaintyWeighting(LossWeighting):
    """Homoscedastic uncertainty weighting; an absent task contributes neither term.

    Unmasked, an absent task's regulariser s_t / 2 alone would push s_t down, raising the weight
    e^{-s_t} / 2 of a task the batch does not label. Masked, its s_t gets a zero gradient.

    Args:
        tasks: task names.
        init: the initial log-variances s_t.
    """

    def __init__(self, tasks: Sequence[str], init: float = -0.5) -> None:
        super().__init__(tasks)
        self.log_var = nn.Parameter(torch.full((len(self.tasks),), float(init)))

    def combine(self, losses: torch.Tensor, counts: torch.Tensor) -> WeightedLoss:
        terms = losses * torch.exp(-self.log_var) / 2 + self.log_var / 2
        total = torch.where(counts > 0, terms, torch.zeros_like(terms)).sum()
        return WeightedLoss(total, torch.exp(-self.log_var.detach()) / 2)


class DWAWeighting(LossWeighting):
    """Dynamic weight average over epoch means of the labelled samples' losses.

    L̄_t(e) = Σ_batches n_t L_t / Σ_batches n_t: the mean over the epoch's samples labelled for t
    (a plain mean of batch losses would count a batch that does not label t as a zero loss).
    In epoch e ≥ 2, r_t = L̄_t(e−1) / L̄_t(e−2), or 1 where t had no label in either epoch;
    λ = K · softmax(r / τ); λ = 1 in epochs 0 and 1. The sums, the two epoch means and the epoch
    being summed are buffers, so a checkpoint resumes the same weights.

    Args:
        tasks: task names.
        temperature: τ.
    """

    def __init__(self, tasks: Sequence[str], temperature: float = 2.0) -> None:
        super().__init__(tasks)
        self.temperature = temperature
        n = len(self.tasks)
        self.register_buffer("sums", torch.zeros(n))  # Σ n_t L_t of the epoch being summed
        self.register_buffer("counts", torch.zeros(n))  # Σ n_t
        self.register_buffer("means", torch.zeros(2, n))  # L̄(e−2), L̄(e−1)
        self.register_buffer("seen", torch.zeros(2, n))  # their Σ n_t
        self.register_buffer("epochs", torch.zeros((), dtype=torch.long))  # epochs recorded
        self.register_buffer("epoch", torch.full((), -1, dtype=torch.long))  # being summed
        self.register_buffer("lambdas", torch.ones(n))

    def start_epoch(self, epoch: int, reduce: Reduce = _same) -> None:
        """Record the finished epoch's means and set this epoch's λ (nothing on a mid-epoch resume).

        ``reduce`` sums the epoch's sums and counts over processes.
        """
        if epoch == int(self.epoch):
            return
        if int(self.epoch) >= 0:
            sums, counts = reduce(self.sums.clone()), reduce(self.counts.clone())
            mean = sums / counts.clamp(min=1)
            self.means.copy_(torch.stack([self.means[1], mean]))
            self.seen.copy_(torch.stack([self.seen[1], counts]))
            self.epochs += 1
        self.epoch.fill_(epoch)
        self.sums.zero_()
        self.counts.zero_()
        self.lambdas.copy_(self._lambdas())

    def _lambdas(self) -> torch.Tensor:
        n = len(self.tasks)
        if int(self.epochs) < 2:
            return torch.ones(n, device=self.lambdas.device)
        usable = (self.seen > 0).all(dim=0) & (self.means[0] > 0)
        ratio = torch.where(usable, self.means[1] / self.means[0].clamp(min=1e-30), 1.0)
        return n * torch.softmax(ratio / self.temperature, dim=0)

    def combine(self, losses: torch.Tensor, counts: torch.Tensor) -> WeightedLoss:
        if self.training:  # a non-finite loss (a step the loss guard skips) is not summed
            finite = torch.isfinite(losses.detach())
            self.sums += torch.where(finite, losses.detach() * counts, 0.0)
            self.counts += torch.where(finite, counts, 0)
        terms = self.lambdas * losses
        total = torch.where(counts > 0, terms, torch.zeros_like(terms)).sum()
        return WeightedLoss(total, self.lambdas.clone())


class FAMOWeighting(LossWeighting):
    """Fast adaptive multitask optimisation with the absent-task mask.

    The logits ξ move by Adam (``lr``, L2 ``weight_decay``) along the softmax's Jacobian
    applied to δ_t = log(L_t + ε) − log(L'_t + ε), the fall of a task's log loss. With
    ``update="same_batch"`` (the reference) L_t is the batch's loss before the optimiser step and
    L'_t the same batch's after it (``after_step``: one more forward, without gradient); with
    ``"previous_batch"`` L_t is the previous step's batch loss and L'_t this step's, and ξ
    moves before the loss (no extra forward, a noisier δ). Only the tasks present in both losses
    enter δ. The softmax, the loss and the Adam moments of a task absent from the batch leave it
    out, so no log(ε) of a missing loss enters, and its logit does not move. The logits, their
    moments and the last log losses are buffers (the checkpoint holds them); the ``weights`` are
    softmax(ξ) over all tasks.

    Args:
        tasks: task names.
        lr: Adam learning rate of the logits.
        weight_decay: their L2 weight decay γ.
        eps: ε.
        update: ``same_batch`` or ``previous_batch``.
    """

    def __init__(
        self,
        tasks: Sequence[str],
        lr: float = 0.025,
        weight_decay: float = 1e-3,
        eps: float = 1e-8,
        update: str = "same_batch",
    ) -> None:
        super().__init__(tasks)
        check.one_of("model.loss.weighting_options.famo_update", update, FAMO_UPDATES)
        self.lr, self.weight_decay, self.eps = lr, weight_decay, eps
        self.reevaluates = update == "same_batch"
        n = len(self.tasks)
        self.register_buffer("logits", torch.zeros(n))
        self.register_buffer("moment1", torch.zeros(n))
        self.register_buffer("moment2", torch.zeros(n))
        self.register_buffer("steps", torch.zeros(n))  # Adam steps of each logit
        self.register_buffer("previous", torch.zeros(n))  # log(L_t + ε) of the last step
        self.register_buffer("previous_present", torch.zeros(n, dtype=torch.bool))

    def combine(self, losses: torch.Tensor, counts: torch.Tensor) -> WeightedLoss:
        present = counts > 0
        if self.training:
            now, measured = self._log_losses(losses, counts)
            if not self.reevaluates:  # δ against the previous step's batch
                self._step(now, measured & self.previous_present)
            self.previous.copy_(torch.where(measured, now, torch.zeros_like(now)))
            self.previous_present.copy_(measured)
        weights = torch.softmax(self.logits, dim=0)
        z = torch.softmax(self.logits.masked_fill(~present, float("-inf")), dim=0)
        z = torch.where(present, z, torch.zeros_like(z))  # no present task: all zero, not NaN
        shifted = torch.where(present, losses, torch.ones_like(losses)) + self.eps
        scale = (z / shifted).sum().detach().clamp(min=self.eps)
        total = (z * torch.log(shifted)).sum() / scale
        return WeightedLoss(total, weights)

    def update(self, losses: torch.Tensor, counts: torch.Tensor) -> None:
        """δ from the batch's losses before (``combine``) and after the optimiser step (only with
        ``update="same_batch"``)."""
        if not self.reevaluates:
            return
        now, measured = self._log_losses(losses, counts)
        self._step(now, measured & self.previous_present)
        self.previous_present.zero_()  # one update a step: a second call finds nothing

    def _log_losses(self, losses: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """log(L_t + ε), and which tasks are measured: present with a finite loss (a non-finite
        one, a step the loss guard skips, counts as absent)."""
        measured = (counts > 0) & torch.isfinite(losses.detach())
        return torch.log(losses.detach().clamp(min=0) + self.eps), measured

    def _step(self, now: torch.Tensor, both: torch.Tensor) -> None:
        """One masked Adam step of the logits of the tasks ``both`` (present in both steps)."""
        if not bool(both.any()):
            return
        delta = torch.where(both, self.previous - now, torch.zeros_like(now))
        z = torch.softmax(self.logits.masked_fill(~both, float("-inf")), dim=0)
        z = torch.where(both, z, torch.zeros_like(z))
        grad = z * (delta - (z * delta).sum()) + self.weight_decay * self.logits
        beta1, beta2 = ADAM_BETAS
        self.steps += both.float()
        m = torch.where(both, beta1 * self.moment1 + (1 - beta1) * grad, self.moment1)
        v = torch.where(both, beta2 * self.moment2 + (1 - beta2) * grad**2, self.moment2)
        t = self.steps.clamp(min=1)
        step = self.lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + ADAM_EPS)
        self.logits.copy_(torch.where(both, self.logits - step, self.logits))
        self.moment1.copy_(m)
        self.moment2.copy_(v)


def build_weighting(tasks: Sequence[str], loss: LossConfig | None = None) -> LossWeighting:
    """The weighting ``loss.weighting`` of ``tasks`` with ``loss.weighting_options``.

    A Jacobian aggregator (``dmtl.losses.aggregation``) combines gradients, not losses: its steps
    keep the ``equal`` weighting, whose total is the logged ``train/loss``.

    Raises:
        ConfigError: an unknown weighting.
    """
    loss = loss or LossConfig()
    o = loss.weighting_options
    builders: dict[str, Callable[[], LossWeighting]] = {
        "equal": lambda: EqualWeighting(tasks),
        "uncertainty": lambda: UncertaintyWeighting(tasks, o.uncertainty_init),
        "dwa": lambda: DWAWeighting(tasks, o.dwa_temperature),
        "famo": lambda: FAMOWeighting(
            tasks, o.famo_lr, o.famo_weight_decay, o.famo_eps, o.famo_update
        ),
    }
    if loss.weighting in JACOBIAN_AGGREGATORS:
        return EqualWeighting(tasks)
    if loss.weighting not in builders:
        raise ConfigError(
            f"unknown model.loss.weighting {loss.weighting!r}; use one of {', '.join(builders)}"
        )
    return builders[loss.weighting]()
