"""The matched boundary ODS F-measure against plain per-pixel loop references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from metric_references import np_thin

from dmtl.errors import ConfigError
from dmtl.metrics import DEFAULT_THRESHOLDS, SEISM_THRESHOLDS, BoundaryMetrics, BoundaryODSMetrics
from dmtl.metrics.boundary_ods import count_matches, labelled_diagonals
from dmtl.metrics.multitask import MultiTaskMetrics, build_metric
from dmtl.tasks import TASKS

SEED = 77
NUM_BATCHES, BATCH, HEIGHT, WIDTH = 3, 2, 14, 11
IGNORE = 255
THRESHOLDS = (0.2, 0.4, 0.5, 0.6, 0.8)


# ------------------------------------------------------------------ loop references


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


# ------------------------------------------------------------------------ threshold grids


def test_ods_seism_grid_matches_loop_reference():
    batches = make_edges()
    metric = BoundaryODSMetrics(thresholds="seism", max_dist=0.1)
    ours = run(metric, batches)
    assert metric.thresholds == SEISM_THRESHOLDS and metric.n_pred.shape == (101,)
    expected = np_ods(batches, SEISM_THRESHOLDS, 0.1)
    assert ours["f1"] == pytest.approx(expected["f1"], rel=1e-6)
    assert ours["threshold"] == expected["threshold"]


def _line_logits(on_line: float, elsewhere: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A 20 × 20 target with one vertical edge line, and logits of the given probabilities."""
    target = torch.zeros(1, 1, 20, 20)
    target[0, 0, :, 5] = 1
    prob = torch.where(target > 0, on_line, elsewhere).double()
    return torch.log(prob / (1 - prob)), target


def test_seism_grid_reaches_optima_outside_the_coarse_range():
    # An under-confident map: the line at 0.035, the rest at 0.0005. No coarse threshold
    # (≥ 0.05) marks a pixel, so F = 0; SEISM's 0.001 … 0.03 mark exactly the line: F = 1.
    low = [_line_logits(0.035, 0.0005)]
    coarse = run(BoundaryODSMetrics(thresholds="coarse"), low)
    assert coarse["f1"] == 0.0 and coarse["threshold"] == 0.05  # the first of equal maxima
    seism = run(BoundaryODSMetrics(thresholds="seism"), low)
    assert seism["f1"] == pytest.approx(100.0) and seism["threshold"] == 0.001
    # An over-confident map: the line at 0.9995, the rest at 0.995. Every threshold up to 0.99
    # marks the whole image (thinned to a skeleton that misses most of the line); 0.999 only
    # the line.
    high = [_line_logits(0.9995, 0.995)]
    assert run(BoundaryODSMetrics(), high)["f1"] < 50.0
    seism = run(BoundaryODSMetrics(thresholds="seism"), high)
    assert seism["f1"] == pytest.approx(100.0) and seism["threshold"] == 0.999


def test_ods_default_grid_is_coarse_and_names_are_checked():
    assert BoundaryODSMetrics().thresholds == DEFAULT_THRESHOLDS
    assert BoundaryODSMetrics(thresholds="coarse").thresholds == DEFAULT_THRESHOLDS
    assert BoundaryODSMetrics(thresholds=[0.7, 0.3]).thresholds == (0.3, 0.7)
    with pytest.raises(ConfigError, match="'fine'"):
        BoundaryODSMetrics(thresholds="fine")
    with pytest.raises(ConfigError, match="thresholds"):
        BoundaryODSMetrics(thresholds=[])
