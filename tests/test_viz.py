import numpy as np
import pytest
import torch
from PIL import Image

from dmtl.tasks import resolve_tasks
from dmtl.viz import (
    PANEL_GAP,
    colourise,
    make_legend,
    make_panel,
    overlay,
    palette,
    panel_columns,
    robust_range,
    save_panel,
)

TASKS = resolve_tasks("synthetic", ["semseg", "depth", "normals", "edge"])


def test_palette_is_distinct():
    p = palette(21)
    assert p.shape == (21, 3) and p.dtype == np.uint8
    assert len({tuple(c) for c in p}) == 21


def test_colourise_marks_invalid_pixels_black_and_normals_as_rgb():
    sem = torch.tensor([[0, 255], [3, 3]])
    rgb = colourise(TASKS[0], sem, (0, 1))
    assert rgb.shape == (2, 2, 3) and (rgb[0, 1] == 0).all() and (rgb[1, 0] == rgb[1, 1]).all()
    depth = torch.tensor([[[0.0, 2.0], [4.0, 3.0]]])
    assert (colourise(TASKS[1], depth, (2.0, 4.0))[0, 0] == 0).all()
    normals = torch.zeros(3, 1, 2)
    normals[2, 0, 0] = -1.0
    rgb = colourise(TASKS[2], normals, (0, 1))
    assert tuple(rgb[0, 0]) == (127, 127, 0) and (rgb[0, 1] == 0).all()


def _maps(n, h, w):
    preds = {
        "semseg": torch.randn(n, 13, h, w),
        "depth": torch.rand(n, 1, h, w),
        "normals": torch.randn(n, 3, h, w),
        "edge": torch.randn(n, 1, h, w),
    }
    targets = {
        "semseg": torch.randint(0, 13, (n, h, w)),
        "depth": torch.rand(n, 1, h, w),
        "normals": torch.randn(n, 3, h, w),
        "edge": torch.randint(0, 2, (n, 1, h, w)).float(),
    }
    return preds, targets


def test_panel_layout_and_png(tmp_path):
    n, h, w = 2, 16, 20
    preds, targets = _maps(n, h, w)
    panel = make_panel(torch.rand(n, 3, h, w), preds, targets, TASKS, titles=False)
    tiles = 1 + 2 * len(TASKS)
    assert panel.shape == (n * h + (n - 1) * 2, tiles * w + (tiles - 1) * 2, 3)
    path = save_panel(panel, tmp_path / "a" / "panel.png")
    assert np.array_equal(np.asarray(Image.open(path)), panel)


def test_titled_panel_has_initial_columns_and_two_title_rows_on_top():
    n, h, w = 2, 24, 60
    preds, targets = _maps(n, h, w)
    initial = {k: v + 1 for k, v in preds.items()}
    images = torch.rand(n, 3, h, w)
    plain = make_panel(images, preds, targets, TASKS, initial, titles=False)
    titled = make_panel(images, preds, targets, TASKS, initial)
    tiles = 1 + 3 * len(TASKS)  # image, then target, initial, final per task
    assert plain.shape == (n * h + (n - 1) * PANEL_GAP, tiles * w + (tiles - 1) * PANEL_GAP, 3)
    header = titled.shape[0] - plain.shape[0]
    assert titled.shape[1:] == plain.shape[1:] and header > 10
    assert np.array_equal(titled[header:], plain)
    assert (titled[:header] < 128).any()  # text
    step = w + PANEL_GAP
    target, initial_tile, final = (plain[:h, (1 + k) * step : (1 + k) * step + w] for k in range(3))
    assert np.array_equal(target, colourise(TASKS[0], targets["semseg"][0], (0, 1)))
    assert np.array_equal(initial_tile, colourise(TASKS[0], initial["semseg"][0], (0, 1)))
    assert np.array_equal(final, colourise(TASKS[0], preds["semseg"][0], (0, 1)))
    assert panel_columns(TASKS[:1], True) == [
        ("", "image"), ("semseg", "target"), ("semseg", "initial"), ("semseg", "final"),
    ]  # fmt: skip


def test_without_initial_predictions_the_panel_has_target_and_final():
    n, h, w = 1, 8, 10
    preds, targets = _maps(n, h, w)
    panel = make_panel(torch.rand(n, 3, h, w), preds, targets, TASKS, {}, titles=False)
    tiles = 1 + 2 * len(TASKS)
    assert panel.shape[1] == tiles * w + (tiles - 1) * PANEL_GAP
    titled = make_panel(torch.rand(n, 3, h, w), preds, targets, TASKS)  # tiny tiles: still drawn
    assert titled.shape[1] == panel.shape[1] and titled.shape[0] > panel.shape[0]


def test_legend_has_a_row_per_class_in_its_colour():
    colours = np.array([[255, 0, 0], [0, 0, 255], [0, 255, 0]], np.uint8)
    legend = make_legend(["a", "bb", "ccc"], colours)
    assert legend.dtype == np.uint8 and legend.shape[2] == 3
    for colour in colours:
        assert (legend == colour).all(axis=2).sum() >= 14 * 14  # its colour square


def test_robust_range_and_overlay():
    depth = np.concatenate([np.linspace(1, 2, 98), [100.0, 200.0], [0.0, np.nan]])
    lo, hi = robust_range(depth)
    assert lo == pytest.approx(np.percentile(depth[:100], 2)) and hi < 100
    assert robust_range(np.zeros((4, 4))) == (0.0, 1.0)
    image = np.full((2, 2, 3), 100, np.uint8)
    colours = np.full((2, 2, 3), 200, np.uint8)
    assert (overlay(image, colours) == 150).all() and (overlay(image, colours, 0.0) == 100).all()
