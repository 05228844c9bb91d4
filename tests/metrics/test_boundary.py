"""Tests of BoundaryMetrics (the dilation approximation of the boundary F-measure)."""

from __future__ import annotations

import math

import pytest
import torch
from metric_cases import (
    EDGE_THRESHOLDS,
    IGNORE,
    RTOL,
    assert_states_equal,
    concatenated,
    make_boundary,
    run_metric,
)
from metric_references import np_boundary
from torchmetrics.classification import BinaryPrecisionRecallCurve

from dmtl.errors import ConfigError
from dmtl.metrics import (
    DEFAULT_THRESHOLDS,
    SEISM_THRESHOLDS,
    THRESHOLD_GRIDS,
    BoundaryMetrics,
)
from dmtl.metrics.boundary import count_at_or_above


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_boundary_matches_numpy(radius):
    batches = make_boundary()
    result = run_metric(BoundaryMetrics(tolerance_px=radius), batches)
    expected = np_boundary(batches, EDGE_THRESHOLDS, radius)
    assert result["f1"] == pytest.approx(expected["f1"], rel=RTOL)
    assert result["threshold"] == pytest.approx(expected["threshold"])


def test_boundary_ignore_pixels_take_no_part():
    logits, target = make_boundary()[0]
    metric = BoundaryMetrics()
    metric.update(logits, target)
    # Whatever the prediction does on ignored pixels changes nothing.
    changed = torch.where(target == IGNORE, torch.full_like(logits, 50.0), logits)
    other = BoundaryMetrics()
    other.update(changed, target)
    assert_states_equal(metric, other)
    assert int(metric.n_gt) == int((target == 1).sum())


def test_boundary_perfect_prediction_and_no_edges():
    target = torch.zeros(2, 1, 9, 9)
    target[:, :, 4, :] = 1.0
    target[:, :, 0, 0] = IGNORE
    perfect = run_metric(BoundaryMetrics(), [(20 * (2 * target.clamp(max=1) - 1), target)])
    assert perfect["f1"] == pytest.approx(100.0)
    no_edges = run_metric(BoundaryMetrics(), [(torch.randn(2, 1, 9, 9), torch.zeros(2, 1, 9, 9))])
    assert math.isnan(no_edges["f1"]) and math.isnan(no_edges["threshold"])


def test_boundary_batches_equal_concatenation():
    batches = make_boundary()
    split, whole = BoundaryMetrics(), BoundaryMetrics()
    run_metric(split, batches)
    run_metric(whole, concatenated(batches))
    assert_states_equal(split, whole)
    assert split.tp_pred.shape == (len(EDGE_THRESHOLDS),)
    with pytest.raises(ConfigError):
        BoundaryMetrics(thresholds=[0.5, 1.5])
    with pytest.raises(ConfigError):
        BoundaryMetrics(tolerance_px=-1)


# ------------------------------------------------------------------ building blocks, grids


@pytest.mark.parametrize("grid", ["coarse", "seism"])
@pytest.mark.parametrize("size", [500, 60_000])  # torchmetrics' vectorised and looped paths
def test_counts_equal_torchmetrics_binned_precision_recall_curve(grid, size):
    gen = torch.Generator().manual_seed(size)
    values = torch.rand(size, generator=gen, dtype=torch.float64)
    grid_values = torch.tensor(THRESHOLD_GRIDS[grid], dtype=torch.float64)
    values[: len(grid_values)] = grid_values  # values exactly on a threshold count as ≥
    positive = torch.rand(size, generator=gen) < 0.3
    target = positive.long()
    target[torch.rand(size, generator=gen) < 0.1] = IGNORE
    include = target != IGNORE
    thresholds = grid_values
    reference = BinaryPrecisionRecallCurve(thresholds=thresholds, ignore_index=IGNORE)
    reference.update(values, target)
    confmat = reference.confmat  # (T, 2, 2): [target, prediction]
    tp = count_at_or_above(values, include & positive, thresholds)
    assert torch.equal(tp, confmat[:, 1, 1])
    assert torch.equal(count_at_or_above(values, include, thresholds), confmat[:, :, 1].sum(1))


def test_threshold_grids_by_name():
    assert THRESHOLD_GRIDS["coarse"] == DEFAULT_THRESHOLDS == tuple(EDGE_THRESHOLDS)
    seism = THRESHOLD_GRIDS["seism"]
    assert seism == SEISM_THRESHOLDS and len(seism) == 101
    assert seism[0] == 0.001 and seism[-1] == 0.999
    assert list(seism[1:-1]) == [k / 100 for k in range(1, 100)]
    assert BoundaryMetrics().thresholds == DEFAULT_THRESHOLDS
    assert BoundaryMetrics(thresholds="coarse").thresholds == DEFAULT_THRESHOLDS
    metric = BoundaryMetrics(thresholds="seism")
    assert metric.thresholds == SEISM_THRESHOLDS and metric.tp_pred.shape == (101,)
    with pytest.raises(ConfigError, match="'bsds'"):
        BoundaryMetrics(thresholds="bsds")
