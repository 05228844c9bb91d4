"""The losses: masked per-task losses, the released recipe's, the criterion and the weightings."""

from dmtl.losses.criterion import build_criterion

__all__ = ["build_criterion"]
