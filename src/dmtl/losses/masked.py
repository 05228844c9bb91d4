"""Per-task losses and the multi-task loss masked by label availability, batched over samples."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dmtl.config import LossNormalization, NormalsLoss
from dmtl.errors import ConfigError
from dmtl.models.output import MultiTaskOutput
from dmtl.tasks import TaskSpec
from dmtl.tasks.kinds.boundary import EDGE_POS_WEIGHT as EDGE_POS_WEIGHT  # re-exported


@dataclass
class LossOutput:
    """The loss of one batch.

    Attributes:
        total: the scalar to minimise.
        per_task: each task's loss (mean over its labelled samples, before task weights).
        counts: number of labelled samples with valid pixels per task in this batch.
    """

    total: torch.Tensor
    per_task: dict[str, torch.Tensor]
    counts: dict[str, torch.Tensor]


def per_sample_task_loss(
    spec: TaskSpec,
    pred: torch.Tensor,
    target: torch.Tensor,
    use: torch.Tensor,
    normals_loss: NormalsLoss = "l1",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of one task for every sample: a mean over the sample's valid pixels.

    The task's kind holds the pixel loss and the validity rule (``spec.behaviour``): cross-entropy
    (segmentation, saliency), L1 (depth), L1 of the normalised vector or 1 - cos (normals),
    BCE with positives weighted ``EDGE_POS_WEIGHT`` (boundary).

    Args:
        spec: the task.
        pred: (B, C, H, W) raw network output at the target resolution.
        target: targets in the batch format of the task ((B, H, W) long for segmentation,
            (B, 1|3, H, W) float otherwise).
        use: bool (B,); samples with False contribute nothing, whatever their targets hold.

    Returns:
        loss (B,) and has_pixels bool (B,): whether the sample had any usable pixel.

    Raises:
        ConfigError: a task of an unknown kind.
    """
    return spec.behaviour.per_sample_loss(spec, pred, target, use, normals_loss)


class MultiTaskLoss(nn.Module):
    """The partially supervised multi-task loss.

    Every (sample, task) term is a mean over the sample's valid pixels; when the output carries
    initial predictions (DiffusionMTL), the term is ℓ(final) + ``initial_weight`` · ℓ(initial). The
    terms are combined by ``normalization``:

    - ``task``: for task k, the mean of the terms over the samples labelled for k
      (``labelled[:, k]``) that have valid pixels; the total is the weighted sum over tasks.
    - ``sample`` (the released DiffusionMTL code): sample i contributes
      K / |L_i| · Σ_{k ∈ L_i} w_k · term_ik, where L_i is its set of labelled tasks; the total is
      the sum over samples divided by the batch size.

    The loss selects the rows itself: when the output holds only some samples of a task
    (``output.rows[task]``, DiffusionMTL in training), the final and the initial term are computed
    on those rows against ``targets[task][rows]`` and scattered back into the batch; a task the
    output does not predict (no labelled sample) has no term. No Python loop over samples:
    everything is masked and batched.

    Args:
        tasks: task specs in the column order of ``labelled``.
        weights: task name -> loss weight (default 1 for every task).
        initial_weight: weight of the initial predictions' loss relative to the final one.
        normalization: ``task`` or ``sample`` (see above).
        normals_loss: ``l1`` of the L2-normalised prediction or ``cosine`` (1 - cos).
        task_loss: the per-sample loss of one task, with the signature of
            ``per_sample_task_loss`` (default); ``dmtl.losses.released`` has the released one.
    """

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        weights: Mapping[str, float] | None = None,
        initial_weight: float = 0.5,
        normalization: LossNormalization = "task",
        normals_loss: NormalsLoss = "l1",
        task_loss: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> None:
        super().__init__()
        self.task_loss = task_loss or per_sample_task_loss
        self.tasks = list(tasks)
        names = [t.name for t in self.tasks]
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ConfigError(f"loss weights name unknown tasks {unknown}; tasks are {names}")
        self.weights = {n: float(weights.get(n, 1.0)) for n in names}
        self.initial_weight = initial_weight
        if normals_loss not in ("l1", "cosine"):
            raise ConfigError(f"unknown normals_loss {normals_loss!r}; use 'l1' or 'cosine'")
        self.normals_loss = normals_loss
        if normalization not in ("task", "sample"):
            raise ConfigError(
                f"unknown loss normalization {normalization!r}; use 'task' or 'sample'"
            )
        self.normalization = normalization

    def forward(
        self, output: MultiTaskOutput, targets: Mapping[str, torch.Tensor], labelled: torch.Tensor
    ) -> LossOutput:
        """Loss of a batch.

        Args:
            output: network output (``MultiTaskOutput``): predictions (n_τ, C, H, W) of the rows
                ``output.rows[task]`` (every sample when ``None`` or absent).
            targets: task -> target tensor (every task present, labelled or not).
            labelled: bool (B, K), column k for ``tasks[k]``.
        """
        per_task, counts, terms = {}, {}, []
        for k, spec in enumerate(self.tasks):
            term, use = self._terms(spec, output, targets[spec.name], labelled[:, k])
            n = use.sum()
            per_task[spec.name] = (term * use).sum() / n.clamp(min=1)
            counts[spec.name] = n
            terms.append(self.weights[spec.name] * term)
        if self.normalization == "task":
            total = sum(per_task[s.name] * self.weights[s.name] for s in self.tasks)
        else:
            # (B, K) weighted terms, zero where unlabelled; each sample scaled by K / |L_i|.
            term_bk = torch.stack(terms, dim=1)
            n_labelled = labelled.sum(dim=1, keepdim=True)
            scale = len(self.tasks) / n_labelled.clamp(min=1)
            total = (term_bk * scale).sum() / labelled.shape[0]
        return LossOutput(total=total, per_task=per_task, counts=counts)

    def _terms(
        self, spec: TaskSpec, output: MultiTaskOutput, target: torch.Tensor, use: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample loss terms (B,) of one task (final + weighted initial) and which count."""
        name = spec.name
        if name not in output.predictions:
            # No labelled sample: a zero term that counts nowhere (of the loss's own dtype).
            none = torch.zeros_like(use)
            return self._per_sample(spec, output.initial[name], target, none)[0], none
        idx = output.rows.get(name)
        rows_target, rows_use = (target, use) if idx is None else (target[idx], use[idx])
        term, has = self._per_sample(spec, output.predictions[name], rows_target, rows_use)
        if name in output.initial:
            initial = output.initial[name] if idx is None else output.initial[name][idx]
            initial_term, _ = self._per_sample(spec, initial, rows_target, rows_use)
            term = term + self.initial_weight * initial_term
        if idx is None:
            return term, has
        batch = use.shape[0]
        return term.new_zeros(batch).index_copy(0, idx, term), use.new_zeros(batch).index_copy(
            0, idx, has
        )

    def _per_sample(
        self, spec: TaskSpec, pred: torch.Tensor, target: torch.Tensor, use: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if pred.shape[-2:] != target.shape[-2:]:
            pred = F.interpolate(pred, target.shape[-2:], mode="bilinear", align_corners=False)
        return self.task_loss(spec, pred, target, use, self.normals_loss)


def _valid_pixels(spec: TaskSpec, target: torch.Tensor) -> torch.Tensor:
    """bool mask of pixels with a usable target, shaped like ``target`` (the kind's rule)."""
    return spec.behaviour.valid_pixels(spec, target)
