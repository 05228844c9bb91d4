"""The optimiser and the poly learning-rate decay of the Lightning system, built in one place.

The benchmarks build their optimiser here too, so that they time the same update as training.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from dmtl.config import OptimConfig, OptimizerName
from dmtl.errors import ConfigError

SGD_MOMENTUM = 0.9


FP16_PRECISIONS = ("16", "16-mixed", "16-true")


def fused_allowed(precision: str | int | None, gradient_clip_val: float | None) -> bool:
    """Whether the fused Adam kernel may be used with the trainer's precision and clipping.

    A fused optimiser unscales fp16 gradients inside its step, so Lightning's 16-mixed plugin
    cannot unscale them before clipping and refuses to clip them: with fp16 and clipping (the
    PASCAL-Context config clips at 10) the default (foreach) kernel is used. bf16 has no scaler.
    """
    clips = gradient_clip_val is not None and float(gradient_clip_val) > 0
    return not (clips and str(precision) in FP16_PRECISIONS)


def build_optimizer(
    name: OptimizerName,
    params: Iterable[torch.nn.Parameter],
    lr: float,
    weight_decay: float,
    fused: bool = True,
    undecayed: Iterable[torch.nn.Parameter] = (),
) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (momentum 0.9) over ``params``, and over ``undecayed`` without decay.

    Adam and AdamW use the fused kernel (one pass over all parameters instead of several per
    parameter) when ``fused`` allows it (``fused_allowed``) and every parameter is a float tensor on
    the CPU or on a CUDA device; the update is the same algorithm. On the default job's CPU it cut
    the optimiser step from 43 ms to 8 ms for 9.3 M parameters (docs/operations.md). Elsewhere
    (other devices, mixed devices) they use the default (foreach) implementation.

    Raises:
        ConfigError: an unknown optimiser name.
    """
    params, undecayed = list(params), list(undecayed)
    groups: list = params
    if undecayed:  # a learned loss weighting's parameters (dmtl.losses.weighting)
        groups = [{"params": params}, {"params": undecayed, "weight_decay": 0.0}]
    if name in ("adam", "adamw"):
        kinds = {p.device.type for p in params + undecayed}
        fused = (
            fused
            and len(kinds) == 1
            and kinds <= {"cpu", "cuda"}
            and all(p.is_floating_point() for p in params + undecayed)
        )
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return cls(groups, lr=lr, weight_decay=weight_decay, fused=fused or None)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, weight_decay=weight_decay, momentum=SGD_MOMENTUM)
    raise ConfigError(f"unknown optim.name {name!r}; use 'adam', 'adamw' or 'sgd'")


def poly_factor(step: int, total: int, power: float) -> float:
    """The poly decay's factor of the peak rate at ``step`` of ``total``: held from the last step.

    ``(1 - min(step, total - 1) / total) ** power``: the rate of the last planned step (or epoch)
    is kept after it, so it never reaches 0 (a run that goes on past ``total`` keeps learning).
    """
    return (1.0 - min(step, total - 1) / total) ** power


def build_poly_schedule(
    optimizer: torch.optim.Optimizer, total: int, power: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """The poly decay over ``total`` scheduler steps, as a ``LambdaLR`` of ``poly_factor``.

    Not ``torch.optim.lr_scheduler.PolynomialLR``: it gives the same rates for steps 0 to
    total - 1 but cannot express the hold of ``poly_factor``. At step ``total`` it sets the rate
    to 0 (the released per-epoch recipe holds (1/total) ** power), and it writes ``total_iters``
    into its state dict, so a run resumed with a longer ``trainer.max_epochs`` would keep the old
    horizon and train at rate 0 past it; the lambda is not saved and is rebuilt from the trainer on
    every start. ``tests/test_module.py`` compares the two step by step.
    """
    total = max(int(total), 1)

    def factor(step: int) -> float:
        return poly_factor(step, total, power)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def configure_optimization(
    params: Iterable[torch.nn.Parameter],
    optim: OptimConfig,
    max_epochs: int | None,
    steps: float,
    fused: bool = True,
    undecayed: Iterable[torch.nn.Parameter] = (),
) -> dict[str, Any]:
    """Lightning's ``configure_optimizers`` answer: the optimiser of ``optim`` and its poly decay.

    Args:
        params: the trainable parameters.
        optim: the option group.
        max_epochs: the trainer's epochs, the decay's length with ``poly_interval: epoch``.
        steps: the trainer's estimated optimiser steps, its length with ``poly_interval: step``.
        fused: allow the fused Adam kernel (``fused_allowed`` of the trainer's precision).
        undecayed: trainable parameters without weight decay (a learned loss weighting's).

    Raises:
        ConfigError: an unknown optimiser or ``poly_interval``.
    """
    if optim.poly_interval not in ("step", "epoch"):
        raise ConfigError(
            f"unknown optim.poly_interval {optim.poly_interval!r}; use 'step' or 'epoch'"
        )
    opt = build_optimizer(
        optim.name, params, optim.lr, optim.weight_decay, fused=fused, undecayed=undecayed
    )
    total = (max_epochs or 1) if optim.poly_interval == "epoch" else steps
    sched = build_poly_schedule(opt, total, optim.poly_power)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": optim.poly_interval}}
