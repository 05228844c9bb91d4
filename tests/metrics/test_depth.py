"""Tests of DepthMetrics: absErr, relErr, RMSE and δ1 over the valid pixels of a split."""

from __future__ import annotations

import math

import pytest
import torch
from metric_cases import assert_close, assert_states_equal, concatenated, make_depth, run_metric
from metric_references import np_depth

from dmtl.errors import ConfigError, DataError
from dmtl.metrics import MTPSL_CLAMP_MIN, DepthMetrics


def test_depth_matches_numpy():
    batches = make_depth()
    result = run_metric(DepthMetrics(), batches)
    assert_close(result, np_depth(batches))
    assert 0 < result["delta1"] < 100


def test_depth_batches_equal_concatenation_and_empty_is_nan():
    batches = make_depth()
    split, whole = DepthMetrics(), DepthMetrics()
    run_metric(split, batches)
    run_metric(whole, concatenated(batches))
    assert_states_equal(split, whole)
    empty = DepthMetrics()
    empty.update(*batches[1])  # the batch without a valid pixel
    assert int(empty.n_valid) == 0
    assert all(math.isnan(float(v)) for v in empty.compute().values())
    with pytest.raises(DataError):
        DepthMetrics().update(batches[0][0], batches[0][1][:, :, :-1])


# --------------------------------------------------------------------------- clamp_min


def _depth_of(pred: list[float], target: list[float], clamp_min: float | None) -> dict:
    """DepthMetrics(clamp_min) of one (1, 1, 1, N) row."""
    metric = DepthMetrics(clamp_min=clamp_min)
    metric.update(torch.tensor(pred).view(1, 1, 1, -1), torch.tensor(target).view(1, 1, 1, -1))
    return {k: float(v) for k, v in metric.compute().items()}


def test_depth_clamp_min_hand_computed():
    # Valid pixels: g = 2 with p = -1, g = 4 with p = 4.5; the third pixel is invalid.
    pred, target = [-1.0, 4.5, 3.0], [2.0, 4.0, 0.0]
    raw = _depth_of(pred, target, None)
    assert raw["abs_err"] == pytest.approx((3 + 0.5) / 2)
    assert raw["rel_err"] == pytest.approx((3 / 2 + 0.5 / 4) / 2)
    assert raw["rmse"] == pytest.approx(math.sqrt((9 + 0.25) / 2))
    assert raw["delta1"] == pytest.approx(50.0)  # 4.5 / 4 < 1.25; a negative p never counts
    mtpsl = _depth_of(pred, target, MTPSL_CLAMP_MIN)  # p = -1 scores as 1e-9
    err = 2 - 1e-9
    assert MTPSL_CLAMP_MIN == 1e-9
    assert mtpsl["abs_err"] == pytest.approx((err + 0.5) / 2, rel=1e-12)
    assert mtpsl["rel_err"] == pytest.approx((err / 2 + 0.5 / 4) / 2, rel=1e-12)
    assert mtpsl["rmse"] == pytest.approx(math.sqrt((err**2 + 0.25) / 2), rel=1e-12)
    assert mtpsl["delta1"] == pytest.approx(50.0)
    floor = _depth_of(pred, target, 1.0)  # p = -1 scores as 1; p = 4.5 is above the floor
    assert floor["abs_err"] == pytest.approx((1 + 0.5) / 2)
    assert floor["rel_err"] == pytest.approx((1 / 2 + 0.5 / 4) / 2)
    assert floor["rmse"] == pytest.approx(math.sqrt((1 + 0.25) / 2))
    assert floor["delta1"] == pytest.approx(50.0)  # max(1/2, 2/1) = 2


def test_depth_clamp_min_default_is_none_and_rejects_bad_values():
    batches = make_depth()
    assert DepthMetrics().clamp_min is None
    default, explicit = DepthMetrics(), DepthMetrics(clamp_min=None)
    run_metric(default, batches)
    run_metric(explicit, batches)
    assert_states_equal(default, explicit)
    # The batches hold predictions 0 and -1: the MTPSL floor lowers absErr (|1e-9 - g| < g + 1).
    clamped = run_metric(DepthMetrics(clamp_min=MTPSL_CLAMP_MIN), batches)
    assert clamped["abs_err"] < run_metric(DepthMetrics(), batches)["abs_err"]
    for bad in ("1e-9", float("nan"), float("inf"), True):
        with pytest.raises(ConfigError, match="clamp_min"):
            DepthMetrics(clamp_min=bad)  # type: ignore[arg-type]
