"""The losses: masked per-task losses, the released recipe's task losses, and the criterion."""

from dmtl.losses.criterion import build_criterion

__all__ = ["build_criterion"]
