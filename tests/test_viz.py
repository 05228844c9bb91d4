import numpy as np
import torch
from PIL import Image

from dmtl.tasks import resolve_tasks
from dmtl.viz import colourise, make_panel, palette, save_panel

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


def test_panel_layout_and_png(tmp_path):
    n, h, w = 2, 16, 20
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
    panel = make_panel(torch.rand(n, 3, h, w), preds, targets, TASKS)
    tiles = 1 + 2 * len(TASKS)
    assert panel.shape == (n * h + (n - 1) * 2, tiles * w + (tiles - 1) * 2, 3)
    path = save_panel(panel, tmp_path / "a" / "panel.png")
    assert np.array_equal(np.asarray(Image.open(path)), panel)
