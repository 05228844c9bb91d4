"""Task maps moved by picks of rows and columns: OpenCV's nearest resize, windows, exact bytes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dmtl.data.augment.picks import MapPicks, Window, nearest_picks
from support.bits import same_bits as _same


@pytest.mark.parametrize("dtype, channels", [(np.uint8, 0), (np.float32, 0), (np.float32, 3)])
def test_nearest_picks_are_what_opencv_resizes_to(dtype, channels) -> None:
    rng = np.random.default_rng(3)
    for height, width, scale in [(375, 500, 1.7), (375, 500, 0.55), (37, 53, 2.4), (24, 30, 0.5),
                                 (500, 375, 1.0001), (333, 499, 1.3333)]:  # fmt: skip
        shape = (height, width, channels) if channels else (height, width)
        array = rng.integers(0, 255, shape).astype(dtype)
        size = (int(height * scale), int(width * scale))
        expected = cv2.resize(array, size[::-1], interpolation=cv2.INTER_NEAREST)
        rows, cols = nearest_picks(height, size[0]), nearest_picks(width, size[1])
        assert _same(array[rows][:, cols], expected), (height, width, scale)


def test_window_follows_padding_crops_and_flips() -> None:
    rng = np.random.default_rng(4)
    for _ in range(50):
        height, width = (int(v) for v in rng.integers(1, 30, 2))
        scaled = np.arange(1, height * width + 1).reshape(height, width)
        window, moved = Window.whole(height, width), scaled.copy()
        for _ in range(4):
            step = rng.integers(3)
            if step == 0:
                pads = [int(v) for v in rng.integers(0, 5, 4)]
                window.pad(*pads)
                moved = np.pad(moved, ((pads[0], pads[1]), (pads[2], pads[3])))
            elif step == 1:
                y_min, x_min = (int(rng.integers(0, s)) for s in moved.shape)
                y_max = int(rng.integers(y_min + 1, moved.shape[0] + 1))
                x_max = int(rng.integers(x_min + 1, moved.shape[1] + 1))
                window.crop(x_min, y_min, x_max, y_max)
                moved = moved[y_min:y_max, x_min:x_max]
            else:
                window.flip()
                moved = moved[:, ::-1]
        assert (window.height, window.width) == moved.shape
        rebuilt = np.zeros_like(moved)
        if not window.empty:
            picked = scaled[window.source_rows(), window.source_cols()]
            rebuilt[window.inside()] = picked[:, ::-1] if window.flipped else picked
        assert np.array_equal(rebuilt, moved)


PICK_DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.int64, np.float32, np.float64,
               np.bool_]  # fmt: skip


def _random_window(rng, height: int, width: int) -> Window:
    """A window of a (height, width) scaled map after random padding, crops and flips."""
    window = Window.whole(height, width)
    for _ in range(4):
        step = rng.integers(3)
        if step == 0:
            window.pad(*(int(v) for v in rng.integers(0, 6, 4)))
        elif step == 1:
            y_min, x_min = int(rng.integers(0, window.height)), int(rng.integers(0, window.width))
            y_max = int(rng.integers(y_min + 1, window.height + 1))
            x_max = int(rng.integers(x_min + 1, window.width + 1))
            window.crop(x_min, y_min, x_max, y_max)
        else:
            window.flip()
    return window


@pytest.mark.parametrize("dtype", PICK_DTYPES)
@pytest.mark.parametrize("channels", [0, 1, 3])
def test_map_moves_give_the_bytes_of_the_picks(dtype, channels) -> None:
    """``MapPicks.apply`` (``np.take`` into the output) equals the row-then-column picks, bytes
    and layout, with padding, crops (windows narrower than the output too) and flips."""
    rng = np.random.default_rng(6)
    for trial in range(40):
        height, width = (int(v) for v in rng.integers(2, 40, 2))
        scaled = (int(height * rng.uniform(0.5, 2)) or 1, int(width * rng.uniform(0.5, 2)) or 1)
        window = _random_window(rng, *scaled)
        rows = nearest_picks(height, scaled[0])[window.source_rows()]
        cols = nearest_picks(width, scaled[1])[window.source_cols()]
        picks = MapPicks(window, rows, cols[::-1] if window.flipped else cols)
        shape = (height, width, channels) if channels else (height, width)
        array = rng.integers(-300, 300, shape).astype(dtype)
        if np.dtype(dtype).kind == "f":
            array.flat[::7], array.flat[3::11] = np.nan, -0.0
        got, expected = picks.apply(array), picks.picked(array)
        assert got.dtype == expected.dtype and got.shape == expected.shape, trial
        assert got.strides == expected.strides, trial  # channel-first planes as before
        assert got.tobytes() == expected.tobytes(), trial
        outside = np.ones(got.shape[:2], bool)
        outside[window.inside()] = window.empty
        assert not np.any(got[outside]), trial  # padding is 0
