"""Colour maps, titled prediction panels and class legends, as RGB uint8 arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from dmtl.data.classes import known_class_colours
from dmtl.tasks import TaskSpec
from dmtl.tasks.kinds.colours import palette as palette  # re-exported

PANEL_GAP = 2  # pixels between tiles
FONT = cv2.FONT_HERSHEY_SIMPLEX
TITLE_SCALE = (0.25, 0.5)  # the smallest and largest font scale of panel titles
TEXT_COLOUR = (0, 0, 0)
BACKGROUND = 255  # grey level of gaps, title rows and legends
LEGEND_SWATCH = 16  # pixels of a legend's colour square
LEGEND_SCALE = 0.45
ROBUST_PERCENTILES = (2.0, 98.0)  # the per-image depth range of predict PNGs
BAR_WIDTH, BAR_HEIGHT = 20, 200  # pixels of a depth colour bar's strip


def class_palette(dataset: str | None, task: str, num_classes: int) -> np.ndarray:
    """The colours of the classes of ``task`` on ``dataset``: uint8 (num_classes, 3).

    Args:
        dataset: a ``data.dataset`` value, or ``None``.
        task: the task name.
        num_classes: the task's channel count.

    Returns:
        the colours of the dataset's label set (``dmtl.data.datasets.labelsets``), or
        ``palette(num_classes)`` where it has none (or a table of another length).
    """
    colours = known_class_colours(dataset, task)
    if colours is None or len(colours) != num_classes:
        return palette(num_classes)
    return np.asarray(colours, dtype=np.uint8)


def colourise(spec: TaskSpec, value: torch.Tensor, depth_range: tuple[float, float]) -> np.ndarray:
    """Turn one task map into an RGB uint8 image (H, W, 3), in the colours of the task's kind.

    Args:
        spec: the task.
        value: a prediction (C, H, W) (raw network output) or a target ((H, W) long for
            segmentation, (1|3, H, W) float otherwise).
        depth_range: (min, max) metres mapped onto the colour map, shared by prediction and target.
    """
    return spec.behaviour.colourise(spec, value, depth_range)


def panel_columns(tasks: Sequence[TaskSpec], with_initial: bool) -> list[tuple[str, str]]:
    """(task, role) of each panel column: ("", "image"), then per task target, initial, final."""
    roles = ("target", "initial", "final") if with_initial else ("target", "final")
    return [("", "image")] + [(spec.name, role) for spec in tasks for role in roles]


def make_panel(
    images: torch.Tensor,
    predictions: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    tasks: Sequence[TaskSpec],
    initial: Mapping[str, torch.Tensor] | None = None,
    *,
    titles: bool = True,
) -> np.ndarray:
    """Build a panel: one row per sample; image, then target, initial and final per task.

    Args:
        images: (N, 3, H, W) in [0, 1] (already de-normalised).
        predictions: task -> final predictions (N, C, H, W).
        targets: task -> target batch of that task.
        tasks: the tasks drawn, in column order.
        initial: task -> initial predictions (N, C, H, W) before denoising; their columns are
            drawn when every task has them (DiffusionMTL), left out when empty or ``None``.
        titles: draw two title rows on top: the task over its columns, then each column's role
            (``image``, ``target``, ``initial``, ``final``).

    Returns:
        uint8 (rows, cols, 3).
    """
    with_initial = bool(initial) and all(spec.name in initial for spec in tasks)
    rows = []
    depth_range = _depth_range(targets, tasks)
    for i, image in enumerate(images):
        tiles = [(image.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).astype(np.uint8)]
        for spec in tasks:
            tiles.append(colourise(spec, targets[spec.name][i], depth_range))
            if with_initial:
                tiles.append(colourise(spec, initial[spec.name][i], depth_range))
            tiles.append(colourise(spec, predictions[spec.name][i], depth_range))
        rows.append(_hstack(tiles))
    panel = _vstack(rows)
    if not titles:
        return panel
    return np.concatenate(
        [_title_rows(panel_columns(tasks, with_initial), images.shape[-1]), panel]
    )


def save_panel(panel: np.ndarray, path: str | Path) -> Path:
    """Write a panel as PNG (parents created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(panel).save(path)
    return path


def make_legend(names: Sequence[str], colours: np.ndarray) -> np.ndarray:
    """A legend: one row per class, its colour square, its id and its name. RGB uint8."""
    (_, text_h), _ = cv2.getTextSize("Ag", FONT, LEGEND_SCALE, 1)
    labels = [f"{i:>3}  {name}" for i, name in enumerate(names)]
    text_w = max(cv2.getTextSize(label, FONT, LEGEND_SCALE, 1)[0][0] for label in labels)
    row_h, pad = LEGEND_SWATCH + 4, 6
    legend = np.full((pad * 2 + row_h * len(names), pad * 3 + LEGEND_SWATCH + text_w, 3),
                     BACKGROUND, np.uint8)  # fmt: skip
    for i, label in enumerate(labels):
        top = pad + i * row_h
        legend[top : top + LEGEND_SWATCH, pad : pad + LEGEND_SWATCH] = colours[i]
        cv2.rectangle(legend, (pad, top), (pad + LEGEND_SWATCH - 1, top + LEGEND_SWATCH - 1),
                      TEXT_COLOUR, 1)  # fmt: skip
        baseline = top + (LEGEND_SWATCH + text_h) // 2
        cv2.putText(legend, label, (pad * 2 + LEGEND_SWATCH, baseline), FONT, LEGEND_SCALE,
                    TEXT_COLOUR, 1, cv2.LINE_AA)  # fmt: skip
    return legend


def make_colour_bar(
    spec: TaskSpec, depth_range: tuple[float, float], unit: str, height: int = BAR_HEIGHT
) -> np.ndarray:
    """A vertical colour bar of ``spec``'s depth colours over ``depth_range``, labelled.

    The largest value on top; the top, middle and bottom values written beside it with ``unit``
    (``m``; empty for inverse depth), the task's name and unit above. RGB uint8.
    """
    lo, hi = depth_range
    values = np.linspace(hi, lo, height, dtype=np.float32)
    values = np.maximum(values, np.float32(max(hi, 1e-6) * 1e-6))  # > 0: not drawn as invalid
    column = torch.from_numpy(values).view(1, height, 1).expand(1, height, BAR_WIDTH)
    strip = colourise(spec, column.contiguous(), (lo, hi))
    labels = [(0, hi), (height // 2, (lo + hi) / 2), (height - 1, lo)]
    texts = [f"{value:.3g}{' ' + unit if unit else ''}" for _, value in labels]
    title = f"{spec.name} ({unit})" if unit else f"{spec.name} (inverse depth)"
    (_, text_h), _ = cv2.getTextSize("Ag", FONT, LEGEND_SCALE, 1)
    text_w = max(cv2.getTextSize(t, FONT, LEGEND_SCALE, 1)[0][0] for t in [*texts, title])
    pad, top = 6, 6 + text_h * 2
    shape = (top + height + pad + text_h, pad * 3 + BAR_WIDTH + text_w, 3)
    bar = np.full(shape, BACKGROUND, np.uint8)
    cv2.putText(bar, title, (pad, pad + text_h), FONT, LEGEND_SCALE, TEXT_COLOUR, 1, cv2.LINE_AA)
    bar[top : top + height, pad : pad + BAR_WIDTH] = strip
    for (row, _), text in zip(labels, texts):
        baseline = min(top + row + text_h // 2, bar.shape[0] - 2)
        origin = (pad * 2 + BAR_WIDTH, baseline)
        cv2.putText(bar, text, origin, FONT, LEGEND_SCALE, TEXT_COLOUR, 1, cv2.LINE_AA)
    return bar


def overlay(image: np.ndarray, colours: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """``colours`` blended over ``image`` (both RGB uint8 (H, W, 3)) with weight ``alpha``."""
    mixed = image.astype(np.float32) * (1 - alpha) + colours.astype(np.float32) * alpha
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def robust_range(depth: np.ndarray) -> tuple[float, float]:
    """The 2nd and 98th percentiles of the finite, positive values of ``depth`` ((0, 1) if none)."""
    valid = depth[np.isfinite(depth) & (depth > 0)]
    if valid.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(valid, ROBUST_PERCENTILES)
    return float(lo), float(max(hi, lo + 1e-6))


def _title_rows(columns: list[tuple[str, str]], tile_w: int) -> np.ndarray:
    """Two rows of centred titles over the columns: task names over each task's columns, then
    the role of each column. The font shrinks (down to ``TITLE_SCALE[0]``) to fit a column."""
    longest = max([role for _, role in columns] + [task for task, _ in columns], key=len)
    scale = TITLE_SCALE[1]
    while scale > TITLE_SCALE[0] and cv2.getTextSize(longest, FONT, scale, 1)[0][0] > tile_w - 2:
        scale -= 0.05
    (_, text_h), base = cv2.getTextSize("Ag", FONT, scale, 1)
    line_h = text_h + base + 4
    width = len(columns) * tile_w + (len(columns) - 1) * PANEL_GAP
    rows = np.full((2 * line_h + PANEL_GAP, width, 3), BACKGROUND, np.uint8)
    step = tile_w + PANEL_GAP
    for i, (task, role) in enumerate(columns):
        _put_centred(rows, role, i * step, tile_w, line_h, line_h, scale)
        first = i == 0 or columns[i - 1][0] != task
        if task and first:
            span = sum(1 for t, _ in columns if t == task)
            _put_centred(rows, task, i * step, span * step - PANEL_GAP, 0, line_h, scale)
    return rows


def _put_centred(canvas: np.ndarray, text: str, left: int, width: int, top: int, height: int,
                 scale: float) -> None:  # fmt: skip
    """Draw ``text`` centred in a box of ``canvas``, clipped to the box."""
    box = canvas[top : top + height, left : left + width].copy()
    (text_w, text_h), _ = cv2.getTextSize(text, FONT, scale, 1)
    origin = (max(0, (width - text_w) // 2), (height + text_h) // 2)
    cv2.putText(box, text, origin, FONT, scale, TEXT_COLOUR, 1, cv2.LINE_AA)
    canvas[top : top + height, left : left + width] = box


def _depth_range(
    targets: Mapping[str, torch.Tensor], tasks: Sequence[TaskSpec]
) -> tuple[float, float]:
    for spec in tasks:  # the first task whose kind colours over a range (depth)
        span = spec.behaviour.value_range(targets[spec.name])
        if span is not None:
            return span
    return 0.0, 1.0


def _hstack(tiles: list[np.ndarray]) -> np.ndarray:
    gap = np.full((tiles[0].shape[0], PANEL_GAP, 3), BACKGROUND, np.uint8)
    out = [tiles[0]]
    for tile in tiles[1:]:
        out += [gap, tile]
    return np.concatenate(out, axis=1)


def _vstack(rows: list[np.ndarray]) -> np.ndarray:
    gap = np.full((PANEL_GAP, rows[0].shape[1], 3), BACKGROUND, np.uint8)
    out = [rows[0]]
    for row in rows[1:]:
        out += [gap, row]
    return np.concatenate(out, axis=0)
