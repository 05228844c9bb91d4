"""Exact comparison of arrays: the same dtype, shape and bits (float32 by its bit pattern)."""

from __future__ import annotations

import numpy as np


def _bits(array: np.ndarray) -> np.ndarray:
    return array.view(np.uint32) if array.dtype == np.float32 else array


def same_bits(got, expected) -> bool:
    """Whether ``got`` and ``expected`` have one dtype, one shape and the same bits (-0 != +0)."""
    got, expected = np.asarray(got), np.asarray(expected)
    return (
        got.dtype == expected.dtype
        and got.shape == expected.shape
        and np.array_equal(_bits(got), _bits(expected))
    )
