"""``MultiTaskOutput``: what the networks return, final and initial predictions kept apart."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class MultiTaskOutput:
    """What the network returns.

    In evaluation (and for the plain multi-task baseline) every task is predicted for every sample.
    In training DiffusionMTL denoises only the labelled (sample, task) pairs: ``predictions[task]``
    then holds the denoised rows alone, ``rows[task]`` their indices into the batch, and a task
    that no sample of the batch labels is absent from ``predictions`` (and from ``rows``). The
    initial predictions are never mixed into ``predictions``: they are in ``initial``, for every
    sample.

    Attributes:
        predictions: task -> final predictions (n_τ, C_task, H, W) at the input image size, raw
            (logits, metres, vectors); n_τ = B when ``rows[task]`` is ``None``.
        initial: task -> initial predictions (B, C_task, H, W) at the image size when a later stage
            refines them (supervised with a smaller weight); empty for the plain baseline.
        rows: task -> (n_τ,) long indices of the samples that ``predictions[task]`` holds, or
            ``None`` for every sample in batch order; a task not in ``rows`` means ``None``.
        features: task -> initial task features (B, E, H / s, W / s) at the neck stride.
        shared: the neck's fused feature (B, E, H / s, W / s) that every task decoder reads (a
            training term that regularises towards it, XTC*, takes it from here).
    """

    predictions: dict[str, torch.Tensor]
    initial: dict[str, torch.Tensor] = field(default_factory=dict)
    rows: dict[str, torch.Tensor | None] = field(default_factory=dict)
    features: dict[str, torch.Tensor] = field(default_factory=dict)
    shared: torch.Tensor | None = None
