"""Tests of MultiTaskMetrics, Δm and the reference-file loader."""

from __future__ import annotations

import json
import math

import pytest
import torch
from metric_cases import (
    BATCH,
    HEIGHT,
    IGNORE,
    IGNORE_FRACTION,
    NUM_BATCHES,
    SEED,
    WIDTH,
    assert_close,
    make_boundary,
    make_depth,
    make_normals,
    run_metric,
)
from metric_references import np_depth, np_segmentation

from dmtl.errors import ConfigError, DataError, MissingDataError
from dmtl.metrics import BoundaryMetrics, DepthMetrics, NormalMetrics, SegmentationMetrics
from dmtl.metrics.multitask import MultiTaskMetrics, delta_m, load_reference
from dmtl.tasks import TASKS, TaskSpec, resolve_tasks

# ----------------------------------------------------------------- multi-task


def all_tasks() -> list[TaskSpec]:
    return resolve_tasks("synthetic", ["semseg", "depth", "normals", "edge"])


def make_multitask(seed: int = SEED) -> list[tuple[dict, dict]]:
    """Batches of (preds, targets) dicts of all four tasks; semseg uses 13 classes."""
    gen = torch.Generator().manual_seed(seed)
    depth, normals, edge = make_depth(seed), make_normals(seed), make_boundary(seed)
    batches = []
    for i in range(NUM_BATCHES):
        target = torch.randint(0, 13, (BATCH, HEIGHT, WIDTH), generator=gen)
        target[torch.rand(target.shape, generator=gen) < IGNORE_FRACTION] = IGNORE
        preds = {
            "semseg": torch.randn(BATCH, 13, HEIGHT, WIDTH, generator=gen),
            "depth": depth[i][0],
            "normals": normals[i][0],
            "edge": edge[i][0],
        }
        targets = {
            "semseg": target,
            "depth": depth[i][1],
            "normals": normals[i][1],
            "edge": edge[i][1],
        }
        batches.append((preds, targets))
    return batches


def test_multitask_builds_metrics_and_matches_single_metrics():
    batches = make_multitask()
    holder = MultiTaskMetrics(all_tasks())
    assert holder.task_names == ["semseg", "depth", "normals", "edge"]
    expected_types = [SegmentationMetrics, DepthMetrics, NormalMetrics, BoundaryMetrics]
    assert [type(holder[n]) for n in holder.task_names] == expected_types
    assert holder["semseg"].num_classes == 13
    for preds, targets in batches:
        holder.update(preds, targets)
    result = holder.compute()
    assert all(isinstance(v, float) for metrics in result.values() for v in metrics.values())
    assert_close(result["depth"], np_depth([(p["depth"], t["depth"]) for p, t in batches]))
    assert_close(
        result["semseg"], np_segmentation([(p["semseg"], t["semseg"]) for p, t in batches], 13)
    )
    holder.reset()
    assert all(math.isnan(v) for v in holder.compute()["depth"].values())


def test_multitask_resizes_predictions_bilinearly():
    preds, targets = make_multitask()[0]
    small = {k: v[..., ::2, ::2].contiguous() for k, v in preds.items()}
    holder = MultiTaskMetrics(all_tasks())
    holder.update(small, targets)
    result = holder.compute()
    for name, metric in zip(
        holder.task_names,
        (SegmentationMetrics(13), DepthMetrics(), NormalMetrics(), BoundaryMetrics()),
    ):
        resized = torch.nn.functional.interpolate(
            small[name], size=(HEIGHT, WIDTH), mode="bilinear", align_corners=False
        )
        assert_close(result[name], run_metric(metric, [(resized, targets[name])]), rtol=1e-12)
    with pytest.raises(DataError, match="cannot be resized"):
        MultiTaskMetrics(all_tasks()).update(
            {"semseg": small["semseg"].argmax(1)}, {"semseg": targets["semseg"]}
        )


def test_multitask_skips_absent_targets_and_rejects_unknown():
    preds, targets = make_multitask()[0]
    holder = MultiTaskMetrics(all_tasks())
    holder.update(preds, {"depth": targets["depth"]})
    result = holder.compute()
    assert math.isfinite(result["depth"]["abs_err"])
    assert math.isnan(result["semseg"]["miou"]) and math.isnan(result["edge"]["f1"])
    with pytest.raises(ConfigError, match="not evaluated"):
        MultiTaskMetrics(all_tasks()[:1]).update(preds, targets)
    with pytest.raises(ConfigError, match="no prediction"):
        holder.update({}, {"depth": targets["depth"]})
    with pytest.raises(ConfigError, match="unknown kind"):
        MultiTaskMetrics([TaskSpec("x", "optical_flow", 2, "epe", False)])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="twice"):
        MultiTaskMetrics([TASKS["depth"], TASKS["depth"]])


def test_multitask_inside_lightning_validate():
    import lightning as L
    from torch.utils.data import DataLoader

    batches = make_multitask()

    class Holder(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)
            self.metrics = MultiTaskMetrics(all_tasks())
            self.result: dict | None = None

        def validation_step(self, batch, batch_idx):
            preds, targets = batch
            self.metrics.update(preds, targets)

        def on_validation_epoch_end(self):
            self.result = self.metrics.compute()
            self.log_dict({f"{t}/{k}": v for t, m in self.result.items() for k, v in m.items()})
            self.metrics.reset()

    module = Holder()
    # Metric states are not persistent: checkpoints hold no accumulated counts.
    assert all(key.startswith("layer.") for key in module.state_dict())
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.validate(module, dataloaders=DataLoader(batches, batch_size=None))
    direct = MultiTaskMetrics(all_tasks())
    for preds, targets in batches:
        direct.update(preds, targets)
    expected = direct.compute()
    for task in expected:
        assert_close(module.result[task], expected[task], rtol=1e-12)
    assert trainer.callback_metrics["depth/abs_err"] == pytest.approx(expected["depth"]["abs_err"])


# ------------------------------------------------------------------------- Δm


def paper_tasks() -> list[TaskSpec]:
    return resolve_tasks("nyuv2")


PAPER_SINGLE_TASK = {
    "semseg": {"miou": 45.28},
    "depth": {"abs_err": 0.4802},
    "normals": {"mean": 25.93},
}


PAPER_MTL_BASELINE = {
    "semseg": {"miou": 43.92},
    "depth": {"abs_err": 0.5138},
    "normals": {"mean": 26.44},
}


def test_delta_m_paper_numbers():
    value = delta_m(PAPER_MTL_BASELINE, PAPER_SINGLE_TASK, paper_tasks())
    assert value == pytest.approx(-3.99, abs=0.01)
    assert delta_m(PAPER_SINGLE_TASK, PAPER_SINGLE_TASK, paper_tasks()) == 0.0


def test_delta_m_signs_follow_direction():
    # 10 % better on each: higher mIoU and lower errors both count positive.
    better = {
        "semseg": {"miou": 49.808},
        "depth": {"abs_err": 0.4802 * 0.9},
        "normals": {"mean": 25.93 * 0.9},
    }
    assert delta_m(better, PAPER_SINGLE_TASK, paper_tasks()) == pytest.approx(10.0)
    with pytest.raises(ConfigError, match="'normals'"):
        delta_m(
            {"semseg": {"miou": 1.0}, "depth": {"abs_err": 1.0}}, PAPER_SINGLE_TASK, paper_tasks()
        )
    with pytest.raises(ConfigError, match="'abs_err'"):
        delta_m(PAPER_MTL_BASELINE, {**PAPER_SINGLE_TASK, "depth": {"rmse": 1.0}}, paper_tasks())
    with pytest.raises(ConfigError, match="is 0"):
        delta_m(PAPER_MTL_BASELINE, {**PAPER_SINGLE_TASK, "depth": {"abs_err": 0}}, paper_tasks())


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_load_reference_round_trip(tmp_path, suffix):
    path = tmp_path / f"reference{suffix}"
    text = json.dumps(PAPER_SINGLE_TASK)  # JSON is also valid YAML
    path.write_text(text)
    reference = load_reference(path, paper_tasks())
    assert reference == PAPER_SINGLE_TASK
    assert delta_m(PAPER_MTL_BASELINE, reference, paper_tasks()) == pytest.approx(-3.99, abs=0.01)


def test_load_reference_yaml_and_errors(tmp_path):
    path = tmp_path / "ref.yaml"
    path.write_text("semseg:\n  miou: 45.28\ndepth:\n  abs_err: 0.4802\n")
    assert load_reference(path)["depth"]["abs_err"] == 0.4802
    with pytest.raises(ConfigError, match=r"ref\.yaml.*'normals'"):
        load_reference(path, paper_tasks())
    path.write_text("semseg:\n  miou: 45.28\ndepth:\n  rmse: 0.6\nnormals:\n  mean: 25.9\n")
    with pytest.raises(ConfigError, match=r"ref\.yaml.*'abs_err'.*'depth'"):
        load_reference(path, paper_tasks())
    path.write_text("semseg:\n  miou: high\n")
    with pytest.raises(ConfigError, match="finite number"):
        load_reference(path)
    path.write_text("semseg: [1, 2\n")
    with pytest.raises(ConfigError, match="does not parse"):
        load_reference(path)
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_reference(path)
    with pytest.raises(MissingDataError, match="missing.json"):
        load_reference(tmp_path / "missing.json")
