"""Thinning and the matched boundary ODS F-measure against plain per-pixel loop references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from dmtl.errors import ConfigError
from dmtl.metrics import (
    BoundaryMetrics,
    BoundaryODSMetrics,
    MultiTaskMetrics,
    build_metric,
)
from dmtl.metrics.boundary_ods import count_matches, labelled_diagonals
from dmtl.metrics.thinning import thin
from dmtl.tasks import TASKS

SEED = 77
NUM_BATCHES, BATCH, HEIGHT, WIDTH = 3, 2, 14, 11
IGNORE = 255
THRESHOLDS = (0.2, 0.4, 0.5, 0.6, 0.8)


# ------------------------------------------------------------------ loop references


def np_thin(mask: np.ndarray) -> np.ndarray:
    """Guo–Hall parallel thinning of one (H, W) map, pixel by pixel from the published rules."""
    img = mask.astype(bool).copy()
    height, width = img.shape

    def at(r: int, c: int) -> bool:
        return 0 <= r < height and 0 <= c < width and bool(img[r, c])

    while True:
        removed_any = False
        for first in (True, False):
            remove = []
            for r in range(height):
                for c in range(width):
                    if not img[r, c]:
                        continue
                    # p1..p8: E, NE, N, NW, W, SW, S, SE.
                    p = [
                        at(r, c + 1),
                        at(r - 1, c + 1),
                        at(r - 1, c),
                        at(r - 1, c - 1),
                        at(r, c - 1),
                        at(r + 1, c - 1),
                        at(r + 1, c),
                        at(r + 1, c + 1),
                    ]
                    ring = p + [p[0]]
                    xh = sum(
                        1 for i in (0, 2, 4, 6) if not ring[i] and (ring[i + 1] or ring[i + 2])
                    )
                    n1 = sum(1 for i in (0, 2, 4, 6) if ring[i] or ring[i + 1])
                    n2 = sum(1 for i in (1, 3, 5, 7) if ring[i] or ring[i + 1])
                    if first:
                        g3 = not ((p[1] or p[2] or not p[7]) and p[0])
                    else:
                        g3 = not ((p[5] or p[6] or not p[3]) and p[4])
                    if xh == 1 and 2 <= min(n1, n2) <= 3 and g3:
                        remove.append((r, c))
            for r, c in remove:
                img[r, c] = False
            removed_any |= bool(remove)
        if not removed_any:
            return img


def np_max_matching(pred: np.ndarray, gt: np.ndarray, radius: float) -> int:
    """Maximum one-to-one matching within ``radius`` by augmenting paths (Kuhn's algorithm)."""
    pred_px = list(zip(*np.nonzero(pred)))
    gt_px = list(zip(*np.nonzero(gt)))
    adjacent = [
        [j for j, (gy, gx) in enumerate(gt_px) if (py - gy) ** 2 + (px - gx) ** 2 <= radius**2]
        for py, px in pred_px
    ]
    owner = [-1] * len(gt_px)

    def augment(i: int, seen: set[int]) -> bool:
        for j in adjacent[i]:
            if j not in seen:
                seen.add(j)
                if owner[j] < 0 or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(augment(i, set()) for i in range(len(pred_px)))


def np_diagonal(valid: np.ndarray) -> float:
    rows, cols = np.nonzero(valid)
    if rows.size == 0:
        return 0.0
    return math.hypot(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)


def np_ods(batches, thresholds, max_dist: float) -> dict[str, float]:
    best_f, best_t = -1.0, None
    for t in thresholds:
        matched = n_pred = n_gt = 0
        for logits, target in batches:
            for logit, tgt in zip(logits[:, 0].double().numpy(), target[:, 0].numpy()):
                valid = tgt != IGNORE
                gt = valid & (tgt == 1)
                edges = np_thin(1.0 / (1.0 + np.exp(-logit)) >= t) & valid
                matched += np_max_matching(edges, gt, max_dist * np_diagonal(valid))
                n_pred += int(edges.sum())
                n_gt += int(gt.sum())
        precision, recall = matched / max(n_pred, 1), matched / n_gt
        f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if f > best_f:
            best_f, best_t = f, t
    return {"f1": 100 * best_f, "threshold": best_t}


# --------------------------------------------------------------------------- data


def make_edges(seed: int = SEED) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Edge logits (B, 1, H, W) with blurry, several-pixel-wide responses around target edges
    (so that thinning matters); targets in {0, 1, 255}."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(NUM_BATCHES):
        target = (torch.rand(BATCH, 1, HEIGHT, WIDTH, generator=gen) < 0.12).float()
        near = torch.nn.functional.avg_pool2d(target, 3, stride=1, padding=1)
        logits = 6 * near - 1.5 + 0.8 * torch.randn(target.shape, generator=gen)
        target[torch.rand(target.shape, generator=gen) < 0.08] = IGNORE
        batches.append((logits, target))
    return batches


def run(metric, batches) -> dict[str, float]:
    for pred, target in batches:
        metric.update(pred, target)
    return {k: float(v) for k, v in metric.compute().items()}


# --------------------------------------------------------------------------- tests


def test_thin_matches_loop_reference_on_random_maps():
    gen = np.random.default_rng(SEED)
    maps = gen.random((24, 13, 12)) < 0.55
    maps[12:] = ndimage.binary_dilation(maps[12:] & (gen.random((12, 13, 12)) < 0.15), iterations=2)
    ours = thin(torch.from_numpy(maps)).numpy()
    for mask, got in zip(maps, ours):
        assert np.array_equal(got, np_thin(mask))


def test_thin_shapes():
    bar = torch.zeros(1, 9, 12, dtype=torch.bool)
    bar[0, 3:6, 1:11] = True  # 3 pixels thick
    out = thin(bar)[0]
    assert int(out.sum(dim=0).max()) == 1 and bool(out[4, 2:10].all())  # one centred line
    line = torch.zeros(1, 9, 12, dtype=torch.bool)
    line[0, 2, 1:11] = True
    assert torch.equal(thin(line), line)  # already thin: unchanged, end points kept
    ring = torch.zeros(1, 12, 12, dtype=torch.bool)
    ring[0, 1:11, 1:11] = True
    ring[0, 4:8, 4:8] = False
    out = thin(ring)[0].numpy()
    assert ndimage.label(~out)[1] == 2  # the hole survives (topology preserved)
    assert torch.equal(thin(thin(ring)), thin(ring))  # idempotent


def test_thin_matches_scikit_image_when_available():
    skimage_morphology = pytest.importorskip("skimage.morphology")
    gen = np.random.default_rng(1)
    maps = gen.random((20, 30, 27)) < 0.6
    ours = thin(torch.from_numpy(maps)).numpy()
    for mask, got in zip(maps, ours):
        assert np.array_equal(got, skimage_morphology.thin(mask))


def test_matching_matches_kuhn_reference():
    gen = np.random.default_rng(SEED)
    pred = gen.random((4, 15, 13)) < 0.2
    gt = gen.random((4, 15, 13)) < 0.2
    radius = torch.tensor([0.0, 1.0, 1.5, 2.3], dtype=torch.float64)
    ours = count_matches(torch.from_numpy(pred), torch.from_numpy(gt), radius)
    expected = sum(np_max_matching(p, g, float(r)) for p, g, r in zip(pred, gt, radius))
    assert ours == expected


@pytest.mark.parametrize("max_dist", [0.0, 0.1, 0.2])
def test_ods_matches_loop_reference(max_dist):
    batches = make_edges()
    ours = run(BoundaryODSMetrics(thresholds=THRESHOLDS, max_dist=max_dist), batches)
    expected = np_ods(batches, THRESHOLDS, max_dist)
    assert ours["f1"] == pytest.approx(expected["f1"], rel=1e-6)
    assert ours["threshold"] == expected["threshold"]


def test_ods_thins_thick_predictions_and_matches_one_to_one():
    target = torch.zeros(1, 1, 20, 20)
    target[0, 0, :, 5] = 1
    band = torch.full((1, 1, 20, 20), -9.0)
    band[0, 0, :, 5:8] = 9.0  # 3 pixels wide, centred one pixel off the target line
    metric = BoundaryODSMetrics(thresholds=[0.5], max_dist=0.05)
    ods = run(metric, [(band, target)])
    # Thinned to one column at x = 6 (its ends shortened by the thinning), every pixel of it
    # within 1.41 px of x = 5: precision 1.
    n_pred = int(metric.n_pred[0])
    assert int(metric.matched[0]) == n_pred and 16 <= n_pred <= 20
    assert ods["f1"] == pytest.approx(100 * 2 * (n_pred / 20) / (1 + n_pred / 20))
    dilation = run(BoundaryMetrics(thresholds=[0.5], tolerance_px=1), [(band, target)])
    assert dilation["f1"] < ods["f1"] - 5  # the approximation penalises the thick band instead
    two_lines = torch.full((1, 1, 20, 20), -9.0)
    two_lines[0, 0, :, 4] = two_lines[0, 0, :, 6] = 9.0
    ods = run(BoundaryODSMetrics(thresholds=[0.5], max_dist=0.05), [(two_lines, target)])
    # Each target pixel matches one prediction only: P = 1/2, R = 1.
    assert ods["f1"] == pytest.approx(100 * 2 * 0.5 / 1.5)


def test_ods_ignores_padding_with_the_ignore_value():
    batches = make_edges()[:1]
    padded = [
        (
            torch.nn.functional.pad(p, (0, 5, 0, 3), value=4.0),
            torch.nn.functional.pad(t, (0, 5, 0, 3), value=IGNORE),
        )
        for p, t in batches
    ]
    plain, pad = BoundaryODSMetrics(max_dist=0.1), BoundaryODSMetrics(max_dist=0.1)
    run(plain, batches)
    run(pad, padded)
    assert torch.equal(
        labelled_diagonals(padded[0][1][:, 0] != IGNORE),
        labelled_diagonals(batches[0][1][:, 0] != IGNORE),
    )
    # Counts agree except where a thick padded blob touching the image thins differently:
    # with the predictions of the padding far above every threshold, compare ground truth only.
    assert int(pad.n_gt) == int(plain.n_gt)
    clean = [
        (torch.nn.functional.pad(p, (0, 5, 0, 3), value=-9.0), t)
        for (p, _), (_, t) in zip(batches, padded)
    ]
    pad_clean = BoundaryODSMetrics(max_dist=0.1)
    run(pad_clean, clean)
    assert torch.equal(pad_clean.matched, plain.matched)
    assert torch.equal(pad_clean.n_pred, plain.n_pred)


def test_build_metric_boundary_options():
    assert isinstance(build_metric(TASKS["edge"]), BoundaryMetrics)
    ods = build_metric(TASKS["edge"], boundary_metric="ods", boundary_max_dist=0.011)
    assert isinstance(ods, BoundaryODSMetrics) and ods.max_dist == 0.011
    holder = MultiTaskMetrics([TASKS["edge"]], boundary_metric="ods")
    assert isinstance(holder["edge"], BoundaryODSMetrics)
    with pytest.raises(ConfigError, match="boundary_metric"):
        build_metric(TASKS["edge"], boundary_metric="bsds")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_dist"):
        BoundaryODSMetrics(max_dist=1.5)
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert math.isnan(float(BoundaryODSMetrics().compute()["f1"]))
