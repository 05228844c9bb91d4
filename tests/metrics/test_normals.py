"""Tests of NormalMetrics: angular error statistics with the histogram median."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from metric_cases import (
    SEED,
    assert_close,
    assert_states_equal,
    concatenated,
    make_normals,
    run_metric,
)
from metric_references import np_normal_angles, np_normals

from dmtl.errors import ConfigError
from dmtl.metrics import NormalMetrics, median_error_bound


def test_normals_match_numpy_with_median_within_bound():
    batches = make_normals()
    metric = NormalMetrics()
    result = run_metric(metric, batches)
    expected = np_normals(batches)
    assert_close(result, expected, skip=("median",))
    assert metric.median_bound_deg == median_error_bound(100) == 0.005
    assert abs(result["median"] - expected["median"]) <= metric.median_bound_deg + 1e-9


@pytest.mark.parametrize("bins_per_degree", [1, 7])
def test_normals_median_bound_holds_at_coarse_resolution(bins_per_degree):
    batches = make_normals(seed=SEED + bins_per_degree)
    result = run_metric(NormalMetrics(bins_per_degree=bins_per_degree), batches)
    bound = median_error_bound(bins_per_degree)
    assert abs(result["median"] - np.median(np_normal_angles(batches))) <= bound + 1e-9


def test_normals_odd_and_even_counts_median():
    # Angles 0°, 90°, 180° (odd count) then with one more 90° (even count).
    target = torch.zeros(1, 3, 1, 4)
    target[0, 2] = 1.0
    pred = torch.tensor([[0.0, 0, 1], [1.0, 0, 0], [0.0, 0, -1], [0.0, 0, 0]]).T.reshape(1, 3, 1, 4)
    metric = NormalMetrics()
    metric.update(pred[..., :3], target[..., :3])
    assert float(metric.compute()["median"]) == pytest.approx(90.0, abs=metric.median_bound_deg)
    metric.update(pred[..., 3:], target[..., 3:])  # zero-norm prediction: 90°
    result = {k: float(v) for k, v in metric.compute().items()}
    assert result["mean"] == pytest.approx(90.0)
    assert result["median"] == pytest.approx(90.0, abs=metric.median_bound_deg)
    assert result["within_11.25"] == pytest.approx(25.0)


def test_normals_zero_norm_prediction_is_90_degrees_and_finite():
    target = torch.nn.functional.normalize(torch.randn(2, 3, 4, 5), dim=1)
    result = run_metric(NormalMetrics(), [(torch.zeros_like(target), target)])
    assert result["mean"] == pytest.approx(90.0)
    assert result["rmse"] == pytest.approx(90.0)
    assert result["within_30"] == 0.0
    assert all(math.isfinite(v) for v in result.values())


def test_normals_batches_equal_concatenation_and_all_invalid():
    batches = make_normals()
    split, whole = NormalMetrics(), NormalMetrics()
    run_metric(split, batches)
    run_metric(whole, concatenated(batches))
    assert_states_equal(split, whole)
    empty = NormalMetrics()
    empty.update(batches[0][0], torch.zeros_like(batches[0][1]))
    assert all(math.isnan(float(v)) for v in empty.compute().values())
    with pytest.raises(ConfigError):
        NormalMetrics(bins_per_degree=0)
