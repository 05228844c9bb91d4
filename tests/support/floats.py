"""Float comparisons whose tolerance comes from the operation, not from one machine's bits.

Exact equality is right where it is a property of the operation: a gather, a flip, an integer
map, a pick, or the same IEEE operations (numpy's float32/float64 ufuncs) on the same data.
Another library's float kernels are not: OpenCV's (or albumentations', which calls them) may round
a value otherwise between releases, between CPUs (SIMD width), or with the position of a pixel in
a row. Those are compared within a few float32 ulps of the operation's value range.
"""

from __future__ import annotations

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)  # one float32 ulp of 1.0
IMAGE_ULPS = 8  # of [0, 1]: OpenCV's HSV round trip was seen 7 ulps apart between its releases


def assert_float32_close(got, expected, scale: float, ulps: float, what: object = "") -> None:
    """``got`` has ``expected``'s dtype and shape and is within ``ulps`` float32 ulps of ``scale``.

    Args:
        got, expected: arrays or tensors.
        scale: the operation's value range (the largest magnitude it produces or passes through).
        ulps: how many float32 ulps of ``scale`` the two may differ by.
        what: shown on failure.
    """
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape, what
    np.testing.assert_allclose(got, expected, rtol=0, atol=ulps * EPS32 * scale, err_msg=str(what))


def product_in_float32(image: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """``clip(x * a + b)`` as OpenCV 5.1 has albumentations compute it: the product in float32."""
    product = (image * np.float32(alpha)).astype(np.float64)
    return np.clip(product + beta, 0.0, 1.0).astype(np.float32)


def float64_oracle(image: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """``clip(x * float32(a) + b)`` in float64, rounded once: ``photometric``'s definition."""
    wide = image.astype(np.float64) * np.float64(np.float32(alpha)) + np.float64(beta)
    return np.clip(wide, 0.0, 1.0).astype(np.float32)
