"""Moving task maps as the fused augmentation moved the image (``dmtl.data.augment.fused``).

``Window`` keeps track of where the scaled image lies in the output as padding, crops and flips
move it; ``nearest_picks`` gives the source rows or columns that OpenCV's nearest-neighbour resize
takes; ``MapPicks`` moves a task map by those picks, without resizing it, to the same bytes as the
step-by-step path.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Window:
    """Where the scaled image lies in the current output, as padding, crops and flips move it.

    Output rows ``rows[0]:rows[1]`` hold scaled rows ``r + row_offset``; output columns
    ``cols[0]:cols[1]`` hold scaled columns ``col_sign * c + col_offset``; the rest is padding.
    """

    height: int
    width: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    row_offset: int = 0
    col_sign: int = 1
    col_offset: int = 0

    @classmethod
    def whole(cls, height: int, width: int) -> Window:
        return cls(height, width, (0, height), (0, width))

    def pad(self, top: int, bottom: int, left: int, right: int) -> None:
        self.height, self.width = self.height + top + bottom, self.width + left + right
        self.rows = (self.rows[0] + top, self.rows[1] + top)
        self.cols = (self.cols[0] + left, self.cols[1] + left)
        self.row_offset -= top
        self.col_offset -= self.col_sign * left

    def crop(self, x_min: int, y_min: int, x_max: int, y_max: int) -> None:
        self.height, self.width = y_max - y_min, x_max - x_min
        self.rows = _clamped(self.rows[0] - y_min, self.rows[1] - y_min, self.height)
        self.cols = _clamped(self.cols[0] - x_min, self.cols[1] - x_min, self.width)
        self.row_offset += y_min
        self.col_offset += self.col_sign * x_min

    def flip(self) -> None:
        self.cols = (self.width - self.cols[1], self.width - self.cols[0])
        self.col_offset += self.col_sign * (self.width - 1)
        self.col_sign = -self.col_sign

    @property
    def empty(self) -> bool:
        return self.rows[0] >= self.rows[1] or self.cols[0] >= self.cols[1]

    def source_rows(self) -> slice:
        return slice(self.rows[0] + self.row_offset, self.rows[1] + self.row_offset)

    def source_cols(self) -> slice:
        """The scaled columns of the window, left to right in the source (before any flip)."""
        ends = [self.col_sign * c + self.col_offset for c in (self.cols[0], self.cols[1] - 1)]
        return slice(min(ends), max(ends) + 1)

    @property
    def flipped(self) -> bool:
        return self.col_sign < 0

    def inside(self) -> tuple[slice, slice]:
        """The window's rows and columns in the output."""
        return slice(*self.rows), slice(*self.cols)

    def fill_outside(self, array: np.ndarray, value: float) -> None:
        """Set the output pixels of ``array`` (Ho, Wo[, C]) outside the window to ``value``."""
        (top, bottom), (left, right) = self.rows, self.cols
        if self.empty:
            array[...] = value
            return
        array[:top] = value
        array[bottom:] = value
        array[top:bottom, :left] = value
        array[top:bottom, right:] = value


SPLIT_DTYPES = {
    np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.int32, np.float32, np.float64)
}  # what ``cv2.split`` takes


def _planes(array: np.ndarray) -> list[np.ndarray]:
    """The channels of ``array`` (H, W, C) as contiguous (H, W) planes: a map's rows then gather
    from one plane instead of striding over the channels."""
    if array.flags.c_contiguous and array.dtype in SPLIT_DTYPES and array.shape[2] <= 4:
        return list(cv2.split(array))
    return [np.ascontiguousarray(array[..., channel]) for channel in range(array.shape[2])]


def _clamped(start: int, stop: int, size: int) -> tuple[int, int]:
    start, stop = max(start, 0), min(stop, size)
    return (start, max(start, stop))


def nearest_picks(size: int, new_size: int) -> np.ndarray:
    """The source positions that OpenCV's nearest-neighbour resize to ``new_size`` takes."""
    if new_size == size:
        return np.arange(size, dtype=np.intp)
    column = np.arange(size, dtype=np.int32).reshape(size, 1)
    picks = cv2.resize(column, (1, new_size), interpolation=cv2.INTER_NEAREST)
    return picks.reshape(new_size).astype(np.intp)


class MapPicks:
    """Task maps moved as the image was: each output pixel one source pixel, or the fill.

    Nearest-neighbour scaling picks whole rows and columns, and so do crops and flips: the window
    of a moved map is ``array[rows][:, cols]`` (``picked``). ``apply`` gives the same bytes with
    one copy fewer: ``np.take`` of the picked rows' columns straight into the output's window, a
    one-byte map with channels (the compact normals) split into planes first, so that it gathers
    within one contiguous plane, not strided over the channels (about half the time; for float32
    normals the split of the whole source cost as much as it saved, RESULTS.md 2026-12-02). A map
    with channels is built channel-first and returned as its (H, W, C) view, so that
    ``TaskKind.to_tensor`` finds it contiguous as (C, H, W).

    OpenCV's ``remap`` (nearest neighbour, one int16 map of every output pixel's source built once
    per sample) gives the same bytes too, but was not faster inside the loader: it reads the
    4-byte-a-pixel map once per task map, and in the loader's flow (fresh source arrays, other work
    between the maps) that cost as much as the picks saved, for the three-channel normals as well
    (experiments/RESULTS.md, 2026-12-02).
    """

    def __init__(self, window: Window, rows: np.ndarray, cols: np.ndarray) -> None:
        self.window, self.rows, self.cols = window, rows, cols

    def apply(self, array: np.ndarray) -> np.ndarray:
        """``array`` (H, W[, C]) moved to the output (Ho, Wo[, C]), 0 outside the window."""
        window = self.window
        if array.ndim == 2:
            moved = np.empty((window.height, window.width), dtype=array.dtype)
            self._take_into(moved, array)
            return moved
        if array.dtype.itemsize > 1:  # splitting a float map cost as much as it saved
            return self.picked(array)
        planes = np.empty((array.shape[2], window.height, window.width), dtype=array.dtype)
        for plane, source in zip(planes, _planes(array)):
            self._take_into(plane, source)
        return planes.transpose(1, 2, 0)

    def _take_into(self, moved: np.ndarray, source: np.ndarray) -> None:
        """Move the one-channel ``source`` into ``moved`` (Ho, Wo), 0 outside the window."""
        window = self.window
        if not window.empty:
            inside = moved[window.inside()]
            if inside.flags.c_contiguous:  # every index is valid: "clip" only skips a buffer
                np.take(source[self.rows], self.cols, axis=1, out=inside, mode="clip")
            else:
                inside[...] = source[self.rows][:, self.cols]
        window.fill_outside(moved, 0)

    def picked(self, array: np.ndarray) -> np.ndarray:
        """``apply`` by numpy's picks of rows, then columns (the reference ``apply`` equals)."""
        window = self.window
        if array.ndim == 2:
            moved = np.empty((window.height, window.width), dtype=array.dtype)
            if not window.empty:
                moved[window.inside()] = array[self.rows][:, self.cols]
        else:
            channels = array.shape[2]
            planes = np.empty((channels, window.height, window.width), dtype=array.dtype)
            moved = planes.transpose(1, 2, 0)
            if not window.empty:
                picked_rows = array[self.rows]
                for channel in range(channels):
                    planes[(channel, *window.inside())] = picked_rows[:, self.cols, channel]
        window.fill_outside(moved, 0)
        return moved
