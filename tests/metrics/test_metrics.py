"""Tests of dmtl.metrics against independent NumPy references computed over all batches at once."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassJaccardIndex

from dmtl.errors import ConfigError, DataError, MissingDataError
from dmtl.metrics import (
    BoundaryMetrics,
    DepthMetrics,
    MultiTaskMetrics,
    NormalMetrics,
    SegmentationMetrics,
    delta_m,
    load_reference,
    median_error_bound,
)
from dmtl.tasks import TASKS, TaskSpec, resolve_tasks

SEED = 1234
NUM_BATCHES = 3
BATCH, HEIGHT, WIDTH = 3, 17, 23
NUM_CLASSES = 5
ABSENT_CLASS = 4  # never in any target and never predicted
IGNORE = 255
RTOL = 1e-6
IGNORE_FRACTION = 0.1
WITHIN_DEG = (11.25, 22.5, 30.0)
EDGE_THRESHOLDS = [round(0.05 * k, 2) for k in range(1, 20)]


# --------------------------------------------------------------------------- data


def make_segmentation(seed: int = SEED) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of (logits (B, C, H, W), labels (B, H, W)), ignored pixels, one absent class."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(NUM_BATCHES):
        logits = torch.randn(BATCH, NUM_CLASSES, HEIGHT, WIDTH, generator=gen)
        logits[:, ABSENT_CLASS] = -1e4
        target = torch.randint(0, ABSENT_CLASS, (BATCH, HEIGHT, WIDTH), generator=gen)
        target[torch.rand(target.shape, generator=gen) < IGNORE_FRACTION] = IGNORE
        batches.append((logits, target))
    return batches


def make_depth(seed: int = SEED) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of depth (pred, target) (B, 1, H, W); invalid pixels, non-positive preds, and one
    batch without any valid pixel."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for i in range(NUM_BATCHES):
        target = torch.rand(BATCH, 1, HEIGHT, WIDTH, generator=gen) * 9 + 0.5
        pred = target * (0.7 + 0.6 * torch.rand(target.shape, generator=gen))
        pred[torch.rand(pred.shape, generator=gen) < 0.05] = 0.0
        pred[torch.rand(pred.shape, generator=gen) < 0.05] = -1.0
        target[torch.rand(target.shape, generator=gen) < IGNORE_FRACTION] = 0.0
        if i == 1:
            target.zero_()
        batches.append((pred, target))
    return batches


def make_normals(seed: int = SEED) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of normals (pred, target) (B, 3, H, W); non-unit and zero-norm predictions,
    all-zero (invalid) targets, and exact ±target predictions (0° and 180°)."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(NUM_BATCHES):
        target = torch.nn.functional.normalize(
            torch.randn(BATCH, 3, HEIGHT, WIDTH, generator=gen), dim=1
        )
        pred = target + 0.6 * torch.randn(target.shape, generator=gen)
        pred = pred * (0.1 + 3 * torch.rand(BATCH, 1, HEIGHT, WIDTH, generator=gen))
        pred[:, :, 0, :5] = 0.0  # zero-norm predictions
        pred[:, :, 1, :3] = target[:, :, 1, :3] * 2.0
        pred[:, :, 2, :3] = -target[:, :, 2, :3]
        invalid = torch.rand(BATCH, 1, HEIGHT, WIDTH, generator=gen) < IGNORE_FRACTION
        target = target.masked_fill(invalid, 0.0)
        batches.append((pred, target))
    return batches


def make_boundary(seed: int = SEED) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of edge (logits, target) (B, 1, H, W); target in {0, 1, 255}."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(NUM_BATCHES):
        target = (torch.rand(BATCH, 1, HEIGHT, WIDTH, generator=gen) < 0.15).float()
        logits = 2.0 * torch.randn(target.shape, generator=gen) + 1.5 * (2 * target - 1)
        target[torch.rand(target.shape, generator=gen) < IGNORE_FRACTION] = IGNORE
        batches.append((logits, target))
    return batches


def _cat(batches: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[np.ndarray, np.ndarray]:
    preds = torch.cat([p for p, _ in batches]).numpy().astype(np.float64)
    targets = torch.cat([t for _, t in batches]).numpy()
    return preds, targets


# ----------------------------------------------------------------------- NumPy references


def np_segmentation(batches, num_classes: int) -> dict[str, float]:
    logits, target = _cat(batches)
    pred = logits.argmax(axis=1).ravel()
    gt = target.ravel()
    keep = gt != IGNORE
    pred, gt = pred[keep], gt[keep]
    ious = []
    for c in range(num_classes):
        union = np.logical_or(pred == c, gt == c).sum()
        if union > 0:
            ious.append(np.logical_and(pred == c, gt == c).sum() / union)
    return {"miou": 100 * float(np.mean(ious)), "pixel_acc": 100 * float(np.mean(pred == gt))}


def np_depth(batches) -> dict[str, float]:
    pred, gt = _cat(batches)
    keep = gt > 0
    p, g = pred[keep], gt[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(p > 0, np.maximum(p / g, g / p), np.inf)
    return {
        "abs_err": float(np.mean(np.abs(p - g))),
        "rel_err": float(np.mean(np.abs(p - g) / g)),
        "rmse": float(np.sqrt(np.mean((p - g) ** 2))),
        "delta1": 100 * float(np.mean(ratio < 1.25)),
    }


def np_normal_angles(batches) -> np.ndarray:
    pred, gt = _cat(batches)
    gt = gt.astype(np.float64)
    keep = np.any(gt != 0, axis=1)
    norm = np.linalg.norm(pred, axis=1, keepdims=True)
    unit = np.divide(pred, norm, out=np.zeros_like(pred), where=norm > 0)
    cos = np.clip(
        np.sum(unit * gt / np.linalg.norm(gt, axis=1, keepdims=True).clip(1e-300), 1), -1, 1
    )
    return np.degrees(np.arccos(cos))[keep]


def np_normals(batches) -> dict[str, float]:
    angles = np_normal_angles(batches)
    out = {
        "mean": float(angles.mean()),
        "median": float(np.median(angles)),
        "rmse": float(np.sqrt(np.mean(angles**2))),
    }
    for t in WITHIN_DEG:
        out[f"within_{t:g}"] = 100 * float(np.mean(angles < t))
    return out


def _np_dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Square dilation of a (N, H, W) bool mask by shifting (independent of max-pooling)."""
    height, width = mask.shape[-2:]
    padded = np.pad(mask, ((0, 0), (radius, radius), (radius, radius)))
    out = np.zeros_like(mask)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[:, dy : dy + height, dx : dx + width]
    return out


def np_boundary(batches, thresholds, radius: int) -> dict[str, float]:
    logits, target = _cat(batches)
    logits, target = logits[:, 0], target[:, 0]
    prob = 1.0 / (1.0 + np.exp(-logits))
    valid = target != IGNORE
    gt = valid & (target == 1)
    gt_near = _np_dilate(gt, radius)
    best_f, best_t = -1.0, None
    for t in thresholds:
        edge = valid & (prob >= t)
        precision = (edge & gt_near).sum() / max(edge.sum(), 1)
        recall = (gt & _np_dilate(edge, radius)).sum() / gt.sum()
        f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        if f > best_f:
            best_f, best_t = f, t
    return {"f1": 100 * best_f, "threshold": best_t}


# --------------------------------------------------------------------------- helpers


def run_metric(metric, batches) -> dict[str, float]:
    for pred, target in batches:
        metric.update(pred, target)
    return {k: float(v) for k, v in metric.compute().items()}


def assert_close(
    actual: dict[str, float],
    expected: dict[str, float],
    rtol: float = RTOL,
    skip: tuple[str, ...] = (),
) -> None:
    assert set(actual) == set(expected)
    for key, value in expected.items():
        if key not in skip:
            assert actual[key] == pytest.approx(value, rel=rtol, abs=1e-12), key


def concatenated(batches):
    return [(torch.cat([p for p, _ in batches]), torch.cat([t for _, t in batches]))]


def assert_states_equal(a, b) -> None:
    for name in a._defaults:
        sa, sb = getattr(a, name), getattr(b, name)
        if sa.is_floating_point():
            torch.testing.assert_close(sa, sb, rtol=1e-12, atol=0)
        else:
            assert torch.equal(sa, sb), name


# --------------------------------------------------------------------------- segmentation


def test_segmentation_matches_numpy_and_excludes_absent_class():
    batches = make_segmentation()
    result = run_metric(SegmentationMetrics(NUM_CLASSES), batches)
    assert_close(result, np_segmentation(batches, NUM_CLASSES))
    # The absent class is excluded: averaging it in as IoU 0 would give 4/5 of the value.
    present_only = np_segmentation(batches, NUM_CLASSES - 1)["miou"]
    with_absent = present_only * (NUM_CLASSES - 1) / NUM_CLASSES
    assert result["miou"] > with_absent + 1


def test_segmentation_matches_torchmetrics_jaccard():
    batches = make_segmentation()
    ours = SegmentationMetrics(NUM_CLASSES)
    reference = MulticlassJaccardIndex(NUM_CLASSES, ignore_index=IGNORE, average="macro")
    for logits, target in batches:
        ours.update(logits, target)
        reference.update(logits, target)
    # torchmetrics reduces in float32, hence the looser tolerance.
    expected = 100 * float(reference.compute())
    assert float(ours.compute()["miou"]) == pytest.approx(expected, rel=1e-5)


def test_segmentation_batches_equal_concatenation():
    batches = make_segmentation()
    split, whole = SegmentationMetrics(NUM_CLASSES), SegmentationMetrics(NUM_CLASSES)
    run_metric(split, batches)
    run_metric(whole, concatenated(batches))
    assert_states_equal(split, whole)
    assert split.confmat.sum() == sum(int((t != IGNORE).sum()) for _, t in batches)


def test_segmentation_accepts_labels_and_rejects_bad_input():
    logits, target = make_segmentation()[0]
    from_logits, from_labels = SegmentationMetrics(NUM_CLASSES), SegmentationMetrics(NUM_CLASSES)
    from_logits.update(logits, target)
    from_labels.update(logits.argmax(1), target)
    assert torch.equal(from_logits.confmat, from_labels.confmat)
    bad = target.clone()
    bad[0, 0, 0] = NUM_CLASSES
    with pytest.raises(DataError, match="outside"):
        SegmentationMetrics(NUM_CLASSES).update(logits, bad)
    with pytest.raises(DataError, match="channels"):
        SegmentationMetrics(NUM_CLASSES + 1).update(logits, target)
    with pytest.raises(DataError, match="does not match"):
        SegmentationMetrics(NUM_CLASSES).update(logits[:, :, :-1], target)
    with pytest.raises(ConfigError):
        SegmentationMetrics(NUM_CLASSES, ignore_index=0)


def test_segmentation_all_ignored_is_nan_then_recovers():
    logits, target = make_segmentation()[0]
    metric = SegmentationMetrics(NUM_CLASSES)
    metric.update(logits, torch.full_like(target, IGNORE))
    assert all(math.isnan(float(v)) for v in metric.compute().values())
    metric.update(logits, target)
    assert_close(
        {k: float(v) for k, v in metric.compute().items()},
        np_segmentation([(logits, target)], NUM_CLASSES),
    )


# --------------------------------------------------------------------------- depth


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


# --------------------------------------------------------------------------- normals


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


# --------------------------------------------------------------------------- boundary


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


# --------------------------------------------------------------------------- states


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


# --------------------------------------------------------------------------- multi-task


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


# --------------------------------------------------------------------------- Δm


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
