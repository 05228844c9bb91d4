"""Colour maps and prediction panels (image, prediction and target per task)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dmtl.kinds.colours import palette as palette  # re-exported
from dmtl.tasks import TaskSpec

PANEL_GAP = 2  # pixels between tiles


def colourise(spec: TaskSpec, value: torch.Tensor, depth_range: tuple[float, float]) -> np.ndarray:
    """Turn one task map into an RGB uint8 image (H, W, 3), in the colours of the task's kind.

    Args:
        spec: the task.
        value: a prediction (C, H, W) (raw network output) or a target ((H, W) long for
            segmentation, (1|3, H, W) float otherwise).
        depth_range: (min, max) metres mapped onto the colour map, shared by prediction and target.
    """
    return spec.behaviour.colourise(spec, value, depth_range)


def make_panel(
    images: torch.Tensor,
    predictions: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    tasks: Sequence[TaskSpec],
) -> np.ndarray:
    """Build a panel: one row per sample; image, then prediction and target per task.

    Args:
        images: (N, 3, H, W) in [0, 1] (already de-normalised).
        predictions: task -> (N, C, H, W).
        targets: task -> target batch of that task.

    Returns:
        uint8 (rows, cols, 3).
    """
    rows = []
    depth_range = _depth_range(targets, tasks)
    for i, image in enumerate(images):
        tiles = [(image.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).astype(np.uint8)]
        for spec in tasks:
            tiles.append(colourise(spec, predictions[spec.name][i], depth_range))
            tiles.append(colourise(spec, targets[spec.name][i], depth_range))
        rows.append(_hstack(tiles))
    return _vstack(rows)


def save_panel(panel: np.ndarray, path: str | Path) -> Path:
    """Write a panel as PNG (parents created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(panel).save(path)
    return path


def _depth_range(
    targets: Mapping[str, torch.Tensor], tasks: Sequence[TaskSpec]
) -> tuple[float, float]:
    for spec in tasks:
        if spec.kind == "depth":
            valid = targets[spec.name][targets[spec.name] > 0]
            if valid.numel():
                return float(valid.min()), float(valid.max())
    return 0.0, 1.0


def _hstack(tiles: list[np.ndarray]) -> np.ndarray:
    gap = np.full((tiles[0].shape[0], PANEL_GAP, 3), 255, np.uint8)
    out = [tiles[0]]
    for tile in tiles[1:]:
        out += [gap, tile]
    return np.concatenate(out, axis=1)


def _vstack(rows: list[np.ndarray]) -> np.ndarray:
    gap = np.full((PANEL_GAP, rows[0].shape[1], 3), 255, np.uint8)
    out = [rows[0]]
    for row in rows[1:]:
        out += [gap, row]
    return np.concatenate(out, axis=0)
