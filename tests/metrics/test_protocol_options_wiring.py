"""The protocol options (docs/protocol.md) reach the metrics from the config and the CLI."""

import math

import pytest
import torch

from dmtl.cli import DMTLCLI
from dmtl.config import EvaluationConfig
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.errors import ConfigError
from dmtl.metrics import DEFAULT_THRESHOLDS, MTPSL_CLAMP_MIN, SEISM_THRESHOLDS
from dmtl.metrics.multitask import MultiTaskMetrics
from dmtl.module import DiffusionMTLModule
from dmtl.tasks import resolve_tasks
from support import REPO

PASCAL = resolve_tasks("pascal_context", ["semseg", "edge"])
NYU = resolve_tasks("nyuv2", ["semseg", "depth"])


def _thresholds(metric) -> tuple[float, ...]:
    return tuple(round(float(t), 6) for t in metric.thresholds)


def test_defaults_keep_the_package_convention():
    ev = EvaluationConfig()
    assert (ev.depth_clamp_min, ev.absent_class, ev.boundary_thresholds) == (None, "skip", "coarse")
    model = DiffusionMTLModule("synthetic", ["semseg", "depth", "edge"])
    for metrics in (model.val_metrics, model.test_metrics, model.val_initial_metrics):
        assert metrics["depth"].clamp_min is None and metrics["semseg"].absent_class == "skip"
        assert _thresholds(metrics["edge"]) == DEFAULT_THRESHOLDS


def test_evaluation_options_reach_every_metric_of_the_module():
    ev = EvaluationConfig(
        depth_clamp_min=MTPSL_CLAMP_MIN, absent_class="zero", boundary_thresholds="seism",
        boundary_metric="ods",
    )  # fmt: skip
    model = DiffusionMTLModule("synthetic", ["semseg", "depth", "edge"], evaluation=ev)
    for metrics in (model.val_metrics, model.test_metrics, model.val_initial_metrics):
        assert metrics["depth"].clamp_min == MTPSL_CLAMP_MIN
        assert metrics["semseg"].absent_class == "zero"
        assert _thresholds(metrics["edge"]) == SEISM_THRESHOLDS
    explicit = DiffusionMTLModule(
        "synthetic", ["edge"], evaluation=EvaluationConfig(boundary_thresholds=[0.3, 0.6])
    )
    assert _thresholds(explicit.val_metrics["edge"]) == (0.3, 0.6)


def test_clamp_follows_the_definition_through_multitask_metrics():
    """absErr of a negative prediction is |max(p, 1e-9) - g| with the clamp, |p - g| without."""
    pred, target = torch.tensor([-1.0, 2.0]), torch.tensor([1.0, 3.0])
    results = {}
    for clamp in (None, MTPSL_CLAMP_MIN):
        metrics = MultiTaskMetrics(NYU[1:], depth_clamp_min=clamp)
        metrics.update({"depth": pred.view(1, 1, 1, 2)}, {"depth": target.view(1, 1, 1, 2)})
        results[clamp] = metrics.compute()["depth"]["abs_err"]
    assert results[None] == pytest.approx((2.0 + 1.0) / 2)
    assert results[MTPSL_CLAMP_MIN] == pytest.approx((1.0 - 1e-9 + 1.0) / 2)


@pytest.mark.parametrize(("rule", "expected"), [("skip", 100.0), ("zero", 50.0), ("nan", None)])
def test_absent_class_follows_the_definition_through_multitask_metrics(rule, expected):
    """Two classes, only class 0 in target and prediction: IoU_0 = 1, class 1 absent."""
    spec = resolve_tasks("folder", ["semseg"], {"semseg": 2})
    metrics = MultiTaskMetrics(spec, absent_class=rule)
    logits = torch.tensor([5.0, 0.0]).view(1, 2, 1, 1).expand(1, 2, 2, 2)
    metrics.update({"semseg": logits}, {"semseg": torch.zeros(1, 2, 2, dtype=torch.long)})
    miou = metrics.compute()["semseg"]["miou"]
    assert math.isnan(miou) if expected is None else miou == pytest.approx(expected)


def test_bad_values_stop_at_construction():
    with pytest.raises(ConfigError, match="absent_class"):
        MultiTaskMetrics(NYU, absent_class="drop")
    with pytest.raises(ConfigError, match="thresholds names a grid"):
        MultiTaskMetrics(PASCAL, boundary_thresholds="fine")
    with pytest.raises(ConfigError, match="clamp_min"):
        MultiTaskMetrics(NYU, depth_clamp_min=float("nan"))


@pytest.mark.parametrize(
    ("folder", "clamp", "absent", "grid"),
    [
        ("nyuv2", MTPSL_CLAMP_MIN, "skip", DEFAULT_THRESHOLDS),
        ("cityscapes", MTPSL_CLAMP_MIN, "skip", DEFAULT_THRESHOLDS),
        ("pascal_context", None, "zero", SEISM_THRESHOLDS),
        ("nyud", MTPSL_CLAMP_MIN, "zero", SEISM_THRESHOLDS),
    ],
)
def test_each_benchmark_config_sets_its_reference_protocol(
    folder, clamp, absent, grid, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # parsing places the run folder (runs/...): not in the checkout
    config = REPO / "experiments" / folder / "base.yaml"
    args = ["--config", str(config), f"--data.root={tmp_path}", "--model.network.pretrained=false"]
    cli = DMTLCLI(DiffusionMTLModule, MultiTaskDataModule, args=args, run=False)
    ev = cli.model.evaluation
    assert (ev.depth_clamp_min, ev.absent_class) == (clamp, absent)
    metrics = cli.model.test_metrics
    if "depth" in metrics.task_names:
        assert metrics["depth"].clamp_min == clamp
    assert metrics["semseg"].absent_class == absent
    if "edge" in metrics.task_names:
        assert _thresholds(metrics["edge"]) == grid
