"""Jacobian descent: the tasks' gradients combined by a torchjd aggregator (docs/weighting.md).

A loss weighting (``dmtl.losses.weighting``) combines the tasks' losses into one scalar; an
aggregator combines their *gradients*. Each training step then computes the Jacobian of the
objectives (one row per objective) with respect to the trainable parameters and hands it to the
aggregator (UPGrad, MGDA, ...), whose combination becomes the parameters' ``.grad``. That replaces
``loss.backward()``, so the Lightning system runs these steps by manual optimisation
(``DiffusionMTLModule.training_step``).

The objectives of a step are the per-task batch losses w_t · L_t of the tasks **present** in the
batch (n_t > 0) and each method term's weighted loss (XTC*, consistency, JTR, a teacher's
pseudo-labels) as a row of its own. Rows whose gradient is exactly zero are dropped before
aggregating: an absent task's, or a term that is zero on this batch (all of its tasks
labelled). A zero row would stop the min-norm aggregators (MGDA's min-norm point of a hull holding
the origin is the origin) and would scale UPGrad's mean down by the absent tasks.

torchjd is an optional dependency (``pip install 'dmtl[jd]'``); its documented limits are refused
in one line before training (``check_trainer``): no fp16 loss scaling, no compiled network, no
gradient clipping or accumulation by the trainer (Lightning's manual optimisation has neither),
one process.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from dmtl.errors import ConfigError

INSTALL = "pip install 'dmtl[jd]'"
FP16 = ("16", "16-mixed", "16-true")


def _upgrad(rows: int, device: torch.device) -> Any:
    from torchjd.aggregation import UPGrad

    return UPGrad(pref_vector=torch.ones(rows, device=device))


def _dualproj(rows: int, device: torch.device) -> Any:
    from torchjd.aggregation import DualProj

    return DualProj(pref_vector=torch.ones(rows, device=device))


def _mgda(rows: int, device: torch.device) -> Any:
    from torchjd.aggregation import MGDA

    return MGDA()


def _pcgrad(rows: int, device: torch.device) -> Any:
    from torchjd.aggregation import PCGrad

    return PCGrad()


def _imtl_g(rows: int, device: torch.device) -> Any:
    from torchjd.aggregation import IMTLG

    return IMTLG()


def _aligned_mtl(rows: int, device: torch.device) -> Any:
    from torchjd.aggregation import AlignedMTL

    return AlignedMTL()


# name -> the aggregator of a Jacobian with ``rows`` rows on ``device``. UPGrad and DualProj weigh
# the projected rows by a preference vector of ones (the sum's scale: with agreeing gradients the
# step is the equal weighting's), not torchjd's default mean, whose scale would change with the
# number of tasks a batch labels; the others are at torchjd's defaults.
AGGREGATORS: dict[str, Callable[[int, torch.device], Any]] = {
    "upgrad": _upgrad,
    "dualproj": _dualproj,
    "mgda": _mgda,
    "pcgrad": _pcgrad,
    "imtl_g": _imtl_g,
    "aligned_mtl": _aligned_mtl,
}


def is_aggregator(name: str) -> bool:
    """Whether ``model.loss.weighting`` names a Jacobian aggregator (not a loss weighting)."""
    return name in AGGREGATORS


def check_installed(name: str) -> None:
    """Refuse an aggregator whose packages are not installed, naming the pip command.

    Raises:
        ConfigError: torchjd (or, for UPGrad and DualProj, its quadprog projector) is missing.
    """
    needed = ["torchjd"] + (["qpsolvers", "quadprog"] if name in ("upgrad", "dualproj") else [])
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"model.loss.weighting={name} needs {', '.join(missing)}, not installed: {INSTALL}"
        )


def check_trainer(
    name: str,
    precision: Any = None,
    gradient_clip_val: Any = None,
    accumulate_grad_batches: Any = 1,
    compile: bool = False,
    world_size: int = 1,
) -> None:
    """Refuse the trainer settings Jacobian descent cannot honour, in one line each.

    Raises:
        ConfigError: fp16 precision, gradient clipping, gradient accumulation, a compiled
            network, or more than one process.
    """
    key = f"model.loss.weighting={name}"
    if str(precision) in FP16:
        raise ConfigError(
            f"{key} has no fp16 loss scaling (torchjd): use --trainer.precision=bf16-mixed or "
            f"32-true, not {precision}"
        )
    if gradient_clip_val not in (None, 0, 0.0):
        raise ConfigError(
            f"{key} steps by manual optimisation, where the trainer clips no gradient: remove "
            f"--trainer.gradient_clip_val={gradient_clip_val} (set it to null)"
        )
    if accumulate_grad_batches not in (None, 1):
        raise ConfigError(
            f"{key} steps by manual optimisation, which accumulates no batches: remove "
            f"--trainer.accumulate_grad_batches={accumulate_grad_batches}"
        )
    if compile:
        raise ConfigError(
            f"{key} differentiates with torch.vmap, which does not run through a compiled "
            "network: set --model.speed.compile=false"
        )
    if world_size > 1:
        raise ConfigError(
            f"{key} runs on one process (the Jacobian is not reduced across {world_size} "
            "processes): train on one device"
        )


def graph_leaves(tensors: Iterable[torch.Tensor]) -> set[int]:
    """The ids of the leaf tensors the autograd graph of ``tensors`` reaches."""
    seen: set[int] = set()
    leaves: set[int] = set()
    stack = [t.grad_fn for t in tensors if t.grad_fn is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)  # an AccumulateGrad node: a leaf
        if variable is not None:
            leaves.add(id(variable))
        stack.extend(n for n, _ in node.next_functions if n is not None)
    return leaves


class JacobianDescent:
    """One aggregator of torchjd, applied to the objectives of each training step.

    Args:
        name: a key of ``AGGREGATORS``.
        chunk_size: the rows differentiated at once (torchjd's ``parallel_chunk_size``): ``None``
            all at once through ``torch.vmap``, 1 one after the other (no vmap).
    """

    def __init__(self, name: str, chunk_size: int | None = None) -> None:
        if name not in AGGREGATORS:
            raise ConfigError(
                f"unknown Jacobian aggregator {name!r}; use one of {', '.join(AGGREGATORS)}"
            )
        check_installed(name)
        self.name = name
        self.chunk_size = chunk_size

    def backward(
        self, objectives: Mapping[str, torch.Tensor], params: Sequence[torch.nn.Parameter]
    ) -> dict[str, float]:
        """Write the aggregated gradient of ``objectives`` into the ``.grad`` of ``params``.

        Objectives without a graph, parameters outside the graph (their ``.grad`` stays ``None``,
        as after ``backward``) and rows of an exactly zero gradient are left out.

        Returns:
            objective name -> the weight the aggregator gave its row (for the aggregators that
            weigh rows; empty for the others or when no row is left).
        """
        from torchjd.autojac import backward, jac_to_grad

        rows = {n: v for n, v in objectives.items() if v.requires_grad and v.grad_fn is not None}
        if not rows:
            return {}
        reached = graph_leaves(rows.values())
        inputs = [p for p in params if p.requires_grad and id(p) in reached]
        if not inputs:
            return {}
        backward(list(rows.values()), inputs=inputs, parallel_chunk_size=self.chunk_size)
        jacobians = [p.jac for p in inputs]  # type: ignore[attr-defined]
        norms = torch.stack([j.flatten(1).pow(2).sum(dim=1) for j in jacobians]).sum(dim=0)
        keep = (norms > 0).nonzero().flatten()
        names = [n for i, n in enumerate(rows) if bool(norms[i] > 0)]
        if len(names) == 0:
            for p in inputs:
                del p.jac  # type: ignore[attr-defined]
            return {}
        if len(names) < len(rows):
            for p in inputs:
                p.jac = p.jac.index_select(0, keep.to(p.jac.device))  # type: ignore[attr-defined]
        weights = jac_to_grad(inputs, AGGREGATORS[self.name](len(names), inputs[0].device))
        if weights is None:
            return {}
        return {n: float(w) for n, w in zip(names, weights.tolist(), strict=True)}
