"""Task maps in compact dtypes from the loader, widened once on the device.

Class-id maps (segmentation, saliency) and edge maps leave the loader as uint8
(``TaskKind.loader_dtype``): every reader's class ids, the edges' 0 and 1 and the ignore value
255 fit, and a full-resolution int64 (float32) map costs eight (four) times the memory to write,
collate, pin and copy to the GPU; so do normals read from 8-bit codes (PASCAL-Context), as codes
and a flag plane (``dmtl.tasks.kinds.normals``). ``widen_batch`` turns them into what losses,
metrics, XTC* and the callbacks take (``TaskKind.target_dtype``: int64 class ids, float32 edges and
normals, exact): the
data module calls it in ``on_after_batch_transfer``, so every batch a ``Trainer`` hands on is
widened; code that reads the loaders without a ``Trainer`` calls it itself. ``check_widened``
is how the LightningModule refuses a batch that skipped it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from dmtl.errors import DataError
from dmtl.tasks import TaskSpec


def widen_targets(
    targets: Mapping[str, torch.Tensor], specs: Sequence[TaskSpec]
) -> dict[str, torch.Tensor]:
    """``targets`` with every task of ``specs`` in its kind's ``target_dtype`` (others kept)."""
    out = dict(targets)
    for spec in specs:
        if spec.name in out:
            out[spec.name] = spec.behaviour.widen(out[spec.name])
    return out


def widen_batch(batch: Any, specs: Sequence[TaskSpec]) -> Any:
    """A batch of the package's contract with its targets widened (``widen_targets``).

    Batches without targets (``predict`` of an image folder) and other objects come back as they
    are; the batch itself is not changed.
    """
    if not isinstance(batch, Mapping) or "targets" not in batch:
        return batch
    return {**batch, "targets": widen_targets(batch["targets"], specs)}


def check_widened(targets: Mapping[str, torch.Tensor], specs: Sequence[TaskSpec]) -> None:
    """Refuse targets still in a compact loader dtype (a batch that bypassed ``widen_batch``).

    Raises:
        DataError: a task's target has its kind's ``loader_dtype`` where that differs from its
            ``target_dtype``.
    """
    for spec in specs:
        kind, target = spec.behaviour, targets.get(spec.name)
        if target is None or kind.loader_dtype == kind.target_dtype:
            continue
        if target.dtype == kind.loader_dtype:
            raise DataError(
                f"target {spec.name!r} is {target.dtype}, as the loader hands it over; losses and "
                f"metrics take {kind.target_dtype}: widen the batch first (dmtl.data.widening."
                f"widen_batch, which MultiTaskDataModule.on_after_batch_transfer calls)"
            )
