"""Batches of a data module's loaders as a ``Trainer`` hands them on: after its transfer hook."""

from __future__ import annotations

from typing import Any

from torch.utils.data import DataLoader


def first_batch(data: Any, loader: DataLoader) -> dict:
    """The first batch of ``loader`` after ``data.on_after_batch_transfer`` (ids widened)."""
    return data.on_after_batch_transfer(next(iter(loader)), 0)
