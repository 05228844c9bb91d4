"""What every metric class promises: sum states only, and forward() = one batch's value."""

from __future__ import annotations

import pytest
import torch
from metric_cases import (
    NUM_CLASSES,
    assert_close,
    assert_states_equal,
    make_boundary,
    make_depth,
    make_normals,
    make_segmentation,
    run_metric,
)

from dmtl.metrics import BoundaryMetrics, DepthMetrics, NormalMetrics, SegmentationMetrics


@pytest.mark.parametrize(
    "metric", [SegmentationMetrics(3), DepthMetrics(), NormalMetrics(), BoundaryMetrics()]
)
def test_every_state_is_a_sum_tensor(metric):
    assert metric.full_state_update is False
    assert isinstance(metric.higher_is_better, bool)
    assert metric._reductions
    for name, default in metric._defaults.items():
        assert isinstance(default, torch.Tensor), name
        assert metric._reductions[name].__name__ == "dim_zero_sum", name


@pytest.mark.parametrize(
    ("factory", "make"),
    [
        (lambda: SegmentationMetrics(NUM_CLASSES), make_segmentation),
        (DepthMetrics, make_depth),
        (NormalMetrics, make_normals),
        (BoundaryMetrics, make_boundary),
    ],
)
def test_forward_returns_batch_value_and_accumulates(factory, make):
    batches = make()
    metric, reference = factory(), factory()
    first = {k: float(v) for k, v in metric(*batches[0]).items()}
    for pred, target in batches[1:]:
        metric(pred, target)
    assert_close(first, run_metric(factory(), batches[:1]), rtol=1e-12)
    run_metric(reference, batches)
    assert_states_equal(metric, reference)
